"""Eventstream framing (binary, big-endian), pure: no sockets, no asyncio (the h11 way).

Follows awslabs/aws-c-event-stream ``include/aws/event-stream/event_stream.h`` and ``source/event_stream.c``
(the commit awscrt 0.36.1 pins), and awscrt ``eventstream/__init__.py`` for the header types:

* a message is a 12-byte prelude (total length u32, headers length u32, prelude CRC u32), the headers, the
  payload and a 4-byte message CRC; CRC-32 (zlib) of the first 8 bytes, then of everything before the trailer;
* a header is a name length (u8, 1-255), the name, a type byte and the value (10 types, see :class:`HeaderType`);
  byte buffers and strings carry a u16 length and may hold at most 32767 bytes;
* at most 24 MiB per message and 1024 headers per message.

:func:`encode` builds one message; :class:`Decoder` is fed bytes of any size and yields complete
:class:`Frame` objects. Malformed input raises :class:`~.errors.FramingError` naming what and where; after one
the decoder refuses further input (the stream cannot be re-synchronised).
"""
from __future__ import annotations

import struct
import uuid as _uuid
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable, Optional, Sequence

from .errors import FramingError

PRELUDE_LEN = 12
TRAILER_LEN = 4
MIN_MESSAGE_LEN = PRELUDE_LEN + TRAILER_LEN
MAX_MESSAGE_LEN = 24 * 1024 * 1024
MAX_HEADERS_LEN = MAX_MESSAGE_LEN
MAX_HEADER_NAME_LEN = 255
MAX_HEADER_VALUE_LEN = 32767
MAX_HEADERS = 1024


class HeaderType(IntEnum):
    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    BYTE_BUF = 6
    STRING = 7
    TIMESTAMP = 8  # milliseconds since the epoch, as a signed 64-bit integer
    UUID = 9


_INT_RANGES = {
    HeaderType.BYTE: (struct.Struct("!b"), -(2 ** 7), 2 ** 7 - 1),
    HeaderType.INT16: (struct.Struct("!h"), -(2 ** 15), 2 ** 15 - 1),
    HeaderType.INT32: (struct.Struct("!i"), -(2 ** 31), 2 ** 31 - 1),
    HeaderType.INT64: (struct.Struct("!q"), -(2 ** 63), 2 ** 63 - 1),
    HeaderType.TIMESTAMP: (struct.Struct("!q"), -(2 ** 63), 2 ** 63 - 1),
}
_PRELUDE = struct.Struct("!III")
_LENGTHS = struct.Struct("!II")
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")


@dataclass(frozen=True)
class Header:
    """One header. ``value``: bool, int, bytes, str or :class:`uuid.UUID` according to ``type``."""

    name: str
    value: Any
    type: HeaderType

    @classmethod
    def bool(cls, name: str, value: bool) -> "Header":
        return cls(name, bool(value), HeaderType.BOOL_TRUE if value else HeaderType.BOOL_FALSE)

    @classmethod
    def byte(cls, name: str, value: int) -> "Header":
        return cls(name, value, HeaderType.BYTE)

    @classmethod
    def int16(cls, name: str, value: int) -> "Header":
        return cls(name, value, HeaderType.INT16)

    @classmethod
    def int32(cls, name: str, value: int) -> "Header":
        return cls(name, value, HeaderType.INT32)

    @classmethod
    def int64(cls, name: str, value: int) -> "Header":
        return cls(name, value, HeaderType.INT64)

    @classmethod
    def bytes_(cls, name: str, value: bytes) -> "Header":
        return cls(name, bytes(value), HeaderType.BYTE_BUF)

    @classmethod
    def string(cls, name: str, value: str) -> "Header":
        return cls(name, value, HeaderType.STRING)

    @classmethod
    def timestamp(cls, name: str, millis: int) -> "Header":
        return cls(name, millis, HeaderType.TIMESTAMP)

    @classmethod
    def uuid(cls, name: str, value: _uuid.UUID) -> "Header":
        return cls(name, value, HeaderType.UUID)


