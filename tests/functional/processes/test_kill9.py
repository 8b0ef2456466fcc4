"""kill -9 of the core: every child the core started (device script, generic component, Lambda instance,
cloud Lambda worker) and every grandchild (each starts a ``sleep 300``) is gone within a bounded wait; and a
restart on the same state folder ends what an earlier run left, but never an unrelated process that got a
recorded pid. The core is ``parent.py`` (``processes.supervise`` + the core's own classes) in a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.functional.processes.support import Parent, alive, cmdline, descendants, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc: Linux")

KINDS = ["device", "component", "lambda", "cloud"]


def grandchildren_up(parent: Parent) -> dict:
    """The parent's descendants once each kind's ``sleep 300`` runs (one per kind)."""
    def up():
        procs = descendants(parent.pid)
        sleepers = [p for p in procs if cmdline(p) == "sleep 300"]
        return procs if len(sleepers) == len(KINDS) else None
    return wait_until(up, 30, f"one 'sleep 300' per kind under parent {parent.pid}")


def kill_left(procs: dict) -> None:
    """Nothing is left behind, even when an assertion failed."""
    for pid, start in procs.items():
        if alive(pid, start):
            os.kill(pid, signal.SIGKILL)


def described(procs: dict) -> str:
    return "; ".join(f"{p} {cmdline(p)}" for p in procs)


@pytest.mark.parametrize("target", ["process", "group"])
def test_kill9_of_the_core_ends_every_child_and_grandchild(tmp_path, target):
    parent = Parent(tmp_path / "state", KINDS, tmp_path / "parent.log")
    try:
        procs = grandchildren_up(parent)
        watchdog = parent.ready["watchdog"]
        assert watchdog in procs
        # the children sit in sessions of their own: a kill of the core's group does not reach them itself
        assert len({os.getpgid(p) for p in procs}) >= len(KINDS) + 1
        records = tmp_path / "state" / "processes" / str(parent.pid)
        assert len(list(records.glob("[0-9]*.json"))) >= len(KINDS)
        os.kill(parent.pid, signal.SIGKILL) if target == "process" else os.killpg(parent.pid, signal.SIGKILL)
        parent.proc.wait(10)
        left = lambda: {p: s for p, s in procs.items() if alive(p, s)}  # noqa: E731
        wait_until(lambda: not left(), 15, "every child and grandchild gone after kill -9 of the core")
        wait_until(lambda: not records.exists(), 5, f"the watchdog removed {records}")
    finally:
        procs = descendants(parent.pid)
        parent.kill()
        kill_left(procs)


def test_restart_ends_leftovers_of_an_earlier_run_but_not_a_recycled_pid(tmp_path):
    state = tmp_path / "state"
    first = Parent(state, KINDS, tmp_path / "first.log")
    unrelated = None
    second = None
    procs = {}
    try:
        procs = grandchildren_up(first)
        grandchildren = {p: s for p, s in procs.items() if cmdline(p) == "sleep 300"}
        # the watchdog dies too (kill -9 of everything): PDEATHSIG still ends the children, the grandchildren
        # are left over with their records
        os.kill(first.ready["watchdog"], signal.SIGKILL)
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait(10)
        children = {p: s for p, s in procs.items() if p not in grandchildren and p != first.ready["watchdog"]}
        wait_until(lambda: not any(alive(p, s) for p, s in children.items()), 10, "the children died with the core")
        assert all(alive(p, s) for p, s in grandchildren.items()), "grandchildren should be left over now"
        records = state / "processes" / str(first.pid)
        recorded = sorted(records.glob("[0-9]*.json"))
        assert len(recorded) >= len(KINDS)

        # an unrelated process leading its own group got a recorded pid (pid recycled): its record says
        # another start time, so it must not be touched
        unrelated = subprocess.Popen(["sleep", "300"], start_new_session=True)
        doc = json.loads(recorded[0].read_text())
        doc["pid"] = unrelated.pid
        (records / f"{unrelated.pid}.json").write_text(json.dumps(doc))

        second = Parent(state, [], tmp_path / "second.log")  # the restart: supervise() runs before "ready"
        assert not [p for p, s in grandchildren.items() if alive(p, s)], \
            "leftovers still running: " + described(grandchildren)
        assert alive(unrelated.pid), "the unrelated process with a recycled pid was killed"
        assert not records.exists()
        assert "ended leftover" in (tmp_path / "second.log").read_text()
    finally:
        for run in (first, second):
            if run is not None:
                run.kill()
        if unrelated is not None:
            unrelated.kill()
            unrelated.wait(5)
        kill_left(procs)
