import threading

import pytest

from localcore.interfaces import Message, QueueFullError, Route
from localcore.router import Router
from localcore.router.errors import RouterError, TopicError


class Collect:
    def __init__(self):
        self.messages = []

    def deliver(self, message):
        self.messages.append(message)


class Broken:
    def deliver(self, message):
        raise RuntimeError("boom")


ROUTES = [
    Route("device:A", "device:B", "t/#"),
    Route("device:A", "function:f", "t/1"),
    Route("device:A", "cloud", "t/1"),
]


def test_publish_reaches_attached_sinks_and_counts():
    router = Router(ROUTES)
    b, f = Collect(), Collect()
    router.attach("device:B", b)
    router.attach("function:*", f)
    msg = Message("device:A", "t/1", b"x", 1)
    assert router.publish(msg) == 2          # cloud has no sink: undeliverable
    assert b.messages == [msg] and f.messages == [msg]
    assert router.publish(Message("device:A", "u/1", b"x")) == 0
    assert router.publish(Message("device:B", "t/1", b"x")) == 0   # one-way
    st = router.status()
    assert (st["routed"], st["dropped"], st["delivered"], st["undeliverable"]) == (1, 2, 2, 1)
    assert st["per_target"] == {"device:B": 1, "function:f": 1, "cloud": 1}
    assert "function:*" in st["sinks"] and "device:B" in st["sinks"]


def test_exact_sink_wins_over_kind_sink_and_detach_only_own():
    router = Router(ROUTES)
    exact, kind, other = Collect(), Collect(), Collect()
    router.attach("device:*", kind)
    router.attach("device:B", exact)
    router.publish(Message("device:A", "t/2", b"1"))
    assert len(exact.messages) == 1 and not kind.messages
    router.detach("device:B", other)          # not the current sink: ignored
    router.publish(Message("device:A", "t/2", b"2"))
    assert len(exact.messages) == 2
    router.detach("device:B", exact)
    router.publish(Message("device:A", "t/2", b"3"))
    assert len(kind.messages) == 1


def test_faulty_sink_does_not_stop_others():
    router = Router(ROUTES)
    router.attach("device:B", Broken())
    f = Collect()
    router.attach("function:f", f)
    assert router.publish(Message("device:A", "t/1", b"x")) == 1
    assert len(f.messages) == 1 and router.status()["sink_errors"] == 1


def test_replace_routes_validates_then_swaps():
    router = Router(ROUTES)
    b = Collect()
    router.attach("device:B", b)
    with pytest.raises(RouterError):
        router.replace_routes([Route("device:A", "device:B", "bad/#/x")])
    assert router.publish(Message("device:A", "t/9", b"")) == 1          # old table still active
    router.replace_routes([Route("device:A", "device:B", "other")])
    assert router.publish(Message("device:A", "t/9", b"")) == 0
    assert router.publish(Message("device:A", "other", b"")) == 1
    assert router.status()["routes"] == 1


def test_wildcard_publish_topic_is_refused():
    with pytest.raises(TopicError, match="wildcard"):
        Router(ROUTES).publish(Message("device:A", "t/+", b""))


def test_attach_requires_deliver():
    with pytest.raises(RouterError, match="deliver"):
        Router().attach("cloud", object())


def test_concurrent_publishers_are_all_counted():
    router = Router(ROUTES)
    b = Collect()
    router.attach("device:B", b)

    def work():
        for _ in range(2000):
            router.publish(Message("device:A", "t/x", b""))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert router.status()["routed"] == 8000 and len(b.messages) == 8000


def test_all_or_error_delivers_to_no_one_when_a_target_is_full():
    class Sink:
        def __init__(self, room):
            self.room, self.got = room, []

        def has_room(self, message):
            return self.room

        def deliver(self, message):
            self.got.append(message.payload)

    router = Router([Route("function:a", "function:b", "t"), Route("function:a", "function:c", "t")])
    roomy, full = Sink(True), Sink(False)
    router.attach("function:b", roomy)
    router.attach("function:c", full)
    with pytest.raises(QueueFullError):
        router.publish(Message("function:a", "t", b"1"), all_or_error=True)
    assert roomy.got == [] and full.got == []
    assert router.publish(Message("function:a", "t", b"2")) == 2  # BestEffort: the sink decides itself
    assert router.status()["refused_queue_full"] == 1


class CollectRuns(Collect):
    def __init__(self):
        super().__init__()
        self.runs = 0

    def deliver_run(self, messages):
        self.runs += 1
        self.messages.extend(messages)


@pytest.mark.parametrize("topic", ["t/1", "t/2", "u/1"])
def test_publish_run_routes_as_publish_one_by_one(topic):
    one, run = Router(ROUTES), Router(ROUTES)
    sinks = {}
    for router in (one, run):
        sinks[router] = (Collect(), CollectRuns())
        router.attach("device:B", sinks[router][0])      # deliver only: gets each message
        router.attach("function:f", sinks[router][1])    # deliver_run: gets the run in one call
    messages = [Message("device:A", topic, b"%d" % i, i % 2) for i in range(5)]
    reached = sum(one.publish(m) for m in messages)
    assert run.publish_run(messages) == reached
    assert [s.messages for s in sinks[one]] == [s.messages for s in sinks[run]]
    assert sinks[run][1].runs == (1 if topic == "t/1" else 0)
    assert one.status() == run.status()
    assert run.publish_run([]) == 0


def test_publish_run_validates_and_keeps_faulty_sinks_apart():
    router = Router(ROUTES)
    router.attach("device:B", Broken())
    f = CollectRuns()
    router.attach("function:f", f)
    assert router.publish_run([Message("device:A", "t/1", b"x")] * 3) == 3
    assert len(f.messages) == 3 and router.status()["sink_errors"] == 3
    with pytest.raises(TopicError, match="wildcard"):
        router.publish_run([Message("device:A", "t/#", b"x")])
