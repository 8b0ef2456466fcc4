"""The webcam Lambda's Kinesis Video sink against a real LocalCloud (port 0): frames it posts come
back through boto3 ``kinesis-video-archived-media`` GetClip, and the unmodified snapshot Lambda in
a CloudFunctionRunner worker, behind the ``/api/snapshot`` route, returns the newest webcam frame."""
from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp import ClientSession, web

from localcore.cloud_lambdas import CloudFunctionRunner, local_environment
from localcore.cloud_lambdas.http import snapshot_route

REPO = Path(__file__).resolve().parents[3]
WEBCAM_DIR = REPO / "lambdas" / "webcam"
LIBRARY = REPO / "lambdas" / "_lib"  # the shared library (``libraries:`` in group.yaml), after the code dir
for _dir in (WEBCAM_DIR, LIBRARY):
    if str(_dir) not in sys.path:
        sys.path.append(str(_dir))

from frames import WebcamConfig  # noqa: E402  (the webcam's own modules, as its runtime imports them)
from kvs_frames import SinkConfig  # noqa: E402
from kvs_sink import KvsSink  # noqa: E402

media = sys.modules["snapshot_media"]  # loaded by conftest.py
BLUE, GREEN, RED, GREY = media.BLUE, media.GREEN, media.RED, media.GREY


def webcam_module():
    name = "lambda_webcam_handler"  # the name tests/lambda_code.py uses too
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, WEBCAM_DIR / "handler.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.02)


def decode_clip(mp4: bytes, tmp_path) -> list[np.ndarray]:
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4)
    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                return out
            out.append(img.astype(np.float32))
    finally:
        cap.release()


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable JPEG"
    return img.astype(np.float32)


def nearest(image: np.ndarray, candidates: list[np.ndarray]) -> int:
    diffs = [float(np.abs(c - image).mean()) for c in candidates]
    return int(np.argmin(diffs))


