"""Eventstream framing: known vectors, every header type, both CRCs, limits and malformed input.

botocore's own eventstream parser (an independent implementation) decodes what we encode.
"""
from __future__ import annotations

import random
import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from localcore.nucleus_ipc import framing
from localcore.nucleus_ipc.errors import FramingError
from localcore.nucleus_ipc.framing import Decoder, Frame, Header, HeaderType, decode, encode

# the empty message of aws-c-event-stream's tests: 16 bytes, no headers, no payload
EMPTY = bytes.fromhex("00000010000000000 5c248eb7d98c8ff".replace(" ", ""))

ALL_TYPES = (
    Header.bool("t", True),
    Header.bool("f", False),
    Header.byte("b", -7),
    Header.int16("s", -12345),
    Header.int32(":message-type", 4),
    Header.int64("l", -(2 ** 40)),
    Header.bytes_("buf", b"\x00\xffab"),
    Header.string(":version", "0.1.0"),
    Header.timestamp("ts", 1_700_000_000_123),
    Header.uuid("id", uuid.UUID("12345678-1234-5678-1234-567812345678")),
)


def test_empty_message_vector():
    assert encode([], b"") == EMPTY
    assert decode(EMPTY) == Frame((), b"")


def test_every_header_type_round_trips():
    data = encode(ALL_TYPES, b'{"authToken": "x"}')
    frame = decode(data)
    assert frame.headers == ALL_TYPES
    assert frame.payload == b'{"authToken": "x"}'
    assert [h.type for h in frame.headers] == list(HeaderType)


def test_botocore_decodes_what_we_encode():
    buf = EventStreamBuffer()
    buf.add_data(encode(ALL_TYPES, b"payload"))
    (msg,) = list(buf)
    assert msg.payload == b"payload"
    assert msg.headers["t"] is True and msg.headers["f"] is False
    assert msg.headers["b"] == -7 and msg.headers["s"] == -12345 and msg.headers[":message-type"] == 4
    assert msg.headers["l"] == -(2 ** 40) and msg.headers["buf"] == b"\x00\xffab"
    assert msg.headers[":version"] == "0.1.0" and msg.headers["ts"] == 1_700_000_000_123
    assert msg.headers["id"] == uuid.UUID("12345678-1234-5678-1234-567812345678").bytes


def test_crcs_are_zlib_crc32():
    data = encode([Header.string("a", "b")], b"xyz")
    total, hlen, pcrc = struct.unpack("!III", data[:12])
    assert (total, pcrc) == (len(data), zlib.crc32(data[:8]))
    assert struct.unpack("!I", data[-4:])[0] == zlib.crc32(data[:-4])


@pytest.mark.parametrize("chunk", [1, 2, 7, 13, 1000])
def test_decoder_is_incremental(chunk):
    msgs = [encode([Header.int32("n", i)], bytes([i]) * i) for i in range(20)]
    stream = b"".join(msgs)
    d = Decoder()
    out = []
    for i in range(0, len(stream), chunk):
        out += d.feed(stream[i:i + chunk])
    assert [f.value("n", HeaderType.INT32) for f in out] == list(range(20))
    assert [f.payload for f in out] == [bytes([i]) * i for i in range(20)]
    assert d.buffered == 0


def test_header_lookup_is_case_insensitive_and_typed():
    f = decode(encode([Header.int16(":Message-Type", 1), Header.int32(":MESSAGE-TYPE", 2)]))
    assert f.value(":message-type", HeaderType.INT32) == 2
    assert f.value(":message-type", HeaderType.INT16) == 1
    assert f.value(":message-type", HeaderType.STRING) is None


def _corrupt(data: bytes, index: int, value: int) -> bytes:
    b = bytearray(data)
    b[index] = value
    return bytes(b)


def _with_crcs(prelude8: bytes, rest: bytes) -> bytes:
    head = prelude8 + struct.pack("!I", zlib.crc32(prelude8))
    body = head + rest
    return body + struct.pack("!I", zlib.crc32(body))


GOOD = encode([Header.string("name", "value")], b"abc")

