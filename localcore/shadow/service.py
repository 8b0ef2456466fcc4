"""The local shadow service: ShadowState + persistence + the router connection.

Wiring::

    shadows = ShadowService(state_dir, publisher=router)
    await shadows.start()                 # loads persisted documents
    router.attach("shadow:*", shadows)    # or shadows.attach(router)

A request routed to ``shadow:<thing>`` on ``$aws/things/<thing>/shadow/<get|update|delete>`` is
applied and every reply (accepted/rejected, documents, delta) is published back into the router
with source ``shadow:<thing>``, so the subscription table decides who receives it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from localcore.interfaces import Message, Publisher, ShadowReply, shadow
from localcore.shadow.state import ShadowState, parse_request_topic
from localcore.shadow.store import ShadowStore

log = logging.getLogger(__name__)


class ShadowService:
    """Implements :class:`interfaces.ShadowOperations` and :class:`interfaces.MessageSink`."""

    def __init__(self, state_dir: Path, publisher: Publisher | None = None,
                 on_change: Callable[[str, dict | None], None] | None = None) -> None:
        """``on_change(thing, document or None)`` is called after every update or delete that changed
        a document (outside the service's lock; e.g. the cloud shadow sync). It must not block."""
        self.on_change = on_change
        self._store = ShadowStore(Path(state_dir))
        self._state = ShadowState()
        self._publisher = publisher
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._started = False

    async def start(self) -> None:
        self.load()

    async def stop(self) -> None:
        self._started = False

    def load(self) -> None:
        """Read the persisted documents (``start()`` does this)."""
        with self._lock:
            self._state = ShadowState(self._store.load_all())
            self._started = True

    def attach(self, router) -> None:
        """Register as the sink for every ``shadow:<thing>`` endpoint and publish replies there."""
        self._publisher = router
        router.attach("shadow:*", self)

    # -- interfaces.ShadowOperations --------------------------------------------------------
    def handle(self, thing: str, action: str, payload: bytes) -> Sequence[ShadowReply]:
        """Apply one request and persist; returns the replies without routing them."""
        if not self._started:
            self.load()
        now = int(time.time())
        with self._lock:
            replies, changed = self._state.handle(thing, action, payload, now)
            if changed:
                self._store.save(thing, self._state.documents[thing])
                doc = self._state.documents[thing]
                snapshot = doc.to_json() if doc.exists else None
            for reply in replies:
                self._counts[reply.topic.rsplit("/", 1)[-1]] += 1
        if changed and self.on_change is not None:
            try:
                self.on_change(thing, snapshot)
            except Exception:  # a faulty listener must not fail the shadow request; logged with its trace
                log.exception("shadow change listener failed for %s", thing)
        return replies

    def handle_and_publish(self, thing: str, action: str, payload: bytes) -> Sequence[ShadowReply]:
        """``handle`` and route every reply with source ``shadow:<thing>`` (for the Lambda runtime)."""
        replies = self.handle(thing, action, payload)
        self._publish(thing, replies)
        return replies

    # -- interfaces.MessageSink ---------------------------------------------------------------
    def deliver(self, message: Message) -> None:
        parsed = parse_request_topic(message.topic)
        if parsed is None:
            self._counts["ignored"] += 1
            log.debug("shadow service ignores %s from %s: not a shadow request topic",
                      message.topic, message.source)
            return
        thing, action = parsed
        self.handle_and_publish(thing, action, message.payload)

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

    def document(self, thing: str) -> dict | None:
        """The stored document of ``thing`` (for the dashboard), or None."""
        with self._lock:
            doc = self._state.documents.get(thing)
            return None if doc is None or not doc.exists else doc.to_json()

    def status(self) -> dict:
        with self._lock:
            things = {t: d.version for t, d in self._state.documents.items() if d.exists}
            return {"shadows": things, "counts": dict(self._counts)}
