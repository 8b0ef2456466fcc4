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
from typing import Iterable, Sequence

from localcore.interfaces import Message, MessageSink, QueueFullError, Route, split
from localcore.router.errors import RouterError
from localcore.router.table import RoutingTable

log = logging.getLogger(__name__)


class _Counts:
    """The counters of one publishing thread: only that thread writes them, so a message costs a few
    int increments and no lock; ``Router.status`` adds up every thread's."""

    __slots__ = ("routed", "dropped", "delivered", "undeliverable", "sink_errors", "refused_queue_full",
                 "per_target")

    def __init__(self) -> None:
        self.routed = self.dropped = self.delivered = self.undeliverable = 0
        self.sink_errors = self.refused_queue_full = 0
        self.per_target: dict[str, int] = {}


class Router:
    """Implements :class:`localcore.interfaces.Publisher`. Safe to call from several threads.

    ``publish`` takes no lock: the table is swapped by one reference assignment, sinks are read
    from dicts that ``attach``/``detach`` change under the lock, and counters are per thread.
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._table = RoutingTable(routes)
        self._sinks: dict[str, MessageSink] = {}
        self._kind_sinks: dict[str, MessageSink] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._all_counts: list[_Counts] = []  # every thread's counters (kept when the thread ends)

    def _counts(self) -> _Counts:
        try:
            return self._local.counts
        except AttributeError:
            counts = self._local.counts = _Counts()
            with self._lock:
                self._all_counts.append(counts)
            return counts

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
        """The sink a message for ``endpoint`` goes to: its own (``device:T``), else its kind's
        (``device:*``), else ``None``. The one lookup of :meth:`publish` and :meth:`publish_run`."""
        sink = self._sinks.get(endpoint)
        if sink is None:
            sink = self._kind_sinks.get(endpoint.partition(":")[0])
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
        # validated the first time this (source, topic) is seen; cached after that
        targets = self._table.publish_targets(message.source, message.topic)
        counts = self._counts()
        if not targets:
            counts.dropped += 1
            log.debug("dropped %s from %s: no subscription matches", message.topic, message.source)
            return 0
        if all_or_error:
            full = [t for t in targets if not _has_room(self.sink_for(t), message)]
            if full:
                counts.refused_queue_full += 1
                raise QueueFullError(f"queue of {', '.join(full)} is full: {message.topic} delivered to no target "
                                     "(queueFullPolicy AllOrError)")
        counts.routed += 1
        per_target = counts.per_target
        sink_for = self.sink_for
        reached = 0
        for target in targets:
            per_target[target] = per_target.get(target, 0) + 1
            sink = sink_for(target)
            if sink is None:
                counts.undeliverable += 1
                continue
            try:
                sink.deliver(message)
            except Exception:  # a faulty sink must not stop the others; it is logged with its trace
                log.exception("sink for %s failed on topic %s", target, message.topic)
                counts.sink_errors += 1
                continue
            reached += 1
        counts.delivered += reached
        return reached

    def publish_run(self, messages: Sequence[Message]) -> int:
        """Route ``messages`` — consecutive messages of one source on one topic — as :meth:`publish` routes
        each of them in order (same targets, counters and sinks; best effort), with one table lookup
        and one sink lookup per target for the whole run. A sink with ``deliver_run(messages)`` takes
        the run in one call (it must not change the sequence); any other gets ``deliver`` per message.
        Returns the number of deliveries. Raises :class:`TopicError` as :meth:`publish` does."""
        if not messages:
            return 0
        first = messages[0]
        count = len(messages)
        targets = self._table.publish_targets(first.source, first.topic)
        counts = self._counts()
        if not targets:
            counts.dropped += count
            log.debug("dropped %d message(s) on %s from %s: no subscription matches", count, first.topic,
                      first.source)
            return 0
        counts.routed += count
        per_target = counts.per_target
        reached = 0
        for target in targets:
            per_target[target] = per_target.get(target, 0) + count
            sink = self.sink_for(target)
            if sink is None:
                counts.undeliverable += count
                continue
            deliver_run = getattr(sink, "deliver_run", None)
            if deliver_run is not None:
                try:
                    deliver_run(messages)
                except Exception:  # as in publish: logged with its trace, the other targets still get theirs
                    log.exception("sink for %s failed on a run of %d on topic %s", target, count, first.topic)
                    counts.sink_errors += count
                    continue
                reached += count
                continue
            for message in messages:
                try:
                    sink.deliver(message)
                except Exception:  # a faulty sink must not stop the others; it is logged with its trace
                    log.exception("sink for %s failed on topic %s", target, message.topic)
                    counts.sink_errors += 1
                    continue
                reached += 1
        counts.delivered += reached
        return reached

    def status(self) -> dict:
        with self._lock:
            all_counts = list(self._all_counts)
            sinks = sorted(self._sinks) + sorted(f"{k}:*" for k in self._kind_sinks)
        total = {name: sum(getattr(c, name) for c in all_counts)
                 for name in ("routed", "dropped", "delivered", "undeliverable", "sink_errors",
                              "refused_queue_full")}
        per_target: dict[str, int] = {}
        for c in all_counts:
            for target, n in list(c.per_target.items()):  # copied: its thread may add a target meanwhile
                per_target[target] = per_target.get(target, 0) + n
        return {"routes": len(self._table), **total, "sinks": sinks, "per_target": per_target}


def _has_room(sink: MessageSink | None, message: Message) -> bool:
    has_room = getattr(sink, "has_room", None)
    return True if sink is None or has_room is None else bool(has_room(message))
