"""The stream Lambdas' workers, unmodified, against the project's stream manager (port 0) and moto.

Real greengrasssdk StreamManagerClient on real sockets; only the reader's iot-data publisher is a
list (its IPC daemon is the Lambda runtime's business and is tested there).
"""
import asyncio
import itertools
import json
import os
import threading

import boto3
import pytest
from greengrasssdk.stream_manager import (
    MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull, StreamManagerClient,
)

from frames import WebcamConfig
from latest import ReaderConfig
from localcore.streams.exporters import CloudConfig
from localcore.streams.server import StreamManagerServer
from readings import ProducerConfig
from stream_summary import StreamReaderConfig
from upload_tasks import UploaderConfig
from windows import AggregatorConfig

T0 = 1_800_000_000_000


async def eventually(condition, timeout=20.0):
    """Poll ``condition`` while the event loop (and so the stream manager) keeps running."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met within {} s".format(timeout)
        await asyncio.sleep(0.02)


def read_all(stream):
    with StreamManagerClient() as client:
        return client.read_messages(stream, ReadMessagesOptions(
            desired_start_sequence_number=0, min_message_count=1, max_message_count=10000, read_timeout_millis=0))


async def started(server, monkeypatch):
    await server.start()
    monkeypatch.setenv("STREAM_MANAGER_SERVER_PORT", str(server.port))
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
    return server


@pytest.fixture
async def stream_manager(tmp_path, monkeypatch):
    server = await started(StreamManagerServer(tmp_path / "store", port=0, authenticate_client=False,
                                               exporters_enabled=False), monkeypatch)
    try:
        yield server
    finally:
        await server.stop()


class Published:
    def __init__(self):
        self.messages = []

    def publish(self, **kwargs):
        self.messages.append(kwargs)


async def test_producer_aggregator_reader_restart_counts_every_reading_once(stream_manager, tmp_path, handler_of):
    producer_mod, aggregator_mod, reader_mod = (handler_of(n) for n in ("producer", "aggregator", "reader"))
    ticks = itertools.count()
    lock = threading.Lock()

    def clock():  # 250 ms of event time per reading: windows of 1 s close after 4 readings
        with lock:
            return (T0 + 250 * next(ticks)) / 1000.0

    producer = producer_mod.Producer(ProducerConfig.from_env({"INTERVAL_SECONDS": "0.01", "RANDOM_SEED": "3"}),
                                     clock=clock)
    ckpt = {"WINDOW_SECONDS": "1", "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    first = aggregator_mod.Aggregator(AggregatorConfig.from_env(ckpt))
    published = Published()
    reader = reader_mod.Reader(ReaderConfig.from_env({"SNAPSHOT_PATH": str(tmp_path / "snap.json")}),
                               iot_client=published)
    for worker in (producer, first, reader):
        worker.start()
    await eventually(lambda: (first.status()["next_sequence"] or 0) >= 30)
    await asyncio.to_thread(first.stop)
    assert first.status()["running"] is False
    second = aggregator_mod.Aggregator(AggregatorConfig.from_env(ckpt))
    second.start()
    await eventually(lambda: producer.status()["appended"] >= 80)
    await asyncio.to_thread(producer.stop)
    appended = producer.status()["appended"]
    await eventually(lambda: second.status()["next_sequence"] == appended)
    await asyncio.to_thread(second.stop)

    readings = [json.loads(m.payload) for m in await asyncio.to_thread(read_all, "SomeStream")]
    aggregates = [json.loads(m.payload) for m in await asyncio.to_thread(read_all, "AggregateStream")]
    assert [m["timestamp"] for m in readings][:2] == [T0, T0 + 250]      # sequence 0 was read
    keys = [(a["window_start"], a["location"]) for a in aggregates]
    assert len(keys) == len(set(keys)), "an aggregate was emitted twice"
    closed_until = max(a["window_end"] for a in aggregates)
    in_closed = [r for r in readings if r["timestamp"] < closed_until]
    assert sum(a["count"] for a in aggregates) == len(in_closed)        # nothing skipped, nothing twice
    for a in aggregates:
        values = [r["value"] for r in in_closed
                  if r["location"] == a["location"] and a["window_start"] <= r["timestamp"] < a["window_end"]]
        assert (a["count"], a["min"], a["max"]) == (len(values), min(values), max(values))

    await eventually(lambda: reader.status()["next_sequence"] == len(aggregates))
    await asyncio.to_thread(reader.stop)
    snapshot = json.loads((tmp_path / "snap.json").read_text())
    newest = {}
    for a in aggregates:
        newest[a["location"]] = a
    assert snapshot["locations"] == newest
    assert published.messages[-1]["topic"] == "display/aggregates"
    assert json.loads(published.messages[-1]["payload"]) == snapshot


async def test_stream_reader_reports_each_message_once_from_sequence_0(stream_manager, handler_of):
    stream_reader_mod = handler_of("stream_reader")
    reader = stream_reader_mod.StreamReader(StreamReaderConfig(stream_name="Readings", read_batch=2))
    missing = await asyncio.to_thread(reader.read_new, "t/1")
    assert (missing["stream_exists"], missing["count"]) == (False, 0)

    def append(values):
        with StreamManagerClient() as client:
            if "Readings" not in client.list_streams():
                client.create_message_stream(MessageStreamDefinition(
                    name="Readings", strategy_on_full=StrategyOnFull.OverwriteOldestData))
            for value in values:
                client.append_message("Readings", json.dumps({"location": "a", "value": value}).encode())

    await asyncio.to_thread(append, [])
    empty = await asyncio.to_thread(reader.read_new, "t/1")
    assert (empty["stream_exists"], empty["count"], empty["first_sequence"]) == (True, 0, None)
    await asyncio.to_thread(append, [1, 2, 3])
    first = await asyncio.to_thread(reader.read_new, "t/1")
    assert (first["count"], first["first_sequence"], first["last_sequence"]) == (3, 0, 2)
    assert first["locations"] == {"a": {"count": 3, "min": 1.0, "max": 3.0, "mean": 2.0}}
    again = await asyncio.to_thread(reader.read_new, "t/1")
    assert again["count"] == 0
    await asyncio.to_thread(append, [10, 20])
    second = await asyncio.to_thread(reader.read_new, "t/2")
    assert (second["count"], second["first_sequence"], second["trigger_topic"]) == (2, 3, "t/2")


@pytest.fixture
def s3_cloud(moto_endpoint, monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    return CloudConfig(endpoint_url=moto_endpoint, region="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")


@pytest.fixture
async def s3_stream_manager(tmp_path, monkeypatch, s3_cloud):
    server = await started(StreamManagerServer(tmp_path / "store", port=0, authenticate_client=False,
                                               cloud=s3_cloud, exporters_enabled=True, export_retry_initial_s=0.1,
                                               export_retry_max_s=0.5), monkeypatch)
    try:
        yield server
    finally:
        await server.stop()


async def test_webcam_frames_reach_s3_and_only_then_leave_the_volume(s3_stream_manager, s3_cloud, tmp_path,
                                                                     handler_of):
    webcam_mod, uploader_mod = handler_of("webcam"), handler_of("s3_uploader")
    s3 = boto3.client("s3", endpoint_url=s3_cloud.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket="frames-ok")
    volume = tmp_path / "s3_stream"
    webcam = webcam_mod.Webcam(WebcamConfig(mode="synthetic", fps=50, save_every=2, width=64, height=48,
                                            output_dir=str(volume)))
    uploader = uploader_mod.S3Uploader(UploaderConfig(bucket="frames-ok", watch_dir=str(volume), key_prefix="cam"))
    webcam.start()
    uploader.start()
    await eventually(lambda: webcam.status()["saved"] >= 4)
    await asyncio.to_thread(webcam.stop)
    saved = webcam.status()["saved"]
    await eventually(lambda: uploader.status()["uploaded"] == saved and not os.listdir(str(volume)), timeout=30)
    await asyncio.to_thread(uploader.stop)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="frames-ok")["Contents"])
    assert len(keys) == saved and all(k.startswith("cam/") and k.endswith(".jpg") for k in keys)
    body = s3.get_object(Bucket="frames-ok", Key=keys[0])["Body"].read()
    assert body[:3] == b"\xff\xd8\xff"


async def test_failed_uploads_keep_the_files(s3_stream_manager, tmp_path, handler_of):
    uploader_mod = handler_of("s3_uploader")
    volume = tmp_path / "s3_stream"
    volume.mkdir()
    names = ["2026_01_01_00.00.0{}.000000.jpg".format(i) for i in range(2)]
    for name in names:
        (volume / name).write_bytes(b"\xff\xd8\xff not really a jpeg")
    uploader = uploader_mod.S3Uploader(UploaderConfig(bucket="no-such-bucket", watch_dir=str(volume),
                                                      retry_delay_s=3600))
    uploader.start()
    await eventually(lambda: uploader.status()["failed_attempts"] >= 2, timeout=30)
    await asyncio.to_thread(uploader.stop)
    assert sorted(os.listdir(str(volume))) == names
    assert uploader.status()["uploaded"] == 0


async def test_aggregator_notices_a_checkpoint_beyond_a_recreated_stream(stream_manager, handler_of):
    handler = handler_of("aggregator")

    def check():
        with StreamManagerClient() as client:
            client.create_message_stream(MessageStreamDefinition(
                name="Src", strategy_on_full=StrategyOnFull.OverwriteOldestData))
            for i in range(3):
                client.append_message("Src", b"x")
            return [handler.checkpoint_beyond_stream(client, "Src", n) for n in (0, 3, 4, 50)] + \
                [handler.checkpoint_beyond_stream(client, "Missing", 9)]

    assert await asyncio.to_thread(check) == [False, False, True, True, False]
