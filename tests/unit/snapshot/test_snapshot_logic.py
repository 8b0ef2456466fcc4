"""Pure parts of the snapshot Lambda: configuration, validation, keys, event parsing, error mapping."""
from __future__ import annotations

import ast
import datetime
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cloud.snapshot import api, frames
from cloud.snapshot.config import Config
from cloud.snapshot.errors import BadRequest, ConfigError, NotFound, UpstreamError
from cloud.snapshot.service import error_cause, iso, snapshot_key, validate_stream_name

PKG = Path(__file__).resolve().parents[3] / "cloud" / "snapshot"
UTC = datetime.timezone.utc


@pytest.mark.parametrize("path", sorted(PKG.glob("*.py")), ids=lambda p: p.name)
def test_sources_parse_as_python_37(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))


@pytest.mark.parametrize("path", sorted(PKG.glob("*.py")), ids=lambda p: p.name)
def test_imports_only_sdks_and_itself(path):
    allowed = {"__future__", "datetime", "json", "logging", "os", "re", "tempfile", "typing",
               "boto3", "botocore", "cv2", "numpy"}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [] if node.level else [node.module.split(".")[0]]
        else:
            continue
        assert set(names) <= allowed, f"{path.name}:{node.lineno} imports {names}"


@pytest.mark.parametrize("name", ["cam", "a", "Front_Door-1.main", "x" * 256])
def test_valid_stream_names(name):
    assert validate_stream_name(name) == name


@pytest.mark.parametrize("name, message", [
    (None, "missing query parameter stream_name"),
    ("", "missing query parameter stream_name"),
    ("x" * 257, "invalid stream_name"),
    ("has space", "invalid stream_name 'has space'"),
    ("slash/y", "invalid stream_name"),
    ("ümlaut", "invalid stream_name"),
    ("new\nline", "invalid stream_name"),
])
def test_invalid_stream_names(name, message):
    with pytest.raises(BadRequest) as exc:
        validate_stream_name(name)
    assert exc.value.message.startswith(message)
    assert exc.value.status == 400


def test_time_based_key_and_iso():
    when = datetime.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    assert snapshot_key("snapshots/", "cam", when) == "snapshots/cam/2026/03/04/050607.891Z.jpg"
    assert iso(when) == "2026-03-04T05:06:07.891Z"
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    assert snapshot_key("", "c", when.astimezone(plus2)) == "c/2026/03/04/050607.891Z.jpg"


def test_config_defaults_and_env():
    cfg = Config.from_env({"SNAPSHOT_BUCKET": "b"})
    assert (cfg.bucket, cfg.window_s, cfg.jpeg_quality, cfg.url_ttl_s, cfg.key_prefix,
            cfg.timestamp_source, cfg.tmp_dir) == ("b", 3.0, 80, 600, "snapshots/", "SERVER_TIMESTAMP", None)
    cfg = Config.from_env({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_WINDOW_S": "5.5", "SNAPSHOT_JPEG_QUALITY": "95",
                           "SNAPSHOT_URL_TTL_S": "60", "SNAPSHOT_TIMESTAMP_SOURCE": "PRODUCER_TIMESTAMP",
                           "SNAPSHOT_KEY_PREFIX": "p/", "SNAPSHOT_TMP_DIR": "/x"})
    assert (cfg.window_s, cfg.jpeg_quality, cfg.url_ttl_s, cfg.timestamp_source, cfg.key_prefix, cfg.tmp_dir) \
        == (5.5, 95, 60, "PRODUCER_TIMESTAMP", "p/", "/x")


