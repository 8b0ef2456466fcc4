import pytest

from localcore.router.errors import TopicError
from localcore.router.topics import matches, validate_filter, validate_topic

MATCH_TABLE = [
    # filter, topic, expected
    ("a/b", "a/b", True),
    ("a/b", "a/c", False),
    ("a/+", "a/b", True),
    ("a/+", "a/b/c", False),
    ("a/+/c", "a/b/c", True),
    ("a/+/c", "a//c", True),          # '+' matches an empty level
    ("+", "a", True),
    ("+", "a/b", False),
    ("+/+", "/a", True),               # leading empty level
    ("/+", "/a", True),
    ("+", "/a", False),
    ("a/#", "a", True),                # '#' includes the parent level
    ("a/#", "a/b/c", True),
    ("a/#", "ab", False),
    ("#", "a/b", True),
    ("#", "/", True),
    ("#", "$aws/things/T/shadow/update", False),   # $-topics are not matched by a leading wildcard
    ("+/things/T/shadow/update", "$aws/things/T/shadow/update", False),
    ("$aws/#", "$aws/things/T/shadow/update", True),
    ("$aws/things/+/shadow/update", "$aws/things/T/shadow/update", True),
    ("$aws/things/T/shadow/update/#", "$aws/things/T/shadow/update/delta", True),
    ("$aws/things/T/shadow/update", "$aws/things/T/shadow/update/accepted", False),
    ("a//b", "a//b", True),
    ("a/b/", "a/b", False),
    ("a/b/", "a/b/", True),
    ("A/b", "a/b", False),             # case-sensitive
    ("hello/world", "hello/world", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/+", "sport/", True),
]


@pytest.mark.parametrize("topic_filter,topic,expected", MATCH_TABLE)
def test_matches(topic_filter, topic, expected):
    validate_filter(topic_filter)
    validate_topic(topic)
    assert matches(topic_filter, topic) is expected


@pytest.mark.parametrize("good", ["#", "+", "a/#", "a/+/b", "+/+", "/", "a//b", "$aws/things/+/shadow/#",
                                  "x" * 256, "é" * 128])
def test_valid_filters(good):
    assert validate_filter(good) == good


@pytest.mark.parametrize("bad,fragment", [
    ("", "empty"),
    ("a/#/b", "last level"),
    ("a#", "whole level"),
    ("a/b#", "whole level"),
    ("a+/b", "whole level"),
    ("a/+b", "whole level"),
    ("x" * 257, "257 bytes"),
    ("é" * 129, "258 bytes"),
    ("a\x00b", "NUL"),
])
def test_invalid_filters(bad, fragment):
    with pytest.raises(TopicError, match=fragment):
        validate_filter(bad)


@pytest.mark.parametrize("bad,fragment", [
    ("", "empty"),
    ("a/+", "wildcard"),
    ("a/#", "wildcard"),
    ("#", "wildcard"),
    ("x" * 257, "limit is 256"),
    ("a\x00", "NUL"),
])
def test_invalid_publish_topics(bad, fragment):
    with pytest.raises(TopicError, match=fragment):
        validate_topic(bad)


def test_non_string_is_refused():
    with pytest.raises(TopicError, match="must be a string"):
        validate_topic(b"a/b")


@pytest.mark.parametrize("a,b,expected", [
    ("a/b", "a/b", "a/b"),
    ("a/b", "a/c", None),
    ("a/+", "+/b", "a/b"),
    ("a/#", "+/b", "a/b"),
    ("a/#", "a", "a"),                    # 'a/#' matches its parent level
    ("a/#", "a/+/c/#", "a/+/c/#"),
    ("#", "x/+", "x/+"),
    ("#", "$aws/things/T", None),         # a leading wildcard never meets a '$' topic
    ("+/x", "$SYS/x", None),
    ("$aws/#", "$aws/things/+", "$aws/things/+"),
    ("a/+", "a/b/c", None),
    ("a//b", "a/+/b", "a//b"),
])
def test_intersection_of_filters(a, b, expected):
    from localcore.router.topics import intersection

    assert intersection(a, b) == expected and intersection(b, a) == expected


def test_valid_topics_are_remembered_and_invalid_ones_refused_every_time():
    assert validate_topic("remembered/topic") == "remembered/topic"
    assert validate_topic("remembered/topic") == "remembered/topic"
    for _ in range(2):
        with pytest.raises(TopicError, match="wildcard"):
            validate_topic("not/+/remembered")
