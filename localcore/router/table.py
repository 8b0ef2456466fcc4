"""The subscription table (pure): which targets get a message from a given source on a topic.

Greengrass V1 routes one way, by (source, topic filter) → target; a message with no matching
row is dropped. Rows are validated when the table is built, so a bad row fails the deploy,
not the first message.
"""
from __future__ import annotations

from typing import Iterable

from localcore.interfaces import CLOUD, Route, split
from localcore.router.errors import RouteError, TopicError
from localcore.router.index import FilterIndex
from localcore.router.topics import validate_filter, validate_topic

_KINDS = {"device", "function", "shadow", "cloud"}
_CACHE_LIMIT = 8192


def validate_endpoint(endpoint: str, where: str) -> str:
    kind, name = split(endpoint)
    # "pubsub": the V2 local pub/sub bus; "mqttproxy": the IoT Core subscriptions of V2 components (localcore.nucleus_ipc)
    if endpoint in (CLOUD, "pubsub", "mqttproxy"):
        return endpoint
    if kind not in _KINDS or kind == "cloud" or not name:
        raise RouteError(
            f"{where}: endpoint {endpoint!r} is not one of device:<thing>, function:<name>, "
            f"shadow:<thing> or cloud")
    return endpoint


class RoutingTable:
    """Immutable lookup structure over a list of :class:`Route` rows, with counters.

    ``targets()`` returns each target at most once, in table order, and counts the lookup as
    routed (at least one target) or dropped (none). Each source's filters sit in a
    :class:`FilterIndex` (no scan of the rows), and answers are cached per (source, topic).
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        by_source: dict[str, dict[str, list[tuple[int, str]]]] = {}
        for index, route in enumerate(self.routes):
            where = f"route {route.id or index}"
            validate_endpoint(route.source, f"{where} source")
            validate_endpoint(route.target, f"{where} target")
            try:
                validate_filter(route.topic_filter)
            except TopicError as exc:
                raise RouteError(f"{where}: {exc}") from None
            by_source.setdefault(route.source, {}).setdefault(route.topic_filter, []).append((index, route.target))
        # source -> filter -> its rows as (row number, target), so a match can be put in table order
        self._by_source: dict[str, FilterIndex[tuple[tuple[int, str], ...]]] = {}
        for source, filters in by_source.items():
            index_of_source: FilterIndex[tuple[tuple[int, str], ...]] = FilterIndex()
            for topic_filter, rows in filters.items():
                index_of_source[topic_filter] = tuple(rows)
            self._by_source[source] = index_of_source
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self._published: dict[tuple[str, str], tuple[str, ...]] = {}  # the same, for validated topics only
        self.routed = 0
        self.dropped = 0

    def lookup(self, source: str, topic: str) -> tuple[str, ...]:
        """The targets for ``(source, topic)``, without touching the counters."""
        key = (source, topic)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        index = self._by_source.get(source)
        matched = index.match(topic) if index is not None else []
        if len(matched) == 1:
            rows = matched[0]
        else:
            rows = sorted(row for rows_of_filter in matched for row in rows_of_filter)
        result = tuple(dict.fromkeys(target for _, target in rows))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = result
        return result

    def publish_targets(self, source: str, topic: str) -> tuple[str, ...]:
        """:meth:`lookup` for a message being published: the topic is validated the first time a
        (source, topic) pair is seen (:class:`TopicError` if it is not a publish topic); a pair in the
        cache was valid then and is not checked again."""
        key = (source, topic)
        cached = self._published.get(key)
        if cached is not None:
            return cached
        validate_topic(topic)
        result = self.lookup(source, topic)
        if len(self._published) >= _CACHE_LIMIT:
            self._published.clear()
        self._published[key] = result
        return result

    def targets(self, source: str, topic: str) -> list[str]:
        found = self.lookup(source, topic)
        if found:
            self.routed += 1
        else:
            self.dropped += 1
        return list(found)

    def sources(self) -> set[str]:
        return set(self._by_source)

    def __len__(self) -> int:
        return len(self.routes)
