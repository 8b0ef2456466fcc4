"""The RPC connection state machine: handshake, pings, streams, replies and every protocol refusal."""
from __future__ import annotations

import json

import pytest

from localcore.nucleus_ipc import connection as rpc
from localcore.nucleus_ipc.connection import (Close, Connected, MessageType, Request, RpcConnection, State,
                                              StreamClosed)
from localcore.nucleus_ipc.errors import UnauthorizedError
from localcore.nucleus_ipc.framing import Decoder, Header, HeaderType, encode

TOKENS = {"TOKEN-A": "com.example.A"}
PUB = "aws.greengrass#PublishToTopic"
SUB = "aws.greengrass#SubscribeToTopic"


def msg(mtype, flags=0, sid=0, headers=(), payload=b""):
    return encode([Header.int32(":message-type", mtype), Header.int32(":message-flags", flags),
                   Header.int32(":stream-id", sid), *headers], payload)


def connect_msg(token="TOKEN-A", version="0.1.0", payload=None):
    headers = [Header.string(":version", version)] if version is not None else []
    body = payload if payload is not None else ('{"authToken": "%s"}' % token).encode()
    return msg(MessageType.CONNECT, 0, 0, headers, body)


def request(sid, op=PUB, body=b'{"topic": "t"}', flags=0):
    return msg(MessageType.APPLICATION_MESSAGE, flags, sid,
               [Header.string("operation", op), Header.string(":content-type", "application/json"),
                Header.string("service-model-type", op + "Request")], body)


def sent(conn):
    """The frames the connection queued, as (type, flags, stream, headers-by-name, payload)."""
    out = []
    for f in Decoder().feed(conn.data_to_send()):
        hs = {h.name: h.value for h in f.headers}
        out.append((hs.pop(":message-type"), hs.pop(":message-flags"), hs.pop(":stream-id"), hs, f.payload))
    return out


@pytest.fixture
def conn():
    c = RpcConnection(TOKENS.get)
    assert c.receive_data(connect_msg()) == [Connected("com.example.A")]
    assert sent(c) == [(MessageType.CONNECT_ACK, rpc.CONNECTION_ACCEPTED, 0, {}, b"")]
    return c


REFUSED_CONNECTS = [
    ("unknown token", connect_msg("NOPE"), "Unrecognized client"),
    ("empty token", connect_msg(""), "empty auth token"),
    ("no token", connect_msg(payload=b"{}"), "empty auth token"),
    ("not json", connect_msg(payload=b"{authToken"), "not JSON"),
    ("json array", connect_msg(payload=b"[1]"), "empty auth token"),
    ("wrong version", connect_msg(version="0.2.0"), "unsupported :version '0.2.0'"),
    ("no version", connect_msg(version=None), "unsupported :version None"),
]


@pytest.mark.parametrize("what,data,why", REFUSED_CONNECTS, ids=[r[0] for r in REFUSED_CONNECTS])
def test_refused_connect_gets_ack_flags_0_then_close(what, data, why):
    c = RpcConnection(TOKENS.get)
    events = c.receive_data(data)
    assert isinstance(events[-1], Close) and why in events[-1].reason and why in c.refusal
    assert sent(c) == [(MessageType.CONNECT_ACK, 0, 0, {}, b"")]   # no text on the wire
    assert c.state is State.CLOSED and c.component is None
    assert c.receive_data(request(1)) == []                         # nothing after close


def test_connect_payload_as_the_sdk_builds_it_with_extra_fields():
    c = RpcConnection(TOKENS.get)
    assert c.receive_data(connect_msg(payload=b'{"authToken": "TOKEN-A", "other": 1}')) == [Connected("com.example.A")]


def _error_text(frames):
    ((mtype, flags, sid, headers, payload),) = frames
    assert (flags, sid, headers) == (0, 0, {":content-type": "application/json"})
    return mtype, payload.decode()


