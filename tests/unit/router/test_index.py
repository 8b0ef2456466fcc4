"""The filter index matches exactly as topics.matches does, without scanning: table tests per form
(exact, '+', '#', '$'-topics, overlapping filters, removal) and a seeded cross-check against matches()."""
import random

import pytest

from localcore.router.index import FilterIndex
from localcore.router.topics import matches

FILTERS = [
    "a/b/c",              # exact
    "a/+/c",              # one level
    "a/#",                # a and below
    "#",                  # everything but $-topics
    "+/b/#",              # overlapping with a/# and a/+/c
    "+",                  # one-level topics, not $ ones
    "$aws/things/+/shadow/update",
    "$aws/things/T/shadow/#",
    "x//y",               # an empty level is a level
    "x/+/y",
    "sport/tennis/+",
    "/finance",           # leading empty level
    "+/+",
    "/+",
]

# (topic, filters it matches)
TABLE = [
    ("a/b/c", {"a/b/c", "a/+/c", "a/#", "#", "+/b/#"}),
    ("a/x/c", {"a/+/c", "a/#", "#"}),
    ("a", {"a/#", "#", "+"}),                      # 'a/#' matches its parent level
    ("a/b", {"a/#", "#", "+/b/#", "+/+"}),          # '+/b/#' matches 'a/b' too
    ("b/b", {"#", "+/b/#", "+/+"}),
    ("a/b/c/d", {"a/#", "#", "+/b/#"}),
    ("$aws/things/T/shadow/update", {"$aws/things/+/shadow/update", "$aws/things/T/shadow/#"}),
    ("$aws/things/U/shadow/update", {"$aws/things/+/shadow/update"}),
    ("$aws/things/T/shadow", {"$aws/things/T/shadow/#"}),
    ("$SYS", set()),                                # '#' and '+' skip $-topics
    ("$aws/things/U/shadow/get", set()),
    ("x//y", {"x//y", "x/+/y", "#"}),
    ("x/z/y", {"x/+/y", "#"}),
    ("x/y", {"#", "+/+"}),
    ("sport/tennis/player1", {"sport/tennis/+", "#"}),
    ("sport/tennis", {"#", "+/+"}),                 # '+' needs a level to fill
    ("sport/tennis/player1/ranking", {"#"}),
    ("/finance", {"/finance", "#", "+/+", "/+"}),
    ("finance", {"#", "+"}),
    ("/", {"#", "+/+", "/+"}),
]


def index_of(filters):
    index = FilterIndex()
    for f in filters:
        index[f] = f
    return index


@pytest.mark.parametrize("topic,expected", TABLE)
def test_match_table(topic, expected):
    found = index_of(FILTERS).match(topic)
    assert sorted(found) == sorted(expected)
    assert set(found) == {f for f in FILTERS if matches(f, topic)}   # the scan it replaces


def test_exact_filter_value_comes_first_and_no_duplicates():
    index = index_of(["a/b", "a/+", "#"])
    found = index.match("a/b")
    assert found[0] == "a/b" and sorted(found) == ["#", "a/+", "a/b"]


def test_setting_a_filter_again_replaces_its_value():
    index = FilterIndex()
    index["t/+"] = 0
    index["t/+"] = 1
    index["t/1"] = 0
    index["t/1"] = 1
    assert index.match("t/1") == [1, 1] and len(index) == 2
    assert index.get("t/+") == 1 and "t/1" in index and "t/2" not in index


def test_removal_unsubscribes_and_prunes():
    index = index_of(["a/+/c", "a/+/c/#", "a/b", "#"])
    assert index.pop("a/+/c") == "a/+/c"
    assert sorted(index.match("a/x/c")) == ["#", "a/+/c/#"]      # the longer filter on the same path stays
    assert index.pop("a/+/c/#") == "a/+/c/#"
    assert index.match("a/x/c") == ["#"]
    assert index._root.children.keys() == {"#"}                  # the a/+ branch is gone
    assert index.pop("a/b") == "a/b" and index.match("a/b") == ["#"]
    assert index.pop("a/b") is None and index.pop("never/+", "absent") == "absent"
    assert index.pop("#") == "#" and index.match("a/b") == [] and len(index) == 0 and not index


def test_removing_one_of_overlapping_filters_keeps_the_others():
    index = index_of(["a/#", "a/+", "+/+", "a/b"])
    index.pop("a/+")
    assert sorted(index.match("a/b")) == ["+/+", "a/#", "a/b"]
    assert sorted(f for f, _ in index.items()) == ["+/+", "a/#", "a/b"]


def test_values_are_kept_per_filter():
    index = FilterIndex()
    index["t/#"] = 1
    index["t/x"] = 0
    assert max(index.match("t/x")) == 1 and index.match("u") == []


def test_seeded_cross_check_against_matches():
    rng = random.Random(7)
    words = ["a", "b", "", "$x", "c"]

    def topic():
        return "/".join(rng.choice(words) for _ in range(rng.randint(1, 4)))

    def topic_filter():
        levels = [rng.choice(words + ["+", "+"]) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.3:
            levels[-1] = "#"
        return "/".join(levels)

    filters = sorted({topic_filter() for _ in range(120)})
    index = index_of(filters)
    for f in filters[::3]:
        index.pop(f)
    kept = [f for i, f in enumerate(filters) if i % 3]
    for _ in range(500):
        t = topic()
        assert sorted(index.match(t)) == sorted(f for f in kept if matches(f, t)), t
