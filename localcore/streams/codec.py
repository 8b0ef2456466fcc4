"""Stream manager wire codec: frames, op codes, status codes, request-id sniffing. Pure, no sockets.

Frame: ``int32 length (big-endian, signed; = len(payload) + 1) | uint8 op | CBOR payload``.
Every frame we send is built here as one ``bytes`` so the server writes it with a single call:
the client reads the 5 header bytes with non-looping ``read(n)`` calls and misreads split headers.
"""

from __future__ import annotations

import io
import re
import struct
from typing import Any

import cbor2

CONNECT_VERSION = 1
PROTOCOL_VERSION = "1.1.0"
SUPPORTED_PROTOCOL_VERSIONS = ("1.1.0", "1.0.0")
SERVER_VERSION = "1.1.0-localcore"

# Operation codes (greengrasssdk.stream_manager.data.Operation).
OP_UNKNOWN = 0
OP_CONNECT = 1
OP_CREATE = 2
OP_DELETE = 3
OP_APPEND = 4
OP_READ = 5
OP_CONNECT_RESPONSE = 6
OP_LIST = 11
OP_DESCRIBE = 13
OP_UPDATE = 15
OP_UNKNOWN_OPERATION_ERROR = 17

RESPONSE_OP = {
    OP_CREATE: 7,
    OP_DELETE: 8,
    OP_APPEND: 9,
    OP_READ: 10,
    OP_LIST: 12,
    OP_DESCRIBE: 14,
    OP_UPDATE: 16,
}

# Status codes (greengrasssdk.stream_manager.data.ResponseStatusCode).
SUCCESS = 0
UNKNOWN_FAILURE = 1
UNAUTHORIZED = 2
INVALID_REQUEST = 3
REQUEST_PAYLOAD_TOO_LARGE = 4
UNSUPPORTED_CONNECT_VERSION = 8
UNSUPPORTED_PROTOCOL_VERSION = 10
UNKNOWN_OPERATION = 18

HEADER = struct.Struct(">iB")
MAX_CLIENT_FRAME = 1 << 30  # the client never sends more (length counts the op byte)


def encode_frame(op: int, payload: dict) -> bytes:
    """One whole frame as a single bytes object."""
    body = cbor2.dumps(payload)
    return HEADER.pack(len(body) + 1, op) + body


def parse_length(header4: bytes) -> int:
    return struct.unpack(">i", header4)[0]


def sniff_request_id(prefix: bytes) -> str | None:
    """Best effort: the ``requestId`` of a CBOR map from the first bytes of its encoding.

    The client encodes ``requestId`` as the first key of every request, so a few hundred bytes are
    enough to answer an oversize frame with an error instead of dropping the connection.
    """
    if not prefix:
        return None
    first = prefix[0]
    major, info = first >> 5, first & 0x1F
    if major != 5:
        return None
    if info < 24:
        count, start = info, 1
    elif info == 24 and len(prefix) > 1:
        count, start = prefix[1], 2
    elif info == 25 and len(prefix) > 2:
        count, start = int.from_bytes(prefix[1:3], "big"), 3
    elif info == 31:
        count, start = 1 << 30, 1
    else:
        return None
    dec = cbor2.CBORDecoder(io.BytesIO(prefix[start:]))
    for _ in range(min(count, 8)):
        try:
            key = dec.decode()
            value = dec.decode()
        except (cbor2.CBORDecodeError, EOFError, ValueError):
            return None
        if key == "requestId":
            return value if isinstance(value, str) else None
    return None


def decode_payload(body: bytes) -> Any:
    """CBOR → Python. Raises ValueError with the reason for any undecodable input."""
    fp = io.BytesIO(body)
    try:
        value = cbor2.CBORDecoder(fp).decode()
    except (
        cbor2.CBORDecodeError,
        EOFError,
        ValueError,
        TypeError,
        ArithmeticError,
        RecursionError,
        LookupError,
        re.error,
    ) as e:
        # cbor2 raises a mix of these for malformed input, including from its semantic tag decoders
        # (datetime: OverflowError, decimal: InvalidOperation, regex: re.error, deep nesting: RecursionError).
        raise ValueError(f"undecodable CBOR payload ({type(e).__name__}: {e})") from e
    if fp.tell() != len(body):
        raise ValueError(
            f"undecodable CBOR payload ({len(body) - fp.tell()} bytes left after the first value)"
        )
    return value