PROTOCOL_ERRORS = [
    ("request before connect", None, request(1), MessageType.PROTOCOL_ERROR, "A CONNECT message must be received"),
    ("ping before connect", None, msg(MessageType.PING), MessageType.PROTOCOL_ERROR, "A CONNECT message"),
    ("second connect", "connected", connect_msg(), MessageType.PROTOCOL_ERROR, "only one CONNECT"),
    ("missing stream id", "connected",
     encode([Header.int32(":message-type", 2), Header.int32(":message-flags", 0)]),
     MessageType.PROTOCOL_ERROR, "missing required fields"),
    ("int16 message type", "connected",
     encode([Header.int16(":message-type", 2), Header.int32(":message-flags", 0), Header.int32(":stream-id", 0)]),
     MessageType.PROTOCOL_ERROR, "missing required fields"),
    ("skipped stream id", "connected", request(2), MessageType.PROTOCOL_ERROR, "incremented by more than 1"),
    ("no operation header", "connected", msg(MessageType.APPLICATION_MESSAGE, 0, 1, (), b"{}"),
     MessageType.PROTOCOL_ERROR, "must contain an operation header"),
    ("ping on a stream", "connected", msg(MessageType.PING, 0, 1), MessageType.PROTOCOL_ERROR,
     "non-zero stream-id field is only allowed"),
    ("negative stream", "connected", request(-1), MessageType.PROTOCOL_ERROR, "non-zero stream-id"),
    ("application message on stream 0", "connected", msg(MessageType.APPLICATION_MESSAGE, 0, 0),
     MessageType.PROTOCOL_ERROR, "invalid value for message-type"),
    ("unknown message type", "connected", msg(42), MessageType.PROTOCOL_ERROR, "invalid value for message-type"),
    ("client protocol error", "connected", msg(MessageType.PROTOCOL_ERROR), MessageType.INTERNAL_ERROR,
     "Unrecognized Message Type"),
]


@pytest.mark.parametrize("what,state,data,mtype,text", PROTOCOL_ERRORS, ids=[p[0] for p in PROTOCOL_ERRORS])
def test_protocol_errors_are_reported_then_the_connection_closes(what, state, data, mtype, text):
    c = RpcConnection(TOKENS.get)
    if state:
        c.receive_data(connect_msg())
        c.data_to_send()
    events = c.receive_data(data)
    assert isinstance(events[-1], Close)
    got_type, got_text = _error_text(sent(c))
    assert got_type == mtype and text in got_text
    assert c.state is State.CLOSED


def test_malformed_bytes_close_without_reply(conn):
    events = conn.receive_data(b"\x00\x00\x00\x05garbage-garbage")
    assert isinstance(events[-1], Close) and "malformed frame" in events[-1].reason
    assert conn.data_to_send() == b""


def test_ping_is_answered_echoing_payload_and_plain_headers(conn):
    assert conn.receive_data(msg(MessageType.PING, 0, 0, [Header.string("x-echo", "1")], b"hello")) == []
    assert sent(conn) == [(MessageType.PING_RESPONSE, 0, 0, {"x-echo": "1"}, b"hello")]
    assert conn.receive_data(msg(MessageType.PING_RESPONSE)) == [] and conn.data_to_send() == b""


def test_request_response_terminates_non_streaming_operations(conn):
    (ev,) = conn.receive_data(request(1))
    assert isinstance(ev, Request) and (ev.stream_id, ev.operation.name, ev.body) == (1, PUB, {"topic": "t"})
    assert conn.respond(1)
    assert sent(conn) == [(MessageType.APPLICATION_MESSAGE, rpc.TERMINATE_STREAM, 1,
                           {":content-type": "application/json",
                            "service-model-type": "aws.greengrass#PublishToTopicResponse"}, b"{}")]
    assert conn.open_streams == 0 and not conn.respond(1)


def test_streaming_operation_response_first_then_events_then_client_terminate(conn):
    (ev,) = conn.receive_data(request(1, SUB, b'{"topic": "a/+"}'))
    assert not conn.send_event(1, {"x": 1})           # never before the response
    assert conn.respond(1, {})
    assert conn.send_event(1, {"binaryMessage": {"message": "AA=="}})
    frames = sent(conn)
    assert [(f[0], f[1], f[3]["service-model-type"]) for f in frames] == [
        (0, 0, "aws.greengrass#SubscribeToTopicResponse"), (0, 0, "aws.greengrass#SubscriptionResponseMessage")]
    assert json.loads(frames[1][4]) == {"binaryMessage": {"message": "AA=="}}
    # the client's empty TERMINATE_STREAM closes the stream (unsubscribe)
    assert conn.receive_data(msg(MessageType.APPLICATION_MESSAGE, rpc.TERMINATE_STREAM, 1)) == [
        StreamClosed(1, ev.operation)]
    assert not conn.send_event(1, {})
    # a second terminate of a closed stream is ignored; a message on it without the flag is a protocol error
    assert conn.receive_data(msg(MessageType.APPLICATION_MESSAGE, rpc.TERMINATE_STREAM, 1)) == []
    assert isinstance(conn.receive_data(msg(MessageType.APPLICATION_MESSAGE, 0, 1))[-1], Close)


