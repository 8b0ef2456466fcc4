"""The snapshot Lambda against LocalCloud: real boto3 clients built by the Lambda itself from its
environment (AWS_ENDPOINT_URL), the Kinesis Video stand-in, moto S3, real HTTP throughout."""
from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from cloud.snapshot import api
from cloud.snapshot.config import Config
from cloud.snapshot.service import Snapshotter
from localcore.cloud.kvs import put_frames
from snapshot_media import BLUE, CREDS, GREEN, GREY, RED, REGION, close_to, frames, http_event, mean_bgr

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def lambda_env(cloud, bucket, tmp_path, monkeypatch):
    """The Lambda's environment on the local target; afterwards its temp dir must be empty."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "SNAPSHOT_")):
            monkeypatch.delenv(var)
    tmp = tmp_path / "lambda-tmp"
    tmp.mkdir()
    env = {
        "AWS_ENDPOINT_URL": cloud.url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDS["aws_secret_access_key"],
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "SNAPSHOT_BUCKET": bucket, "SNAPSHOT_TMP_DIR": str(tmp),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env
    assert list(tmp.iterdir()) == [], "the Lambda left temp files behind"


def invoke(query=None, path="/snapshot", method="GET"):
    """One invocation as a cold container would run it (config and clients from the env)."""
    resp = api.handle(http_event(path, method, query), lambda: Snapshotter(Config.from_env()))
    assert resp["headers"]["Content-Type"] == "application/json"
    return resp["statusCode"], json.loads(resp["body"])


def test_snapshot_is_the_newest_frame(lambda_env, clients, stream, bucket, now):
    put_frames(lambda_env["AWS_ENDPOINT_URL"], stream, frames(now - 1.5, 10, GREEN, last_colour=BLUE))
    status, body = invoke({"stream_name": stream})
    assert status == 200, body
    assert set(body) == {"url", "key", "frame_time"}
    assert body["key"].startswith(f"snapshots/{stream}/") and body["key"].endswith("Z.jpg")
    obj = clients("s3").get_object(Bucket=bucket, Key=body["key"])
    jpeg = obj["Body"].read()
    assert obj["ContentType"] == "image/jpeg"
    assert close_to(mean_bgr(jpeg), BLUE), mean_bgr(jpeg)
    frame_time = datetime.datetime.fromisoformat(body["frame_time"].replace("Z", "+00:00")).timestamp()
    assert now - 3.5 <= frame_time <= time.time()
    # The presigned URL is SigV4, good for 600 s, and served by the local S3 endpoint.
    assert "X-Amz-Expires=600" in body["url"] and body["url"].startswith(lambda_env["AWS_ENDPOINT_URL"])
    with urllib.request.urlopen(body["url"], timeout=10) as resp:
        assert resp.status == 200 and resp.read() == jpeg


@pytest.mark.parametrize("query, path, method, status, error", [
    (None, "/snapshot", "GET", 400, "missing query parameter stream_name"),
    ({"stream_name": ""}, "/snapshot", "GET", 400, "missing query parameter stream_name"),
    ({"other": "x"}, "/snapshot", "GET", 400, "missing query parameter stream_name"),
    ({"stream_name": "bad name!"}, "/snapshot", "GET", 400, "invalid stream_name 'bad name!'"),
    ({"stream_name": "a/b"}, "/snapshot", "GET", 400, "invalid stream_name 'a/b'"),
    ({"stream_name": "x" * 257}, "/snapshot", "GET", 400, "invalid stream_name"),
    ({"stream_name": "cam"}, "/snapshot", "POST", 405, "method POST not allowed"),
    ({"stream_name": "cam"}, "/other", "GET", 404, "no route GET /other"),
])
def test_bad_requests(lambda_env, query, path, method, status, error):
    got_status, body = invoke(query, path, method)
    assert got_status == status
    assert body["error"].startswith(error)
    assert "Traceback" not in json.dumps(body)


def test_unknown_stream_is_404(lambda_env):
    assert invoke({"stream_name": "no-such-stream"}) == (404, {"error": "stream 'no-such-stream' not found"})


def test_stream_without_fragments_is_404(lambda_env, stream):
    status, body = invoke({"stream_name": stream})
    assert (status, body["error"]) == (404, "no frame in the last 3 s")
    assert "ResourceNotFoundException" in body["cause"]


def test_stream_without_retention_is_404(lambda_env, clients, now):
    name = f"noret-{int(now * 1000) % 10**8}"
    clients("kinesisvideo").create_stream(StreamName=name)
    put_frames(lambda_env["AWS_ENDPOINT_URL"], name, frames(now - 1, 3, RED))
    status, body = invoke({"stream_name": name})
    assert (status, body["error"]) == (404, "no frame in the last 3 s")
    assert "DataRetentionInHours is 0" in body["cause"]


def test_window_comes_from_the_environment(lambda_env, monkeypatch, stream, now):
    put_frames(lambda_env["AWS_ENDPOINT_URL"], stream, frames(now - 1, 3, RED))
    monkeypatch.setenv("SNAPSHOT_WINDOW_S", "0.5")
    monkeypatch.setenv("SNAPSHOT_TIMESTAMP_SOURCE", "PRODUCER_TIMESTAMP")
    assert invoke({"stream_name": stream}) == (404, {
        "error": "no frame in the last 0.5 s",
        "cause": "ResourceNotFoundException: No fragments found in the requested time range."})


# --- window boundaries, on producer timestamps with a fixed "now" (no timing luck involved) ----

def producer_snapshotter() -> Snapshotter:
    cfg = Config.from_env()
    return Snapshotter(Config(cfg.bucket, window_s=3, timestamp_source="PRODUCER_TIMESTAMP",
                              tmp_dir=cfg.tmp_dir))


def put_one(url, stream, at, colour):
    put_frames(url, stream, frames(at, 1, colour))  # one call, one fragment starting at ``at``


def snapshot_colour(clients, bucket, result):
    return mean_bgr(clients("s3").get_object(Bucket=bucket, Key=result["key"])["Body"].read())


def test_fragments_outside_the_window_are_not_used(lambda_env, clients, stream, bucket, now):
    end = now - 100
    url = lambda_env["AWS_ENDPOINT_URL"]
    put_one(url, stream, end - 3.2, GREY)                  # starts before the window
    put_frames(url, stream, frames(end - 1.0, 6, GREEN, last_colour=BLUE))  # inside, ends at end-0.5
    put_one(url, stream, end + 0.2, GREY)                  # starts after the window
    result = producer_snapshotter().take(stream, now=datetime.datetime.fromtimestamp(end, datetime.timezone.utc))
    assert close_to(snapshot_colour(clients, bucket, result), BLUE)


def test_a_fragment_starting_before_the_window_is_left_out_even_if_it_overlaps(lambda_env, stream, now):
    end = now - 100
    put_frames(lambda_env["AWS_ENDPOINT_URL"], stream, frames(end - 3.05, 10, RED))  # spans end-3.05..end-2.15
    from cloud.snapshot.errors import NotFound
    with pytest.raises(NotFound, match="no frame in the last 3 s"):
        producer_snapshotter().take(stream, now=datetime.datetime.fromtimestamp(end, datetime.timezone.utc))


@pytest.mark.parametrize("offset", [-3.0, 0.0], ids=["at-window-start", "at-window-end"])
def test_window_edges_are_inclusive(lambda_env, clients, stream, bucket, now, offset):
    end = round(now) - 100  # whole seconds: the edges survive the float round trip exactly
    put_one(lambda_env["AWS_ENDPOINT_URL"], stream, end + offset, RED)
    result = producer_snapshotter().take(stream, now=datetime.datetime.fromtimestamp(end, datetime.timezone.utc))
    assert close_to(snapshot_colour(clients, bucket, result), RED)


# --- upstream failures --------------------------------------------------------------------------

def test_missing_bucket_is_502(lambda_env, monkeypatch, stream, now):
    put_frames(lambda_env["AWS_ENDPOINT_URL"], stream, frames(now - 1, 3, RED))
    monkeypatch.setenv("SNAPSHOT_BUCKET", "no-such-bucket-here")
    status, body = invoke({"stream_name": stream})
    assert (status, body["error"]) == (502, "s3 upload to bucket 'no-such-bucket-here' failed")
    assert body["cause"].startswith("NoSuchBucket")


def test_unreachable_kinesis_video_is_502(lambda_env, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS_VIDEO", f"http://127.0.0.1:{port}")
    status, body = invoke({"stream_name": "cam"})
    assert (status, body["error"]) == (502, "kinesis video GetDataEndpoint failed")
    assert "EndpointConnectionError" in body["cause"] and str(port) in body["cause"]


class _ClipServer(BaseHTTPRequestHandler):
    """A data endpoint that answers GetClip with whatever the test sets."""

    reply = (200, "video/mp4", b"")

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, ctype, body = self.server.reply
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if status >= 400:
            self.send_header("x-amzn-ErrorType", "ClientLimitExceededException:")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def clip_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _ClipServer)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


def snapshotter_via(clip_server) -> Snapshotter:
    url = f"http://127.0.0.1:{clip_server.server_address[1]}"
    return Snapshotter(Config.from_env(), archived_media=lambda _endpoint: boto3.client(
        "kinesis-video-archived-media", endpoint_url=url, region_name=REGION, **CREDS))


def test_undecodable_clip_is_404(lambda_env, clip_server, stream):
    clip_server.reply = (200, "video/mp4", b"\x00\x00\x00\x18ftypisom" + b"\x07" * 4000)
    resp = api.handle(http_event(query={"stream_name": stream}), lambda: snapshotter_via(clip_server))
    assert resp["statusCode"] == 404
    assert json.loads(resp["body"]) == {"error": "no frame in the last 3 s",
                                        "cause": "the clip holds no decodable frame"}


def test_get_clip_failure_is_502(lambda_env, clip_server, stream):
    clip_server.reply = (400, "application/json", json.dumps({"Message": "slow down"}).encode())
    resp = api.handle(http_event(query={"stream_name": stream}), lambda: snapshotter_via(clip_server))
    assert resp["statusCode"] == 502
    assert json.loads(resp["body"]) == {"error": "kinesis video GetClip failed",
                                        "cause": "ClientLimitExceededException: slow down"}


def test_missing_bucket_setting_is_500_without_a_trace(lambda_env, monkeypatch):
    monkeypatch.delenv("SNAPSHOT_BUCKET")
    assert invoke({"stream_name": "cam"}) == (500, {"error": "configuration: SNAPSHOT_BUCKET is not set"})


# --- the deployed layout ----------------------------------------------------------------------

def test_handler_runs_from_the_deployment_layout(lambda_env, stream, tmp_path, now):
    """Zip layout: ``snapshot/`` at the root, handler ``snapshot.handler.lambda_handler``; a fresh
    interpreter that cannot see this repository (so no localcore import can sneak in)."""
    pkg = tmp_path / "zip-root"
    shutil.copytree(REPO / "cloud" / "snapshot", pkg / "snapshot",
                    ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    put_frames(lambda_env["AWS_ENDPOINT_URL"], stream, frames(now - 1, 5, GREEN))
    code = ("import json, sys; from snapshot.handler import lambda_handler; "
            "print(json.dumps(lambda_handler(json.load(sys.stdin), None)))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    proc = subprocess.run([sys.executable, "-E", "-s", "-c", code], cwd=pkg, env=env, timeout=60,
                          input=json.dumps(http_event(query={"stream_name": stream})),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    resp = json.loads(proc.stdout.strip().splitlines()[-1])
    assert resp["statusCode"] == 200, resp
    assert json.loads(resp["body"])["key"].startswith(f"snapshots/{stream}/")
