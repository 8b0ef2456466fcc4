"""One eventstream-RPC server connection as a pure state machine (sans-I/O, the h11 way).

Feed it the bytes a component sent (:meth:`RpcConnection.receive_data`); it returns events for the server
(:class:`Connected`, :class:`Request`, :class:`StreamClosed`, :class:`Close`) and queues the bytes to write
(:meth:`RpcConnection.data_to_send`). The server answers requests with :meth:`respond`, :meth:`send_error`,
:meth:`send_event` and :meth:`close_stream`. No sockets, no clocks, no threads.

Rules followed (public sources):

* message types, flags, the three required int32 headers, stream-id rules and the connection-level error texts:
  awslabs/aws-c-event-stream ``source/event_stream_rpc.c``, ``source/event_stream_rpc_server.c``,
  ``include/aws/event-stream/private/event_stream_rpc_priv.h`` (the C server the Java nucleus runs on);
* CONNECT handling (``:version`` 0.1.0, ``{"authToken": ...}``, CONNECT_ACK with flags 0 then close on any
  failure, no text on the wire), PING answered with PING_RESPONSE, any other connection-level type answered
  with a connection-level error and close, unknown operations answered ``Unsupported Operation``:
  aws-greengrass/aws-greengrass-nucleus ``eventstreamrpc/ServiceOperationMappingContinuationHandler``,
  ``ipc/IPCEventStreamService`` (authentication handler);
* responses, modeled errors (APPLICATION_ERROR + TERMINATE_STREAM, ``service-model-type``), the text/plain
  ``InternalServerError`` for anything unmodeled, a client terminate before any request running nothing, empty
  client terminates closing the stream: aws-greengrass-nucleus ``eventstreamrpc/OperationContinuationHandler``;
* what the Python client needs (response first, ``:content-type`` exactly ``application/json``, JSON payloads):
  aws/aws-iot-device-sdk-python-v2 ``awsiot/eventstreamrpc.py`` ``ClientOperation``.
"""
from __future__ import annotations

import json
import json.scanner
import struct
from zlib import crc32 as _crc32
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Callable, Mapping, Optional, Union

from . import framing
from .errors import FramingError, IpcError
from .framing import Frame, Header, HeaderType
from .operations import NUCLEUS_OPERATIONS, OperationSpec

VERSION = "0.1.0"


class MessageType(IntEnum):
    APPLICATION_MESSAGE = 0
    APPLICATION_ERROR = 1
    PING = 2
    PING_RESPONSE = 3
    CONNECT = 4
    CONNECT_ACK = 5
    PROTOCOL_ERROR = 6
    INTERNAL_ERROR = 7


_APPLICATION_MESSAGE = int(MessageType.APPLICATION_MESSAGE)
CONNECTION_ACCEPTED = 0x1
TERMINATE_STREAM = 0x2
INT32_MAX = 2 ** 31 - 1

# connection-level error texts of aws-c-event-stream's RPC server (sent as PROTOCOL_ERROR before it closes)
ERR_MISSING_FIELDS = ('{ "message": "A message was received with missing required fields. Check that your client '
                      'is sending at least, :message-type, :message-flags, and :stream-id" }')
ERR_NOT_CONNECTED = ('{ "message": "A CONNECT message must be received, and the CONNECT_ACK must be sent in response, '
                     'before any other message-types can be sent on this connection. In addition, only one CONNECT '
                     'message is allowed on a connection." }')
ERR_STREAM_ID = ('{ "message": "non-zero stream-id field is only allowed for messages of type APPLICATION_MESSAGE. '
                 'The stream id max value is INT32_MAX." }')
ERR_OLD_STREAM = ('{ "message": "stream-id values must be monotonically incrementing. A stream-id arrived that was '
                  'lower than the last seen stream-id." }')
ERR_NEW_STREAM = ('{ "message": "stream-id values must be monotonically incrementing. A new stream-id arrived that '
                  'was incremented by more than 1." }')
ERR_MESSAGE_TYPE = '{ "message": "an invalid value for message-type field was received." }'
ERR_NO_OPERATION = ('{ "message": "The first message for on a non-zero :stream-id must contain an operation header '
                    'value."; }')


class State(Enum):
    AWAITING_CONNECT = "awaiting-connect"
    CONNECTED = "connected"
    CLOSED = "closed"


# ------------------------------------------------------------------------------------------ events
@dataclass(frozen=True)
class Connected:
    """The handshake succeeded; ``component`` is the identity every later check uses."""

    component: str


