"""moto's data survives a kill -9 of the process running the LocalCloud; damaged snapshots fall
back to the previous generation; snapshots are consistent while requests run.

Each test starts its own LocalCloud (the restore happens only when no other LocalCloud runs in
the process), in a subprocess where the test kills it.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import boto3
import pytest

from localcore.cloud import LocalCloud
from localcore.cloud import moto_snapshot

ROOT = Path(__file__).resolve().parents[3]
KEYS = {"region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
_CHILD = """
import sys
from localcore.cloud import LocalCloud
cloud = LocalCloud(sys.argv[1])
cloud.start()
print(cloud.url, flush=True)
sys.stdin.read()  # until the test closes stdin (or kills this process)
cloud.stop()
"""


def _client(service: str, url: str):
    return boto3.client(service, endpoint_url=url, **KEYS)


def _big_zip() -> bytes:
    """A Lambda package larger than the snapshot's "small file" bound (random bytes do not compress)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def function_handler(event, context):\n    return event\n")
        z.writestr("blob.bin", os.urandom(400 * 1024))
    return buf.getvalue()


class _Child:
    """A LocalCloud in a subprocess; ``url`` once it serves."""

    def __init__(self, state_dir: Path, timeout: float = 30.0) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(state_dir)],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"the LocalCloud subprocess did not start within {timeout} s: {line!r}")
        self.url = line

    def kill_9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _records(url: str, stream: str) -> list[bytes]:
    kinesis = _client("kinesis", url)
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return [r["Data"] for r in kinesis.get_records(ShardIterator=it, Limit=10000)["Records"]]


def test_what_was_acknowledged_survives_kill_9(tmp_path):
    child = _Child(tmp_path)
    try:
        kinesis, s3, lam, iam = (_client(n, child.url) for n in ("kinesis", "s3", "lambda", "iam"))
        role = iam.create_role(RoleName="exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam.create_function(
            FunctionName="big",
            Runtime="python3.12",
            Role=role,
            Handler="handler.function_handler",
            Code={"ZipFile": _big_zip()},
        )
        s3.create_bucket(Bucket="frames")
        kinesis.create_stream(StreamName="raw", ShardCount=1)
        sent = []
        for i in range(40):
            batch = [{"Data": f"rec-{i}-{j}".encode(), "PartitionKey": "p"} for j in range(3)]
            assert kinesis.put_records(StreamName="raw", Records=batch)["FailedRecordCount"] == 0
            sent.extend(r["Data"] for r in batch)
        s3.put_object(Bucket="frames", Key="last.jpg", Body=b"\xff\xd8last")
        # a change to a backend too large to be pickled at every save: found by its service name
        lam.publish_version(FunctionName="big")
        lam.create_alias(FunctionName="big", Name="live", FunctionVersion="1")
        child.kill_9()  # right after the last acknowledgement
    finally:
        child.close()

    with LocalCloud(tmp_path) as cloud:
        restored = cloud.status()["moto_snapshot"]["restored"]
        assert restored["error"] is None and restored["source"] == "moto.pickle"
        assert _records(cloud.url, "raw") == sent
        frame = _client("s3", cloud.url).get_object(Bucket="frames", Key="last.jpg")["Body"].read()
        assert frame == b"\xff\xd8last"
        alias = _client("lambda", cloud.url).get_alias(FunctionName="big", Name="live")
        assert alias["FunctionVersion"] == "1"


def _manifest_files(path: Path) -> dict[str, str]:
    refs = moto_snapshot._manifest_refs(path)
    assert refs is not None, f"{path} is not a readable manifest"
    return {service: ref["file"] for service, ref in refs.items()}


