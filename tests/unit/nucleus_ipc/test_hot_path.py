"""What the per-message path remembers gives the answers it would compute afresh: the header cache of the
decoder, the RPC fields read in one pass, the authorization decisions, the topic → subscribers matches and the
event bytes built without json.dumps."""
from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest

from localcore.nucleus_ipc import authorization, framing, pubsub
from localcore.nucleus_ipc.authorization import AccessControl
from localcore.nucleus_ipc.connection import RpcConnection, _rpc_fields
from localcore.nucleus_ipc.errors import FramingError
from localcore.nucleus_ipc.framing import Decoder, Header, HeaderType, decode, encode
from localcore.nucleus_ipc.pubsub import LocalPubSub

PUB = "aws.greengrass#PublishToTopic"
SUB = "aws.greengrass#SubscribeToTopic"


def _request(sid: int, extra=()) -> bytes:
    return encode([Header.string(":content-type", "application/json"),
                   Header.string("service-model-type", PUB + "Request"), Header.int32(":message-type", 0),
                   Header.int32(":message-flags", 0), Header.int32(":stream-id", sid),
                   Header.string("operation", PUB), *extra], b'{"topic": "t"}')


# ------------------------------------------------------------------------------------------ framing
def test_repeated_headers_decode_to_equal_values_message_after_message():
    d = Decoder()
    frames = d.feed(b"".join(_request(i) for i in range(1, 50)))
    assert [f.value(":stream-id", HeaderType.INT32) for f in frames] == list(range(1, 50))
    assert {f.value("operation", HeaderType.STRING) for f in frames} == {PUB}
    assert all(f.headers == decode(_request(i)).headers for i, f in enumerate(frames, 1))


def test_header_cache_is_bounded_and_still_right_after_it_is_emptied():
    d = Decoder()
    n = framing.HEADER_CACHE_SIZE + 10   # one new :stream-id header per message
    frames = d.feed(b"".join(_request(i) for i in range(1, n + 1)))
    assert len(framing._HEADER_CACHE) <= framing.HEADER_CACHE_SIZE
    assert [f.value(":stream-id", HeaderType.INT32) for f in frames] == list(range(1, n + 1))


def test_a_header_that_is_cached_when_valid_is_still_refused_when_damaged():
    good = encode([Header.string("name", "value")])
    decode(good)   # now cached
    bad_utf8 = bytearray(good[12:-4])
    bad_utf8[-1] = 0xFF
    body = struct.pack("!II", len(good), len(bad_utf8))
    body += struct.pack("!I", zlib.crc32(body)) + bytes(bad_utf8)
    with pytest.raises(FramingError, match="string value is not UTF-8"):
        decode(body + struct.pack("!I", zlib.crc32(body)))


def test_a_large_message_in_small_chunks_is_buffered_until_complete():
    payload = bytes(range(256)) * 4000   # ~1 MB
    data = encode([Header.int32("n", 7)], payload) + encode([Header.int32("n", 8)])
    d = Decoder()
    out = []
    for i in range(0, len(data), 4096):
        out += d.feed(data[i:i + 4096])
    assert [(f.value("n", HeaderType.INT32), len(f.payload)) for f in out] == [(7, len(payload)), (8, 0)]
    assert out[0].payload == payload and d.buffered == 0


def test_a_bytearray_or_memoryview_is_decoded_like_bytes():
    data = _request(3)
    assert Decoder().feed(bytearray(data))[0].headers == Decoder().feed(memoryview(data))[0].headers \
        == decode(data).headers


# ------------------------------------------------------------------------------------------ connection
@pytest.mark.parametrize("headers", [
    [Header.int32(":message-type", 0), Header.int32(":message-flags", 2), Header.int32(":stream-id", 5),
     Header.string("operation", PUB)],
    [Header.int32(":Message-Type", 1), Header.int16(":message-flags", 2), Header.int32(":MESSAGE-FLAGS", 3),
     Header.int32(":stream-id", 4), Header.int32(":stream-id", 9), Header.string("Operation", "x")],
    [Header.string(":message-type", "0"), Header.int32("x", 1), Header.string(":content-type", "application/json")],
    [],
])
def test_rpc_fields_are_what_frame_value_gives(headers):
    frame = decode(encode(headers))
    assert _rpc_fields(frame)[:4] == [frame.value(":message-type", HeaderType.INT32),
                                  frame.value(":message-flags", HeaderType.INT32),
                                  frame.value(":stream-id", HeaderType.INT32),
                                  frame.value("operation", HeaderType.STRING)]


