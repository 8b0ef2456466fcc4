"""Status adapters (web.facade) and the pure rules behind the dashboard's checks."""
from __future__ import annotations

import json

import pytest

from localcore.streams.definitions import parse_definition
from localcore.streams.server import StreamManagerServer
from web.facade import functions_section, parse_aggregates, streams_section, tail_lines
from web.redact import REDACTED, redact
from web.security import host_refusal, normalise_hosts, origin_refusal, split_host, token_refusal


async def test_streams_section_from_a_real_stream_manager(tmp_path):
    server = StreamManagerServer(tmp_path / "store", port=0, authenticate_client=False, exporters_enabled=False)
    await server.start()
    try:
        server.store.create(parse_definition({"name": "SensorReadings", "strategyOnFull": 1, "maxSize": 1 << 20}))
        server.store.create(parse_definition({"name": "Empty", "strategyOnFull": 0}))
        for n in range(3):
            server.store.append("SensorReadings", b'{"n": %d}' % n)
        rows = {row["name"]: row for row in streams_section(server.status())}
    finally:
        await server.stop()
    readings = rows["SensorReadings"]
    assert (readings["oldest"], readings["newest"]) == (0, 2)
    assert readings["bytes"] > 3 * len(b'{"n": 0}')
    assert readings["strategy"] == "OverwriteOldestData"
    assert readings["exporters"] == []
    assert (rows["Empty"]["oldest"], rows["Empty"]["newest"], rows["Empty"]["strategy"]) == (None, None, "RejectNewData")


def test_streams_section_maps_exporter_status():
    status = {"streams": [{"name": "S", "oldestSequenceNumber": 5, "newestSequenceNumber": 9, "totalBytes": 100,
                           "definition": {"strategyOnFull": "RejectNewData"},
                           "exporters": [{"identifier": "K", "type": "kinesis", "lastExportedSequenceNumber": 7,
                                          "nextSequenceNumber": 8, "lag": 2, "state": "retrying",
                                          "errorMessage": "throttled"}]}]}
    [row] = streams_section(status)
    assert row["exporters"] == [{"id": "K", "kind": "kinesis", "position": 7, "lag": 2, "state": "retrying",
                                 "error": "throttled"}]


def test_functions_section_from_runtime_status(tmp_path):
    log = tmp_path / "reader.log"
    log.write_text("".join(f"line {n}\n" for n in range(2000)))
    status = {"functions": {
        "reader": {"pinned": True, "instances": [{"id": "i1", "state": "busy"}], "invocations": 4,
                   "handled_errors": 1, "unhandled_errors": 1, "timeouts": 1, "crashes": 0, "log": str(log)},
        "stream_reader": {"pinned": False, "instances": [], "invocations": 0, "log": str(tmp_path / "missing.log")},
        "webcam": {"pinned": True, "instances": [], "start_error": "no /dev/video0", "log": None},
    }}
    rows = {row["name"]: row for row in functions_section(status, log_lines=3)}
    assert rows["reader"] == {"name": "reader", "pinned": True, "state": "running", "instances": 1,
                              "max_instances": None, "queued": 0, "invocations": 4, "errors": 3,
                              "last_error": None, "last_log_lines": ["line 1997", "line 1998", "line 1999"]}
    assert rows["stream_reader"]["state"] == "idle (0)"
    assert rows["stream_reader"]["last_log_lines"] == []
    assert (rows["webcam"]["state"], rows["webcam"]["last_error"]) == ("failed to start", "no /dev/video0")


def test_tail_lines_of_a_short_file(tmp_path):
    path = tmp_path / "f.log"
    path.write_text("a\nb\n")
    assert tail_lines(str(path), 5) == ["a", "b"]
    assert tail_lines(str(path), 0) == []


def test_parse_aggregates_reads_the_reader_lambdas_snapshot():
    from lambdas.reader.latest import LatestAggregates
    latest = LatestAggregates()
    for seq, (location, start, mean) in enumerate([("kitchen", 0, 20.5), ("garage", 0, 18.0), ("kitchen", 10, 21.0)]):
        latest.update(seq, {"location": location, "window_start": start, "window_end": start + 10,
                            "count": 3, "min": mean - 1, "max": mean + 1, "mean": mean})
    payload = json.dumps(latest.snapshot(now_ms=1234), sort_keys=True).encode()  # what the reader publishes
    records = {r["location"]: r for r in parse_aggregates(payload)}
    assert set(records) == {"kitchen", "garage"}
    assert (records["kitchen"]["mean"], records["kitchen"]["window_start"]) == (21.0, 10)


@pytest.mark.parametrize("payload,locations", [
    (b'{"location": "a", "mean": 1}', ["a"]),
    (b'[{"location": "a"}, {"location": "b"}]', ["a", "b"]),
    (b'{"aggregates": [{"location": "c"}]}', ["c"]),
    (b'{"x": {"mean": 1}, "y": {"mean": 2}}', ["x", "y"]),
])
def test_parse_aggregates_shapes(payload, locations):
    assert [r["location"] for r in parse_aggregates(payload)] == locations


@pytest.mark.parametrize("payload,reason", [
    (b"\xff", "not UTF-8 JSON"), (b"3", "expected an object or a list"), (b'[{"mean": 1}]', "item 0"),
])
def test_parse_aggregates_errors(payload, reason):
    with pytest.raises(ValueError, match=reason):
        parse_aggregates(payload)


@pytest.mark.parametrize("key,secret", [
    ("token", True), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", True), ("private_key", True), ("privateKey", True),
    ("aws_secret_access_key", True), ("SessionToken", True), ("password", True), ("latest_jpeg_path", False),
    ("thing", False), ("key", False), ("topic", False),
])
def test_redact_keys(key, secret):
    assert (redact({key: "v"})[key] == REDACTED) is secret


