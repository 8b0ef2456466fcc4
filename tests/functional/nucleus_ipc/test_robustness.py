"""Hostile and slow peers on raw sockets: the server stays up and other components are unaffected."""
from __future__ import annotations

import asyncio
import os
import random
import stat
import struct
import time
import zlib

import pytest

from localcore.nucleus_ipc import framing
from localcore.nucleus_ipc.connection import CONNECTION_ACCEPTED, MessageType
from localcore.nucleus_ipc.framing import Decoder, Header, encode


async def until(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def msg(mtype, flags=0, sid=0, headers=(), payload=b""):
    return encode([Header.int32(":message-type", mtype), Header.int32(":message-flags", flags),
                   Header.int32(":stream-id", sid), *headers], payload)


def connect_msg(token, version="0.1.0"):
    return msg(MessageType.CONNECT, 0, 0, [Header.string(":version", version)],
               ('{"authToken": "%s"}' % token).encode())


async def read_frames(reader, want: int = 1, timeout: float = 5.0) -> tuple[list, bool]:
    """Frames until ``want`` arrived or EOF; returns (frames, eof)."""
    dec, frames = Decoder(), []
    deadline = time.monotonic() + timeout
    while len(frames) < want:
        data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
        if not data:
            return frames, True
        frames += dec.feed(data)
    return frames, False


async def expect_eof(reader, timeout: float = 5.0) -> None:
    while await asyncio.wait_for(reader.read(65536), timeout):
        pass


def flags_of(frame):
    return {h.name: h.value for h in frame.headers}[":message-flags"]


SUBSCRIBER = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
got = []
ipc.subscribe_to_topic(topic="steady", on_stream_event=lambda ev: got.append(ev.json_message.message["i"]))
report(ready=True)
while True:
    line = sys.stdin.readline().split()
    if line and line[0] == "count":          # "count N": wait (bounded) for N events, then say what came
        wait_for(lambda: len(got) >= int(line[1]), timeout=10)
        time.sleep(0.05)
        report(count=len(got), last=got[-1] if got else None)
    else:
        break
ipc.close()
"""


async def test_socket_file_mode_and_stale_file(core, tmp_path):
    st = os.stat(core.socket_path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    await core.server.stop()
    assert not core.socket_path.exists()
    import socket as _s
    stale = _s.socket(_s.AF_UNIX)
    stale.bind(str(core.socket_path))   # a stale socket left by a crashed run
    stale.close()
    await core.server.start()
    r, w = await asyncio.open_unix_connection(str(core.socket_path))
    w.write(connect_msg(core.tokens.issue("x")))
    (ack,), _ = await read_frames(r)
    assert flags_of(ack) == CONNECTION_ACCEPTED
    w.close()


async def test_wrong_version_gets_ack_flags_0_and_close(core):
    token = core.tokens.issue("com.example.V")
    r, w = await asyncio.open_unix_connection(str(core.socket_path))
    w.write(connect_msg(token, version="0.2.0"))
    frames, eof = await read_frames(r, want=2)
    assert eof and len(frames) == 1 and flags_of(frames[0]) == 0 and frames[0].payload == b""
    w.close()


async def test_oversize_and_malformed_frames_close_only_that_connection(core):
    sub = await core.start("com.example.Steady", SUBSCRIBER)
    assert await sub.line() == {"ready": True}
    token = core.tokens.issue("com.example.Fuzz")

    async def hostile(data: bytes, connect: bool) -> None:
        r, w = await asyncio.open_unix_connection(str(core.socket_path))
        try:
            if connect:
                w.write(connect_msg(token))
                await read_frames(r)
            w.write(data)
            await expect_eof(r)          # the server closes this connection (and only this one)
        finally:
            w.close()

    prelude = struct.pack("!II", framing.MAX_MESSAGE_LEN + 1, 0)
    oversize = prelude + struct.pack("!I", zlib.crc32(prelude))
    good = msg(MessageType.PING, payload=b"x" * 64)
    bad_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    await hostile(oversize, connect=False)
    await hostile(oversize, connect=True)
    await hostile(bad_crc, connect=True)
    await hostile(msg(MessageType.APPLICATION_MESSAGE, 0, 7), connect=True)   # stream id out of order

    rng = random.Random(2026)
    sent = 0
    for round_ in range(30):
        data = bytearray(rng.choice([good, connect_msg(token), msg(MessageType.APPLICATION_MESSAGE, 0, 1, [
            Header.string("operation", "aws.greengrass#PublishToTopic")], b'{"topic": "steady"}')]))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        r, w = await asyncio.open_unix_connection(str(core.socket_path))
        w.write(bytes(data) + rng.randbytes(rng.randint(0, 64)))
        w.write_eof()
        try:
            await expect_eof(r)
        finally:
            w.close()
        # the steady component keeps getting what is published to it
        assert core.bus.publish("com.example.Pub", "steady", {"jsonMessage": {"message": {"i": round_}}}) == 1
        sent += 1
    await sub.send(f"count {sent}")
    assert await sub.line() == {"count": sent, "last": sent - 1}
    await sub.send("stop")
    await sub.finish()
    assert core.server.status()["listening"]


SLOW = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.model import SubscribeToTopicRequest
from awsiot.greengrasscoreipc.client import SubscribeToTopicStreamHandler
gate = threading.Event()
got = [0]
class H(SubscribeToTopicStreamHandler):
    def on_stream_event(self, ev):
        gate.wait(30)        # V1 handlers run on the network thread: the socket is not read meanwhile
        got[0] += 1
ipc = gg.connect()
op = ipc.new_subscribe_to_topic(H())
op.activate(SubscribeToTopicRequest(topic="flood"))
op.get_response().result(10)
report(ready=True)
sys.stdin.readline()
gate.set()
wait_for(lambda: False, timeout=1.0)
report(got=got[0])
ipc.close()
"""


async def test_a_slow_subscriber_costs_bounded_memory_and_no_one_else(core):
    core.server.max_pending_bytes = 256 * 1024
    slow = await core.start("com.example.Slow", SLOW)
    assert await slow.line() == {"ready": True}
    fast = await core.start("com.example.Steady", SUBSCRIBER)
    assert await fast.line() == {"ready": True}
    blob = {"jsonMessage": {"message": {"pad": "x" * 16384}}}
    for _ in range(400):                          # ~6.5 MB to the slow one, far over its allowance
        core.bus.publish("com.example.Pub", "flood", blob)
        await asyncio.sleep(0)
    await until(lambda: core.server.status()["dropped_events"] > 0)
    for i in range(5):
        core.bus.publish("com.example.Pub", "steady", {"jsonMessage": {"message": {"i": i}}})
    await fast.send("count 5")
    assert await fast.line() == {"count": 5, "last": 4}
    await slow.send("go")
    (got,) = [x for x in await slow.finish() if "got" in x]
    assert 0 < got["got"] < 400
    await fast.send("stop")
    await fast.finish()


@pytest.mark.parametrize("chunk", [1, 3])
async def test_byte_by_byte_clients_are_served(core, chunk):
    token = core.tokens.issue("com.example.Trickle")
    r, w = await asyncio.open_unix_connection(str(core.socket_path))
    data = connect_msg(token) + msg(MessageType.PING, payload=b"p")
    for i in range(0, len(data), chunk):
        w.write(data[i:i + chunk])
        await w.drain()
    frames, _ = await read_frames(r, want=2)
    assert [{h.name: h.value for h in f.headers}[":message-type"] for f in frames] == [
        MessageType.CONNECT_ACK, MessageType.PING_RESPONSE]
    w.close()