def get_clip(clients, cloud, stream, start, end, kind="PRODUCER_TIMESTAMP") -> bytes:
    kv = clients("kinesisvideo")
    endpoint = kv.get_data_endpoint(StreamName=stream, APIName="GET_CLIP")["DataEndpoint"]
    resp = clients("kinesis-video-archived-media", endpoint).get_clip(
        StreamName=stream, ClipFragmentSelector={
            "FragmentSelectorType": kind, "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end}})
    return resp["Payload"].read()


def saved_frames(directory: Path) -> list[np.ndarray]:
    return [decode_jpeg((directory / name).read_bytes()) for name in sorted(os.listdir(directory))]


def test_frames_posted_by_the_sink_come_back_through_get_clip(cloud, clients, stream, now, tmp_path):
    colours = [BLUE, GREEN, RED, GREY, BLUE, GREEN, RED]
    sink = KvsSink(SinkConfig(stream, cloud.url, every=1, batch_frames=3))
    # all 7 queued before its thread takes any: a take returns what is there (up to 3), so frames offered while
    # the thread already waits would go out in more requests (a clean-clone run saw 4: the cards take time to make)
    for i, colour in enumerate(colours):
        sink.offer(now - 0.7 + i * 0.1, media.card(colour, str(i)))
    sink.start()
    try:
        wait_for(lambda: sink.status()["sent"] == len(colours))
    finally:
        sink.stop()
    status = sink.status()
    assert (status["requests"], status["dropped"], status["failed"], status["last_error"]) == (3, 0, 0, None)
    frames = decode_clip(get_clip(clients, cloud, stream, now - 1, now), tmp_path)
    assert len(frames) == len(colours)
    for img, colour in zip(frames, colours):
        h, w = img.shape[:2]
        centre = img[h // 3: 2 * h // 3, w // 3: 2 * w // 3].reshape(-1, 3).mean(axis=0)
        assert media.close_to(centre, colour), (centre, colour)


def test_sink_stops_with_queued_frames_sent(cloud, clients, stream, now, tmp_path):
    sink = KvsSink(SinkConfig(stream, cloud.url, every=1, batch_frames=2))
    for i in range(5):  # queued before the thread runs: stop() must still deliver them
        sink.offer(now - 0.5 + i * 0.1, media.card(GREEN, str(i)))
    sink.start()
    sink.stop()
    assert sink.status()["sent"] == 5
    assert len(decode_clip(get_clip(clients, cloud, stream, now - 1, now), tmp_path)) == 5


def test_sink_reports_an_unknown_stream(cloud, now):
    sink = KvsSink(SinkConfig("no-such-webcam-stream", cloud.url, every=1))
    sink.start()
    try:
        sink.offer(now, media.card(RED))
        wait_for(lambda: sink.status()["failed"] == 1)
    finally:
        sink.stop()
    status = sink.status()
    assert status["sent"] == 0
    assert "HTTP 404: ResourceNotFoundException" in status["last_error"], status["last_error"]


def run_webcam(tmp_path, stream, url, saves=4):
    """The webcam worker (synthetic pattern, 160x120) with its sink; stopped after ``saves`` saved
    frames, so the newest saved file is the newest frame posted."""
    out = tmp_path / "frames"
    config = WebcamConfig(device=str(tmp_path / "no-camera"), width=160, height=120, fps=20, save_every=2,
                          output_dir=str(out), mode="synthetic")
    worker = webcam_module().Webcam(config, sink=KvsSink(SinkConfig(stream, url, every=config.save_every)))
    worker.start()
    try:
        wait_for(lambda: worker.status()["saved"] >= saves)
    finally:
        worker.stop()
    return worker.status(), out


def test_webcam_archives_exactly_its_saved_frames(cloud, clients, stream, tmp_path):
    start = time.time()
    status, out = run_webcam(tmp_path, stream, cloud.url)
    kvs = status["kvs"]
    assert kvs["running"] is False and kvs["sent"] == kvs["offered"] == status["saved"]
    assert (kvs["dropped"], kvs["failed"]) == (0, 0)
    clip = decode_clip(get_clip(clients, cloud, stream, start - 1, time.time()), tmp_path)
    saved = saved_frames(out)
    assert len(clip) == len(saved) == status["saved"]
    assert [nearest(img, saved) for img in clip] == list(range(len(saved)))


@pytest.fixture
async def snapshot_api(cloud, bucket, tmp_path):
    """The snapshot Lambda (cloud/snapshot as deployed) in a runner worker, behind
    ``GET /api/snapshot`` on an aiohttp server at 127.0.0.1:0, as `deploy.py run` wires it."""
    tmp = tmp_path / "lambda-tmp"
    tmp.mkdir()
    env = local_environment({"SNAPSHOT_BUCKET": bucket, "SNAPSHOT_TMP_DIR": str(tmp)}, cloud.url,
                            media.REGION)
    runner = CloudFunctionRunner("snapshot", REPO / "cloud", "snapshot.handler.lambda_handler",
                                 environment=env, timeout_s=20, memory_mb=512)
    await runner.start()
    app = web.Application()
    app.router.add_get("/api/snapshot", snapshot_route(runner))
    site_runner = web.AppRunner(app, access_log=None)
    await site_runner.setup()
    await web.TCPSite(site_runner, "127.0.0.1", 0).start()
    host, port = site_runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/api/snapshot"
    finally:
        await site_runner.cleanup()
        await runner.stop()
    assert list(tmp.iterdir()) == [], "the Lambda left temp files behind"


async def test_snapshot_route_returns_the_newest_webcam_frame(cloud, stream, snapshot_api, tmp_path):
    status, out = await asyncio.to_thread(run_webcam, tmp_path, stream, cloud.url, 6)
    assert status["kvs"]["sent"] == status["saved"] >= 6
    async with ClientSession() as session:  # the default SERVER_TIMESTAMP window: the last 3 s
        async with session.get(snapshot_api, params={"stream_name": stream}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
    assert body["url"].startswith(cloud.url) and "X-Amz-Signature=" in body["url"]
    with urllib.request.urlopen(body["url"], timeout=10) as got:  # the presigned GET, unsigned
        jpeg = got.read()
    saved = saved_frames(out)
    assert nearest(decode_jpeg(jpeg), saved) == len(saved) - 1