# ------------------------------------------------------------------------------------------ authorization
def _grant(resources):
    return {"accessControl": {authorization.PUBSUB: {"p": {"operations": [PUB], "resources": resources}}}}


def test_remembered_decisions_follow_a_policy_change():
    ac = AccessControl()
    ac.update("c", _grant(["a/*"]))
    assert [ac.is_authorized("c", authorization.PUBSUB, PUB, "a/b") for _ in range(3)] == [True] * 3
    assert ac.is_authorized("c", authorization.PUBSUB, PUB, "b") is False
    ac.update("c", _grant(["b"]))
    assert ac.is_authorized("c", authorization.PUBSUB, PUB, "a/b") is False
    assert ac.is_authorized("c", authorization.PUBSUB, PUB, "b") is True
    ac.remove("c")
    assert ac.is_authorized("c", authorization.PUBSUB, PUB, "b") is False


def test_remembered_decisions_are_bounded():
    ac = AccessControl()
    ac.update("c", _grant(["t/*"]))
    n = authorization.DECISION_CACHE_SIZE + 5
    assert all(ac.is_authorized("c", authorization.PUBSUB, PUB, f"t/{i}") for i in range(n))
    assert not any(ac.is_authorized("c", authorization.PUBSUB, PUB, f"u/{i}") for i in range(50))
    assert len(ac._current[1]) <= authorization.DECISION_CACHE_SIZE


# ------------------------------------------------------------------------------------------ pub/sub
def _old_event(topic, json_message=None, binary=None):
    if binary is not None:
        body = {"binaryMessage": {"message": base64.b64encode(binary).decode(), "context": {"topic": topic}}}
    else:
        body = {"jsonMessage": {"message": json_message, "context": {"topic": topic}}}
    return json.dumps(body, separators=(",", ":")).encode()


TOPICS = ["a/b", "", "sp ace/\"quote\"\\back", "ünïcødé/主题", "ctl\x01\n\t", "$aws/things/x/shadow/update"]


@pytest.mark.parametrize("topic", TOPICS)
def test_event_bytes_are_json_dumps_of_the_event(topic):
    for binary in (b"", b"x" * 64, bytes(range(256))):
        assert pubsub._event(topic, binary=binary) == _old_event(topic, binary=binary)
    for message in ({}, {"k": [1, 2.5, None, True], "ü": "\u2028", "n": {"deep": "x"}}):
        assert pubsub._event(topic, message) == _old_event(topic, message)


def test_subscribers_of_a_topic_follow_subscribe_and_unsubscribe():
    bus = LocalPubSub()
    got: dict[str, list] = {"one": [], "two": []}
    one = bus.subscribe("one", "a/+", "RECEIVE_ALL_MESSAGES", got["one"].append)
    assert bus.publish("pub", "a/b", {"jsonMessage": {"message": {"n": 1}}}) == 1
    two = bus.subscribe("two", "a/b", None, got["two"].append)
    assert bus.publish("pub", "a/b", {"jsonMessage": {"message": {"n": 2}}}) == 2
    bus.unsubscribe(one)
    assert bus.publish("pub", "a/b", {"binaryMessage": {"message": "eA=="}}) == 1
    bus.unsubscribe(two)
    assert bus.publish("pub", "a/b", {"jsonMessage": {"message": {"n": 4}}}) == 0
    assert [json.loads(e) for e in got["one"]] == [
        {"jsonMessage": {"message": {"n": n}, "context": {"topic": "a/b"}}} for n in (1, 2)]
    assert [json.loads(e) for e in got["two"]] == [
        {"jsonMessage": {"message": {"n": 2}, "context": {"topic": "a/b"}}},
        {"binaryMessage": {"message": "eA==", "context": {"topic": "a/b"}}}]
    assert bus.status()["published"] == 4 and bus.status()["delivered"] == 4


def test_many_topics_keep_matching_past_the_remembered_ones():
    bus = LocalPubSub()
    got: list = []
    bus.subscribe("s", "t/#", None, got.append)
    n = pubsub.MATCH_CACHE_SIZE + 5
    assert sum(bus.publish("p", f"t/{i}", {"binaryMessage": {"message": ""}}) for i in range(n)) == n
    assert bus.publish("p", "u/1", {"binaryMessage": {"message": ""}}) == 0
    assert len(bus._matches) <= pubsub.MATCH_CACHE_SIZE


