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