@pytest.mark.parametrize("env, message", [
    ({}, "SNAPSHOT_BUCKET is not set"),
    ({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_WINDOW_S": "abc"}, "SNAPSHOT_WINDOW_S must be a number, got 'abc'"),
    ({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_WINDOW_S": "0"}, "SNAPSHOT_WINDOW_S must be in (0, 300]"),
    ({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_JPEG_QUALITY": "0"}, "SNAPSHOT_JPEG_QUALITY must be 1..100"),
    ({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_JPEG_QUALITY": "8.5"}, "SNAPSHOT_JPEG_QUALITY must be an integer"),
    ({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_URL_TTL_S": "604801"}, "SNAPSHOT_URL_TTL_S must be 1..604800"),
    ({"SNAPSHOT_BUCKET": "b", "SNAPSHOT_TIMESTAMP_SOURCE": "NOW"}, "SNAPSHOT_TIMESTAMP_SOURCE must be one of"),
])
def test_config_errors_name_the_variable(env, message):
    with pytest.raises(ConfigError) as exc:
        Config.from_env(env)
    assert message in exc.value.message and exc.value.status == 500


def test_error_cause_of_client_error():
    from botocore.exceptions import ClientError, EndpointConnectionError

    err = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "PutObject")
    assert error_cause(err) == "NoSuchBucket: gone"
    assert error_cause(EndpointConnectionError(endpoint_url="http://x")).startswith("EndpointConnectionError: ")


V2 = {"version": "2.0", "rawPath": "/snapshot", "queryStringParameters": {"stream_name": "cam"},
      "requestContext": {"http": {"method": "GET", "path": "/snapshot"}}}
V1 = {"version": "1.0", "httpMethod": "GET", "path": "/snapshot", "queryStringParameters": {"stream_name": "cam"},
      "requestContext": {}}
FURL = {"version": "2.0", "rawPath": "/snapshot", "queryStringParameters": {"stream_name": "cam"},
        "requestContext": {"domainName": "abc.lambda-url.us-east-1.on.aws", "http": {"method": "GET"}}}
STAGE = dict(V2, rawPath="/prod/snapshot")


@pytest.mark.parametrize("event", [V2, V1, FURL, STAGE], ids=["v2", "v1", "function-url", "named-stage"])
def test_parse_request_shapes(event):
    method, path, query = api.parse_request(event)
    assert method == "GET" and path.endswith("/snapshot") and query == {"stream_name": "cam"}


@pytest.mark.parametrize("event", [None, [], {}, {"rawPath": "/snapshot"}, dict(V2, queryStringParameters="x")])
def test_non_http_events_are_400(event):
    resp = api.handle(event, lambda: pytest.fail("no snapshotter for a bad event"))
    assert resp["statusCode"] == 400 and "error" in json.loads(resp["body"])


class _Taker:
    """Stands in for the Snapshotter (our own code, tested functionally) to drive error mapping."""

    def __init__(self, outcome):
        self.outcome = outcome

    def take(self, stream):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return dict(self.outcome, stream=stream)


@pytest.mark.parametrize("outcome, status, body", [
    ({"url": "u", "key": "k", "frame_time": "t"}, 200, {"url": "u", "key": "k", "frame_time": "t", "stream": "cam"}),
    (NotFound("no frame in the last 3 s"), 404, {"error": "no frame in the last 3 s"}),
    (UpstreamError("s3 upload failed", cause="AccessDenied: no"), 502,
     {"error": "s3 upload failed", "cause": "AccessDenied: no"}),
    (ZeroDivisionError("bug"), 500, {"error": "internal error"}),
])
def test_outcomes_map_to_statuses(outcome, status, body):
    resp = api.handle(V2, lambda: _Taker(outcome))
    assert resp["statusCode"] == status
    assert json.loads(resp["body"]) == body
    assert resp["headers"]["Content-Type"] == "application/json"


def _write_video(path, colours, size=(64, 48), fps=10):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for c in colours:
        img = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        img[:] = c
        w.write(img)
    w.release()


def test_last_frame_of_a_video(tmp_path):
    path = tmp_path / "v.mp4"
    _write_video(path, [(0, 200, 0)] * 9 + [(200, 0, 0)])
    frame, pos_ms = frames.last_frame(str(path))
    assert frame[24, 32].tolist() == pytest.approx([200, 0, 0], abs=40)
    assert pos_ms == pytest.approx(900, abs=1)


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x18ftypisom" + b"\x07" * 500, b"not a video"])
def test_last_frame_of_garbage_is_none(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    assert frames.last_frame(str(path)) is None


def test_jpeg_quality_changes_size():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    small, large = frames.encode_jpeg(img, 20), frames.encode_jpeg(img, 95)
    assert small[:2] == large[:2] == b"\xff\xd8" and len(small) < len(large)