# ------------------------------------------------------------------------------------------ known layouts
def _rpc_request(sid: int, op: str, body: bytes = b'{"topic": "t"}', flags: int = 0) -> bytes:
    """A request as the SDK lays it out (content type, model type, the three RPC headers, operation)."""
    return encode([Header.string(":content-type", "application/json"),
                   Header.string("service-model-type", op + "Request"), Header.int32(":message-type", 0),
                   Header.int32(":message-flags", flags), Header.int32(":stream-id", sid),
                   Header.string("operation", op)], body)


def _connected() -> RpcConnection:
    conn = RpcConnection({"T": "com.example.A"}.get)
    conn.receive_data(encode([Header.string(":version", "0.1.0"), Header.int32(":message-type", 4),
                              Header.int32(":message-flags", 0), Header.int32(":stream-id", 0)],
                             b'{"authToken": "T"}'))
    conn.data_to_send()
    return conn


SECRET = "aws.greengrass#GetSecretValue"   # as long as PublishToTopic: the same header offsets


def test_requests_laid_out_alike_are_read_right_one_after_the_other():
    assert len(SECRET) == len(PUB)
    conn = _connected()
    got = []
    for sid in range(1, 9):
        op = PUB if sid % 3 else SECRET
        got += conn.receive_data(_rpc_request(sid, op, b'{"n": %d}' % sid))
    assert [(e.stream_id, e.operation.name, e.body) for e in got] == [
        (sid, PUB if sid % 3 else SECRET, {"n": sid}) for sid in range(1, 9)]
    assert conn._layouts   # the later ones were read from a known layout


def test_a_known_layout_still_follows_the_stream_rules():
    conn = _connected()
    conn.receive_data(_rpc_request(1, SUB))
    conn.receive_data(_rpc_request(2, SUB))
    conn.data_to_send()
    # a terminate of a dispatched stream closes it; of one already gone, nothing
    closed = conn.receive_data(_rpc_request(1, SUB, b"", flags=2))
    assert [(type(e).__name__, e.stream_id) for e in closed] == [("StreamClosed", 1)]
    assert conn.receive_data(_rpc_request(1, SUB, b"", flags=2)) == []
    # stream 0 with a request's layout: refused as on any connection
    events = conn.receive_data(_rpc_request(0, SUB))
    assert type(events[-1]).__name__ == "Close" and "not valid on stream 0" in events[-1].reason


def test_a_known_layout_does_not_skip_the_new_stream_rule():
    conn = _connected()
    conn.receive_data(_rpc_request(1, PUB))
    conn.receive_data(_rpc_request(2, PUB))
    events = conn.receive_data(_rpc_request(4, PUB))
    assert type(events[-1]).__name__ == "Close" and "new stream 4 after 2" in events[-1].reason


def test_a_read_with_a_known_layout_and_a_damaged_message_is_refused_whole():
    conn = _connected()
    conn.receive_data(_rpc_request(1, PUB))
    good = _rpc_request(2, PUB)
    bad = bytearray(_rpc_request(3, PUB))
    bad[-5] ^= 1   # payload bit flip: message CRC
    events = conn.receive_data(good + bytes(bad))
    # stream 2 is never dispatched; stream 1 (unanswered) is closed with the connection
    assert [(type(e).__name__, getattr(e, "stream_id", None)) for e in events] == [("StreamClosed", 1),
                                                                                    ("Close", None)]
    assert "message CRC mismatch" in events[-1].reason


@pytest.mark.parametrize("payload,body", [
    (b'{"n": 1}', {"n": 1}), (b' \n{"n": 1}\t ', {"n": 1}), (b"[1, 2]", [1, 2]), (b'"s"', "s"), (b"", {}),
    (b'{"n": 1} x', None), (b'{"n": }', None), (b"\xef\xbb\xbf{}", None), (b"\xff", None), (b" ", None),
])
def test_request_bodies_are_what_json_loads_gives(payload, body):
    conn = _connected()
    conn.receive_data(_rpc_request(1, PUB))          # the second request is read from a known layout
    conn.data_to_send()
    events = conn.receive_data(_rpc_request(2, PUB, payload))
    if body is None:   # not JSON: the nucleus' InternalServerError on that stream, no request
        assert events == [] and b"InternalServerError" in conn.data_to_send()
    else:
        assert [(e.stream_id, e.body) for e in events] == [(2, body)]
