"""``deploy.py kvs-put`` (``python -m localcore.cloud_lambdas.kvs_put``) as a real process against a
running LocalCloud; the frames are then read back with real boto3 GetClip / ListFragments."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]


def kvs_put(*args: str, cwd: Path = REPO, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "localcore.cloud_lambdas.kvs_put", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def fragments(clients, name: str) -> list[dict]:
    ep = clients("kinesisvideo").get_data_endpoint(StreamName=name, APIName="LIST_FRAGMENTS")["DataEndpoint"]
    return clients("kinesis-video-archived-media", ep).list_fragments(StreamName=name)["Fragments"]


def clip(clients, name: str, tmp_path: Path) -> int:
    """Frames OpenCV decodes from GetClip over the last minute."""
    ep = clients("kinesisvideo").get_data_endpoint(StreamName=name, APIName="GET_CLIP")["DataEndpoint"]
    end = datetime.datetime.now(datetime.timezone.utc)
    resp = clients("kinesis-video-archived-media", ep).get_clip(StreamName=name, ClipFragmentSelector={
        "FragmentSelectorType": "SERVER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": end - datetime.timedelta(seconds=60), "EndTimestamp": end}})
    assert resp["ContentType"] == "video/mp4"
    path = tmp_path / "clip.mp4"
    path.write_bytes(resp["Payload"].read())
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


def test_synthetic_creates_the_stream_and_get_clip_has_it(cloud, clients, tmp_path):
    name = f"kp-{uuid.uuid4().hex[:8]}"
    done = kvs_put("--stream", name, "--synthetic", "--count", "25", "--fps", "10",
                   "--endpoint-url", cloud.url)
    assert done.returncode == 0, done.stderr
    assert f"created stream {name} (DataRetentionInHours 24)" in done.stdout
    assert f"put 25 synthetic 320x240 frames at 10 fps into {name} at {cloud.url}: 2 fragment(s)" in done.stdout
    info = clients("kinesisvideo").describe_stream(StreamName=name)["StreamInfo"]
    assert info["DataRetentionInHours"] == 24
    assert len(fragments(clients, name)) == 2
    assert clip(clients, name, tmp_path) == 25


def test_file_via_endpoint_json_into_a_stream_without_retention(cloud, clients, tmp_path):
    name = f"kp-{uuid.uuid4().hex[:8]}"
    clients("kinesisvideo").create_stream(StreamName=name)  # the AWS default: 0 h, keeps nothing
    state = tmp_path / "state"
    state.mkdir()
    (state / "endpoint.json").write_text(json.dumps({"cloud_url": cloud.url, "region": "us-east-1"}))
    video = tmp_path / "in.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 48))
    for i in range(6):
        out.write(np.full((48, 64, 3), i * 40, dtype=np.uint8))
    out.release()
    done = kvs_put("--stream", name, str(video), "--state-dir", str(state), "--retention-hours", "2")
    assert done.returncode == 0, done.stderr
    assert f"stream {name} kept no data: DataRetentionInHours raised to 2" in done.stdout
    assert f"put 6 frame(s) of {video} into {name}" in done.stdout
    assert clients("kinesisvideo").describe_stream(StreamName=name)["StreamInfo"]["DataRetentionInHours"] == 2
    assert clip(clients, name, tmp_path) == 6


def test_no_local_cloud_running_says_how_to_start_one(tmp_path):
    done = kvs_put("--stream", "cam", "--synthetic", "--state-dir", str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        f"error: no local cloud is running ({tmp_path / 'endpoint.json'} does not exist); start it with "
        "`make run` (or `python deploy.py run`) in another terminal, or pass --endpoint-url")


def test_stale_endpoint_json(tmp_path):
    (tmp_path / "endpoint.json").write_text(json.dumps({"cloud_url": "http://127.0.0.1:9"}))
    done = kvs_put("--stream", "cam", "--synthetic", "--state-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: no local cloud is running (http://127.0.0.1:9 from "
                                  f"{tmp_path / 'endpoint.json'} does not answer")
    assert "make run" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--stream", "bad name", "--synthetic"], "error: --stream 'bad name' must be 1-256 characters"),
    (["--stream", "cam", "--synthetic", "--retention-hours", "0"], "error: --retention-hours must be at least 1"),
    (["--stream", "cam", "--synthetic", "--size", "big"], "error: --size 'big' must be WIDTHxHEIGHT"),
    (["--stream", "cam", "/no/such/file.mp4"], "error: /no/such/file.mp4: no such file"),
])
def test_bad_input_is_named(cloud, args, message):
    done = kvs_put(*args, "--endpoint-url", cloud.url)
    assert done.returncode == 1 and done.stderr.startswith(message), done.stderr


def test_usage_errors_exit_2():
    done = kvs_put("--stream", "cam")
    assert done.returncode == 2 and "one of the arguments FILE --synthetic is required" in done.stderr
