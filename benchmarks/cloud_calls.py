"""CPU per AWS call against the embedded local cloud (``localcore.cloud.LocalCloud``), before and after.

Each round runs in a fresh interpreter (moto's backends and botocore's models are loaded once per
process, as in a ``deploy.py run``): it starts a ``LocalCloud`` with its moto snapshot on, then makes
real boto3 calls in phases and reports, per phase, the process CPU split into the client's (the
calling thread) and the cloud's (every other thread: front, moto, snapshot writer):

* ``start``: ``LocalCloud.start()`` (moto server, restore of an empty snapshot);
* ``first``: the first call of each service (IoT, Lambda, S3, IAM, Greengrass): per-process loading;
* ``mutating``: CreateThing, CreateFunction (a ~1 MiB zip) + PublishVersion, PutObject,
  CreateGroup... each acknowledged only once its snapshot is on disk;
* ``reading``: Describe/Get/List calls of the same services.

``--baseline REV`` also measures the tree as committed at git revision REV (a ``git worktree`` in a
temp directory, removed at the end), interleaved round by round with the working tree, so both are
measured on the same machine at the same moment.

    .venv/bin/python benchmarks/cloud_calls.py [--rounds 3] [--calls 40] [--baseline REV]

Not a test: numbers depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _zip(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
        zf.writestr("blob.bin", os.urandom(size))
    return buf.getvalue()


def child(calls: int) -> dict:
    """One round, in this (fresh) interpreter, importing ``localcore`` from sys.path[0]."""
    import boto3

    from localcore.cloud import LocalCloud

    phases: dict = {}

    def measure(name: str, n: int, func) -> None:
        c0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
        func()
        c1, p1, w1 = time.thread_time(), time.process_time(), time.perf_counter()
        client = c1 - c0
        phases[name] = {
            "calls": n,
            "client_ms": 1000 * client / max(n, 1),
            "cloud_ms": 1000 * ((p1 - p0) - client) / max(n, 1),
            "wall_ms": 1000 * (w1 - w0) / max(n, 1),
        }

    with tempfile.TemporaryDirectory() as tmp:
        cloud = LocalCloud(Path(tmp) / "state", auto_complete_deployments=True)
        measure("start", 1, cloud.start)
        try:
            kw = dict(endpoint_url=cloud.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
            iot, lam, s3, iam, gg = (boto3.client(s, **kw) for s in ("iot", "lambda", "s3", "iam", "greengrass"))
            code = _zip(1 << 20)

            def first() -> None:
                iot.list_things()
                lam.list_functions()
                s3.list_buckets()
                iam.list_roles()
                gg.list_groups()

            measure("first", 5, first)
            role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            s3.create_bucket(Bucket="bench")

            def mutating() -> None:
                for i in range(calls):
                    iot.create_thing(thingName=f"thing{i}")
                    lam.create_function(FunctionName=f"fn{i}", Runtime="python3.11", Role=role,
                                        Handler="handler.handler", Code={"ZipFile": code})
                    lam.publish_version(FunctionName=f"fn{i}")
                    s3.put_object(Bucket="bench", Key=f"k{i}", Body=b"x" * 1024)
                    gg.create_group(Name=f"group{i}")

            measure("mutating", 5 * calls, mutating)

            def reading() -> None:
                for i in range(calls):
                    iot.describe_thing(thingName=f"thing{i}")
                    lam.get_function_configuration(FunctionName=f"fn{i}")
                    s3.head_object(Bucket="bench", Key=f"k{i}")
                    iot.list_things(maxResults=10)
                    gg.list_groups()

            measure("reading", 5 * calls, reading)
        finally:
            measure("stop", 1, cloud.stop)
    return phases


def run_round(tree: Path, calls: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(calls)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=600,
    )
    if out.returncode != 0:
        raise SystemExit(f"round in {tree} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=40, help="calls of each kind per phase")
    ap.add_argument("--baseline", help="git revision to measure side by side")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(child(args.child)))
        return 0
    trees = {"work": ROOT}
    base_dir = None
    if args.baseline:
        base_dir = Path(tempfile.mkdtemp(prefix="cloud-calls-base-"))
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_dir), args.baseline],
                       check=True, capture_output=True)
        trees = {f"base@{args.baseline}": base_dir, "work": ROOT}
    results: dict = {name: [] for name in trees}
    try:
        for r in range(args.rounds):
            for name, tree in trees.items():
                results[name].append(run_round(tree, args.calls))
                print(f"round {r + 1}: {name} done", file=sys.stderr)
    finally:
        if base_dir is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_dir)],
                           capture_output=True)
    print(f"{'phase':10s} {'tree':24s} {'calls':>5s} {'client ms/call':>15s} {'cloud ms/call':>14s} {'wall ms/call':>13s}")
    for phase in ("start", "first", "mutating", "reading", "stop"):
        for name, rounds in results.items():
            def med(key: str) -> float:
                return statistics.median(x[phase][key] for x in rounds)
            print(f"{phase:10s} {name:24s} {rounds[0][phase]['calls']:5d} {med('client_ms'):15.2f} "
                  f"{med('cloud_ms'):14.2f} {med('wall_ms'):13.2f}")
    if len(results) == 2:
        (bname, base), (_, work) = results.items()
        for phase in ("mutating", "reading"):
            b = statistics.median(x[phase]["cloud_ms"] for x in base)
            w = statistics.median(x[phase]["cloud_ms"] for x in work)
            print(f"{phase}: cloud CPU per call work/base = {w / b:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
