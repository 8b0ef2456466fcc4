"""Child processes of ``deploy.py run`` (the device scripts): start, log to files, stop cleanly.

Each child gets its own process group so a stop reaches everything it spawned; stop sends
SIGTERM, waits a bounded time, then SIGKILL. Output goes to ``<log_dir>/<name>.log``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

log = logging.getLogger(__name__)


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    cwd: str
    env: Dict[str, str] = field(default_factory=dict)


@dataclass
class _Child:
    spec: ChildSpec
    proc: asyncio.subprocess.Process
    log_path: Path
    started_at: float


class Children:
    """A set of supervised child processes (no restart: a device that exits is reported)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._children: List[_Child] = []

    async def start(self, spec: ChildSpec) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        env = dict(os.environ)
        env.update(spec.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(log_path, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *spec.argv, cwd=spec.cwd, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
            )
        self._children.append(_Child(spec, proc, log_path, time.time()))
        log.info("started %s (pid %d), log %s", spec.name, proc.pid, log_path)

    async def stop(self, timeout: float = 4.0) -> None:
        for child in self._children:
            _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self._children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.wait_for(child.proc.wait(), remaining)
            except asyncio.TimeoutError:
                log.warning("%s did not stop within %.1f s; killing it", child.spec.name, timeout)
                _signal_group(child.proc, signal.SIGKILL)
                await child.proc.wait()
        self._children.clear()

    def pids(self) -> List[int]:
        return [c.proc.pid for c in self._children]

    def status(self) -> List[dict]:
        return [
            {"name": c.spec.name, "pid": c.proc.pid, "running": c.proc.returncode is None,
             "exit_code": c.proc.returncode, "log": str(c.log_path)}
            for c in self._children
        ]


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("cannot signal process group %d; signalling the process only", proc.pid)
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
