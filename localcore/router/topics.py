"""MQTT topic names and topic filters, with the AWS IoT limits.

* A filter's ``#`` must be the last level and alone in it; ``+`` must fill a whole level.
* A publish topic never contains ``+`` or ``#``.
* Both are non-empty UTF-8 without NUL and at most 256 bytes (AWS IoT / Greengrass limit).
* Empty levels are real levels (``a//b`` has three levels, the middle one empty).
* A filter that begins with a wildcard does not match topics beginning with ``$``
  (MQTT 3.1.1 section 4.7.2), so ``#`` never sees ``$aws/things/...``; ``$aws/#`` does.
* ``a/#`` also matches ``a`` (the parent level).
"""
from __future__ import annotations

from functools import lru_cache

from localcore.router.errors import TopicError

MAX_TOPIC_BYTES = 256
_VALID_TOPICS: dict[str, None] = {}  # topic names already found valid: a PUBLISH re-checks one with a lookup
_VALID_TOPICS_LIMIT = 8192


def _check_common(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TopicError(f"{what} must be a string, got {type(text).__name__}")
    if not text:
        raise TopicError(f"{what} is empty")
    if "\x00" in text:
        raise TopicError(f"{what} {text!r} contains a NUL character")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TOPIC_BYTES:
        raise TopicError(f"{what} {text[:40]!r}... is {size} bytes; the limit is {MAX_TOPIC_BYTES}")


def validate_topic(topic: str) -> str:
    """Check a topic name used for PUBLISH; returns it unchanged or raises :class:`TopicError`."""
    if type(topic) is str and topic in _VALID_TOPICS:
        return topic
    _check_common(topic, "topic")
    if "+" in topic or "#" in topic:
        raise TopicError(f"topic {topic!r} contains a wildcard ('+' or '#'); wildcards are for filters only")
    if len(_VALID_TOPICS) >= _VALID_TOPICS_LIMIT:
        _VALID_TOPICS.clear()
    _VALID_TOPICS[topic] = None
    return topic


def validate_filter(topic_filter: str) -> str:
    """Check a topic filter used in SUBSCRIBE or a subscription row; raises :class:`TopicError`."""
    _check_common(topic_filter, "topic filter")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level:
            if level != "#":
                raise TopicError(
                    f"topic filter {topic_filter!r}: '#' must fill a whole level "
                    f"(level {index + 1} is {level!r})")
            if index != len(levels) - 1:
                raise TopicError(f"topic filter {topic_filter!r}: '#' is allowed only as the last level")
        if "+" in level and level != "+":
            raise TopicError(
                f"topic filter {topic_filter!r}: '+' must fill a whole level "
                f"(level {index + 1} is {level!r})")
    return topic_filter


def is_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


@lru_cache(maxsize=4096)
def _levels(text: str) -> tuple[str, ...]:
    return tuple(text.split("/"))


def matches(topic_filter: str, topic: str) -> bool:
    """True when ``topic`` (a valid topic name) matches ``topic_filter`` (a valid filter)."""
    if not is_wildcard(topic_filter):
        return topic_filter == topic
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    flevels = _levels(topic_filter)
    tlevels = _levels(topic)
    for index, flevel in enumerate(flevels):
        if flevel == "#":
            return True
        if index >= len(tlevels):
            return False
        if flevel != "+" and flevel != tlevels[index]:
            return False
    # 'a/#' matching 'a' is handled above: '#' is reached before running out of topic levels.
    return len(flevels) == len(tlevels)


def intersection(filter_a: str, filter_b: str) -> str | None:
    """The filter matching exactly the topics both valid filters match, or ``None`` when no topic
    matches both (``a/#`` ∩ ``+/b`` = ``a/b``; ``a/#`` ∩ ``a`` = ``a``; ``#`` ∩ ``$aws/x`` = ``None``)."""
    a, b = filter_a.split("/"), filter_b.split("/")
    if (a[0] in ("+", "#") and b[0][:1] == "$") or (b[0] in ("+", "#") and a[0][:1] == "$"):
        return None  # a filter that begins with a wildcard matches no '$' topic
    out: list[str] = []
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x == "#":
            return "/".join(out + b[i:])  # the rest of b, all of it under x's '#' (none: the parent level)
        if y == "#":
            return "/".join(out + a[i:])
        if x is None or y is None:
            return None
        if x == "+":
            out.append(y)
        elif y == "+" or x == y:
            out.append(x)
        else:
            return None
    return "/".join(out)
