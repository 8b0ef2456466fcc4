import pytest

from localcore.interfaces import Route
from localcore.router.errors import RouteError
from localcore.router.table import RoutingTable

ROUTES = [
    Route("device:Pub", "cloud", "hello/world/pubsub", "r1"),
    Route("device:Pub", "device:Sub", "hello/world/#", "r2"),
    Route("device:Pub", "device:Sub", "hello/+/pubsub", "r3"),      # duplicate target, another filter
    Route("function:producer", "device:Sub", "stats/+", "r4"),
    Route("device:Switch", "shadow:Light", "$aws/things/Light/shadow/update", "r5"),
    Route("shadow:Light", "device:Switch", "$aws/things/Light/shadow/update/#", "r6"),
    Route("shadow:Light", "function:agg", "$aws/things/Light/shadow/update/documents", "r7"),
    Route("cloud", "device:Sub", "#", "r8"),
]

TABLE = [
    ("device:Pub", "hello/world/pubsub", ["cloud", "device:Sub"]),
    ("device:Pub", "hello/world/other", ["device:Sub"]),
    ("device:Pub", "hello/x/pubsub", ["device:Sub"]),
    ("device:Sub", "hello/world/pubsub", []),                  # one-way: no row for this source
    ("device:Other", "hello/world/pubsub", []),
    ("function:producer", "stats/1", ["device:Sub"]),
    ("function:producer", "stats/1/2", []),
    ("device:Switch", "$aws/things/Light/shadow/update", ["shadow:Light"]),
    ("device:Switch", "$aws/things/Light/shadow/get", []),
    ("shadow:Light", "$aws/things/Light/shadow/update/accepted", ["device:Switch"]),
    ("shadow:Light", "$aws/things/Light/shadow/update/documents", ["device:Switch", "function:agg"]),
    ("cloud", "anything/at/all", ["device:Sub"]),
    ("cloud", "$aws/things/Light/shadow/update", []),          # '#' does not match $-topics
]


@pytest.mark.parametrize("source,topic,expected", TABLE)
def test_targets(source, topic, expected):
    assert RoutingTable(ROUTES).targets(source, topic) == expected


def test_counters():
    table = RoutingTable(ROUTES)
    for source, topic, _ in TABLE:
        table.targets(source, topic)
    assert table.routed == sum(1 for *_, e in TABLE if e)
    assert table.dropped == sum(1 for *_, e in TABLE if not e)
    table.lookup("device:Pub", "nothing")  # lookup does not count
    assert table.routed + table.dropped == len(TABLE)


def test_cached_lookup_is_stable():
    table = RoutingTable(ROUTES)
    assert table.lookup("device:Pub", "hello/world/pubsub") == table.lookup("device:Pub", "hello/world/pubsub")


@pytest.mark.parametrize("route,fragment", [
    (Route("device:A", "device:B", "a/#/b", "bad-filter"), "route bad-filter.*last level"),
    (Route("Pub", "device:B", "a", "x"), "route x source.*'Pub'"),
    (Route("device:A", "lambda:f", "a"), "route 0 target"),
    (Route("device:", "cloud", "a"), "source"),
    (Route("cloud:x", "cloud", "a"), "source"),
])
def test_bad_rows_are_refused_with_location(route, fragment):
    with pytest.raises(RouteError, match=fragment):
        RoutingTable([route])


@pytest.mark.parametrize("rows,topic,expected", [
    # targets come in table order whether the exact or the wildcard row matched first
    ([("t/#", "device:X"), ("t/1", "device:Y")], "t/1", ("device:X", "device:Y")),
    ([("t/1", "device:Y"), ("t/#", "device:X")], "t/1", ("device:Y", "device:X")),
    ([("t/+", "device:X"), ("t/1", "device:X"), ("#", "cloud")], "t/1", ("device:X", "cloud")),
    ([("t/+", "device:X"), ("t/+", "device:Y")], "t/2", ("device:X", "device:Y")),   # one filter, two rows
    ([("+/x", "device:X"), ("$aws/+/x", "device:Y")], "$aws/a/x", ("device:Y",)),
])
def test_index_keeps_table_order_and_each_target_once(rows, topic, expected):
    table = RoutingTable([Route("device:S", target, f) for f, target in rows])
    assert table.lookup("device:S", topic) == expected
    assert table.publish_targets("device:S", topic) == expected


def test_publish_targets_validates_a_new_topic():
    from localcore.router.errors import TopicError

    table = RoutingTable(ROUTES)
    with pytest.raises(TopicError, match="wildcard"):
        table.publish_targets("device:Pub", "hello/#")
    table.lookup("device:Pub", "hello/#")              # lookup alone does not validate (nor raise) ...
    with pytest.raises(TopicError, match="wildcard"):  # ... and what it remembers does not skip validation
        table.publish_targets("device:Pub", "hello/#")