@pytest.mark.parametrize("damage", ["truncated manifest", "flipped byte in a service file"])
def test_a_damaged_snapshot_falls_back_to_the_previous_one(tmp_path, damage):
    with LocalCloud(tmp_path) as first:
        _client("s3", first.url).create_bucket(Bucket="one")
    with LocalCloud(tmp_path) as second:
        _client("s3", second.url).create_bucket(Bucket="two")
    manifest = tmp_path / "moto.pickle"
    assert _manifest_files(manifest)["s3"] != _manifest_files(tmp_path / "moto.pickle.prev")["s3"]
    if damage == "truncated manifest":
        raw = manifest.read_bytes()
        manifest.write_bytes(raw[: len(raw) // 2])
    else:
        s3_file = tmp_path / "moto.pickle.d" / _manifest_files(manifest)["s3"]
        raw = bytearray(s3_file.read_bytes())
        raw[-10] ^= 0xFF
        s3_file.write_bytes(bytes(raw))

    with LocalCloud(tmp_path) as third:
        restored = third.status()["moto_snapshot"]["restored"]
        assert restored["source"] == "moto.pickle.prev" and restored["error"] is None
        assert any("moto.pickle" in p for p in restored["problems"]), restored
        names = [b["Name"] for b in _client("s3", third.url).list_buckets()["Buckets"]]
        assert names == ["one"]
        assert (tmp_path / "moto.pickle.bad").exists()
        _client("s3", third.url).create_bucket(Bucket="three")
    with LocalCloud(tmp_path) as fourth:  # the next generation is whole again
        assert fourth.status()["moto_snapshot"]["restored"]["problems"] == []
        names = sorted(b["Name"] for b in _client("s3", fourth.url).list_buckets()["Buckets"])
        assert names == ["one", "three"]


def test_nothing_loadable_starts_empty_and_says_why(tmp_path):
    (tmp_path / "moto.pickle").write_bytes(moto_snapshot.MAGIC + b"\0" * 40)
    with LocalCloud(tmp_path) as cloud:
        restored = cloud.status()["moto_snapshot"]["restored"]
        assert "cannot read" in restored["error"] and restored["source"] is None
        assert _client("s3", cloud.url).list_buckets()["Buckets"] == []


def test_snapshots_hold_exactly_the_requests_they_count(tmp_path):
    """Each capture taken while four clients put records holds as many records as mutations it
    says it includes: no request is half in, none is missed."""
    with LocalCloud(tmp_path) as cloud:
        kinesis = _client("kinesis", cloud.url)
        kinesis.create_stream(StreamName="busy", ShardCount=1)
        base_seq = moto_snapshot.GATE.seq
        stop = threading.Event()
        errors: list[BaseException] = []

        def put() -> None:
            client = _client("kinesis", cloud.url)
            try:
                while not stop.is_set():
                    client.put_record(StreamName="busy", Data=b"x", PartitionKey="p")
            except BaseException as exc:  # reported below
                errors.append(exc)

        progressed = threading.Event()
        # GATE counts the mutations of every moto in this process: another test's server of this worker may
        # still be answering one (each capture's window of those is allowed for, and shown if it fails)
        foreign: list[str | None] = []

        def on_mutation(service):
            if service != "kinesis":
                foreign.append(service)
            progressed.set()

        moto_snapshot.GATE.add_listener(on_mutation)
        threads = [threading.Thread(target=put) for _ in range(4)]
        for t in threads:
            t.start()
        counts = []
        try:
            deadline = time.monotonic() + 30
            while (len(counts) < 30 or counts[-1][2] < 50) and not errors and time.monotonic() < deadline:
                assert progressed.wait(5), "no put completed within 5 s"
                progressed.clear()  # the next capture waits for one more put: puts and captures interleave
                before = len(foreign)
                cap = moto_snapshot.capture(select=lambda s: s == "kinesis")
                seq = cap.seq
                after = len(foreign)
                assert cap.report.skipped == {}
                entries = pickle.loads(moto_snapshot.decode(cap.files["kinesis"]))
                backend = next(pickle.loads(b) for _, _, region, b in entries if region == "us-east-1")
                shard = next(iter(backend.streams["busy"].shards.values()))
                counts.append((seq - base_seq - after, seq - base_seq - before, len(shard.records)))
        finally:
            stop.set()
            moto_snapshot.GATE.remove_listener(on_mutation)
            for t in threads:
                t.join(30)
        assert not errors, errors
        assert [(low, high, m) for low, high, m in counts if not low <= m <= high] == [], (counts, foreign)
        assert counts[-1][2] >= 50, counts
