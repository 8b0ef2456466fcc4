"""Malformed frames, wrong versions, unknown ops, garbage CBOR, and a bounded fuzz run."""

from __future__ import annotations

import asyncio
import logging
import random
import struct

import cbor2
import pytest
from greengrasssdk.stream_manager import (
    MessageStreamDefinition,
    ReadMessagesOptions,
    StrategyOnFull,
    StreamManagerClient,
)

from localcore.streams import StreamManagerServer

from .rawwire import closed_by_server, connect, frame, read_frame


@pytest.fixture
async def srv(tmp_path):
    server = StreamManagerServer(
        tmp_path / "store", port=0, authenticate_client=False, exporters_enabled=False
    )
    await server.start()
    yield server
    await server.stop()


async def test_wrong_version_byte_gets_status_8_then_close(srv):
    reader, writer, version, op, resp = await connect(srv.port, version=7)
    assert (version, op, resp["status"]) == (1, 6, 8)
    assert "connect version 7" in resp["errorMessage"]
    assert await closed_by_server(reader)
    writer.close()


async def test_first_frame_not_connect_closes(srv, caplog):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"\x01" + frame(11, {"requestId": "x"}))
    assert await closed_by_server(reader)
    assert "expected Connect (1)" in caplog.text
    writer.close()


@pytest.mark.parametrize(
    "bad,reason",
    [
        (struct.pack(">iB", 0, 11), "frame length 0 is below 1"),
        (struct.pack(">iB", -5, 11), "frame length -5 is below 1"),
        (frame(4, b"\x1c garbage"), "undecodable CBOR"),
        (frame(4, cbor2.dumps({"requestId": "r"}) + b"trailing"), "bytes left after the first value"),
        (frame(4, cbor2.dumps([1, 2, 3])), "no string requestId"),
        (frame(4, cbor2.dumps({"requestId": 5, "name": "s"})), "no string requestId"),
        (struct.pack(">iB", 100_000_000, 4) + b"\x00" * 2000, "exceeds the 67108864-byte limit"),
    ],
)
async def test_unanswerable_frames_close_only_that_connection(srv, caplog, bad, reason):
    good_r, good_w, *_ = await connect(srv.port)
    reader, writer, *_ = await connect(srv.port)
    with caplog.at_level(logging.WARNING, logger="localcore.streams.server"):
        writer.write(bad)
        await writer.drain()
        assert await closed_by_server(reader)
    assert reason in caplog.text and "127.0.0.1:" in caplog.text
    good_w.write(frame(11, {"requestId": "still-here"}))
    assert await read_frame(good_r) == (12, {"requestId": "still-here", "status": 0, "streams": []})
    for w in (writer, good_w):
        w.close()


@pytest.mark.parametrize(
    "op,payload,status,fragment",
    [
        (17, {"requestId": "r1"}, 18, "unknown operation 17"),
        (99, {"requestId": "r1"}, 18, "unknown operation 99"),
        (1, {"requestId": "r1"}, 18, "unknown operation 1"),
    ],
)
async def test_unknown_ops_get_op_17_status_18(srv, op, payload, status, fragment):
    reader, writer, *_ = await connect(srv.port)
    writer.write(frame(op, payload))
    rop, resp = await read_frame(reader)
    assert (rop, resp["requestId"], resp["status"]) == (17, "r1", status)
    assert fragment in resp["errorMessage"]
    writer.write(frame(11, {"requestId": "after"}))
    assert (await read_frame(reader))[1]["status"] == 0
    writer.close()


@pytest.mark.parametrize(
    "op,payload,fragment",
    [
        (4, {"requestId": "r", "name": "s"}, "payload: required"),
        (4, {"requestId": "r", "name": "s", "payload": "text"}, "payload: required"),
        (4, {"requestId": "r", "name": 12, "payload": b"x"}, "name: must be a string"),
        (4, {"requestId": "r", "name": "a/b", "payload": b"x"}, "name: must be 1..255"),
        (
            5,
            {"requestId": "r", "streamName": "s", "readMessagesOptions": {"minMessageCount": 0}},
            "minMessageCount",
        ),
        (
            5,
            {
                "requestId": "r",
                "streamName": "s",
                "readMessagesOptions": {"minMessageCount": 3, "maxMessageCount": 2},
            },
            "greater than maxMessageCount",
        ),
        (
            5,
            {"requestId": "r", "streamName": "s", "readMessagesOptions": "x"},
            "readMessagesOptions: must be a map",
        ),
        (2, {"requestId": "r"}, "definition: required"),
        (
            2,
            {"requestId": "r", "definition": {"name": "n", "strategyOnFull": 5}},
            "definition.strategyOnFull",
        ),
        (15, {"requestId": "r", "definition": {"name": "n"}}, "definition.strategyOnFull: required"),
        (3, {"requestId": "r"}, "name: required"),
        (4, {"requestId": "bad/id", "name": "s", "payload": b"x"}, "requestId"),
    ],
)
async def test_bad_fields_get_status_3_naming_the_field(srv, op, payload, fragment):
    reader, writer, *_ = await connect(srv.port)
    writer.write(frame(op, payload))
    rop, resp = await read_frame(reader)
    assert rop == {2: 7, 3: 8, 4: 9, 5: 10, 15: 16}[op]
    assert resp["status"] == 3 and resp["requestId"] == payload["requestId"]
    assert fragment in resp["errorMessage"]
    writer.close()


