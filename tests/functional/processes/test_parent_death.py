"""A child started by ``processes.start`` dies with its parent, without the watchdog (real processes):

* the parent-death signal comes from ``setpriv --pdeathsig KILL`` before the child's own command (no Python
  ``preexec_fn``, so the parent need not fork in full), and, with no ``setpriv`` on PATH, from the
  ``preexec_fn`` as before;
* a program that cannot be started is an ``OSError`` of ``start`` itself, as ``subprocess`` raises it;
* a child whose parent died between the fork and its record (only a spawn marker is left) is found and ended
  by the watchdog's clean-up, and nothing else is: not a process with the same command line that started
  before the marker, not one with another command line.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from localcore import processes
from tests.functional.processes.support import ROOT, alive, cmdline, stat_of, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc: Linux")

# a parent without supervise(): nothing but the parent-death signal can end its child
PARENT = textwrap.dedent("""
    import asyncio, json, sys
    from localcore import processes

    async def main():
        proc = await processes.start([sys.argv[1], "300"], name="sleeper")
        print(json.dumps({"child": proc.pid, "prefix": list(processes.pdeathsig_prefix())}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")


@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "preexec_fn"])
def test_the_child_dies_when_its_parent_is_killed(tmp_path, setpriv):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if not setpriv:
        env["PATH"] = str(tmp_path)  # no setpriv to be found: the preexec_fn sets the signal
    elif processes.pdeathsig_prefix() == ():
        pytest.skip("no setpriv with --pdeathsig on this machine")
    sleep = shutil.which("sleep")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, sleep], cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    child = start = None
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read().decode(errors="replace")
        info = json.loads(line)
        child = info["child"]
        assert bool(info["prefix"]) is setpriv
        start = stat_of(child)[3]
        wait_until(lambda: cmdline(child) == f"{sleep} 300", 10, "the child ran its own command")
        st = stat_of(child)
        assert st[1] == parent.pid and st[2] == child, "a child of the parent, leading a group of its own"
        parent.kill()
        parent.wait(10)
        wait_until(lambda: not alive(child, start), 10, f"child {child} gone after kill -9 of its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        parent.stdout.close()
        parent.stderr.close()
        if child is not None and alive(child, start):
            os.kill(child, signal.SIGKILL)


async def test_a_program_that_cannot_start_is_an_error_of_start(tmp_path):
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(FileNotFoundError, match="no-such-program-here"):
        await processes.start(["no-such-program-here"], name="missing")
    with pytest.raises(FileNotFoundError):
        await processes.start([str(tmp_path / "missing")], name="missing")
    with pytest.raises(PermissionError):
        await processes.start([str(not_executable)], name="not executable")
    with pytest.raises(FileNotFoundError):   # the child's PATH is searched, not ours
        await processes.start(["sleep", "1"], name="no path", env={"PATH": str(tmp_path)})
    not_executable.chmod(0o755)   # now it is: a relative path is the child's working folder's
    proc = await processes.start(["./script.sh"], name="relative", cwd=str(tmp_path), env={"PATH": os.environ["PATH"]})
    assert await proc.wait() == 0


def test_the_watchdog_ends_a_child_whose_parent_died_before_recording_it(tmp_path):
    prefix = processes.pdeathsig_prefix()
    # a command line of this test alone: the watchdog ends any session leader with the marker's command line that
    # started after it, and other tests running at the same time start "sleep 301" too
    argv = ["sleep", f"301.{os.getpid()}"]
    before = subprocess.Popen(argv, start_new_session=True)   # same command line, started before the marker
    other = None
    orphan = None
    supervision = processes.Supervision(tmp_path / "state", grace_s=1.0)
    try:
        started = stat_of(before.pid)[3]
        wait_until(lambda: processes._ticks_now() > started + 2, 5, "the clock moved on past the first start")
        marker = supervision.spawning(argv, prefix)
        assert marker is not None and json.loads(marker.read_text())["argv"] == argv
        # the core "died" here: the child runs (setpriv's prctl too late to help), nothing recorded it
        orphan = subprocess.Popen([*prefix, *argv], start_new_session=True)
        other = subprocess.Popen(["sleep", "302"], start_new_session=True)
        wait_until(lambda: cmdline(orphan.pid) == " ".join(argv), 10, "the child ran its own command")
        assert not list(supervision.dir.glob("[0-9]*.json"))
        ended = processes.end_recorded(supervision.dir, grace_s=1.0, spawning=True)
        assert [r.pid for r in ended] == [orphan.pid]
        assert orphan.wait(10) == -signal.SIGTERM
        assert before.poll() is None and other.poll() is None, "a process that was not being started was ended"
        assert not supervision.dir.exists()
    finally:
        supervision.close()
        for p in (before, other, orphan):
            if p is not None:
                p.kill()
                p.wait(10)


async def test_records_of_groups_that_ended_on_their_own_are_dropped_at_the_next_start(tmp_path):
    supervision = processes.supervise(tmp_path / "state", grace_s=1.0)
    orphaned = done = live = None
    try:
        # a leader that exits at once, one whose group lives on after its leader exits, one that keeps running
        done = await processes.start(["true"], name="done")
        orphaned = await processes.start(["sh", "-c", "sleep 303 & exit 0"], name="leader gone, member left")
        assert await done.wait() == 0 and await orphaned.wait() == 0
        live = await processes.start(["sleep", "304"], name="live")
        names = {r.name for r in supervision.recorded()}
        assert names == {"leader gone, member left", "live"}, names
        assert sorted(p.name for p in supervision.dir.glob("[0-9]*.json")) == sorted(
            f"{p.pid}.json" for p in (orphaned, live))
    finally:
        for proc in (done, orphaned, live):
            if proc is not None:
                await processes.end_group(proc.pid, 1.0, proc=proc)
        supervision.close()


def test_a_group_whose_leader_was_reaped_before_its_record_is_still_recorded(tmp_path):
    """The event loop's child watcher reaps a leader as soon as it exits: ``sh -c 'x & exit 0'`` can be gone
    before :meth:`Supervision.record` runs, while what it left in its group must still end with the core."""
    supervision = processes.supervise(tmp_path / "state", grace_s=1.0)
    leader = subprocess.Popen(["sh", "-c", "sleep 305 & exit 0"], start_new_session=True)
    try:
        assert leader.wait(10) == 0  # reaped: no /proc entry of the leader is left
        assert processes.proc_info(leader.pid) is None and processes.group_members(leader.pid)
        supervision.record(leader.pid, "reaped leader")
        [record] = supervision.recorded()
        assert (record.pid, record.name) == (leader.pid, "reaped leader")
        assert record.state(processes.boot_id()) == "orphaned"
        assert (supervision.dir / f"{leader.pid}.json").exists()
    finally:
        processes.signal_group(leader.pid, signal.SIGKILL)
        supervision.close()
    wait_until(lambda: not processes.group_members(leader.pid), 5, "the left member to end")
