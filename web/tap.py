"""A tap on the router for the dashboard: a message sink that fans messages out to watchers.

Attach it where the AWS IoT test client would look — the ``cloud`` endpoint — wrapping the
real cloud sink, so the console sees exactly what the group sends to the cloud::

    tap = MessageTap(inner=cloud_sink)
    router.attach("cloud", tap)

``deliver`` may be called from any thread (the router is thread-safe); async subscribers get
their messages on their own event loop through ``call_soon_threadsafe``.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from typing import Callable

from localcore.interfaces import Message, MessageSink
from localcore.router.topics import matches, validate_filter

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000


class TapSubscription:
    """An async iterator of console messages ``{"topic", "payload", "source", "time"}``.

    Registered when created (nothing published afterwards is missed); ``aclose()`` releases it.
    A subscriber that falls ``queue_size`` messages behind loses the oldest ones (counted in
    ``dropped``) instead of slowing the router.
    """

    def __init__(self, tap: "MessageTap", topic_filter: str, queue_size: int) -> None:
        self.topic_filter = topic_filter
        self.dropped = 0
        self._tap = tap
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=queue_size)
        self._closed = False

    # called on the subscriber's loop
    def _put(self, item: dict) -> None:
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    def _offer(self, item: dict) -> bool:
        """From any thread; False when the subscriber's loop is gone."""
        try:
            self._loop.call_soon_threadsafe(self._put, item)
        except RuntimeError:  # the loop is closed: the subscriber is gone
            return False
        return True

    def __aiter__(self) -> "TapSubscription":
        return self

    async def __anext__(self) -> dict:
        if self._closed:
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        self._closed = True
        self._tap._remove(self)


class MessageTap:
    """Implements :class:`localcore.interfaces.MessageSink`; forwards to ``inner`` first."""

    def __init__(self, inner: MessageSink | None = None, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._inner = inner
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._subscriptions: list[TapSubscription] = []
        self._listeners: list[tuple[str, Callable[[Message], None]]] = []
        self._counts: Counter[str] = Counter()

    def has_room(self, message: Message) -> bool:
        """The tap never refuses; the cloud connection behind it may."""
        inner = getattr(self._inner, "has_room", None) if self._inner is not None else None
        return True if inner is None else bool(inner(message))

    def deliver(self, message: Message) -> None:
        with self._lock:
            subscriptions = [s for s in self._subscriptions if matches(s.topic_filter, message.topic)]
            listeners = [cb for f, cb in self._listeners if matches(f, message.topic)]
            self._counts["seen"] += 1
        for callback in listeners:
            try:
                callback(message)
            except Exception:  # a faulty listener must not stop delivery to the real sink
                log.exception("tap listener failed on %s", message.topic)
        if subscriptions:
            item = {"topic": message.topic, "payload": message.payload, "source": message.source,
                    "time": time.time()}
            gone = [s for s in subscriptions if not s._offer(item)]
            for sub in gone:
                self._remove(sub)
        if self._inner is not None:
            self._inner.deliver(message)

    def subscribe(self, topic_filter: str) -> TapSubscription:
        """Watch messages matching ``topic_filter``; call from a running event loop.

        Raises ``localcore.router.TopicError`` (a ``ValueError``) for an invalid filter.
        """
        validate_filter(topic_filter)
        sub = TapSubscription(self, topic_filter, self._queue_size)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def add_listener(self, topic_filter: str, callback: Callable[[Message], None]) -> None:
        """Call ``callback(message)`` synchronously (in the publisher's thread) for each match."""
        validate_filter(topic_filter)
        with self._lock:
            self._listeners.append((topic_filter, callback))

    def _remove(self, sub: TapSubscription) -> None:
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

    def status(self) -> dict:
        with self._lock:
            return {"subscriptions": len(self._subscriptions), "seen": self._counts["seen"]}
