"""The Lambda runtime's records of its functions and their instances, the results it returns, and the
router sink of a function (``runtime.py``'s ``LambdaRuntime`` keeps them)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from localcore.interfaces import FunctionSpec, Message

from .errors import RuntimeNotStarted

if TYPE_CHECKING:  # the sink calls back into the runtime that made it
    from .runtime import LambdaRuntime

@dataclass(frozen=True)
class UpdateResult:
    """What ``LambdaRuntime.update`` did, by function name (each tuple sorted)."""

    started: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"started": list(self.started), "stopped": list(self.stopped),
                "restarted": list(self.restarted), "unchanged": list(self.unchanged)}


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str  # "" | "Handled" | "Unhandled"
    invocation_id: str

    def json(self):
        return json.loads(self.payload) if self.payload else None


@dataclass(eq=False)
class _Instance:
    id: str
    function: str
    started: float = field(default_factory=time.monotonic)
    proc: Optional[asyncio.subprocess.Process] = None
    state: str = "starting"  # starting | ready | import-failed | retiring | exited
    last_active: float = field(default_factory=time.monotonic)
    kill_reason: str = ""
    watcher: Optional[asyncio.Task] = None
    replaced: bool = False  # ended by a deployment: never restarted in place (update() starts the new one)

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None


@dataclass(eq=False)
class _Function:
    spec: FunctionSpec
    token: str
    logger: logging.Logger
    log_path: Path
    home: Path
    instances: dict = field(default_factory=dict)  # id -> _Instance
    counter: int = 0
    invocations: int = 0
    handled_errors: int = 0
    unhandled_errors: int = 0
    timeouts: int = 0
    crashes: int = 0
    restarts: int = 0
    dropped: int = 0
    backoff_s: float = 0.0
    restart_task: Optional[asyncio.Task] = None
    last_error: Optional[dict] = None
    start_error: Optional[str] = None
    volume_links: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    fingerprint: str = ""  # process.code_fingerprint at registration / last deployment
    updating: bool = False  # a deployment is replacing this function: spawn nothing meanwhile
    deployments: int = 0  # times a deployment restarted it with a new spec or code


class _FunctionSink:
    """A routed message for ``function:<name>`` becomes an Event invocation of that function."""

    def __init__(self, runtime: "LambdaRuntime", name: str) -> None:
        self._runtime = runtime
        self.name = name

    def has_room(self, message: Message) -> bool:
        """Whether the function's work queue takes one more invocation (AllOrError publishes)."""
        broker = self._runtime.broker
        return broker.pending(self.name) < broker.max_queue

    def deliver(self, message: Message) -> None:
        loop = self._runtime._loop
        if loop is None:
            raise RuntimeNotStarted("LambdaRuntime.start() has not run: cannot deliver messages yet")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._runtime._deliver(self.name, message)
        else:
            loop.call_soon_threadsafe(self._runtime._deliver, self.name, message)
