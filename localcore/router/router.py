"""The router: the subscription table plus the sinks that receive routed messages.

Wiring::

    router = Router(routes)                       # list[interfaces.Route]
    router.attach("cloud", cloud_sink)            # exact endpoint
    router.attach("shadow:*", shadow_service)     # every endpoint of a kind
    router.publish(Message(source="device:T", topic="t/1", payload=b"x"))  # -> targets reached

The broker attaches ``device:<thing>`` for each connected client itself. A target whose
endpoint has no sink (device offline, function not running) counts as undeliverable.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Iterable

from localcore.interfaces import Message, MessageSink, QueueFullError, Route, split
from localcore.router.errors import RouterError
from localcore.router.table import RoutingTable
from localcore.router.topics import validate_topic

log = logging.getLogger(__name__)


class Router:
    """Implements :class:`localcore.interfaces.Publisher`. Safe to call from several threads."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._table = RoutingTable(routes)
        self._sinks: dict[str, MessageSink] = {}
        self._kind_sinks: dict[str, MessageSink] = {}
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._per_target: Counter[str] = Counter()

    # -- sinks -------------------------------------------------------------------------------
    def attach(self, endpoint: str, sink: MessageSink) -> None:
        """Register ``sink`` for ``endpoint`` (``device:T``) or a whole kind (``device:*``).

        An exact registration wins over a kind-wide one. Re-attaching replaces the sink.
        """
        if not hasattr(sink, "deliver"):
            raise RouterError(f"sink for {endpoint!r} has no deliver(message) method")
        kind, name = split(endpoint)
        with self._lock:
            if name == "*":
                self._kind_sinks[kind] = sink
            else:
                self._sinks[endpoint] = sink

    def detach(self, endpoint: str, sink: MessageSink | None = None) -> None:
        """Remove the sink of ``endpoint``; with ``sink`` given, only if it is still that one."""
        kind, name = split(endpoint)
        with self._lock:
            table = self._kind_sinks if name == "*" else self._sinks
            key = kind if name == "*" else endpoint
            current = table.get(key)
            if current is not None and (sink is None or current is sink):
                del table[key]

    def sink_for(self, endpoint: str) -> MessageSink | None:
        sink = self._sinks.get(endpoint)
        if sink is None:
            sink = self._kind_sinks.get(split(endpoint)[0])
        return sink

    # -- routing -----------------------------------------------------------------------------
    def replace_routes(self, routes: Iterable[Route]) -> None:
        """Swap in a new subscription table (a redeploy). Validates before swapping."""
        table = RoutingTable(routes)
        self._table = table  # one reference swap: publishers see the old or the new table

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._table.routes

    def targets(self, source: str, topic: str) -> tuple[str, ...]:
        """The targets a message would reach by the table (no counting, no delivery)."""
        return self._table.lookup(source, topic)

    def publish(self, message: Message, all_or_error: bool = False) -> int:
        """Route ``message``; returns the number of targets it was handed to.

        Raises :class:`TopicError` for a topic that is not a valid publish topic. With
        ``all_or_error`` (the SDK's ``queueFullPolicy`` ``AllOrException``), a target whose sink says
        it has no room (optional ``has_room(message) -> bool``) makes the whole publish fail with
        :class:`QueueFullError` before anything is delivered; otherwise a full queue drops (BestEffort).
        """
        validate_topic(message.topic)
        targets = self._table.lookup(message.source, message.topic)
        if all_or_error:
            full = [t for t in targets if not _has_room(self.sink_for(t), message)]
            if full:
                with self._lock:
                    self._counts["refused_queue_full"] += 1
                raise QueueFullError(f"queue of {', '.join(full)} is full: {message.topic} delivered to no target "
                                     "(queueFullPolicy AllOrError)")
        reached = 0
        for target in targets:
            sink = self._sinks.get(target)
            if sink is None:
                sink = self._kind_sinks.get(target.partition(":")[0])
            if sink is None:
                with self._lock:
                    self._counts["undeliverable"] += 1
                continue
            try:
                sink.deliver(message)
            except Exception:  # a faulty sink must not stop the others; it is logged with its trace
                log.exception("sink for %s failed on topic %s", target, message.topic)
                with self._lock:
                    self._counts["sink_errors"] += 1
                continue
            reached += 1
        with self._lock:
            if targets:
                self._counts["routed"] += 1
                for target in targets:
                    self._per_target[target] += 1
            else:
                self._counts["dropped"] += 1
            self._counts["delivered"] += reached
        if not targets:
            log.debug("dropped %s from %s: no subscription matches", message.topic, message.source)
        return reached

    def status(self) -> dict:
        with self._lock:
            return {
                "routes": len(self._table),
                "routed": self._counts["routed"],
                "dropped": self._counts["dropped"],
                "delivered": self._counts["delivered"],
                "undeliverable": self._counts["undeliverable"],
                "sink_errors": self._counts["sink_errors"],
                "refused_queue_full": self._counts["refused_queue_full"],
                "sinks": sorted(self._sinks) + sorted(f"{k}:*" for k in self._kind_sinks),
                "per_target": dict(self._per_target),
            }


def _has_room(sink: MessageSink | None, message: Message) -> bool:
    has_room = getattr(sink, "has_room", None)
    return True if sink is None or has_room is None else bool(has_room(message))
