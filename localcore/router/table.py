"""The subscription table (pure): which targets get a message from a given source on a topic.

Greengrass V1 routes one way, by (source, topic filter) → target; a message with no matching
row is dropped. Rows are validated when the table is built, so a bad row fails the deploy,
not the first message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from localcore.interfaces import CLOUD, Route, split
from localcore.router.errors import RouteError, TopicError
from localcore.router.topics import is_wildcard, matches, validate_filter

_KINDS = {"device", "function", "shadow", "cloud"}
_CACHE_LIMIT = 8192


def validate_endpoint(endpoint: str, where: str) -> str:
    kind, name = split(endpoint)
    if endpoint == CLOUD or endpoint == "pubsub":  # "pubsub": the V2 local pub/sub bus (localcore.nucleus_ipc)
        return endpoint
    if kind not in _KINDS or kind == "cloud" or not name:
        raise RouteError(
            f"{where}: endpoint {endpoint!r} is not one of device:<thing>, function:<name>, "
            f"shadow:<thing> or cloud")
    return endpoint


@dataclass(frozen=True)
class _Row:
    topic_filter: str
    target: str
    wildcard: bool


class RoutingTable:
    """Immutable lookup structure over a list of :class:`Route` rows, with counters.

    ``targets()`` returns each target at most once, in table order, and counts the lookup as
    routed (at least one target) or dropped (none).
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        by_source: dict[str, list[_Row]] = {}
        for index, route in enumerate(self.routes):
            where = f"route {route.id or index}"
            validate_endpoint(route.source, f"{where} source")
            validate_endpoint(route.target, f"{where} target")
            try:
                validate_filter(route.topic_filter)
            except TopicError as exc:
                raise RouteError(f"{where}: {exc}") from None
            by_source.setdefault(route.source, []).append(
                _Row(route.topic_filter, route.target, is_wildcard(route.topic_filter)))
        self._by_source = {src: tuple(rows) for src, rows in by_source.items()}
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self.routed = 0
        self.dropped = 0

    def lookup(self, source: str, topic: str) -> tuple[str, ...]:
        """The targets for ``(source, topic)``, without touching the counters."""
        key = (source, topic)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        found: list[str] = []
        for row in self._by_source.get(source, ()):
            if row.target in found:
                continue
            if (row.topic_filter == topic) if not row.wildcard else matches(row.topic_filter, topic):
                found.append(row.target)
        result = tuple(found)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = result
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
