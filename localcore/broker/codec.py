"""MQTT 3.1.1 packet codec (the subset a Greengrass core serves), pure.

``PacketReader.feed(chunk)`` takes socket data of any size and returns complete packets, so the
protocol reads large chunks and parses many packets per read. Encoders return ``bytes`` ready
to be batched into one write. Every malformed input raises :class:`ProtocolError` saying what.

``Packet`` and ``Publish`` are named tuples, not dataclasses: a tuple is several times cheaper to
build. A reader with ``group_publishes`` set returns the PUBLISHes that follow a PUBLISH in one chunk
with the same fixed-header byte and topic as one :class:`MorePublishes` (their payloads and packet
identifiers) after that PUBLISH's packet, so a pipelining client's stream costs no packet per message.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from localcore.broker.errors import ProtocolError

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
         8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
         14: "DISCONNECT"}

# CONNACK return codes
ACCEPTED = 0
REFUSED_PROTOCOL_VERSION = 1
REFUSED_IDENTIFIER = 2
REFUSED_NOT_AUTHORIZED = 5

_U16 = struct.Struct("!H")


class Packet(NamedTuple):
    type: int
    flags: int
    body: bytes


@dataclass(frozen=True)
class Connect:
    protocol_name: str
    level: int
    clean_session: bool
    keep_alive: int
    client_id: str
    will_topic: str | None = None
    will_payload: bytes = b""
    will_qos: int = 0
    will_retain: bool = False
    username: str | None = None
    password: bytes | None = None


class Publish(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    packet_id: int = 0
    retain: bool = False
    dup: bool = False


MORE_PUBLISHES = 16  # not an MQTT packet type: the ``type`` of a MorePublishes


class MorePublishes(NamedTuple):
    """PUBLISHes that came right after a PUBLISH packet in one chunk with the same fixed-header byte
    (so the same QoS, retain and DUP flags) and the same topic name bytes; only their payloads and,
    at QoS 1 and 2, their packet identifiers: two big-endian bytes each as received (never 0), one
    after the other (empty at QoS 0)."""

    type: int  # MORE_PUBLISHES
    payloads: list[bytes]
    packet_ids: bytes


class PacketReader:
    """Incremental frame splitter with a bound on the size of one packet.

    With ``skip_pubacks`` set, a well-formed PUBACK (``40 02`` and an identifier) is consumed without
    becoming a packet: for a server that keeps no state for the QoS 1 messages it sends, it means
    nothing, and a subscriber sends one per message. Other PUBACKs are returned as usual.

    With ``group_publishes`` set, the PUBLISHes after a PUBLISH in one chunk that have its fixed-header
    byte and topic come as one :class:`MorePublishes` after its packet. Only the framing is shared: a
    PUBLISH whose packet identifier is 0, or too short for its topic and identifier, ends the group and
    comes as a packet of its own (so that decoding it says what is wrong).
    """

    def __init__(self, max_packet_size: int) -> None:
        self.max_packet_size = max_packet_size
        self.skip_pubacks = False
        self.group_publishes = False
        self._rest = b""  # the start of a packet that has not fully arrived

    def feed(self, data: bytes) -> list[Packet | MorePublishes]:
        # works on bytes so that a packet's body is one slice (one copy); named tuples are made with
        # tuple.__new__, which skips their Python-level constructor
        if type(data) is not bytes:
            data = bytes(data)
        skip_pubacks = self.skip_pubacks
        if self._rest:
            data = self._rest + data
        elif skip_pubacks and not len(data) & 3 and not data[::4].lstrip(b"\x40") \
                and not data[1::4].lstrip(b"\x02"):
            return []  # only whole PUBACKs (a subscriber's acknowledgements): all skipped
        packets: list[Packet | MorePublishes] = []
        append = packets.append
        new = tuple.__new__
        limit = self.max_packet_size
        group = self.group_publishes
        pos = 0
        end = len(data)
        while end - pos >= 2:
            header = data[pos]
            byte = data[pos + 1]
            if header == 0x40 and byte == 2 and skip_pubacks:
                if end - pos < 4:
                    break
                pos += 4
                continue
            if byte < 0x80:  # remaining length below 128: one byte
                length, i = byte, pos + 2
            elif end - pos >= 3 and data[pos + 2] < 0x80:  # below 16384: two bytes (a typical PUBLISH)
                length, i = (byte & 0x7F) | (data[pos + 2] << 7), pos + 3
            else:
                length, i = _long_length(data, pos + 1, end)
                if length < 0:
                    break  # the length bytes have not all arrived
            if length > limit:
                raise ProtocolError(
                    f"{NAMES.get(header >> 4, 'packet')} of {length} bytes exceeds the limit of {limit}")
            if end - i < length:
                break
            append(new(Packet, (header >> 4, header & 0x0F, data[i:i + length])))
            pos = i + length
            if group and header >> 4 == PUBLISH and length >= 2 and pos < end and data[pos] == header:
                pos = _more_publishes(data, pos, end, header, data[i:i + 2 + ((data[i] << 8) | data[i + 1])],
                                      limit, append)
        self._rest = data[pos:] if pos < end else b""
        return packets


def _more_publishes(data: bytes, pos: int, end: int, header: int, head: bytes, limit: int, append) -> int:
    """The PUBLISHes from ``data[pos]`` on with fixed-header byte ``header`` and topic length + topic
    ``head``, as one MorePublishes (appended when there is one); returns the position after them."""
    payloads: list[bytes] = []
    ids: list[bytes] = []  # pieces of MorePublishes.packet_ids
    skip = len(head)
    with_id = bool(header & 0x06)
    need = skip + 2 * with_id  # topic and packet identifier
    while end - pos >= 2 and data[pos] == header:
        byte = data[pos + 1]
        if byte < 0x80:
            length, i = byte, pos + 2
        elif end - pos >= 3 and data[pos + 2] < 0x80:
            length, i = (byte & 0x7F) | (data[pos + 2] << 7), pos + 3
        else:
            length, i = _long_length(data, pos + 1, end)
            if length < 0:
                break
        if length > limit or end - i < length or length < need or not data.startswith(head, i):
            break  # too long (the reader says so), not all here, too short, or another topic
        size = i + length - pos
        if end - pos >= 2 * size and i + skip - pos <= _SAME_SIZE_MAX_FIXED:
            # more of this very size may follow (a pipelining client's stream): split them at once
            done = _same_size(data, pos, end, i + skip - pos, size, with_id, payloads, ids)
            if done:
                pos += done * size
                continue
        if with_id:
            start = i + skip
            packet_id = data[start:start + 2]
            if packet_id == b"\0\0":
                break
            ids.append(packet_id)
        payloads.append(data[i + need:i + length])
        pos = i + length
    if payloads:
        append(tuple.__new__(MorePublishes, (MORE_PUBLISHES, payloads, b"".join(ids))))
    return pos


_SAME_SIZE_MAX_FIXED = 512  # the longest fixed header + topic split at once
_SHAPES: dict[tuple[bytes, int], tuple[re.Pattern, struct.Struct]] = {}
_FIRST = itemgetter(0)


def _same_size(data: bytes, pos: int, end: int, fixed: int, size: int, with_id: bool,
               payloads: list[bytes], ids: list[bytes]) -> int:
    """How many packets of ``size`` bytes from ``data[pos]`` on, in a row, start with the ``fixed`` bytes
    (fixed header, remaining length, topic) of the first and, ``with_id``, have a non-zero identifier;
    their payloads and identifiers are added to ``payloads`` and ``ids``. Equal first bytes mean an
    equal remaining length, so each slot is exactly one packet. The slots are matched by one regular
    expression and split by one struct layout: no Python step per message."""
    first = data[pos:pos + fixed]
    key = (first, size)
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= 256:
            _SHAPES.clear()
        rest = size - fixed
        nonzero = b"(?!\\x00\\x00)" if with_id else b""  # an identifier is never 0
        shape = _SHAPES[key] = (re.compile(b"(?:%s%s.{%d})*" % (re.escape(first), nonzero, rest), re.DOTALL),
                                struct.Struct(f"{fixed + 2 * with_id}x{rest - 2 * with_id}s"))
    matched = shape[0].match(data, pos, end)
    count = (matched.end() - pos) // size
    if not count:
        return 0
    stop = pos + count * size
    if with_id:
        both = bytearray(2 * count)
        both[0::2] = data[pos + fixed:stop:size]
        both[1::2] = data[pos + fixed + 1:stop:size]
        ids.append(bytes(both))
    payloads += map(_FIRST, shape[1].iter_unpack(memoryview(data)[pos:stop]))
    return count


def _long_length(data: bytes, i: int, end: int) -> tuple[int, int]:
    """The remaining length starting at ``data[i]`` and the index after it; (-1, i) while incomplete."""
    length = 0
    shift = 0
    for _ in range(4):
        if i >= end:
            return -1, i
        byte = data[i]
        i += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return length, i
    raise ProtocolError("remaining length uses more than 4 bytes")


class _Cursor:
    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise ProtocolError(f"{self.what}: packet ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise ProtocolError(f"{self.what}: packet ends early")
        (value,) = _U16.unpack_from(self.data, self.pos)
        self.pos += 2
        return value

    def binary(self) -> bytes:
        size = self.u16()
        if self.pos + size > len(self.data):
            raise ProtocolError(f"{self.what}: a length-prefixed field runs past the packet end")
        value = self.data[self.pos:self.pos + size]
        self.pos += size
        return bytes(value)

    def string(self, field: str) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.what}: {field} is not valid UTF-8") from None
        if "\x00" in text:
            raise ProtocolError(f"{self.what}: {field} contains U+0000")
        return text

    def rest(self) -> bytes:
        value = self.data[self.pos:]
        self.pos = len(self.data)
        return bytes(value)

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def decode_connect(packet: Packet) -> Connect:
    if packet.flags != 0:
        raise ProtocolError("CONNECT: fixed-header flags must be 0")
    c = _Cursor(packet.body, "CONNECT")
    name = c.string("protocol name")
    level = c.u8()
    flags = c.u8()
    if flags & 0x01:
        raise ProtocolError("CONNECT: reserved flag bit 0 is set")
    keep_alive = c.u16()
    client_id = c.string("client id")
    will_flag = bool(flags & 0x04)
    will_qos = (flags >> 3) & 0x03
    will_retain = bool(flags & 0x20)
    if not will_flag and (will_qos or will_retain):
        raise ProtocolError("CONNECT: will QoS/retain set without the will flag")
    if will_qos == 3:
        raise ProtocolError("CONNECT: will QoS 3 is invalid")
    will_topic, will_payload = None, b""
    if will_flag:
        will_topic = c.string("will topic")
        will_payload = c.binary()
    username = password = None
    if flags & 0x80:
        username = c.string("user name")
    elif flags & 0x40 and level == 4:
        raise ProtocolError("CONNECT: password flag set without user name")
    if flags & 0x40:
        password = c.binary()
    if not c.at_end():
        raise ProtocolError("CONNECT: unexpected bytes after the payload")
    return Connect(name, level, bool(flags & 0x02), keep_alive, client_id, will_topic, will_payload,
                   will_qos, will_retain, username, password)


def decode_publish(packet: Packet) -> Publish:
    # the broker's per-message path: straight-line slicing instead of a cursor object
    flags, body = packet.flags, packet.body
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise ProtocolError("PUBLISH: QoS 3 is invalid")
    size = len(body)
    if size < 2:
        raise ProtocolError("PUBLISH: packet ends early")
    start = 2 + ((body[0] << 8) | body[1])
    if start > size:
        raise ProtocolError("PUBLISH: a length-prefixed field runs past the packet end")
    try:
        topic = body[2:start].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("PUBLISH: topic name is not valid UTF-8") from None
    if "\x00" in topic:
        raise ProtocolError("PUBLISH: topic name contains U+0000")
    packet_id = 0
    if qos:
        if start + 2 > size:
            raise ProtocolError("PUBLISH: packet ends early")
        packet_id = (body[start] << 8) | body[start + 1]
        if packet_id == 0:
            raise ProtocolError("PUBLISH: packet identifier 0 is invalid")
        start += 2
    return tuple.__new__(Publish, (topic, body[start:], qos, packet_id, bool(flags & 0x01), bool(flags & 0x08)))


def decode_subscribe(packet: Packet) -> tuple[int, list[tuple[str, int]]]:
    if packet.flags != 0x02:
        raise ProtocolError("SUBSCRIBE: fixed-header flags must be 0x2")
    c = _Cursor(packet.body, "SUBSCRIBE")
    packet_id = c.u16()
    topics: list[tuple[str, int]] = []
    while not c.at_end():
        topic_filter = c.string("topic filter")
        qos = c.u8()
        if qos & 0xFC:
            raise ProtocolError(f"SUBSCRIBE: requested QoS byte {qos:#x} for {topic_filter!r} is invalid")
        topics.append((topic_filter, qos))
    if not topics:
        raise ProtocolError("SUBSCRIBE: no topic filters")
    return packet_id, topics


def decode_unsubscribe(packet: Packet) -> tuple[int, list[str]]:
    if packet.flags != 0x02:
        raise ProtocolError("UNSUBSCRIBE: fixed-header flags must be 0x2")
    c = _Cursor(packet.body, "UNSUBSCRIBE")
    packet_id = c.u16()
    filters: list[str] = []
    while not c.at_end():
        filters.append(c.string("topic filter"))
    if not filters:
        raise ProtocolError("UNSUBSCRIBE: no topic filters")
    return packet_id, filters


def decode_packet_id(packet: Packet) -> int:
    c = _Cursor(packet.body, NAMES.get(packet.type, "packet"))
    value = c.u16()
    if not c.at_end():
        raise ProtocolError(f"{NAMES.get(packet.type)}: unexpected bytes after the packet identifier")
    return value


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _U16.pack(len(raw)) + raw


def encode_connack(return_code: int, session_present: bool = False) -> bytes:
    return bytes((0x20, 2, 1 if session_present else 0, return_code))


def publish_prefix(topic: str, payload_size: int, qos: int = 0, retain: bool = False,
                   dup: bool = False) -> bytes:
    """A PUBLISH up to its packet identifier (QoS 1) or payload (QoS 0). Sending the prefix, the
    identifier and the payload as they are sends the packet without copying the payload."""
    raw = topic.encode("utf-8")
    size = len(raw)
    remaining = size + 2 + payload_size + (2 if qos else 0)
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    if remaining < 0x80:
        head = bytes((first, remaining, size >> 8, size & 0xFF))
    elif remaining < 0x4000:
        head = bytes((first, (remaining & 0x7F) | 0x80, remaining >> 7, size >> 8, size & 0xFF))
    else:
        head = bytes((first,)) + _remaining_length(remaining) + _U16.pack(size)
    return head + raw


def encode_publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0,
                   retain: bool = False, dup: bool = False) -> bytes:
    prefix = publish_prefix(topic, len(payload), qos, retain, dup)
    return prefix + _U16.pack(packet_id) + payload if qos else prefix + payload


def encode_puback(packet_id: int) -> bytes:
    return b"\x40\x02" + _U16.pack(packet_id)


def encode_suback(packet_id: int, codes: list[int]) -> bytes:
    body = _U16.pack(packet_id) + bytes(codes)
    return b"\x90" + _remaining_length(len(body)) + body


def encode_unsuback(packet_id: int) -> bytes:
    return b"\xb0\x02" + _U16.pack(packet_id)


PINGRESP_BYTES = b"\xd0\x00"


def encode_connect(client_id: str, *, keep_alive: int = 60, clean_session: bool = True,
                   username: str | None = None, will: tuple[str, bytes, int] | None = None,
                   level: int = 4) -> bytes:
    """Build a CONNECT (used by tests and tools that speak raw MQTT)."""
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | (will[2] << 3)
        payload += _string(will[0]) + _U16.pack(len(will[1])) + will[1]
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    name = "MQTT" if level == 4 else "MQIsdp"
    variable = _string(name) + bytes((level, flags)) + _U16.pack(keep_alive)
    body = variable + payload
    return b"\x10" + _remaining_length(len(body)) + body


def encode_subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    body = _U16.pack(packet_id) + b"".join(_string(f) + bytes((q,)) for f, q in filters)
    return b"\x82" + _remaining_length(len(body)) + body
