"""Scheduling state of the IPC daemon: invocations, per-function work queues and results.

Pure asyncio bookkeeping, no sockets: the HTTP layer (``server``) and the process manager
(``localcore.runtime``) both drive it.

* ``submit`` queues an invocation for a function (or hands it at once to an instance waiting in
  "get work").
* ``next_work`` is one instance's long-poll: it returns the next invocation, or None when the
  bounded wait ran out. One invocation at a time per instance.
* ``finish`` records an instance's answer; ``fail_instance`` answers ``Unhandled`` for whatever
  an instance was running when it died or was killed.
* RequestResponse results are kept until ``result`` fetches them (or ``result_ttl_s`` after
  completion when nobody asks).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

from .errors import Forbidden, QueueFull, UnknownFunction, UnknownInvocation

log = logging.getLogger(__name__)

REQUEST_RESPONSE = "RequestResponse"
EVENT = "Event"
INVOCATION_TYPES = (REQUEST_RESPONSE, EVENT)


@dataclass(frozen=True)
class Result:
    payload: bytes
    function_error: str  # "" on success, "Handled" (handler raised) or "Unhandled" (timeout, crash)


def error_payload(message: str, **extra) -> bytes:
    body = {"errorMessage": message}
    body.update(extra)
    return json.dumps(body).encode()


@dataclass(eq=False)
class Invocation:
    id: str
    function: str
    payload: bytes
    client_context: str  # base64 JSON, or ""
    invocation_type: str
    source: str  # endpoint name of the caller (function:<name>, device:<thing>, cloud, core)
    future: asyncio.Future
    created: float = field(default_factory=time.monotonic)
    instance: Optional[str] = None
    dispatched_at: Optional[float] = None

    @property
    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Result:
        return self.future.result()


@dataclass
class _FunctionQueue:
    pending: deque = field(default_factory=deque)
    waiters: dict = field(default_factory=dict)  # instance id -> Future[Invocation | None]
    running: dict = field(default_factory=dict)  # instance id -> Invocation
    retired: set = field(default_factory=set)  # instances being shut down: no more work for them


class WorkBroker:
    """Work queues of every function plus the results of RequestResponse invocations."""

    def __init__(
        self,
        *,
        max_queue: int = 1000,
        result_ttl_s: float = 60.0,
        on_queued: Callable[[str], None] | None = None,
        on_dispatched: Callable[[Invocation], None] | None = None,
        on_finished: Callable[[Invocation, Result], None] | None = None,
    ) -> None:
        self.max_queue = max_queue
        self.result_ttl_s = result_ttl_s
        self._on_queued = on_queued
        self._on_dispatched = on_dispatched
        self._on_finished = on_finished
        self._queues: dict[str, _FunctionQueue] = {}
        self._results: dict[str, Invocation] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # -- functions ------------------------------------------------------------------------------

    def add_function(self, name: str) -> None:
        self._queues.setdefault(name, _FunctionQueue())

    def _queue(self, function: str) -> _FunctionQueue:
        try:
            return self._queues[function]
        except KeyError:
            raise UnknownFunction(f"no function named {function!r} in this core") from None

    def pending(self, function: str) -> int:
        return len(self._queue(function).pending)

    def idle(self, function: str) -> list[str]:
        """Instances of ``function`` currently waiting in "get work"."""
        return list(self._queue(function).waiters)

    def running(self, function: str) -> dict[str, Invocation]:
        return dict(self._queue(function).running)

    # -- invocations ----------------------------------------------------------------------------

    def submit(
        self,
        function: str,
        payload: bytes,
        *,
        client_context: str = "",
        invocation_type: str = REQUEST_RESPONSE,
        source: str = "",
    ) -> Invocation:
        if self._closed:
            raise QueueFull(f"core is stopping: invocation of {function!r} refused")
        queue = self._queue(function)
        if len(queue.pending) >= self.max_queue:
            raise QueueFull(
                f"work queue of function {function!r} is full ({self.max_queue} invocations waiting)")
        invocation = self._new(function, payload, client_context, invocation_type, source)
        while queue.waiters:
            instance, waiter = next(iter(queue.waiters.items()))
            del queue.waiters[instance]
            if not waiter.done():
                self._dispatch(queue, invocation, instance)
                waiter.set_result(invocation)
                return invocation
        queue.pending.append(invocation)
        if self._on_queued is not None:
            self._on_queued(function)
        return invocation

    def completed(self, function: str, result: Result, *, invocation_type: str = REQUEST_RESPONSE,
                  source: str = "") -> Invocation:
        """An invocation answered on the spot (the core's own functions: shadow, secrets, router)."""
        invocation = self._new(function, b"", "", invocation_type, source)
        self._settle(invocation, result)
        return invocation

    def _new(self, function, payload, client_context, invocation_type, source) -> Invocation:
        invocation = Invocation(
            id=str(uuid.uuid4()),
            function=function,
            payload=payload,
            client_context=client_context,
            invocation_type=invocation_type,
            source=source,
            future=asyncio.get_running_loop().create_future(),
        )
        if invocation_type == REQUEST_RESPONSE:
            self._results[invocation.id] = invocation
        return invocation

    def _dispatch(self, queue: _FunctionQueue, invocation: Invocation, instance: str) -> None:
        invocation.instance = instance
        invocation.dispatched_at = time.monotonic()
        queue.running[instance] = invocation
        if self._on_dispatched is not None:
            self._on_dispatched(invocation)

    async def next_work(self, function: str, instance: str, wait_s: float) -> Invocation | None:
        """One long-poll of ``instance``: the next invocation, or None after ``wait_s`` without work."""
        queue = self._queue(function)
        if self._closed or instance in queue.retired:
            return None
        if instance in queue.running:
            # The instance asks for more work, so it is done with (or lost) the previous one.
            lost = queue.running.pop(instance)
            self._settle(lost, Result(error_payload("the function instance asked for new work without "
                                                    "answering this invocation"), "Unhandled"))
        if queue.pending:
            invocation = queue.pending.popleft()
            self._dispatch(queue, invocation, instance)
            return invocation
        waiter = asyncio.get_running_loop().create_future()
        previous = queue.waiters.pop(instance, None)
        if previous is not None and not previous.done():
            previous.set_result(None)
        queue.waiters[instance] = waiter
        try:
            await asyncio.wait({waiter}, timeout=wait_s)
        except asyncio.CancelledError:
            if waiter.done() and waiter.result() is not None:
                # Handed work but the poll was cancelled (client went away): put it back in front.
                self._undispatch(queue, waiter.result())
            raise
        finally:
            if queue.waiters.get(instance) is waiter:
                del queue.waiters[instance]
        if waiter.done():
            return waiter.result()
        waiter.cancel()
        return None

    def _undispatch(self, queue: _FunctionQueue, invocation: Invocation) -> None:
        if queue.running.get(invocation.instance) is invocation:
            del queue.running[invocation.instance]
        invocation.instance = None
        invocation.dispatched_at = None
        queue.pending.appendleft(invocation)

    def finish(self, function: str, instance: str | None, invocation_id: str, result: Result) -> Invocation:
        """An instance answered ``invocation_id``."""
        queue = self._queue(function)
        invocation = None
        if instance is not None:
            invocation = queue.running.get(instance)
        else:  # a client that does not name its instance: find the invocation by id
            for candidate in queue.running.values():
                if candidate.id == invocation_id:
                    invocation = candidate
                    break
        if invocation is None or invocation.id != invocation_id:
            raise UnknownInvocation(
                f"invocation {invocation_id!r} is not running on this instance of {function!r} "
                "(already timed out, or never dispatched)")
        del queue.running[invocation.instance]
        self._settle(invocation, result)
        return invocation

    def fail(self, invocation: Invocation, result: Result) -> None:
        """Answer ``invocation`` now (timeout, crash) and take it out of its queue."""
        queue = self._queues.get(invocation.function)
        if queue is not None:
            if invocation.instance is not None and queue.running.get(invocation.instance) is invocation:
                del queue.running[invocation.instance]
            try:
                queue.pending.remove(invocation)
            except ValueError:
                pass
        self._settle(invocation, result)

    def fail_instance(self, function: str, instance: str, result: Result) -> Invocation | None:
        """``instance`` is gone: answer what it was running with ``result``; drop its long-poll."""
        queue = self._queue(function)
        queue.retired.discard(instance)
        waiter = queue.waiters.pop(instance, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        invocation = queue.running.pop(instance, None)
        if invocation is not None:
            self._settle(invocation, result)
        return invocation

    def retire(self, function: str, instance: str) -> None:
        """``instance`` is being shut down while idle: end its long-poll and give it no more work."""
        queue = self._queue(function)
        queue.retired.add(instance)
        waiter = queue.waiters.pop(instance, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def fail_pending(self, function: str, result: Result) -> int:
        queue = self._queue(function)
        count = 0
        while queue.pending:
            self._settle(queue.pending.popleft(), result)
            count += 1
        return count

    def _settle(self, invocation: Invocation, result: Result) -> None:
        if invocation.future.done():
            return
        invocation.future.set_result(result)
        if invocation.id in self._results:
            loop = asyncio.get_running_loop()
            loop.call_later(self.result_ttl_s, self._results.pop, invocation.id, None)
        if self._on_finished is not None:
            try:
                self._on_finished(invocation, result)
            except Exception:  # a statistics hook must never break the daemon
                log.exception("on_finished hook failed for invocation %s", invocation.id)

    async def result(self, invocation_id: str, function: str, wait_s: float) -> Result:
        """Wait for a RequestResponse result (then forget it). TimeoutError after ``wait_s``."""
        invocation = self._results.get(invocation_id)
        if invocation is None:
            raise UnknownInvocation(f"no pending result for invocation id {invocation_id!r}")
        if invocation.function != function:
            raise Forbidden(f"invocation {invocation_id!r} belongs to another function")
        if not invocation.done:
            await asyncio.wait({invocation.future}, timeout=wait_s)
            if not invocation.done:
                raise TimeoutError(f"invocation {invocation_id!r} still running after {wait_s:.0f} s")
        self._results.pop(invocation_id, None)
        return invocation.result()

    def close(self, result: Result) -> None:
        """Stop: answer everything pending or running with ``result``; end every long-poll."""
        self._closed = True
        for queue in self._queues.values():
            for waiter in queue.waiters.values():
                if not waiter.done():
                    waiter.set_result(None)
            queue.waiters.clear()
            while queue.pending:
                self._settle(queue.pending.popleft(), result)
            for invocation in list(queue.running.values()):
                self._settle(invocation, result)
            queue.running.clear()
