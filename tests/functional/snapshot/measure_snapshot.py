"""Measure the snapshot Lambda locally: cold and warm duration, peak memory.

    .venv/bin/python tests/functional/snapshot/measure_snapshot.py [--fps 15] [--size 640x480]

Starts a LocalCloud (moto S3 + Kinesis Video stand-in), feeds a stream 6 s of webcam-sized JPEG
frames, then runs the Lambda in a *separate* interpreter laid out as the deployment zip
(``snapshot/`` at the root), so ``ru_maxrss`` is the Lambda's alone (as Lambda's "Max Memory
Used" would be). Prints one JSON object. Not a test: figures go to cloud/snapshot/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from localcore.cloud import LocalCloud  # noqa: E402
from localcore.cloud.kvs import put_frames, synthetic_frames  # noqa: E402

CHILD = r"""
import json, resource, sys, time, tracemalloc
t0 = time.perf_counter()
from snapshot.handler import lambda_handler
from snapshot import frames as _frames  # noqa: F401
import cv2, boto3  # what a cold start pays for
t_import = time.perf_counter() - t0
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
event = json.loads(sys.stdin.read())
runs = int(sys.argv[1])
t = time.perf_counter(); r = lambda_handler(event, None); t_first = time.perf_counter() - t
assert r["statusCode"] == 200, r
warm = []
tracemalloc.start()
for _ in range(runs):
    t = time.perf_counter(); r = lambda_handler(event, None); warm.append(time.perf_counter() - t)
    assert r["statusCode"] == 200, r
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"import_s": t_import, "first_call_s": t_first, "warm_s": warm,
                  "tracemalloc_peak_warm_bytes": peak, "ru_maxrss_after_import_kb": rss_import,
                  "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


class Feeder:
    """A live camera: every second, the last second of frames (SERVER_TIMESTAMP window stays full)."""

    def __init__(self, url: str, fps: float, size: tuple[int, int]) -> None:
        self.url, self.fps, self.size = url, fps, size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        put_frames(self.url, "cam", synthetic_frames(int(4 * self.fps), self.fps, size=self.size))
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            put_frames(self.url, "cam", synthetic_frames(int(self.fps), self.fps, size=self.size))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="snapshot-measure-"))
    try:
        with LocalCloud(work / "cloud") as cloud:
            kw = dict(endpoint_url=cloud.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
            boto3.client("kinesisvideo", **kw).create_stream(StreamName="cam", DataRetentionInHours=1)
            boto3.client("s3", **kw).create_bucket(Bucket="snapshots")
            feeder = Feeder(cloud.url, args.fps, (width, height))
            feeder.start()
            pkg = work / "zip-root"
            shutil.copytree(REPO / "cloud" / "snapshot", pkg / "snapshot",
                            ignore=shutil.ignore_patterns("__pycache__", "*.md"))
            env = dict(os.environ, AWS_ENDPOINT_URL=cloud.url, AWS_REGION="us-east-1",
                       AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
                       AWS_SECRET_ACCESS_KEY="testing", SNAPSHOT_BUCKET="snapshots")
            event = {"version": "2.0", "rawPath": "/snapshot", "queryStringParameters": {"stream_name": "cam"},
                     "requestContext": {"http": {"method": "GET", "path": "/snapshot"}}}
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-E", "-s", "-c", CHILD, str(args.runs)], cwd=pkg, env=env,
                                  input=json.dumps(event), capture_output=True, text=True, timeout=300)
            wall = time.perf_counter() - t
            feeder.stop()
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    warm = sorted(out.pop("warm_s"))
    out.update({
        "frames_in_window_approx": int(3 * args.fps), "frame_size": args.size,
        "warm_median_s": warm[len(warm) // 2], "warm_max_s": warm[-1], "warm_min_s": warm[0],
        "runs": args.runs, "child_wall_s": wall,
        "ru_maxrss_mb": out["ru_maxrss_kb"] / 1024,
        "ru_maxrss_after_import_mb": out["ru_maxrss_after_import_kb"] / 1024, "tracemalloc_peak_warm_mb": out["tracemalloc_peak_warm_bytes"] / 2**20,
    })
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