@dataclass(frozen=True)
class Frame:
    """One decoded message: its headers in wire order and its payload."""

    headers: tuple[Header, ...]
    payload: bytes

    def header(self, name: str, type_: Optional[HeaderType] = None) -> Optional[Header]:
        """The first header of that name (compared case-insensitively, as aws-c-event-stream does)."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {}
            for h in self.headers:
                index.setdefault(h.name.lower(), []).append(h)
            object.__setattr__(self, "_index", index)
        for h in index.get(name.lower(), ()):
            if type_ is None or h.type == type_:
                return h
        return None

    def value(self, name: str, type_: HeaderType) -> Any:
        """The value of header ``name`` if it has type ``type_``; None if absent or of another type."""
        h = self.header(name, type_)
        return None if h is None else h.value


# ------------------------------------------------------------------------------------------ encoding
def _encode_header(h: Header, out: bytearray) -> None:
    name = h.name.encode("utf-8") if isinstance(h.name, str) else b""
    if not 1 <= len(name) <= MAX_HEADER_NAME_LEN:
        raise FramingError(f"header name {h.name!r}: must be 1-{MAX_HEADER_NAME_LEN} bytes of UTF-8")
    t = HeaderType(h.type)
    out.append(len(name))
    out += name
    out.append(t)
    if t in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
        return
    if t in _INT_RANGES:
        packer, lo, hi = _INT_RANGES[t]
        if not isinstance(h.value, int) or isinstance(h.value, bool) or not lo <= h.value <= hi:
            raise FramingError(f"header {h.name!r}: {t.name} value must be an integer in [{lo}, {hi}], "
                               f"got {h.value!r}")
        out += packer.pack(h.value)
    elif t in (HeaderType.BYTE_BUF, HeaderType.STRING):
        raw = h.value.encode("utf-8") if t == HeaderType.STRING else bytes(h.value)
        if len(raw) > MAX_HEADER_VALUE_LEN:
            raise FramingError(f"header {h.name!r}: value is {len(raw)} bytes; the limit is {MAX_HEADER_VALUE_LEN}")
        out += _U16.pack(len(raw))
        out += raw
    else:  # UUID
        raw = h.value.bytes if isinstance(h.value, _uuid.UUID) else bytes(h.value)
        if len(raw) != 16:
            raise FramingError(f"header {h.name!r}: a UUID is 16 bytes, got {len(raw)}")
        out += raw


def encode_headers(headers: Iterable[Header]) -> bytes:
    """The headers section of a message (useful to cache constant headers)."""
    out = bytearray()
    count = 0
    for h in headers:
        _encode_header(h, out)
        count += 1
    if count > MAX_HEADERS:
        raise FramingError(f"{count} headers; the limit is {MAX_HEADERS} per message")
    return bytes(out)


def encode_raw(headers_bytes: bytes, payload: bytes = b"") -> bytes:
    """A message from an already-encoded headers section and a payload."""
    total = PRELUDE_LEN + len(headers_bytes) + len(payload) + TRAILER_LEN
    if total > MAX_MESSAGE_LEN:
        raise FramingError(f"message would be {total} bytes; the limit is {MAX_MESSAGE_LEN}")
    prelude = _LENGTHS.pack(total, len(headers_bytes))
    head = prelude + _U32.pack(zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(headers_bytes, zlib.crc32(head)))
    return b"".join((head, headers_bytes, payload, _U32.pack(crc)))


def encode(headers: Sequence[Header], payload: bytes = b"") -> bytes:
    """One complete message. Raises :class:`FramingError` for a value no peer could decode."""
    return encode_raw(encode_headers(headers), bytes(payload))


# ------------------------------------------------------------------------------------------ decoding
_FIXED = {int(t): (t, packer) for t, (packer, _lo, _hi) in _INT_RANGES.items()}
_BOOL_TRUE, _BOOL_FALSE, _BYTE_BUF, _STRING, _UUID = 0, 1, 6, 7, 9


#: fixed value sizes by type code (booleans carry none); byte buffers and strings are u16-length-prefixed
_SIZES = {_BOOL_TRUE: 0, _BOOL_FALSE: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, _UUID: 16}
#: a header's bytes (name length to end of value) → its Header: most headers repeat message after message (content
#: type, model type, operation, message type and flags), so each distinct one is parsed and checked once. Numbers
#: beyond ±256 (stream ids, timestamps: counters that seldom repeat) are not kept; for them, the name's bytes →
#: the name. Bounded: each is emptied when full.
_HEADER_CACHE: dict[bytes, Header] = {}
_NAME_CACHE: dict[bytes, str] = {}
HEADER_CACHE_SIZE = 4096


def decode_headers(data: bytes, where: int = PRELUDE_LEN) -> tuple[Header, ...]:
    """Parse a headers section; ``where`` is its offset in the message (for error texts)."""
    data = bytes(data)
    return _decode_headers(data, 0, len(data), where)


def _decode_headers(data: bytes, pos: int, end: int, where: int) -> tuple[Header, ...]:
    """The headers in ``data[pos:end]``; ``where`` is the stream offset of ``data[pos]`` (for error texts)."""
    headers: list[Header] = []
    append = headers.append
    cache = _HEADER_CACHE
    base = where - pos
    while pos < end:
        if len(headers) >= MAX_HEADERS:
            raise FramingError(f"more than {MAX_HEADERS} headers in one message")
        # the header's extent, from its name length, type and (for strings and buffers) value length
        tpos = pos + 1 + data[pos]
        if tpos < end:
            code = data[tpos]
            size = _SIZES.get(code)
            if size is None and (code == _STRING or code == _BYTE_BUF) and tpos + 3 <= end:
                size = 2 + ((data[tpos + 1] << 8) | data[tpos + 2])
            if size is not None and tpos + 1 + size <= end:
                hend = tpos + 1 + size
                key = data[pos:hend]
                h = cache.get(key)
                if h is None:
                    h = _new_header(data, pos, tpos, end, base + pos, code, key)
                append(h)
                pos = hend
                continue
        _decode_header(data, pos, end, base + pos)   # raises: the header runs past the section
        raise FramingError(f"header at byte {base + pos}: runs past the headers section")  # not reached
    return tuple(headers)


def _new_header(data: bytes, pos: int, tpos: int, end: int, at: int, code: int, key: bytes) -> Header:
    """A header not in the cache (``key``: its bytes; ``tpos``: where its type is), checked, and remembered."""
    fixed = _FIXED.get(code)
    if fixed is None:
        h = _decode_header(data, pos, end, at)
    else:
        name = _NAME_CACHE.get(data[pos:tpos])
        if name is None:
            h = _decode_header(data, pos, end, at)
            if len(_NAME_CACHE) >= HEADER_CACHE_SIZE:
                _NAME_CACHE.clear()
            _NAME_CACHE[data[pos:tpos]] = h.name
        else:
            t, packer = fixed
            h = Header(name, packer.unpack_from(data, tpos + 1)[0], t)
        if not -256 <= h.value <= 256:
            return h
    if len(_HEADER_CACHE) >= HEADER_CACHE_SIZE:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[key] = h
    return h


def _decode_header(data: bytes, pos: int, end: int, at: int) -> Header:
    """One header starting at ``data[pos]`` (``at``: its stream offset), checked; raises FramingError."""
    name_len = data[pos]
    pos += 1
    if name_len == 0:
        raise FramingError(f"header at byte {at}: empty header name")
    if pos + name_len + 1 > end:
        raise FramingError(f"header at byte {at}: name of {name_len} bytes runs past the headers section")
    try:
        name = data[pos:pos + name_len].decode("utf-8")
    except UnicodeDecodeError:
        raise FramingError(f"header at byte {at}: name is not UTF-8") from None
    pos += name_len
    code = data[pos]
    pos += 1
    fixed = _FIXED.get(code)
    if fixed is not None:
        t, packer = fixed
        if pos + packer.size > end:
            raise FramingError(f"header {name!r} at byte {at}: {t.name} value runs past the headers section")
        return Header(name, packer.unpack_from(data, pos)[0], t)
    if code == _STRING or code == _BYTE_BUF:
        if pos + 2 > end:
            raise FramingError(f"header {name!r} at byte {at}: value length runs past the headers section")
        vlen = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if vlen > MAX_HEADER_VALUE_LEN:
            raise FramingError(f"header {name!r} at byte {at}: value of {vlen} bytes; the limit is "
                               f"{MAX_HEADER_VALUE_LEN}")
        if pos + vlen > end:
            raise FramingError(f"header {name!r} at byte {at}: value of {vlen} bytes runs past the headers "
                               "section")
        raw = bytes(data[pos:pos + vlen])
        if code == _STRING:
            try:
                return Header(name, raw.decode("utf-8"), HeaderType.STRING)
            except UnicodeDecodeError:
                raise FramingError(f"header {name!r} at byte {at}: string value is not UTF-8") from None
        return Header(name, raw, HeaderType.BYTE_BUF)
    if code == _BOOL_TRUE or code == _BOOL_FALSE:
        return Header(name, code == _BOOL_TRUE, HeaderType(code))
    if code == _UUID:
        if pos + 16 > end:
            raise FramingError(f"header {name!r} at byte {at}: UUID value runs past the headers section")
        return Header(name, _uuid.UUID(bytes=bytes(data[pos:pos + 16])), HeaderType.UUID)
    raise FramingError(f"header {name!r} at byte {at}: unknown header type {code}")


def check_prelude(prelude: bytes, offset: int = 0) -> tuple[int, int]:
    """Validate a 12-byte prelude; returns (total length, headers length)."""
    total, hlen, crc = _PRELUDE.unpack_from(prelude, 0)
    if zlib.crc32(prelude[:8]) != crc:
        raise FramingError(f"message at byte {offset}: prelude CRC mismatch "
                           f"(got {crc:#010x}, computed {zlib.crc32(prelude[:8]):#010x})")
    if total < MIN_MESSAGE_LEN:
        raise FramingError(f"message at byte {offset}: total length {total} is below the minimum {MIN_MESSAGE_LEN}")
    if total > MAX_MESSAGE_LEN:
        raise FramingError(f"message at byte {offset}: total length {total} exceeds the limit of {MAX_MESSAGE_LEN}")
    if hlen > total - MIN_MESSAGE_LEN:
        raise FramingError(f"message at byte {offset}: headers length {hlen} does not fit in a message of {total} bytes")
    return total, hlen


#: a message's bytes, where its headers start, where its payload starts and ends, and the stream offset of its headers
RawMessage = tuple[bytes, int, int, int, int]


def value_offset(data: bytes, start: int, index: int) -> int:
    """Where the value of header number ``index`` of a well-formed headers section at ``data[start]`` begins."""
    pos = start
    for _ in range(index):
        tpos = pos + 1 + data[pos]
        size = _SIZES.get(data[tpos])
        if size is None:   # a string or byte buffer
            size = 2 + ((data[tpos + 1] << 8) | data[tpos + 2])
        pos = tpos + 1 + size
    return pos + 1 + data[pos] + 1


class Decoder:
    """Incremental decoder: ``feed(data)`` returns every message completed by ``data`` (maybe none).

    The prelude is checked as soon as its 12 bytes are in, so an oversize or corrupt length is refused before
    any of its body is buffered. Whole messages are decoded straight from the bytes fed; only an incomplete tail
    is kept (and joined to the next input).
    """

    def __init__(self) -> None:
        self._buf = bytearray()   # an incomplete message, kept until ``_need`` bytes are in
        self._need = 0
        self._offset = 0          # stream offset of _buf[0], for error texts
        self._broken: Optional[FramingError] = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        return [self.frame(raw) for raw in self.feed_raw(data)]

    def frame(self, raw: "RawMessage") -> Frame:
        """The :class:`Frame` of a message from :meth:`feed_raw` (its headers parsed and checked)."""
        data, hstart, pstart, pend, where = raw
        try:
            return Frame(_decode_headers(data, hstart, pstart, where), data[pstart:pend])
        except FramingError as e:
            self._broken = e
            raise

    def feed_raw(self, data: bytes) -> list["RawMessage"]:
        """Like :meth:`feed`, with the headers of each message left unparsed: (bytes, headers start, payload
        start, payload end, stream offset of the headers) -- prelude, lengths and both CRCs checked."""
        if self._broken is not None:
            raise FramingError(f"decoder stopped after an earlier error: {self._broken}")
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return []
            data = bytes(self._buf)
            self._buf = bytearray()
        elif type(data) is not bytes:
            data = bytes(data)
        crc32 = zlib.crc32
        size = len(data)
        offset = self._offset
        frames: list[RawMessage] = []
        pos = 0
        need = PRELUDE_LEN
        try:
            while size - pos >= PRELUDE_LEN:
                total, hlen, pcrc = _PRELUDE.unpack_from(data, pos)
                if (crc32(data[pos:pos + 8]) != pcrc or total < MIN_MESSAGE_LEN or total > MAX_MESSAGE_LEN
                        or hlen > total - MIN_MESSAGE_LEN):
                    check_prelude(data[pos:pos + PRELUDE_LEN], offset + pos)   # raises, saying which
                if size - pos < total:
                    need = total
                    break
                end = pos + total
                (crc,) = _U32.unpack_from(data, end - TRAILER_LEN)
                computed = crc32(data[pos:end - TRAILER_LEN])
                if computed != crc:
                    raise FramingError(f"message at byte {offset + pos}: message CRC mismatch "
                                       f"(got {crc:#010x}, computed {computed:#010x})")
                hstart = pos + PRELUDE_LEN
                frames.append((data, hstart, hstart + hlen, end - TRAILER_LEN, offset + hstart))
                pos = end
        except FramingError as e:
            self._broken = e
            raise
        if pos < size:
            self._buf = bytearray(data[pos:] if pos else data)
            self._need = need
        self._offset += pos
        return frames


def decode(data: bytes) -> Frame:
    """Exactly one message from ``data`` (for tests and tools)."""
    d = Decoder()
    frames = d.feed(data)
    if len(frames) != 1 or d.buffered:
        raise FramingError(f"expected exactly one complete message in {len(data)} bytes, got {len(frames)} "
                           f"and {d.buffered} bytes left over")
    return frames[0]
