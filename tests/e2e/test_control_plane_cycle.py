"""Idempotency that survives teardown, as a user meets it (#22.1), on one state folder:

``run --clean --platform v2`` → stop → ``run`` (V1) → in another terminal ``deploy --platform v2`` then
``destroy --platform v2`` → stop → ``run --platform v2`` comes up (a new deployment, not the deleted one), and the
V1 deployment's objects survived the V2 destroy (``run`` again finds nothing to change).

A small group of its own (one Lambda, one device, a table) keeps each start to seconds.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import e2e_gg

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _bundle(tmp: Path) -> Path:
    code = tmp / "lambdas" / "hello"
    code.mkdir(parents=True)
    (code / "handler.py").write_text("def function_handler(event, context):\n    return 1\n")
    data = {"group": {"name": "cycle", "region": "us-east-1"},
            "core": {"thing": "CycleCore", "connectivity": [{"host": "127.0.0.1", "port": 8883}]},
            "devices": [{"thing": "CycleSensor", "sync_shadow": False}],
            "functions": [{"name": "hello", "pinned": True, "memory_mb": 64, "timeout_s": 3}],
            "subscriptions": [{"source": "hello", "target": "cloud", "topic": "cycle/out"}],
            "cloud": {"tables": [{"name": "CycleTable", "hash_key": "Time"}]}}
    gf = tmp / "group" / "group.yaml"
    gf.parent.mkdir()
    gf.write_text(yaml.safe_dump(data, sort_keys=False))
    return gf


def _argv(gf: Path, tmp: Path, *args: str):
    return [sys.executable, str(ROOT / "deploy.py"), *args, "--group-file", str(gf), "--state-dir", str(tmp / ".gg"),
            "--certs-dir", str(tmp / "certs")]


def _run(gf: Path, tmp: Path, *args: str) -> str:
    done = subprocess.run(_argv(gf, tmp, "run", "--ephemeral-ports", "--no-devices", "--no-dashboard",
                                "--exit-after-ready", *args), capture_output=True, text=True, timeout=120,
                          env=e2e_gg._env("cycle"))
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    return done.stdout


def _cli(gf: Path, tmp: Path, *args: str) -> str:
    done = subprocess.run(_argv(gf, tmp, *args), capture_output=True, text=True, timeout=120,
                          env=e2e_gg._env("cycle"))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _deployment_id(stdout: str) -> str:
    return next(line.split("—", 1)[1].split()[0] for line in stdout.splitlines() if line.startswith("✓ deployment "))


def test_run_v2_after_a_v2_destroy_makes_a_new_deployment(tmp_path):
    gf = _bundle(tmp_path / "bundle")
    first = _deployment_id(_run(gf, tmp_path, "--clean", "--platform", "v2"))

    v1 = e2e_gg.OutputProcess(_argv(gf, tmp_path, "run", "--ephemeral-ports", "--no-devices", "--no-dashboard"),
                              "deploy.py run (v1)", env=e2e_gg._env("cycle"))
    try:
        endpoint = tmp_path / ".gg" / "endpoint.json"
        e2e_gg.wait_for(endpoint.exists, 60, "the V1 run's endpoint.json")
        deployed = _cli(gf, tmp_path, "deploy", "--platform", "v2", "--no-wait")
        second = deployed.split("deployment ")[-1].split(":")[0]  # the first one still stands: no change
        _cli(gf, tmp_path, "destroy", "--platform", "v2")
        assert json.loads(endpoint.read_text())["platform"] == "v1"
        assert _cli(gf, tmp_path, "plan", "--exit-code", "--platform", "v1")  # the V1 deployment stands
    finally:
        v1.proc.send_signal(signal.SIGINT)
        assert v1.wait_exit(15) == 0, v1.output()[-3000:]
        v1.stop()

    third = _deployment_id(_run(gf, tmp_path, "--platform", "v2"))
    assert third not in (first, second)
    # a restart with nothing new launches what the core applied (the nucleus does not process a deployment twice)
    relaunched = _run(gf, tmp_path, "--platform", "v2")
    assert _deployment_id(relaunched) == third and "launched again" in relaunched, relaunched
    again = _run(gf, tmp_path)  # V1 again: what it owns or was handed is all there
    assert "deploy group" in again and "(0 change(s))" in again, again