@dataclass(frozen=True)
class Request:
    """A new stream's request: dispatch ``operation`` with the parsed JSON ``body``."""

    stream_id: int
    operation: OperationSpec
    body: Any


@dataclass(frozen=True)
class StreamClosed:
    """A stream whose request was dispatched is gone (client terminate or connection end): clean up."""

    stream_id: int
    operation: OperationSpec


@dataclass(frozen=True)
class Close:
    """Flush :meth:`RpcConnection.data_to_send`, then close the socket. ``reason`` is for the log."""

    reason: str


Event = Union[Connected, Request, StreamClosed, Close]


class _Stream:
    """A dispatched stream: its operation, the flags and headers of its replies, and how far it got."""

    __slots__ = ("operation", "response_flags", "response_headers", "event_headers", "responded", "events")

    def __init__(self, operation: OperationSpec) -> None:
        self.operation = operation
        replies = _replies_cache.get(operation.name)
        if replies is None or replies[0] is not operation:
            replies = _replies(operation)
        (_, self.response_flags, self.response_headers, self.event_headers) = replies
        self.responded = False
        self.events = 0


# ------------------------------------------------------------------------------------------ encoding helpers
def _name(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


_H_TYPE = _name(":message-type") + bytes([HeaderType.INT32])
_H_FLAGS = _name(":message-flags") + bytes([HeaderType.INT32])
_H_STREAM = _name(":stream-id") + bytes([HeaderType.INT32])
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_LENGTHS = struct.Struct("!II")
_MESSAGE_OVERHEAD = framing.PRELUDE_LEN + framing.TRAILER_LEN
_JSON_CT = framing.encode_headers([Header.string(":content-type", "application/json")])
_TEXT_CT = framing.encode_headers([Header.string(":content-type", "text/plain")])


_rpc_prefixes: dict[tuple[int, int], bytes] = {}


def _rpc_prefix(mtype: int, flags: int) -> bytes:
    """The RPC headers of a message up to the stream id's value (type, flags, the stream id's name and type)."""
    prefix = _rpc_prefixes.get((mtype, flags))
    if prefix is None:
        prefix = _H_TYPE + _I32.pack(mtype) + _H_FLAGS + _I32.pack(flags) + _H_STREAM
        if len(_rpc_prefixes) < 256:
            _rpc_prefixes[(mtype, flags)] = prefix
    return prefix


def _rpc(mtype: int, flags: int, stream_id: int) -> bytes:
    """The three RPC headers (type, flags and stream id)."""
    return _rpc_prefix(mtype, flags) + _I32.pack(stream_id)


_model_headers_cache: dict[str, bytes] = {}


def _model_headers(model_type: str) -> bytes:
    cached = _model_headers_cache.get(model_type)
    if cached is None:
        cached = _JSON_CT + framing.encode_headers([Header.string("service-model-type", model_type)])
        if len(_model_headers_cache) < 1024:
            _model_headers_cache[model_type] = cached
    return cached


_replies_cache: dict[str, tuple[OperationSpec, int, bytes, bytes]] = {}


def _replies(op: OperationSpec) -> tuple[OperationSpec, int, bytes, bytes]:
    """(op, the flags of its response, the headers of its response, of its events), worked out once per operation."""
    cached = _replies_cache.get(op.name)
    if cached is None or cached[0] is not op:
        cached = (op, 0 if op.streaming else TERMINATE_STREAM, _model_headers(op.response_shape),
                  _model_headers(op.event_shape) if op.streaming else b"")
        if len(_replies_cache) < 1024:
            _replies_cache[op.name] = cached
    return cached


_compact_json = json.JSONEncoder(separators=(",", ":")).encode   # json.dumps(body, separators=(",", ":"))
_scan_json = json.scanner.make_scanner(json.JSONDecoder())        # (text, index) → (value, end) or StopIteration



def _json_bytes(body: Any) -> bytes:
    if isinstance(body, (bytes, bytearray)):
        return body
    if type(body) is dict and not body:
        return b"{}"
    return _compact_json(body).encode()


#: header name → (slot, type) of the fields every RPC message is read for; other names: (None, None)
_FIELDS = {":message-type": (0, HeaderType.INT32), ":message-flags": (1, HeaderType.INT32),
           ":stream-id": (2, HeaderType.INT32), "operation": (3, HeaderType.STRING),
           ":content-type": (None, None), "service-model-type": (None, None)}
_OTHER = (None, None)


def _rpc_fields(frame: Frame) -> list:
    """[message type, flags, stream id, operation, index of the stream id's header] in one pass over the headers:
    for each field, the value of the first header of that name (compared case-insensitively) and type, or None --
    what :meth:`Frame.value` gives."""
    found: list = [None, None, None, None, -1]
    for i, h in enumerate(frame.headers):
        slot, type_ = _FIELDS.get(h.name) or _FIELDS.get(h.name.lower(), _OTHER)
        if slot is not None and found[slot] is None and h.type == type_:
            found[slot] = h.value
            if slot == 2:
                found[4] = i
    return found


# ------------------------------------------------------------------------------------------ the machine
class RpcConnection:
    """Server side of one component's IPC connection.

    :param authenticate: the CONNECT ``authToken`` → the component's name, or None for an unknown token.
    :param operations: the service model (default: the nucleus' one).
    """

    def __init__(self, authenticate: Callable[[str], Optional[str]],
                 operations: Mapping[str, OperationSpec] = NUCLEUS_OPERATIONS) -> None:
        self._authenticate = authenticate
        self._operations = operations
        self._decoder = framing.Decoder()
        self._out: list[bytes] = []
        self._streams: dict[int, _Stream] = {}
        # a request's headers without its stream id's value → (type, flags, operation, where that value is)
        self._layouts: dict[bytes, tuple[int, int, Optional[str], int]] = {}
        self._sid_offsets: list[int] = []
        self.state = State.AWAITING_CONNECT
        self.component: Optional[str] = None
        self.last_stream_id = 0
        self.refusal: Optional[str] = None     # why a CONNECT was refused (for the log; never on the wire)

    # -- output ---------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Everything queued for the socket since the last call (b"" if nothing)."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def _queue(self, mtype: int, flags: int, stream_id: int, headers: bytes = b"", payload: bytes = b"") -> None:
        """Queue one message (what framing.encode_raw builds, written out here: the hot path)."""
        prefix = _rpc_prefixes.get((mtype, flags)) or _rpc_prefix(mtype, flags)
        headers = prefix + _I32.pack(stream_id) + headers
        total = _MESSAGE_OVERHEAD + len(headers) + len(payload)
        if total > framing.MAX_MESSAGE_LEN:
            framing.encode_raw(headers, payload)   # raises, saying why
        prelude = _LENGTHS.pack(total, len(headers))
        head = prelude + _U32.pack(_crc32(prelude))
        out = self._out
        out.append(head)
        out.append(headers)
        out.append(payload)
        out.append(_U32.pack(_crc32(payload, _crc32(headers, _crc32(head)))))

    def _connection_error(self, mtype: MessageType, text: str, reason: str) -> list[Event]:
        self._queue(mtype, 0, 0, _JSON_CT, text.encode())
        return self._close(reason)

    def _close(self, reason: str) -> list[Event]:
        events: list[Event] = [StreamClosed(sid, s.operation) for sid, s in self._streams.items()]
        self._streams.clear()
        self.state = State.CLOSED
        events.append(Close(reason))
        return events

    # -- input ----------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Event]:
        """Process bytes from the socket; returns the events they caused (in order)."""
        if self.state is State.CLOSED:
            return []
        decoder = self._decoder
        try:
            messages = decoder.feed_raw(data)
            # a request laid out as an earlier one of this connection (the same bytes but the stream id's) has
            # the same fields: no header is parsed again; any other message is parsed in full
            items = []
            for raw in messages:
                items.append(self._known_layout(raw) or decoder.frame(raw))
        except FramingError as e:
            return self._close(f"malformed frame: {e}")
        events: list[Event] = []
        for raw, item in zip(messages, items):
            if type(item) is tuple:
                events += self._on_stream_message(raw[0][raw[2]:raw[3]], *item)
            else:
                events += self._receive(item, raw)
            if self.state is State.CLOSED:
                break
        return events

    def _known_layout(self, raw: framing.RawMessage) -> Optional[tuple[int, int, int, str]]:
        """(type, flags, stream id, operation) of a message laid out as one seen before, else None."""
        if self.state is not State.CONNECTED:
            return None
        data, hstart, pstart = raw[0], raw[1], raw[2]
        for at in self._sid_offsets:
            cut = hstart + at
            if cut + 4 <= pstart:
                fields = self._layouts.get(data[hstart:cut] + data[cut + 4:pstart])
                if fields is not None and fields[3] == at:   # the same bytes around the stream id, at one place
                    sid = _I32.unpack_from(data, cut)[0]
                    return None if sid == 0 else (fields[0], fields[1], sid, fields[2])
        return None

    def _learn_layout(self, raw: framing.RawMessage, sid_index: int, fields: tuple) -> None:
        """Remember the layout of a message parsed in full (only its stream id's value may differ next time)."""
        data, hstart, pstart = raw[0], raw[1], raw[2]
        at = framing.value_offset(data, hstart, sid_index) - hstart
        if len(self._layouts) >= 64:
            self._layouts.clear()
        self._layouts[data[hstart:hstart + at] + data[hstart + at + 4:pstart]] = (*fields, at)
        offsets = self._sid_offsets
        if at in offsets:
            offsets.remove(at)
        offsets.insert(0, at)
        del offsets[4:]

    def connection_lost(self) -> list[Event]:
        """The socket is gone: every dispatched stream is closed (unsubscribe)."""
        if self.state is State.CLOSED:
            return []
        return [e for e in self._close("connection lost") if isinstance(e, StreamClosed)]

    def _receive(self, frame: Frame, raw: Optional[framing.RawMessage] = None) -> list[Event]:
        mtype, flags, sid, operation, sid_index = _rpc_fields(frame)
        if mtype is None or flags is None or sid is None:
            return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_MISSING_FIELDS,
                                          "message without :message-type, :message-flags or :stream-id (int32)")
        if self.state is State.AWAITING_CONNECT and not (mtype == MessageType.CONNECT and sid == 0):
            return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_NOT_CONNECTED,
                                          f"message type {mtype} on stream {sid} before CONNECT")
        if sid != 0:
            if raw is not None and self.state is State.CONNECTED:
                self._learn_layout(raw, sid_index, (mtype, flags, operation))
            return self._on_stream_message(frame.payload, mtype, flags, sid, operation)
        if mtype == MessageType.CONNECT:
            if self.state is not State.AWAITING_CONNECT:
                return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_NOT_CONNECTED, "second CONNECT")
            return self._on_connect(frame)
        if mtype == MessageType.PING:
            echo = [h for h in frame.headers if not h.name.startswith(":")]
            self._queue(MessageType.PING_RESPONSE, 0, 0, framing.encode_headers(echo), frame.payload)
            return []
        if mtype == MessageType.PING_RESPONSE:
            return []
        if mtype in (MessageType.CONNECT_ACK, MessageType.PROTOCOL_ERROR, MessageType.INTERNAL_ERROR):
            # the nucleus answers a connection-level type it does not serve with a ServerError blurb, then closes
            text = ('{ "error": "Unrecognized Message Type" }"message": " message type value: '
                    f'{mtype} is not recognized as a valid request path." }}')
            return self._connection_error(MessageType.INTERNAL_ERROR, text,
                                          f"connection-level message type {mtype} from the client")
        return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_MESSAGE_TYPE,
                                      f"message type {mtype} is not valid on stream 0")

    def _on_connect(self, frame: Frame) -> list[Event]:
        version = frame.value(":version", HeaderType.STRING)
        component = None
        if version != VERSION:
            self.refusal = f"unsupported :version {version!r} (expected {VERSION!r})"
        else:
            try:
                body = json.loads(frame.payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body = None
                self.refusal = "Invalid auth token in connect message (payload is not JSON)"
            if body is not None:
                token = body.get("authToken") if isinstance(body, dict) else None
                if not isinstance(token, str) or not token:
                    self.refusal = "Received empty auth token to authenticate IPC client"
                else:
                    component = self._authenticate(token)
                    if component is None:
                        self.refusal = "Unrecognized client connecting to GGC over IPC"
        if component is None:
            self._queue(MessageType.CONNECT_ACK, 0, 0)
            return self._close(f"CONNECT refused: {self.refusal}")
        self.component = component
        self.state = State.CONNECTED
        self._queue(MessageType.CONNECT_ACK, CONNECTION_ACCEPTED, 0)
        return [Connected(component)]

    def _on_stream_message(self, payload: bytes, mtype: int, flags: int, sid: int,
                           name: Optional[str]) -> list[Event]:
        if mtype not in (MessageType.APPLICATION_MESSAGE, MessageType.APPLICATION_ERROR) or sid < 0:
            return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_STREAM_ID,
                                          f"message type {mtype} on stream {sid}")
        terminate = bool(flags & TERMINATE_STREAM)
        if sid <= self.last_stream_id:
            stream = self._streams.get(sid)
            if stream is None:
                if terminate:
                    return []   # a simultaneous close: the stream is already gone
                return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_OLD_STREAM,
                                              f"message on stream {sid}, which is closed")
            if terminate:
                del self._streams[sid]
                return [StreamClosed(sid, stream.operation)]
            return []  # no operation of the model streams client → server events; the nucleus ignores them
        if sid != self.last_stream_id + 1:
            return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_NEW_STREAM,
                                          f"new stream {sid} after {self.last_stream_id}")
        if not name:
            return self._connection_error(MessageType.PROTOCOL_ERROR, ERR_NO_OPERATION,
                                          f"new stream {sid} without an operation header")
        self.last_stream_id = sid
        if terminate:
            return []   # a terminate before any request: the operation is never run
        op = self._operations.get(name)
        if op is None:
            body = json.dumps({"error": "Unsupported Operation", "message": f"{name} is an unsupported operation."})
            self._queue(MessageType.APPLICATION_ERROR, TERMINATE_STREAM, sid, _JSON_CT, body.encode())
            return []
        try:
            if payload:
                # json.loads(text): scanned at once when the text is exactly one JSON value (what clients send),
                # else json.loads itself (surrounding whitespace, and the errors with its texts)
                text = payload.decode("utf-8")
                try:
                    body, end = _scan_json(text, 0)
                    if end != len(text):
                        body = json.loads(text)
                except StopIteration:
                    body = json.loads(text)
            else:
                body = {}
        except (UnicodeDecodeError, ValueError):
            self.send_internal_error_raw(sid)
            return []
        self._streams[sid] = _Stream(op)
        return [Request(sid, op, body)]

    # -- replies --------------------------------------------------------------------------------
    def respond(self, stream_id: int, body: Any = None) -> bool:
        """Send the operation's response (``{}`` if ``body`` is None). Non-streaming operations terminate the
        stream with it. Returns False if the stream is gone (the client closed it meanwhile)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.responded or self.state is not State.CONNECTED:
            return False
        flags = stream.response_flags
        self._queue(_APPLICATION_MESSAGE, flags, stream_id, stream.response_headers,
                    b"{}" if body is None or (type(body) is dict and not body) else _json_bytes(body))
        if flags:
            del self._streams[stream_id]
        else:
            stream.responded = True
        return True

    def send_event(self, stream_id: int, body: Any) -> bool:
        """One stream event (only after the response). Returns False if the stream cannot carry it."""
        stream = self._streams.get(stream_id)
        if stream is None or not stream.responded or self.state is not State.CONNECTED:
            return False
        stream.events += 1
        self._queue(_APPLICATION_MESSAGE, 0, stream_id, stream.event_headers, _json_bytes(body))
        return True

    def send_error(self, stream_id: int, error: IpcError) -> bool:
        """A modeled error; it terminates the stream (as the response, or later on a subscription)."""
        stream = self._streams.pop(stream_id, None)
        if stream is None or self.state is not State.CONNECTED:
            return False
        self._queue(MessageType.APPLICATION_ERROR, TERMINATE_STREAM, stream_id, _model_headers(error.model_type),
                    _json_bytes(error.payload()))
        return True

    def send_internal_error(self, stream_id: int) -> bool:
        """What the nucleus sends for an unexpected exception in a handler (the client sees StreamClosedError)."""
        if self._streams.pop(stream_id, None) is None or self.state is not State.CONNECTED:
            return False
        self.send_internal_error_raw(stream_id)
        return True

    def send_internal_error_raw(self, stream_id: int) -> None:
        self._queue(MessageType.APPLICATION_ERROR, TERMINATE_STREAM, stream_id, _TEXT_CT, b"InternalServerError")

    def close_stream(self, stream_id: int) -> bool:
        """End a stream from the server side (empty APPLICATION_MESSAGE with TERMINATE_STREAM)."""
        if self._streams.pop(stream_id, None) is None or self.state is not State.CONNECTED:
            return False
        self._queue(MessageType.APPLICATION_MESSAGE, TERMINATE_STREAM, stream_id)
        return True

    def ping(self, payload: bytes = b"") -> None:
        """A server PING (the Python client only reports it to ``on_ping``)."""
        self._queue(MessageType.PING, 0, 0, b"", payload)
