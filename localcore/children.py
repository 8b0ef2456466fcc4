"""Child processes of ``deploy.py run`` (the device scripts): start, log to files, stop cleanly.

Started and stopped through :mod:`localcore.processes`: each child gets its own process group so a stop
reaches everything it spawned, and dies with the core; stop sends SIGTERM to every group, waits a bounded
time, then SIGKILL. Output goes to ``<log_dir>/<name>.log``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

from localcore import processes

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
            proc = await processes.start(
                spec.argv, name=spec.name, cwd=spec.cwd, env=env, stdout=out,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            )
        self._children.append(_Child(spec, proc, log_path, time.time()))
        log.info("started %s (pid %d), log %s", spec.name, proc.pid, log_path)

    async def stop(self, timeout: float = 4.0) -> None:
        """SIGTERM every child's group at once; SIGKILL what is left after ``timeout`` seconds."""
        await asyncio.gather(*(processes.end_group(c.proc.pid, timeout, proc=c.proc, what=c.spec.name)
                               for c in self._children))
        self._children.clear()

    def pids(self) -> List[int]:
        return [c.proc.pid for c in self._children]

    def status(self) -> List[dict]:
        return [
            {"name": c.spec.name, "pid": c.proc.pid, "running": c.proc.returncode is None,
             "exit_code": c.proc.returncode, "log": str(c.log_path)}
            for c in self._children
        ]

