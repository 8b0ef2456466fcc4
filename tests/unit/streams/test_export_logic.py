"""Pure parts of the exporters: priority slots, S3 key placeholders, file URLs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from localcore.streams.errors import ExportError
from localcore.streams.exporters import PrioritySlots
from localcore.streams.sinks import expand_key, file_path


async def test_waiters_are_served_by_priority_then_arrival():
    slots = PrioritySlots(1)
    await slots.acquire(5)  # taken
    order = []

    async def want(prio, tag):
        await slots.acquire(prio)
        order.append(tag)
        slots.release()

    tasks = [
        asyncio.create_task(want(p, t)) for p, t in [(10, "low"), (1, "high-a"), (5, "mid"), (1, "high-b")]
    ]
    await asyncio.sleep(0)  # let all four queue up
    slots.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["high-a", "high-b", "mid", "low"]
    assert slots.free == 1


async def test_cancelled_waiter_does_not_leak_a_slot():
    slots = PrioritySlots(1)
    await slots.acquire(1)
    waiter = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slots.release()
    await asyncio.sleep(0)  # the hand-over runs on the next loop turn
    assert slots.free == 1
    await asyncio.wait_for(slots.acquire(3), 1)


NOW = datetime(2026, 3, 7, 9, 5, 2, 123000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "key,expected",
    [
        ("plain/key.jpg", "plain/key.jpg"),
        ("frames/!{timestamp:yyyy/MM/dd}/f.jpg", "frames/2026/03/07/f.jpg"),
        ("a/!{timestamp:yyyy-MM-dd'T'HH:mm:ss}/b", "a/2026-03-07'T'09:05:02/b"),
        ("!{timestamp:yy}/!{timestamp:HHmmssSSS}", "26/090502123"),
    ],
)
def test_s3_key_placeholders(key, expected):
    assert expand_key(key, NOW) == expected


@pytest.mark.parametrize(
    "url,path",
    [
        ("file:/tmp/s3_stream/f.jpg", "/tmp/s3_stream/f.jpg"),
        ("file:///tmp/a%20b.jpg", "/tmp/a b.jpg"),
    ],
)
def test_file_urls(url, path):
    assert file_path(url) == path


def test_non_file_url_is_not_retryable():
    with pytest.raises(ExportError) as ei:
        file_path("s3://bucket/key")
    assert not ei.value.retryable and "file:" in str(ei.value)


def test_cloud_endpoint_resolution(monkeypatch):
    from localcore.streams import CloudConfig

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KINESIS", raising=False)
    assert CloudConfig().endpoint_for("kinesis") is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env:1")
    assert CloudConfig().endpoint_for("kinesis") == "http://env:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://env-kinesis:1")
    assert CloudConfig().endpoint_for("kinesis") == "http://env-kinesis:1"
    assert CloudConfig(endpoint_url="http://arg:1").endpoint_for("kinesis") == "http://arg:1"
    assert (
        CloudConfig(endpoint_url="http://arg:1", endpoints={"kinesis": "http://k:1"}).endpoint_for("kinesis")
        == "http://k:1"
    )


@pytest.mark.parametrize(
    "sizes,expected",
    [
        ([10] * 1200, [500, 500, 200]),
        ([1024 * 1024 - 32] * 6, [5, 1]),
        ([], []),
        ([1] * 500, [500]),
    ],
)
def test_kinesis_put_records_chunks(sizes, expected):
    from localcore.streams.sinks import kinesis_chunks

    records = [{"Data": b"x" * n, "PartitionKey": "k" * 32} for n in sizes]
    chunks = kinesis_chunks(records)
    assert [len(c) for c in chunks] == expected
    assert all(sum(len(r["Data"]) + 32 for r in c) <= 5 * 1024 * 1024 for c in chunks)
