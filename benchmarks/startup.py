"""Start-up time of the main job (not a test).

Measures, in one run, ``deploy.py run`` from process start to
  (1) ready: ``endpoint.json`` written (cloud up, group deployed, core + devices started), and
  (2) first aggregate: the reader Lambda's first ``display/aggregates`` message seen by the
      dashboard (``/api/aggregates`` non-empty),
and (3) stop: SIGINT to exit, and the CPU seconds the run took (user + system of ``deploy.py run`` and every
process it reaped: Lambdas, components; less sensitive to other load on the machine than wall time),
for a cold start (``--clean``: fresh state, new certificates, full deploy) and a warm restart
(same state: nothing to redeploy), per platform (``run --platform v1`` and ``--platform v2``: the group
deployed as Greengrass V2 and the core configured from that deployment), in interleaved rounds in one run.
Goals: cold ≤ 15 s to the first aggregate on 2 cores (v1); ``run --platform v2 --clean`` cold to ready
≤ 15 s; v2 within 10 % of v1 to ready and to the first aggregate (v2/v1 ≤ 1.10); stop ≤ 1.5 s.

    .venv/bin/python benchmarks/startup.py [--platform v1|v2|both] [--runs 1]

Uses ephemeral ports and a temporary state dir, so it does not disturb a running ``make run``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import platforms  # noqa: E402

GOAL_S = 15.0
STOP_GOAL_S = 1.5   # SIGINT to exit
STOP_TIMEOUT_S = 20.0


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


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def one_start(state: Path, certs: Path, clean: bool,
              platform: str = "v1") -> tuple[float, float, float, float]:
    endpoint = state / "endpoint.json"
    argv = [sys.executable, str(ROOT / "deploy.py"), "run", "--platform", platform, "--state-dir", str(state),
            "--certs-dir", str(certs), "--ephemeral-ports", "--no-devices"] + (["--clean"] if clean else [])
    cpu0 = _children_cpu()
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
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # counted as the timeout; its children die with it (supervision)
            print(f"deploy.py run did not stop within {STOP_TIMEOUT_S:.0f} s of SIGINT: killed", flush=True)
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        stop = time.monotonic() - t1
    return ready, first, stop, _children_cpu() - cpu0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1, help="interleaved rounds; the median is shown")
    platforms.add_platform_argument(ap)
    args = ap.parse_args()
    chosen = platforms.platforms_of(args.platform)
    kinds = (("cold (--clean)", True), ("warm restart", False))
    runs: dict = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gg-startup-") as tmp:
        for i in range(args.runs):
            # rotate which platform starts first each round, so neither always meets a busier machine
            for p in chosen[i % len(chosen):] + chosen[:i % len(chosen)]:
                state, certs = Path(tmp) / p / "state", Path(tmp) / p / "certs"
                for name, clean in kinds:
                    got = one_start(state, certs, clean=clean, platform=p)
                    runs.setdefault((p, name), []).append(got)
                    print(f"round {i + 1} {p} {name:<15} ready {got[0]:6.2f} s  "
                          f"1st aggregate {got[1]:6.2f} s  stop {got[2]:5.2f} s  CPU {got[3]:6.2f} s",
                          flush=True)
    med = {k: tuple(platforms.median([r[j] for r in v]) for j in range(4)) for k, v in runs.items()}
    print()
    print(f"median of {args.runs} interleaved round(s); cpu count {os.cpu_count()}, load average "
          f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
    print("| platform | start | ready s | 1st aggregate s | stop s | CPU s | 15 s / 1st aggregate |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, _ in kinds:
        for p in chosen:
            ready, first, stop, cpu = med[(p, name)]
            print(f"| {p} | {name} | {ready:.2f} | {first:.2f} | {stop:.2f} | {cpu:.2f} | "
                  f"{GOAL_S / first:.2f} |")
    if len(chosen) == 2:
        print()
        print("| start | ready v2/v1 | 1st aggregate v2/v1 | stop v2/v1 | CPU v2/v1 |")
        print("| --- | ---: | ---: | ---: | ---: |")
        ratios = []
        for name, _ in kinds:
            v1, v2 = med[("v1", name)], med[("v2", name)]
            cells = [platforms.ratio_cell(a, b) for a, b in zip(v1, v2)]
            ratios += [b / a for a, b in zip(v1[:2], v2[:2]) if a]  # stop and CPU: their own goal / shown
            print(f"| {name} | " + " | ".join(cells) + " |")
        verdict = platforms.goal_text(ratios, higher_is_better=False)
        print(f"goal v2 within 10 % of v1 (ready, 1st aggregate): {verdict}")
    if "v2" in chosen:
        cold = med[("v2", "cold (--clean)")][0]
        print(f"goal run --platform v2 --clean cold to ready ≤ {GOAL_S:.0f} s: "
              f"{'met' if cold <= GOAL_S else 'NOT met'} ({cold:.2f} s)")
    if "v1" in chosen:
        first = med[("v1", "cold (--clean)")][1]
        print(f"goal v1 cold to first aggregate ≤ {GOAL_S:.0f} s: "
              f"{'met' if first <= GOAL_S else 'NOT met'} ({first:.2f} s)")
    stops = {p: max(med[(p, name)][2] for name, _ in kinds) for p in chosen}
    print(f"goal stop ≤ {STOP_GOAL_S} s: " + ", ".join(
        f"{p} {'met' if worst <= STOP_GOAL_S else 'NOT met'} (worst median {worst:.2f} s)"
        for p, worst in stops.items()))
    return 0

if __name__ == "__main__":
    sys.exit(main())
