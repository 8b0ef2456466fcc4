"""The wiring the lead does in ``deploy.py run``: the real dashboard (``web.app.Dashboard`` over
``web.facade.CoreFacade``) with ``snapshot=partial(snapshot_via_runner, runner)``, the snapshot
Lambda in its worker, the LocalCloud behind it; one POST /api/snapshot over real HTTP."""
from __future__ import annotations

import functools
import urllib.request

import aiohttp
import pytest

from localcore.cloud.kvs import put_frames, synthetic_frames
from localcore.cloud_lambdas.http import snapshot_via_runner
from localcore.router import Router
from web.app import Dashboard
from web.facade import CoreFacade
from web.tap import MessageTap


@pytest.fixture
async def dashboard(snapshot_runner):
    facade = CoreFacade(router=Router(), tap=MessageTap(),
                        snapshot=functools.partial(snapshot_via_runner, snapshot_runner))
    dash = Dashboard(facade)
    await dash.start("127.0.0.1", 0)
    try:
        yield dash
    finally:
        await dash.stop()


async def test_dashboard_snapshot_button(dashboard, cloud, stream):
    put_frames(cloud.url, stream, synthetic_frames(count=5, fps=10.0))
    base = f"http://127.0.0.1:{dashboard.port}"
    headers = {"X-Dashboard-Token": dashboard.token}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/snapshot", params={"stream_name": stream}, headers=headers) as r:
            body = await r.json()
            assert r.status == 200, body
        async with session.post(f"{base}/api/snapshot", params={"stream_name": "no-such-stream"},
                                headers=headers) as r:
            missing = await r.json()
    assert set(body) == {"url", "key", "frame_time"}
    with urllib.request.urlopen(body["url"], timeout=10) as got:
        assert got.read()[:2] == b"\xff\xd8"
    assert r.status == 502 and missing == {
        "error": "snapshot failed",
        "reason": "SnapshotFailed: snapshot API answered 404: stream 'no-such-stream' not found"}
