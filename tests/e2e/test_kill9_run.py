"""``kill -9`` of the whole process group of ``deploy.py run --platform v2`` (devices on): no generic
component, device script, Lambda instance or any other process of the run survives, and the next run on the
same state folder starts clean. Before ``localcore.processes`` each child sat in a session of its own and
lived on (two HelloWorld publishers after a restart; the stream manager refusing the orphans' tokens)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

READY_S = 90.0
GONE_S = 20.0
DEVICES = ("HelloWorld_Subscriber", "HelloWorld_Publisher", "GG_TrafficLight", "GG_Switch")  # localcore/run.py


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _start(bundle: Path, group_file: Path, marker: str) -> subprocess.Popen:
    argv = [e2e_gg.PYTHON, str(e2e_gg.ROOT / "deploy.py"), "run", "--group-file", str(group_file),
            "--state-dir", str(bundle / "state"), "--certs-dir", str(bundle / "certs"), "--ephemeral-ports",
            "--clean", "--platform", "v2"]
    env = e2e_gg._env(marker)
    env.setdefault("LOG_LEVEL", "WARNING")
    with open(bundle / "run.log", "ab") as out:  # a session of its own: its pgid is its pid
        return subprocess.Popen(argv, cwd=str(e2e_gg.ROOT), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(run: subprocess.Popen, bundle: Path) -> dict:
    endpoint = bundle / "state" / "endpoint.json"
    e2e_gg.wait_for(lambda: endpoint.exists() or run.poll() is not None, READY_S, "endpoint.json")
    assert run.poll() is None, (bundle / "run.log").read_text()[-4000:]
    return json.loads(endpoint.read_text())


def _kinds(marker: str, work: str) -> dict:
    """The run's processes (its marker in their environment) by kind."""
    kinds = {"device": [], "component": [], "other": []}
    for pid in e2e_gg.marked_processes(marker):
        if "/devices/" in e2e_gg.cmdline(pid):
            kinds["device"].append(pid)
        elif _cwd(pid).startswith(work):
            kinds["component"].append(pid)
        else:
            kinds["other"].append(pid)
    return kinds


def _argv(pid: int) -> list:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _devices(marker: str) -> dict:
    """Device scripts of the run by thing (``--clientId`` for the switch, else ``-n``)."""
    out: dict = {}
    for pid in _kinds(marker, "//")["device"]:
        argv = _argv(pid)
        flag = "--clientId" if "--clientId" in argv else "-n"
        if flag in argv[:-1]:
            out.setdefault(argv[argv.index(flag) + 1], []).append(pid)
    return out


def _all_up(marker: str, work: str):
    """Every device script once (and not twice) and at least one generic component process; else None."""
    devices = _devices(marker)
    if sorted(devices) == sorted(DEVICES) and _kinds(marker, work)["component"]:
        return devices
    return None


def _wait_all_up(marker: str, bundle: Path, work: str, what: str) -> dict:
    try:
        return e2e_gg.wait_for(lambda: _all_up(marker, work), 60, what)
    except AssertionError as exc:
        logs = sorted((bundle / "state" / "logs" / "devices").glob("*.log"))
        tails = "\n".join(f"== {f.name}\n{f.read_text(errors='replace')[-800:]}" for f in logs)
        raise AssertionError(f"{exc}; devices {_devices(marker)}, processes "
                             f"{_kinds(marker, work)}\n{tails}") from None


def test_kill9_of_the_runs_group_leaves_nothing_and_a_restart_starts_clean(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    marker = uuid.uuid4().hex
    group_file = e2e_gg.write_test_group(bundle, marker)
    # the run starts the device scripts of the group file's bundle (<bundle>/devices)
    shutil.copytree(e2e_gg.ROOT / "devices", bundle / "devices", ignore=shutil.ignore_patterns("__pycache__"))
    work = str(bundle / "state" / "v2" / "greengrass" / "work")
    runs = []
    try:
        runs.append(_start(bundle, group_file, marker))
        _wait_ready(runs[0], bundle)
        _wait_all_up(marker, bundle, work, "every device script and a generic component running")
        kinds = _kinds(marker, work)
        everything = set(e2e_gg.descendants(runs[0].pid)) | {p for pids in kinds.values() for p in pids}

        t0 = time.monotonic()
        os.killpg(runs[0].pid, signal.SIGKILL)  # the run's whole process group, as `kill -9 -<pgid>`
        runs[0].wait(10)
        left = e2e_gg.wait_gone(everything, GONE_S)
        assert not left, "left running: " + "; ".join(f"{p} {e2e_gg.cmdline(p)}" for p in left)
        assert not e2e_gg.marked_processes(marker)
        gone_s = time.monotonic() - t0

        # the restart on the same state folder: one of each again, not two
        runs.append(_start(bundle, group_file, marker))
        _wait_ready(runs[1], bundle)
        again = _wait_all_up(marker, bundle, work, "every device script and a generic component running again")
        assert all(len(pids) == 1 for pids in again.values()), again
        assert gone_s < GONE_S
    finally:
        for run in runs:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                try:
                    run.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(run.pid, signal.SIGKILL)
                    run.wait(5)
        for pid in e2e_gg.marked_processes(marker):  # never leave anything behind
            os.kill(pid, signal.SIGKILL)
    assert not e2e_gg.wait_gone(e2e_gg.marked_processes(marker), 5)
