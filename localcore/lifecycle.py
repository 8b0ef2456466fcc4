"""An explicit lifecycle for a set of services: new → starting → started → stopping → stopped.

Services start in order and stop in reverse. A service that fails to start stops every service
already started, then the error propagates (nothing is left running half-way).
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, List, Optional

log = logging.getLogger(__name__)


class State(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class Step:
    """One service in the start order. ``start``/``stop`` are coroutines functions."""

    name: str
    start: Callable[[], Awaitable[Any]]
    stop: Callable[[], Awaitable[Any]]
    stop_timeout: float = 5.0
    state: State = State.NEW
    started_in: Optional[float] = None
    error: str = ""


ProgressFn = Callable[[str, float, bool, str], None]
"""(step name, seconds taken, ok, detail) — called after each step starts."""


@dataclass
class Lifecycle:
    steps: List[Step] = field(default_factory=list)
    state: State = State.NEW
    progress: Optional[ProgressFn] = None

    def add(self, name: str, start, stop, stop_timeout: float = 5.0) -> None:
        self.steps.append(Step(name, start, stop, stop_timeout))

    async def start(self) -> None:
        if self.state is not State.NEW:
            raise RuntimeError(f"cannot start from state {self.state.value}")
        self.state = State.STARTING
        for step in self.steps:
            t0 = time.monotonic()
            step.state = State.STARTING
            try:
                await step.start()
            except BaseException as exc:
                step.state = State.FAILED
                step.error = f"{type(exc).__name__}: {exc}"
                if self.progress:
                    self.progress(step.name, time.monotonic() - t0, False, step.error)
                log.error("start of %s failed: %s", step.name, step.error)
                self.state = State.FAILED
                await self._stop_started()
                raise
            step.state = State.STARTED
            step.started_in = time.monotonic() - t0
            if self.progress:
                self.progress(step.name, step.started_in, True, "")
        self.state = State.STARTED

    async def stop(self) -> None:
        if self.state in (State.STOPPED, State.NEW):
            self.state = State.STOPPED
            return
        await self._stop_started()

    async def _stop_started(self) -> None:
        if self.state is not State.FAILED:
            self.state = State.STOPPING
        for step in reversed(self.steps):
            if step.state is not State.STARTED:
                continue
            step.state = State.STOPPING
            try:
                await asyncio.wait_for(step.stop(), timeout=step.stop_timeout)
            except asyncio.TimeoutError:
                log.error("stop of %s took longer than %.0f s; moving on", step.name, step.stop_timeout)
            except Exception:  # keep stopping the others; the failure is logged with its trace
                log.exception("stop of %s failed", step.name)
            step.state = State.STOPPED
        if self.state is not State.FAILED:
            self.state = State.STOPPED

    def status(self) -> dict:
        return {
            "state": self.state.value,
            "services": [
                {"name": s.name, "state": s.state.value,
                 "started_in_s": round(s.started_in, 3) if s.started_in is not None else None,
                 "error": s.error}
                for s in self.steps
            ],
        }