MALFORMED = [
    ("prelude crc", _corrupt(GOOD, 9, GOOD[9] ^ 0xFF), "prelude CRC mismatch"),
    ("message crc", _corrupt(GOOD, len(GOOD) - 1, GOOD[-1] ^ 0xFF), "message CRC mismatch"),
    ("payload bit flip", _corrupt(GOOD, len(GOOD) - 5, GOOD[-5] ^ 1), "message CRC mismatch"),
    ("below minimum", _with_crcs(struct.pack("!II", 15, 0), b""), "below the minimum 16"),
    ("oversize", _with_crcs(struct.pack("!II", framing.MAX_MESSAGE_LEN + 1, 0), b""), "exceeds the limit"),
    ("headers longer than message", _with_crcs(struct.pack("!II", 16, 1), b""), "does not fit"),
    ("empty header name", _with_crcs(struct.pack("!II", 18, 2), b"\x00\x00"), "empty header name"),
    ("unknown header type", _with_crcs(struct.pack("!II", 19, 3), b"\x01a\x0a"), "unknown header type 10"),
    ("name past section", _with_crcs(struct.pack("!II", 18, 2), b"\x05a"), "runs past"),
    ("string too long", _with_crcs(struct.pack("!II", 21, 5), b"\x01a\x07\x80\x00"), "the limit is 32767"),
    ("string past section", _with_crcs(struct.pack("!II", 21, 5), b"\x01a\x07\x00\x09"), "runs past"),
    ("int32 truncated", _with_crcs(struct.pack("!II", 21, 5), b"\x01a\x04\x00\x00"), "runs past"),
    ("uuid truncated", _with_crcs(struct.pack("!II", 19, 3), b"\x01a\x09"), "runs past"),
    ("bad utf-8 string", _with_crcs(struct.pack("!II", 22, 6), b"\x01a\x07\x00\x01\xff"), "not UTF-8"),
]


@pytest.mark.parametrize("what,data,text", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_frames_are_refused_with_a_clear_error(what, data, text):
    with pytest.raises(FramingError, match=text):
        Decoder().feed(data)


def test_oversize_is_refused_from_the_prelude_alone():
    prelude8 = struct.pack("!II", 100 * 1024 * 1024, 0)
    with pytest.raises(FramingError, match="exceeds the limit of 25165824"):
        Decoder().feed(prelude8 + struct.pack("!I", zlib.crc32(prelude8)))


def test_decoder_stays_broken_after_an_error():
    d = Decoder()
    with pytest.raises(FramingError):
        d.feed(MALFORMED[0][1])
    with pytest.raises(FramingError, match="earlier error"):
        d.feed(GOOD)


def test_error_names_the_stream_offset():
    with pytest.raises(FramingError, match=f"message at byte {len(GOOD)}"):
        Decoder().feed(GOOD + MALFORMED[0][1])


ENCODE_ERRORS = [
    (Header.int32("x", 2 ** 31), "INT32 value must be an integer"),
    (Header.byte("x", 128), "BYTE value"),
    (Header.string("x", "a" * 32768), "the limit is 32767"),
    (Header.string("", "a"), "must be 1-255 bytes"),
    (Header.string("n" * 256, "a"), "must be 1-255 bytes"),
    (Header("x", b"short", HeaderType.UUID), "a UUID is 16 bytes"),
]


@pytest.mark.parametrize("header,text", ENCODE_ERRORS)
def test_encoder_refuses_values_no_peer_could_decode(header, text):
    with pytest.raises(FramingError, match=text):
        encode([header])


def test_encoder_limits_message_size_and_header_count():
    with pytest.raises(FramingError, match="the limit is 25165824"):
        encode([], b"x" * framing.MAX_MESSAGE_LEN)
    with pytest.raises(FramingError, match="the limit is 1024"):
        encode([Header.bool("h", True)] * 1025)
    assert decode(encode([Header.bool("h", True)] * 1024)).headers[-1].value is True


def test_seeded_fuzz_never_raises_anything_but_framing_error():
    rng = random.Random(20)
    base = encode(ALL_TYPES, b"payload")
    for _ in range(2000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.5:  # keep the CRCs right so that the header parser sees the damage
            data = bytearray(_with_crcs(bytes(data[:8]), bytes(data[12:-4])))
        try:
            Decoder().feed(bytes(data[: rng.randint(0, len(data))]))
        except FramingError:
            pass
