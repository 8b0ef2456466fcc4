"""deploy.py as a user runs it: a subprocess, exit codes, messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)


def run(h, *args, env=None, cwd=None):
    proc = subprocess.run([sys.executable, str(h.root / "deploy.py"), *args], capture_output=True, text=True,
                          timeout=90, env=env, cwd=cwd or h.root)
    return proc.returncode, proc.stdout + proc.stderr


def test_plan_deploy_plan_exit_codes(h, moto_url, tmp_path):
    path = h.write_group(tmp_path, h.moto_group("Cli"))
    common = ["--target", "local", "--group-file", str(path), "--state-dir", str(tmp_path / ".gg"),
              "--certs-dir", str(tmp_path / "certs")]
    env = dict(os.environ, COLUMNS="200")  # AWS_ENDPOINT_URL etc. set by the moto_url fixture
    code, out = run(h, "plan", "--exit-code", "--no-service-role", *common, env=env)
    assert code == 2, out
    for line in ("+ function producer", "+ subscription-definition Cli-grp", "+ thing CliCore"):
        assert line in out
    code, out = run(h, "deploy", "--no-wait", "--no-service-role", *common, env=env)
    assert code == 0, out
    assert "+ group Cli-grp" in out and "InProgress" in out
    code, out = run(h, "plan", "--exit-code", "--no-service-role", *common, env=env)
    assert code == 0, out
    assert "no changes" in out


def test_validate_lists_every_error_before_any_call(h, tmp_path):
    data = h.moto_group("Bad")
    data["functions"][0]["memory_mb"] = 999999
    data["subscriptions"].append({"source": "nobody", "target": "cloud", "topic": "a/#/b"})
    path = h.write_group(tmp_path, data)
    # no endpoint at all: validation fails before anything would be called
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    code, out = run(h, "validate", "--group-file", str(path), env=env)
    assert code == 1
    for where in ("functions[0].memory_mb", "subscriptions[3].source", "subscriptions[3].topic"):
        assert where in out
    assert out.count("fix:") >= 2 and str(path) in out
    code, out = run(h, "deploy", "--target", "aws", "--group-file", str(path), env=env)
    assert code == 1 and "nothing was called" in out
    good = h.write_group(tmp_path / "good", h.moto_group("Good"))
    code, out = run(h, "validate", "--group-file", str(good), env=env)
    assert code == 0 and "ok" in out


def test_local_target_without_a_running_cloud(h, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    state = tmp_path / ".gg"
    code, out = run(h, "plan", "--state-dir", str(state), env=env)
    assert code == 1
    assert "no local cloud is running" in out and "make run" in out and "deploy.py run" in out
    state.mkdir()
    (state / "endpoint.json").write_text(json.dumps({"cloud_url": "http://127.0.0.1:9", "group_ids": {}}))
    code, out = run(h, "status", "--state-dir", str(state), env=env)
    assert code == 1 and "does not answer" in out


def test_help_for_every_subcommand(h):
    for cmd in ("validate", "plan", "deploy", "status", "destroy", "run"):
        code, out = run(h, cmd, "--help")
        assert code == 0 and "--group-file" in out and "--target" in out, cmd
    code, out = run(h, "plan", "--help")
    assert "--exit-code" in out
