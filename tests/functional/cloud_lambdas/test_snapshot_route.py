"""The unmodified snapshot Lambda in a runner worker, against a real LocalCloud, over real HTTP
(an aiohttp server on 127.0.0.1:0 with ``snapshot_route``) and through ``snapshot_via_runner``."""
from __future__ import annotations

import urllib.request

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web

from localcore.cloud.kvs import put_frames, synthetic_frames
from localcore.cloud_lambdas import SnapshotFailed
from localcore.cloud_lambdas.http import snapshot_route, snapshot_via_runner


@pytest.fixture
async def api(snapshot_runner):
    """``GET /api/snapshot`` on a real aiohttp server; yields its base URL."""
    app = web.Application()
    app.router.add_get("/api/snapshot", snapshot_route(snapshot_runner))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable JPEG"
    return img.astype(np.float32)


def nearest(image: np.ndarray, frames) -> int:
    """Index of the frame ``image`` looks most like (mean absolute difference)."""
    diffs = [float(np.abs(decode(f.jpeg) - image).mean()) for f in frames]
    return int(np.argmin(diffs))


async def test_snapshot_through_http_is_the_newest_frame(api, cloud, stream, snapshot_runner):
    frames = list(synthetic_frames(count=12, fps=10.0))
    put_frames(cloud.url, stream, frames)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api}/api/snapshot", params={"stream_name": stream}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert resp.headers["Content-Type"] == "application/json"
            assert resp.headers["Cache-Control"] == "no-store"
    assert set(body) == {"url", "key", "frame_time"} and body["key"].startswith(f"snapshots/{stream}/")
    assert body["url"].startswith(cloud.url) and "X-Amz-Signature=" in body["url"]
    with urllib.request.urlopen(body["url"], timeout=10) as got:  # the presigned GET, unsigned client
        jpeg = got.read()
    assert nearest(decode(jpeg), frames) == len(frames) - 1
    st = snapshot_runner.status()
    assert (st["invocations"], st["errors"]) == (1, 0)


@pytest.mark.parametrize("query, status, error", [
    ({"stream_name": "bad name!"}, 400, "invalid stream_name 'bad name!'"),
    ({}, 400, "missing query parameter stream_name"),
    ({"stream_name": "no-such-stream"}, 404, "stream 'no-such-stream' not found"),
])
async def test_errors_come_from_the_lambda(api, query, status, error):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api}/api/snapshot", params=query) as resp:
            body = await resp.json()
    assert resp.status == status
    assert body["error"].startswith(error)
    assert "Traceback" not in str(body)


async def test_snapshot_via_runner_for_the_dashboard(cloud, stream, snapshot_runner):
    frames = list(synthetic_frames(count=8, fps=10.0))
    put_frames(cloud.url, stream, frames)
    result = await snapshot_via_runner(snapshot_runner, stream)
    assert set(result) == {"url", "key", "frame_time"}
    with urllib.request.urlopen(result["url"], timeout=10) as got:
        assert nearest(decode(got.read()), frames) == len(frames) - 1
    with pytest.raises(SnapshotFailed) as info:
        await snapshot_via_runner(snapshot_runner, "no-such-stream")
    assert info.value.status == 404
    assert str(info.value) == "snapshot API answered 404: stream 'no-such-stream' not found"


async def test_empty_stream_is_404_with_the_cause(stream, snapshot_runner):
    with pytest.raises(SnapshotFailed) as info:
        await snapshot_via_runner(snapshot_runner, stream)
    assert info.value.status == 404
    assert str(info.value).startswith("snapshot API answered 404: no frame in the last 3 s (ResourceNotFoundException")
