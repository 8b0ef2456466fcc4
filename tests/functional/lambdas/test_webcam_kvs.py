"""The webcam's Kinesis Video sink: configuration, payload, batching, the drop-oldest queue, and the
sender thread against a port nobody listens on. Posting to the real stand-in is tested in
tests/functional/snapshot/test_webcam_sink.py (a LocalCloud on port 0)."""
import base64
import json
import socket
import threading
import time

import pytest

from frames import ConfigError
from kvs_frames import FrameQueue, SinkConfig, batch_entries, build_body, frame_entry, ingest_url
from kvs_sink import KvsSink, SinkError, post_json

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met within {} s".format(timeout)
        time.sleep(0.01)


# configuration -------------------------------------------------------------------------------


def test_sink_is_off_without_a_stream_or_an_endpoint():
    assert SinkConfig.from_env({}, 4) is None
    assert SinkConfig.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, 4) is None
    assert SinkConfig.from_env({"KVS_STREAM_NAME": "webcam"}, 4) is None  # on AWS: nothing to post to


def test_sink_endpoint_defaults_to_aws_endpoint_url_and_every_to_the_save_rate():
    env = {"KVS_STREAM_NAME": "webcam", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"}
    config = SinkConfig.from_env(env, 4)
    assert config.url == "http://127.0.0.1:4566/_local/kinesisvideo/streams/webcam/frames"
    assert (config.every, config.queue_frames, config.batch_frames, config.timeout_s) == (4, 32, 10, 5.0)


def test_sink_settings_from_the_environment():
    config = SinkConfig.from_env({
        "KVS_STREAM_NAME": "cam.1", "KVS_ENDPOINT": "http://10.0.0.2:9000", "AWS_ENDPOINT_URL": "http://x:1",
        "KVS_EVERY_N_FRAMES": "1", "KVS_QUEUE_FRAMES": "5", "KVS_BATCH_FRAMES": "3",
        "KVS_BATCH_BYTES": "2048", "KVS_TIMEOUT_S": "0.5"}, 4)
    assert config.url == "http://10.0.0.2:9000/_local/kinesisvideo/streams/cam.1/frames"
    assert (config.every, config.queue_frames, config.batch_frames, config.batch_bytes, config.timeout_s) == \
        (1, 5, 3, 2048, 0.5)


@pytest.mark.parametrize("env, message", [
    ({"KVS_STREAM_NAME": "web cam"}, "KVS_STREAM_NAME must be 1-256 characters"),
    ({"KVS_ENDPOINT": "127.0.0.1:80"}, "KVS_ENDPOINT must be an http:// or https:// URL"),
    ({"AWS_ENDPOINT_URL": "localhost"}, "AWS_ENDPOINT_URL must be an http:// or https:// URL"),
    ({"KVS_EVERY_N_FRAMES": "0"}, r"KVS_EVERY_N_FRAMES must be in 1\.\.1000000, got '0'"),
    ({"KVS_QUEUE_FRAMES": "many"}, "KVS_QUEUE_FRAMES must be an integer, got 'many'"),
    ({"KVS_TIMEOUT_S": "soon"}, "KVS_TIMEOUT_S must be a number, got 'soon'"),
])
def test_bad_sink_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        SinkConfig.from_env(dict(env, KVS_STREAM_NAME=env.get("KVS_STREAM_NAME", "webcam")), 4)


# payload and batching ------------------------------------------------------------------------


def test_body_is_the_ingest_routes_json():
    body = json.loads(build_body([frame_entry(1700000000.25, JPEG), frame_entry(1700000000.5, b"\xff\xd8x")]))
    assert [f["producer_timestamp"] for f in body["frames"]] == [1700000000.25, 1700000000.5]
    assert base64.b64decode(body["frames"][0]["jpeg_b64"]) == JPEG
    assert set(body["frames"][1]) == {"producer_timestamp", "jpeg_b64"}
    assert json.loads(build_body([])) == {"frames": []}
    assert ingest_url("http://h:1/", "s") == "http://h:1/_local/kinesisvideo/streams/s/frames"


def test_batches_keep_order_and_respect_the_frame_limit():
    entries = [frame_entry(i, JPEG) for i in range(7)]
    batches = batch_entries(entries, max_frames=3, max_bytes=10 ** 9)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [e for b in batches for e in b] == entries


def test_batches_respect_the_byte_limit_and_send_an_oversized_frame_alone():
    entries = [frame_entry(i, JPEG) for i in range(5)]
    limit = len(build_body(entries[:2]))  # exactly two fit
    batches = batch_entries(entries, max_frames=100, max_bytes=limit)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(len(build_body(b)) <= limit for b in batches)
    big = frame_entry(9, JPEG * 10)
    assert batch_entries([entries[0], big, entries[1]], 100, limit) == [[entries[0]], [big], [entries[1]]]
    assert batch_entries([], 3, limit) == []


# the queue -----------------------------------------------------------------------------------


def test_full_queue_drops_the_oldest_and_counts():
    queue = FrameQueue(3)
    kept = [queue.put(float(i), bytes([i])) for i in range(5)]
    assert kept == [True, True, True, False, False]
    assert (queue.dropped, queue.offered, len(queue)) == (2, 5, 3)
    assert queue.take(10, 0.0) == [(2.0, b"\x02"), (3.0, b"\x03"), (4.0, b"\x04")]
    assert queue.take(10, 0.0) == []


def test_queue_timestamps_never_go_back():
    queue = FrameQueue(10)
    for ts in (10.0, 9.0, 10.0, 11.0):
        queue.put(ts, JPEG)
    times = [t for t, _ in queue.take(10, 0.0)]
    assert times[0] == 10.0 and times[-1] == 11.0
    assert all(b > a for a, b in zip(times, times[1:]))


def test_take_returns_at_most_max_frames_and_waits_for_a_put():
    queue = FrameQueue(10)
    for i in range(4):
        queue.put(float(i), JPEG)
    assert len(queue.take(3, 0.0)) == 3
    assert len(queue.take(3, 0.0)) == 1
    threading.Timer(0.05, queue.put, (99.0, JPEG)).start()
    assert queue.take(3, 10.0) == [(99.0, JPEG)]
    with pytest.raises(ValueError):
        FrameQueue(0)


# the sender thread, over real sockets --------------------------------------------------------


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_never_blocks_the_producer():
    url = "http://127.0.0.1:{}".format(closed_port())
    sink = KvsSink(SinkConfig("cam", url, every=1, queue_frames=4, timeout_s=1.0))
    sink.start()
    try:
        started = time.monotonic()
        for i in range(50):
            sink.offer(float(i), JPEG)
        assert time.monotonic() - started < 0.5  # offers return at once while requests fail
        wait_for(lambda: sink.status()["failed"] >= 1)
    finally:
        sink.stop()
    status = sink.status()
    assert status["sent"] == 0 and status["queued"] <= 4
    assert status["dropped"] + status["failed"] + status["queued"] == 50
    assert url in status["last_error"]
    with pytest.raises(SinkError, match="POST {}/x: ".format(url)):
        post_json(url + "/x", b"{}", 1.0)
