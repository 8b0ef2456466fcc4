"""Start-up time of the main job (not a test).

Measures, in one run, ``deploy.py run`` from process start to
  (1) ready: ``endpoint.json`` written (cloud up, group deployed, core + devices started), and
  (2) first aggregate: the reader Lambda's first ``display/aggregates`` message seen by the
      dashboard (``/api/aggregates`` non-empty),
for a cold start (``--clean``: fresh state, new certificates, full deploy) and a warm restart
(same state: nothing to redeploy). Goal: cold ≤ 15 s to the first aggregate on 2 cores.

    .venv/bin/python benchmarks/startup.py [--runs 1]

Uses ephemeral ports and a temporary state dir, so it does not disturb a running ``make run``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 15.0


def _wait_file(path: Path, proc: subprocess.Popen, deadline: float) -> dict:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"deploy.py run exited early with {proc.returncode}")
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(0.05)
    raise TimeoutError(f"{path} not written in time")


def _first_aggregate(dashboard_url: str, deadline: float) -> None:
    base, _, token = dashboard_url.partition("/?token=")
    req = urllib.request.Request(base + "/api/aggregates", headers={"X-Dashboard-Token": token})
    while time.monotonic() < deadline:
        with urllib.request.urlopen(req, timeout=5) as resp:
            if json.loads(resp.read() or b"{}"):
                return
        time.sleep(0.1)
    raise TimeoutError("no aggregate on the dashboard in time")


def one_start(state: Path, certs: Path, clean: bool) -> tuple[float, float, float]:
    endpoint = state / "endpoint.json"
    argv = [sys.executable, str(ROOT / "deploy.py"), "run", "--state-dir", str(state), "--certs-dir", str(certs),
            "--ephemeral-ports", "--no-devices"] + (["--clean"] if clean else [])
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = _wait_file(endpoint, proc, t0 + 120)
        ready = time.monotonic() - t0
        _first_aggregate(info["dashboard_url"], t0 + 120)
        first = time.monotonic() - t0
    finally:
        t1 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        stop = time.monotonic() - t1
    return ready, first, stop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gg-startup-") as tmp:
        state, certs = Path(tmp) / "state", Path(tmp) / "certs"
        for i in range(args.runs):
            rows.append(("cold (--clean)",) + one_start(state, certs, clean=True))
            rows.append(("warm restart",) + one_start(state, certs, clean=False))
    print(f"{'start':<16} {'ready s':>8} {'1st aggregate s':>16} {'stop s':>7} {'goal/actual':>12}")
    for name, ready, first, stop in rows:
        print(f"{name:<16} {ready:8.2f} {first:16.2f} {stop:7.2f} {GOAL_S / first:12.2f}")
    print(f"(cpu count {os.cpu_count()}; goal: first aggregate ≤ {GOAL_S:.0f} s cold, ratio ≥ 1 meets it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
