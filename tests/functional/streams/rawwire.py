"""A raw stream-manager wire client for bad-input tests (the real client cannot send bad frames)."""

from __future__ import annotations

import asyncio
import struct

import cbor2

CONNECT = {
    "requestId": "conn-1",
    "protocolVersion": "1.1.0",
    "otherSupportedProtocolVersions": ["1.0.0"],
    "sdkVersion": "1.1.1",
}


def frame(op: int, payload) -> bytes:
    body = payload if isinstance(payload, bytes) else cbor2.dumps(payload)
    return struct.pack(">iB", len(body) + 1, op) + body


async def read_frame(reader: asyncio.StreamReader, timeout: float = 5.0):
    header = await asyncio.wait_for(reader.readexactly(5), timeout)
    length, op = struct.unpack(">iB", header)
    body = await asyncio.wait_for(reader.readexactly(length - 1), timeout)
    return op, cbor2.loads(body)


async def connect(port: int, version: int = 1):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(bytes([version]) + frame(1, CONNECT))
    await writer.drain()
    v = await asyncio.wait_for(reader.readexactly(1), 5)
    op, resp = await read_frame(reader)
    return reader, writer, v[0], op, resp


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    """True if the server closes the connection (EOF) within ``timeout``, ignoring any data first."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except ConnectionError:
        pass
    return True
