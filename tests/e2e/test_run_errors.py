"""`deploy.py run` refuses bad input clearly: an invalid group file, a port already in use."""
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, *extra, timeout=120):
    argv = [sys.executable, str(ROOT / "deploy.py"), "run", "--state-dir", str(tmp_path / "state"),
            "--certs-dir", str(tmp_path / "certs"), "--ephemeral-ports", "--no-devices", "--exit-after-ready", *extra]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_invalid_group_file_lists_errors_and_starts_nothing(tmp_path):
    (tmp_path / "group").mkdir()
    bad = tmp_path / "group" / "group.yaml"
    bad.write_text("group: {name: g}\ncore: {thing: C}\nfunctions:\n  - {name: f, timeout_s: 0, code: pending}\n")
    r = run(tmp_path, "--group-file", str(bad), timeout=60)
    assert r.returncode == 1
    assert "functions[0].timeout_s" in r.stdout and "functions[0].memory_mb" in r.stdout
    assert not (tmp_path / "state" / "endpoint.json").exists()


@pytest.mark.slow
def test_port_in_use_is_a_clear_error_and_everything_stops(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = run(tmp_path, "--mqtt-port", str(taken.getsockname()[1]))
    assert r.returncode == 1
    assert "address already in use" in r.stdout and "--port-offset" in r.stdout
    assert not (tmp_path / "state" / "endpoint.json").exists()