def test_server_close_stream_sends_empty_terminate(conn):
    conn.receive_data(request(1, SUB))
    conn.respond(1)
    conn.data_to_send()
    assert conn.close_stream(1)
    assert sent(conn) == [(MessageType.APPLICATION_MESSAGE, rpc.TERMINATE_STREAM, 1, {}, b"")]


def test_modeled_error_payload_and_headers(conn):
    conn.receive_data(request(1))
    assert conn.send_error(1, UnauthorizedError("Principal A is not authorized"))
    ((mtype, flags, sid, headers, payload),) = sent(conn)
    assert (mtype, flags, sid) == (MessageType.APPLICATION_ERROR, rpc.TERMINATE_STREAM, 1)
    assert headers == {":content-type": "application/json", "service-model-type": "aws.greengrass#UnauthorizedError"}
    assert json.loads(payload) == {"message": "Principal A is not authorized", "_message": "Principal A is not authorized",
                                   "_errorCode": "UnauthorizedError", "_service": "aws.greengrass#GreengrassCoreIPC"}
    assert conn.open_streams == 0


def test_unknown_operation_is_unsupported_and_stream_ids_still_advance(conn):
    assert conn.receive_data(request(1, "aws.greengrass#SubscribeToIoTCoreConnectionStatus")) == []
    ((mtype, flags, sid, headers, payload),) = sent(conn)
    assert (mtype, flags, sid, headers) == (MessageType.APPLICATION_ERROR, rpc.TERMINATE_STREAM, 1,
                                            {":content-type": "application/json"})
    assert json.loads(payload) == {"error": "Unsupported Operation",
                                   "message": "aws.greengrass#SubscribeToIoTCoreConnectionStatus is an unsupported "
                                              "operation."}
    assert isinstance(conn.receive_data(request(2))[0], Request)


def test_bad_json_request_is_an_internal_error(conn):
    assert conn.receive_data(request(1, body=b"{nope")) == []
    assert sent(conn) == [(MessageType.APPLICATION_ERROR, rpc.TERMINATE_STREAM, 1, {":content-type": "text/plain"},
                           b"InternalServerError")]


def test_terminate_before_request_runs_nothing(conn):
    assert conn.receive_data(request(1, flags=rpc.TERMINATE_STREAM)) == []
    assert conn.data_to_send() == b"" and conn.last_stream_id == 1


def test_client_stream_events_are_ignored(conn):
    conn.receive_data(request(1, SUB))
    assert conn.receive_data(msg(MessageType.APPLICATION_MESSAGE, 0, 1, (), b"{}")) == []
    assert conn.open_streams == 1


def test_connection_lost_closes_every_dispatched_stream(conn):
    conn.receive_data(request(1, SUB) + request(2, SUB) + request(3))
    conn.respond(3)
    lost = conn.connection_lost()
    assert [e.stream_id for e in lost] == [1, 2] and all(isinstance(e, StreamClosed) for e in lost)
    assert conn.connection_lost() == []


def test_many_frames_in_one_read_and_split_reads(conn):
    data = request(1) + msg(MessageType.PING) + request(2)
    events = []
    for i in range(0, len(data), 5):
        events += conn.receive_data(data[i:i + 5])
    assert [e.stream_id for e in events] == [1, 2]


def test_header_names_are_case_insensitive(conn):
    data = encode([Header.int32(":MESSAGE-TYPE", 0), Header.int32(":Message-Flags", 0), Header.int32(":STREAM-ID", 1),
                   Header.string("Operation", PUB)], b"{}")
    (ev,) = conn.receive_data(data)
    assert ev.operation.name == PUB and ev.body == {}