def test_redact_pem_values_anywhere():
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQ\n-----END EC PRIVATE KEY-----\n"
    assert redact({"a": [{"b": pem}], "c": ("x", pem.encode())}) == {"a": [{"b": REDACTED}], "c": ["x", REDACTED]}
    cert = "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n"
    assert redact({"cert": cert}) == {"cert": cert}


@pytest.mark.parametrize("host,expected", [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("LocalHost", ("localhost", None)), ("[::1]:80", ("::1", 80)),
    ("example.com.:1", ("example.com", 1)),
])
def test_split_host(host, expected):
    assert split_host(host) == expected


@pytest.mark.parametrize("host", ["", ":80", "a:b", "[::1", "::1", "a:99999", "[::1]x"])
def test_split_host_refuses_malformed(host):
    with pytest.raises(ValueError):
        split_host(host)


def test_host_and_origin_rules():
    allowed = normalise_hosts(["127.0.0.1", "localhost:8080", "[::1]", "::1"])
    assert allowed == {"127.0.0.1", "localhost", "::1"}
    assert host_refusal("localhost:9", allowed) is None
    assert "not one of" in host_refusal("evil.test", allowed)
    assert host_refusal(None, allowed) == "missing Host header"
    assert origin_refusal({}, "127.0.0.1:1", api=True) is None
    assert origin_refusal({"Origin": "http://127.0.0.1:1"}, "127.0.0.1:1", api=True) is None
    assert "cross-origin" in origin_refusal({"Origin": "http://127.0.0.1:2"}, "127.0.0.1:1", api=True)
    assert origin_refusal({"Sec-Fetch-Site": "cross-site"}, "127.0.0.1:1", api=False) is None  # a link to the page
    assert "cross-site" in origin_refusal({"Sec-Fetch-Site": "same-site"}, "127.0.0.1:1", api=True)


def test_token_rules():
    assert token_refusal({"X-Dashboard-Token": "s3cret"}, {}, "s3cret") is None
    assert token_refusal({}, {"token": "s3cret"}, "s3cret") is None
    assert "wrong" in token_refusal({"X-Dashboard-Token": "nope"}, {"token": "s3cret"}, "s3cret")  # header wins
    assert "missing" in token_refusal({}, {"token": ""}, "s3cret")


def _sdk_status(status, key: str) -> bytes:
    """A status message exactly as greengrasssdk serialises it (what S3 export tasks report)."""
    from greengrasssdk.stream_manager import (
        EventType, S3ExportTaskDefinition, StatusContext, StatusLevel, StatusMessage)
    message = StatusMessage(
        event_type=EventType.S3Task, status_level=StatusLevel.INFO, status=status,
        status_context=StatusContext(s3_export_task_definition=S3ExportTaskDefinition(
            input_url=f"file:///tmp/s3_stream/{key}", bucket="gg-bundle-frames", key=f"frames/{key}")),
        message="done", timestamp_epoch_ms=1_795_000_000_000)
    return json.dumps(message.as_dict()).encode()


async def test_webcam_section_from_frames_and_a_real_status_stream(tmp_path):
    import os
    from greengrasssdk.stream_manager import Status
    from web.facade import stream_tail, webcam_section

    frames = tmp_path / "frames"
    frames.mkdir()
    for n, name in enumerate(["2026_11_23_12.00.00.000001.jpg", "2026_11_23_12.00.02.000001.jpg", ".tmp-frame"]):
        (frames / name).write_bytes(b"\xff\xd8jpeg")
        os.utime(frames / name, (1000 + n, 1000 + n))
    server = StreamManagerServer(tmp_path / "store", port=0, authenticate_client=False, exporters_enabled=False)
    await server.start()
    try:
        server.store.create(parse_definition({"name": "S3UploadStatus", "strategyOnFull": 1}))
        for n, status in enumerate([Status.InProgress, Status.Success, Status.Failure, Status.Success]):
            server.store.append("S3UploadStatus", _sdk_status(status, f"f{n}.jpg"))
        assert stream_tail(server.store, "S3UploadStatus", 3) == [
            _sdk_status(s, f"f{n}.jpg") for n, s in [(1, Status.Success), (2, Status.Failure), (3, Status.Success)]]
        assert stream_tail(server.store, "Missing", 3) == []
        section = webcam_section(str(frames), stream_tail(server.store, "S3UploadStatus", 10), captured=7)
    finally:
        await server.stop()
    assert section["latest_jpeg_path"] == str(frames / "2026_11_23_12.00.02.000001.jpg")
    assert (section["captured"], section["saved"], section["uploaded"]) == (7, 2, 2)
    assert [s["status"] for s in section["export_statuses"]] == ["InProgress", "Success", "Failure", "Success"]
    assert section["export_statuses"][1] == {"status": "Success", "level": "INFO", "bucket": "gg-bundle-frames",
                                             "key": "frames/f1.jpg", "file": "f1.jpg", "message": "done",
                                             "time_ms": 1_795_000_000_000}


def test_webcam_section_without_frames_dir(tmp_path):
    from web.facade import webcam_section
    assert webcam_section(str(tmp_path / "none")) == {
        "frames_dir": str(tmp_path / "none"), "latest_jpeg_path": None, "captured": None, "saved": 0,
        "uploaded": 0, "export_statuses": []}


def test_cached_provider_calls_at_most_once_per_period():
    from web.facade import Cached
    now, calls = [0.0], []
    cached = Cached(lambda: calls.append(1) or len(calls), max_age_s=5, clock=lambda: now[0])
    assert [cached(), cached()] == [1, 1]
    now[0] = 5.0
    assert cached() == 2
