"""The local shadow service: ShadowState + persistence + the router connection. One store for every
client: devices over MQTT (routed to ``shadow:<thing>``), Lambdas (greengrasssdk, V1), V2 components (IPC
through ``localcore/nucleus_ipc/shadows.py``) and the cloud sync.

Wiring::

    shadows = ShadowService(state_dir, publisher=router)
    await shadows.start()                 # loads persisted documents
    router.attach("shadow:*", shadows)    # or shadows.attach(router)

A request routed to ``shadow:<thing>`` on ``$aws/things/<thing>/shadow[/name/<name>]/<get|update|delete>`` is
applied and every reply (accepted/rejected, documents, delta) is published back into the router
with source ``shadow:<thing>``, so the subscription table decides who receives it. Listeners added with
:meth:`ShadowService.add_listener` hear every request's replies, whoever made it (the V2 local pub/sub bus).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from localcore.interfaces import Message, Publisher, ShadowReply, shadow
from localcore.shadow.state import (MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES_LIMIT, ShadowState, parse_shadow_topic)
from localcore.shadow.store import ShadowStore

log = logging.getLogger(__name__)

#: ``listener(thing, shadow name or "", replies)``: called after every request, outside the service's lock
Listener = Callable[[str, str, Sequence[ShadowReply]], None]


class ShadowService:
    """Implements :class:`interfaces.ShadowOperations` and :class:`interfaces.MessageSink`."""

    def __init__(self, state_dir: Path, publisher: Publisher | None = None,
                 on_change: Callable[[str, dict | None], None] | None = None) -> None:
        """``on_change(thing, document or None)`` is called after every update or delete that changed
        a thing's classic document (outside the service's lock; e.g. the cloud shadow sync). It must not block."""
        self.on_change = on_change
        self._store = ShadowStore(Path(state_dir))
        self._state = ShadowState()
        self._publisher = publisher
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._listeners: list[Listener] = []
        self._started = False

    async def start(self) -> None:
        self.load()

    async def stop(self) -> None:
        self._started = False

    def load(self) -> None:
        """Read the persisted documents (``start()`` does this)."""
        with self._lock:
            self._state = ShadowState(self._store.load_all(), self._store.load_named(),
                                      self._state.max_document_bytes)
            self._started = True

    def attach(self, router) -> None:
        """Register as the sink for every ``shadow:<thing>`` endpoint and publish replies there."""
        self._publisher = router
        router.attach("shadow:*", self)

    # -- configuration and listeners ----------------------------------------------------------
    @property
    def directory(self) -> Path:
        """Where the documents are kept (services over the store keep their own state in a folder under it)."""
        return self._store.directory

    @property
    def max_document_bytes(self) -> int:
        return self._state.max_document_bytes

    def set_max_document_bytes(self, limit: int | None) -> None:
        """The document size limit (the ShadowManager's ``shadowDocumentSizeLimitBytes``; None: the default
        8 KiB). Raises ValueError outside 1..30 KiB."""
        limit = MAX_DOCUMENT_BYTES if limit is None else limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_DOCUMENT_BYTES_LIMIT:
            raise ValueError(f"shadow document size limit must be an integer from 1 to {MAX_DOCUMENT_BYTES_LIMIT} "
                             f"bytes, got {limit!r}")
        with self._lock:
            self._state.max_document_bytes = limit

    def add_listener(self, listener: Listener) -> None:
        """Hear the replies of every request (it must not block; exceptions are logged)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- interfaces.ShadowOperations --------------------------------------------------------
    def handle(self, thing: str, action: str, payload: bytes, shadow_name: str = "") -> Sequence[ShadowReply]:
        """Apply one request (to the named shadow ``shadow_name``, else the classic one) and persist; returns the
        replies without routing them. Raises ``BadShadowRequest`` for an unknown action or an invalid name."""
        if not self._started:
            self.load()
        now = int(time.time())
        snapshot = None
        with self._lock:
            replies, changed = self._state.handle(thing, action, payload, now, shadow_name)
            if changed:
                doc = self._state.document(thing, shadow_name)
                self._store.save(thing, doc, shadow_name)
                snapshot = doc.to_json() if doc.exists else None
            for reply in replies:
                self._counts[reply.topic.rsplit("/", 1)[-1]] += 1
            listeners = list(self._listeners)
        if changed and not shadow_name and self.on_change is not None:
            try:
                self.on_change(thing, snapshot)
            except Exception:  # a faulty listener must not fail the shadow request; logged with its trace
                log.exception("shadow change listener failed for %s", thing)
        for listener in listeners:
            try:
                listener(thing, shadow_name, replies)
            except Exception:  # one faulty listener must not stop the others; logged with its trace
                log.exception("shadow reply listener failed for %s", thing)
        return replies

    def handle_and_publish(self, thing: str, action: str, payload: bytes,
                           shadow_name: str = "") -> Sequence[ShadowReply]:
        """``handle`` and route every reply with source ``shadow:<thing>`` (for the Lambda runtime)."""
        replies = self.handle(thing, action, payload, shadow_name)
        self._publish(thing, replies)
        return replies

    # -- interfaces.MessageSink ---------------------------------------------------------------
    def deliver(self, message: Message) -> None:
        parsed = parse_shadow_topic(message.topic)
        if parsed is None:
            self._counts["ignored"] += 1
            log.debug("shadow service ignores %s from %s: not a shadow request topic",
                      message.topic, message.source)
            return
        thing, shadow_name, action = parsed
        self.handle_and_publish(thing, action, message.payload, shadow_name)

    def _publish(self, thing: str, replies: Sequence[ShadowReply]) -> None:
        if self._publisher is None:
            log.warning("shadow replies for %s not routed: no publisher attached", thing)
            return
        source = shadow(thing)
        for reply in replies:
            try:
                self._publisher.publish(Message(source=source, topic=reply.topic, payload=reply.payload))
            except ValueError:  # the router refuses an invalid topic (TopicError)
                log.exception("shadow reply topic %s refused by the router", reply.topic)

    def document(self, thing: str, shadow_name: str = "") -> dict | None:
        """The stored document of ``thing`` (its named shadow ``shadow_name``, else the classic one), or None."""
        with self._lock:
            doc = self._state.document(thing, shadow_name)
            return None if doc is None or not doc.exists else doc.to_json()

    def named_shadows(self, thing: str) -> list[str]:
        """The names of ``thing``'s named shadows, sorted."""
        with self._lock:
            return self._state.named_shadows(thing)

    def status(self) -> dict:
        with self._lock:
            things = {t: d.version for t, d in self._state.documents.items() if d.exists}
            named: dict[str, dict[str, int]] = {}
            for (t, n), d in sorted(self._state.named.items()):
                if d.exists:
                    named.setdefault(t, {})[n] = d.version
            return {"shadows": things, "named": named, "max_document_bytes": self._state.max_document_bytes,
                    "counts": dict(self._counts)}