def _corpus() -> list[bytes]:
    d = {"name": "fz", "strategyOnFull": 1, "maxSize": 65536, "streamSegmentSize": 4096}
    return [
        frame(2, {"requestId": "a", "definition": d}),
        frame(
            15,
            {
                "requestId": "b",
                "definition": dict(
                    d,
                    exportDefinition={
                        "kinesis": [{"identifier": "k", "kinesisStreamName": "x", "batchSize": 10}]
                    },
                ),
            },
        ),
        frame(4, {"requestId": "c", "name": "fz", "payload": b"fuzz payload " * 4}),
        frame(
            5,
            {
                "requestId": "d",
                "streamName": "fz",
                "readMessagesOptions": {
                    "desiredStartSequenceNumber": 0,
                    "minMessageCount": 1,
                    "maxMessageCount": 5,
                    "readTimeoutMillis": 0,
                },
            },
        ),
        frame(11, {"requestId": "e"}),
        frame(13, {"requestId": "f", "name": "fz"}),
        frame(3, {"requestId": "g", "name": "fz-other"}),
    ]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:  # bit flips anywhere
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        b = b[: rng.randrange(len(b))]
    elif kind == 2:  # random op byte
        b[4] = rng.randrange(256)
    elif kind == 3:  # random length field
        b[0:4] = struct.pack(
            ">i", rng.choice([0, 1, 2, -1, len(b), len(b) + 50, 2**31 - 1, rng.randrange(-(2**31), 2**31)])
        )
    elif kind == 4:  # random bytes spliced into the CBOR
        i = rng.randrange(5, len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 8))
        b[0:4] = struct.pack(">i", len(b) - 4)
    else:  # replace the CBOR body with random bytes of a consistent length
        body = rng.randbytes(rng.randint(0, 40))
        b = bytearray(struct.pack(">iB", len(body) + 1, b[4]) + body)
    return bytes(b)


async def _fuzz_one(port: int, data: bytes) -> None:
    reader, writer, *_ = await connect(port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        # Whatever the server answers, it must finish with this connection once we stop sending.
        await closed_by_server(reader, timeout=10)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_bounded_fuzz_then_server_still_correct(srv):
    def seed():
        c = StreamManagerClient(port=srv.port, request_timeout=10)
        c.create_message_stream(
            MessageStreamDefinition(name="canary", strategy_on_full=StrategyOnFull.RejectNewData)
        )
        seqs = [c.append_message("canary", b"canary-%d" % i) for i in range(10)]
        c.close()
        return seqs

    assert await asyncio.to_thread(seed) == list(range(10))
    rng = random.Random(20261123)
    corpus = _corpus()
    cases = [_mutate(rng, rng.choice(corpus)) for _ in range(2000)]
    sem = asyncio.Semaphore(32)

    async def run(data):
        async with sem:
            await _fuzz_one(srv.port, data)

    await asyncio.wait_for(asyncio.gather(*(run(c) for c in cases)), timeout=60)

    def verify():
        c = StreamManagerClient(port=srv.port, request_timeout=10)
        try:
            first = c.read_messages(
                "canary",
                ReadMessagesOptions(
                    desired_start_sequence_number=0, min_message_count=10, max_message_count=10
                ),
            )
            assert [m.payload for m in first] == [b"canary-%d" % i for i in range(10)]
            seq = c.append_message("canary", b"after-fuzz")
            assert (
                c.read_messages("canary", ReadMessagesOptions(desired_start_sequence_number=seq))[0].payload
                == b"after-fuzz"
            )
            assert "canary" in c.list_streams()
        finally:
            c.close()

    await asyncio.to_thread(verify)
    status = srv.status()
    assert status["counters"]["protocolErrors"] > 100
    assert status["state"] == "started"


async def test_unsupported_protocol_version_is_status_10(srv):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"\x01" + frame(1, {"requestId": "c", "protocolVersion": "0.9.0", "sdkVersion": "0"}))
    assert (await reader.readexactly(1)) == b"\x01"
    op, resp = await read_frame(reader)
    assert (op, resp["status"], resp["requestId"]) == (6, 10, "c")
    assert "1.1.0" in resp["errorMessage"]
    assert await closed_by_server(reader)
    writer.close()


async def test_old_protocol_1_0_0_is_accepted(srv):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"\x01" + frame(1, {"requestId": "c", "protocolVersion": "1.0.0", "sdkVersion": "1.0.0"}))
    await reader.readexactly(1)
    op, resp = await read_frame(reader)
    assert (op, resp["status"], resp["protocolVersion"]) == (6, 0, "1.0.0")
    writer.close()
