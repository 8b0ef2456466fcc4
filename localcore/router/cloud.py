"""The ``cloud`` target: forwards routed messages to AWS IoT (the local cloud's iot-data publish).

While the cloud cannot be reached, messages wait in a bounded in-memory spool (oldest dropped
first, counted) and are retried with back-off. ``send`` is injected by the wiring: an async or
plain callable ``send(topic: str, payload: bytes, qos: int)`` that raises on failure; a plain
callable runs in a worker thread (boto3 blocks).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import Awaitable, Callable, Union

from localcore.interfaces import Message

log = logging.getLogger(__name__)

SendCallable = Callable[[str, bytes, int], Union[None, Awaitable[None]]]


class CloudSink:
    """A :class:`MessageSink` for the ``cloud`` endpoint with a bounded spool.

    ``deliver`` may be called from any thread once ``start()`` has run in the event loop.
    """

    def __init__(
        self,
        send: SendCallable,
        *,
        max_messages: int = 10_000,
        max_bytes: int = 16 * 1024 * 1024,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
    ) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("CloudSink: max_messages and max_bytes must be at least 1")
        self._send = send
        self._is_async = inspect.iscoroutinefunction(send)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._spool: deque[Message] = deque()
        self._spool_bytes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self.connected = True
        self.last_error = ""

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._drain(), name="cloud-sink")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def deliver(self, message: Message) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("CloudSink.deliver called before start()")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(message)
        else:
            loop.call_soon_threadsafe(self._enqueue, message)

    def has_room(self, message: Message) -> bool:
        """Whether the spool takes ``message`` without dropping an older one (AllOrError publishes)."""
        return (len(self._spool) + 1 <= self.max_messages
                and self._spool_bytes + len(message.payload) <= self.max_bytes)

    def _enqueue(self, message: Message) -> None:
        size = len(message.payload)
        if size > self.max_bytes:
            self.dropped += 1
            log.warning("cloud spool: dropped %s (%d bytes exceed the spool size)", message.topic, size)
            return
        self._spool.append(message)
        self._spool_bytes += size
        while len(self._spool) > self.max_messages or self._spool_bytes > self.max_bytes:
            old = self._spool.popleft()
            self._spool_bytes -= len(old.payload)
            self.dropped += 1
            log.warning("cloud spool full: dropped oldest message on %s", old.topic)
        assert self._wakeup is not None
        self._wakeup.set()

    async def _call_send(self, message: Message) -> None:
        if self._is_async:
            await self._send(message.topic, message.payload, message.qos)  # type: ignore[misc]
        else:
            result = await asyncio.to_thread(self._send, message.topic, message.payload, message.qos)
            if inspect.isawaitable(result):
                await result

    async def _drain(self) -> None:
        assert self._wakeup is not None
        delay = self._retry_initial
        while True:
            if not self._spool:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            message = self._spool[0]
            try:
                await self._call_send(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the injected transport means "cloud down"
                self.failures += 1
                self.connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cloud publish to %s failed (%s); retrying in %.1fs", message.topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_initial
            self.connected = True
            # the message may have been dropped by an overflow while we awaited
            if self._spool and self._spool[0] is message:
                self._spool.popleft()
                self._spool_bytes -= len(message.payload)
            self.sent += 1

    def status(self) -> dict:
        return {
            "connected": self.connected,
            "spooled": len(self._spool),
            "spooled_bytes": self._spool_bytes,
            "sent": self.sent,
            "dropped": self.dropped,
            "failures": self.failures,
            "last_error": self.last_error,
        }
