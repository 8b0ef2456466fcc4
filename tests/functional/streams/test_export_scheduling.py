"""Export scheduling with real HTTP: priority, batch size/interval, start sequence, disabled."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web

from localcore.streams.definitions import HTTP, ExportConfig, StreamDefinition
from localcore.streams.exporters import CloudConfig, ExportManager
from localcore.streams.store import StreamStore


@pytest.fixture
async def sink():
    """An HTTP endpoint recording (path, arrival time, body) of every POST."""
    got: list[tuple[str, float, bytes]] = []
    arrived = asyncio.Event()

    async def handler(request):
        got.append((request.path, time.monotonic(), await request.read()))
        arrived.set()
        if request.path == "/reject":
            return web.Response(status=400, text="bad payload")
        return web.Response()

    app = web.Application()
    app.router.add_post("/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", got, arrived
    await runner.cleanup()


async def wait_for_posts(got, arrived, n, timeout=10):
    async def inner():
        while len(got) < n:
            arrived.clear()
            await arrived.wait()

    await asyncio.wait_for(inner(), timeout)


def http(ident, uri, **kw):
    params = {"uri": uri, "exportFormat": kw.pop("export_format", 0)}
    return ExportConfig(HTTP, ident, kw.pop("batch_size", 1), params=params, **kw)


async def test_higher_priority_exporter_gets_the_slot_first(tmp_path, sink):
    url, got, arrived = sink
    store = StreamStore(tmp_path / "s")
    store.create(StreamDefinition("low", exports=(http("lo", f"{url}/low", priority=10),)))
    store.create(StreamDefinition("high", exports=(http("hi", f"{url}/high", priority=1),)))
    for i in range(5):
        store.append("low", b"l%d" % i)
        store.append("high", b"h%d" % i)
    mgr = ExportManager(store, tmp_path / "cp", CloudConfig(), threads=1)
    await mgr.start()
    try:
        await wait_for_posts(got, arrived, 10)
    finally:
        await mgr.stop()
        store.close()
    # "low" starts first and holds the only slot for one batch; then "high" wins every hand-over.
    assert [b for _, _, b in got] == [b"l0", b"h0", b"h1", b"h2", b"h3", b"h4", b"l1", b"l2", b"l3", b"l4"]


async def test_batch_interval_waits_unless_the_batch_is_full(tmp_path, sink):
    url, got, arrived = sink
    store = StreamStore(tmp_path / "s")
    cfg = http("b", f"{url}/batched", batch_size=4, batch_interval_millis=800, export_format=1)
    store.create(StreamDefinition("s", exports=(cfg,)))
    mgr = ExportManager(store, tmp_path / "cp", CloudConfig())
    await mgr.start()
    try:
        t0 = time.monotonic()
        for i in range(2):
            store.append("s", b"m%d" % i)
        await wait_for_posts(got, arrived, 1)
        assert got[0][1] - t0 >= 0.75  # held back until the oldest message is batchIntervalMillis old
        t1 = time.monotonic()
        for i in range(2, 6):
            store.append("s", b"m%d" % i)
        await wait_for_posts(got, arrived, 2)
        assert got[1][1] - t1 < 0.7  # a full batch goes at once
    finally:
        await mgr.stop()
        store.close()
    assert [[d["sequenceNumber"] for d in json.loads(b)] for _, _, b in got] == [[0, 1], [2, 3, 4, 5]]
    assert json.loads(got[0][2])[0]["payload"] == "bTA="  # base64 of b"m0"


async def test_start_sequence_and_disabled(tmp_path, sink):
    url, got, arrived = sink
    store = StreamStore(tmp_path / "s")
    store.create(
        StreamDefinition(
            "s",
            exports=(
                http("late", f"{url}/late", start_sequence_number=2),
                http("off", f"{url}/off", disabled=True),
            ),
        )
    )
    for i in range(4):
        store.append("s", b"m%d" % i)
    mgr = ExportManager(store, tmp_path / "cp", CloudConfig())
    await mgr.start()
    try:
        await wait_for_posts(got, arrived, 2)
        status = {e["identifier"]: e for e in mgr.status("s")}
    finally:
        await mgr.stop()
        store.close()
    assert [(p, b) for p, _, b in got] == [("/late", b"m2"), ("/late", b"m3")]
    assert status["off"]["state"] == "disabled" and status["off"]["lag"] == 4
    assert status["late"]["lastExportedSequenceNumber"] == 3


async def test_rejected_batch_is_skipped_with_its_reason(tmp_path, sink):
    url, got, arrived = sink
    store = StreamStore(tmp_path / "s")
    store.create(StreamDefinition("s", exports=(http("r", f"{url}/reject"),)))
    store.append("s", b"a")
    store.append("s", b"b")
    mgr = ExportManager(store, tmp_path / "cp", CloudConfig())
    await mgr.start()
    try:
        await wait_for_posts(got, arrived, 2)
        for _ in range(100):  # the exporter records the outcome right after the response
            [st] = mgr.status("s")
            if st["nextSequenceNumber"] == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await mgr.stop()
        store.close()
    assert st["nextSequenceNumber"] == 2 and st["exportedMessages"] == 0
    assert "HTTP 400" in st["errorMessage"] and "bad payload" in st["errorMessage"]
