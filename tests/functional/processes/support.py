"""Helpers of the process tests: the miniature core as a subprocess and /proc lookups (Linux)."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[3]
PARENT = Path(__file__).resolve().parent / "parent.py"


def stat_of(pid: int) -> Optional[Tuple[str, int, int, int]]:
    """(state, ppid, pgid, start time) of ``pid`` from /proc, None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def alive(pid: int, start: Optional[int] = None) -> bool:
    """Running (not a zombie) and, given ``start``, still the very process that started then."""
    st = stat_of(pid)
    return st is not None and st[0] != "Z" and (start is None or st[3] == start)


def descendants(pid: int) -> Dict[int, int]:
    """Every live descendant of ``pid``: pid -> start time."""
    children: Dict[int, List[int]] = {}
    starts: Dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat_of(int(name))
            if st is not None and st[0] != "Z":
                children.setdefault(st[1], []).append(int(name))
                starts[int(name)] = st[3]
    out, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``predicate`` (no event says a process is gone) until it is truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


class Parent:
    """``parent.py <state> <kinds>`` in a session of its own (its pgid is its pid), stderr to a file."""

    def __init__(self, state: Path, kinds: List[str], log: Path) -> None:
        self.log = log
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, str(PARENT), str(state), *kinds], cwd=str(ROOT), env=env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                         start_new_session=True)
        self.ready = self._ready_line(60.0)

    def _ready_line(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([fd], [], [], max(0.0, left))
            chunk = os.read(fd, 4096) if readable else b""
            if not chunk:
                self.kill()
                raise AssertionError(f"parent.py not ready within {timeout:.0f} s (exit {self.proc.poll()}):\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            data += chunk
        return json.loads(data.split(b"\n", 1)[0])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
