"""The stream manager's TCP server: the protocol ``greengrasssdk.stream_manager`` speaks.

Thin protocol module over :mod:`localcore.streams.store`. One asyncio server; per connection a
handshake (version byte + Connect frame, token check), then frames served as they arrive. Quick
ops run inline in arrival order (so appends on one connection keep their order); a read that has
to wait for new data runs as its own task, so it never holds up other requests on the connection.
Every frame goes out in one ``write`` (see :mod:`.codec`).

Bad input never takes the server down: a frame the server can answer (it has a ``requestId``) gets
the op's response with a non-zero status and an ``errorMessage`` naming the field; a frame it
cannot answer (no length, garbage CBOR, no ``requestId``) closes that one connection with a log
line saying what and from where. Other connections are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

from . import codec
from .definitions import check_stream_name, parse_definition
from .errors import InvalidRequest, NotEnoughMessages, OutOfMemory, PayloadTooLarge, StreamManagerError
from .exporters import CloudConfig, ExportManager
from .store import StreamStore

log = logging.getLogger(__name__)

REQUEST_ID_RE = re.compile(r"^[\w ,.\-_]*$")
MAX_INT32 = 2147483647
MAX_INT64 = 9223372036854775807
MAX_READ_TIMEOUT_MS = 9223372036854
HANDSHAKE_TIMEOUT_S = 10.0
READ_TIMEOUT_MARGIN_MS = 500
_DISCARD_CHUNK = 1 << 20


class _ConnectionClosed(Exception):
    """Internal: stop serving this connection (reason already logged)."""


class StreamManagerServer:
    """Stream manager for one core.

    :param store_root: directory for stream data, definitions and export checkpoints.
    :param host, port: where to listen; ``port=0`` picks a free port (see :attr:`port` after start).
    :param authenticate_client: when true, a client must send an ``authToken`` that
        ``token_check(token) -> bool`` or one of the checks added with :meth:`add_token_check`
        accepts; with no check at all every client is refused.
    :param token_check: called on the event loop for every new connection; must not block. (V1
        Lambdas: the runtime's tokens; V2 components add ``ComponentTokens.valid`` with
        :meth:`add_token_check` — the SDKs send the same ``AWS_CONTAINER_AUTHORIZATION_TOKEN``.)
    :param cloud: where exporters send data (:class:`~.exporters.CloudConfig`; ``None`` = real AWS
        through the default boto3 chain).
    :param exporters_enabled: start exporters for streams that define them.
    :param exporter_threads: worker threads (and concurrent uploads) shared by all exporters.
    :param export_retry_initial_s, export_retry_max_s: back-off between retries of a failed upload.
    :param exporter_max_bandwidth_kbps: STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH (kilobits/s shared by
        every exporter; None = unlimited).
    :param max_frame_bytes: largest request frame accepted; larger AppendMessage frames are answered
        with RequestPayloadTooLarge (4) after being discarded.
    :param max_response_bytes: a ReadMessages answer stops adding messages past this many payload bytes.
    """

    def __init__(
        self,
        store_root: str | Path,
        host: str = "127.0.0.1",
        port: int = 8088,
        authenticate_client: bool = True,
        token_check: Callable[[str], bool] | None = None,
        cloud: CloudConfig | None = None,
        exporters_enabled: bool = True,
        exporter_threads: int = 4,
        export_retry_initial_s: float = 1.0,
        export_retry_max_s: float = 60.0,
        exporter_max_bandwidth_kbps: int | None = None,
        max_frame_bytes: int = 64 * 1024 * 1024,
        max_response_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store_root = Path(store_root)
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.authenticate_client = authenticate_client
        self.token_check = token_check
        self._extra_token_checks: list[Callable[[str], bool]] = []
        self.cloud = cloud or CloudConfig()
        self.exporters_enabled = exporters_enabled
        self.exporter_threads = exporter_threads
        self.export_retry = (export_retry_initial_s, export_retry_max_s)
        self.exporter_max_bandwidth_kbps = exporter_max_bandwidth_kbps
        self.max_frame_bytes = max_frame_bytes
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self.store: StreamStore | None = None
        self.exports: ExportManager | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._waiters: dict[str, set[asyncio.Future]] = {}
        self._state = "new"
        self._counters = {"connections": 0, "rejected": 0, "protocolErrors": 0, "requests": 0}

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"StreamManagerServer cannot start from state {self._state}")
        self._state = "starting"
        # Loading scans every segment (CRC check): keep that off the loop other services share.
        self.store = await asyncio.to_thread(StreamStore, self.store_root, self._clock)
        self.store.add_listener(self._on_store_event)
        if self.exporters_enabled:
            self.exports = ExportManager(
                self.store,
                self.store_root / "exports",
                self.cloud,
                threads=self.exporter_threads,
                clock=self._clock,
                retry_initial_s=self.export_retry[0],
                retry_max_s=self.export_retry[1],
                max_bandwidth_kbps=self.exporter_max_bandwidth_kbps,
            )
            await self.exports.start()
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._state = "started"
        log.info("stream manager listening on %s:%d, store %s", self.host, self.port, self.store_root)

    async def stop(self) -> None:
        if self._state != "started":
            return
        self._state = "stopping"
        assert self._server is not None and self.store is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=5)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        if self.exports is not None:
            await self.exports.stop()
        self.store.close()
        self._state = "stopped"
        log.info("stream manager stopped")

    async def __aenter__(self) -> "StreamManagerServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- observability ---------------------------------------------------------------------------
    def add_token_check(self, check: Callable[[str], bool]) -> None:
        """Also accept clients whose token ``check`` accepts (e.g. V2 components' SVCUIDs); non-blocking."""
        self._extra_token_checks.append(check)

    def remove_token_check(self, check: Callable[[str], bool]) -> None:
        self._extra_token_checks.remove(check)

    def _token_checks(self) -> list[Callable[[str], bool]]:
        return ([self.token_check] if self.token_check is not None else []) + list(self._extra_token_checks)

    def status(self) -> dict:
        """JSON-able snapshot for the dashboard: per stream its range, bytes, definition, exporters."""
        streams = []
        if self.store is not None:
            for stream in self.store.streams():
                name = stream.definition.name
                st = stream.storage_status()
                newest = st.get("newestSequenceNumber")
                streams.append(
                    {
                        "name": name,
                        "oldestSequenceNumber": st.get("oldestSequenceNumber"),
                        "newestSequenceNumber": newest,
                        "totalBytes": st["totalBytes"],
                        "definition": stream.definition.summary(),
                        "exporters": self.exports.status(name) if self.exports is not None else [],
                    }
                )
        return {
            "service": "stream_manager",
            "state": self._state,
            "host": self.host,
            "port": self.port,
            "storeRoot": str(self.store_root),
            "authenticateClient": self.authenticate_client,
            "connections": len(self._connections),
            "waitingReads": sum(len(w) for w in self._waiters.values()),
            "counters": dict(self._counters),
            "streams": streams,
        }

    # -- store events → waiting reads ------------------------------------------------------------
    def _on_store_event(self, event: str, name: str) -> None:
        if event in ("append", "delete", "update"):
            for fut in self._waiters.pop(name, ()):
                if not fut.done():
                    fut.set_result(None)

    # -- connections -----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        conn = _Connection(self, reader, writer, where)
        try:
            await conn.run()
        except _ConnectionClosed:
            pass
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("connection %s: closed by peer", where)
        except asyncio.CancelledError:
            pass
        finally:
            await conn.close()
            self._connections.discard(task)

    # -- operations ------------------------------------------------------------------------------
    def _describe(self, name: str) -> dict:
        assert self.store is not None
        stream = self.store.get(name)
        info: dict[str, Any] = {
            "definition": stream.definition.to_wire(),
            "storageStatus": stream.storage_status(),
        }
        if self.exports is not None:
            statuses = self.exports.export_statuses(name)
            if statuses:
                info["exportStatuses"] = statuses
        return info

    async def _read(self, payload: Mapping) -> dict:
        assert self.store is not None
        name = _req_name(payload, "streamName")
        opts = payload.get("readMessagesOptions")
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise InvalidRequest("readMessagesOptions: must be a map")
        start = _opt_int(opts, "desiredStartSequenceNumber", 0, MAX_INT64, 0)
        min_count = _opt_int(opts, "minMessageCount", 1, MAX_INT32, 1)
        max_count = _opt_int(opts, "maxMessageCount", 1, MAX_INT32, max(1, min_count))
        timeout_ms = _opt_int(opts, "readTimeoutMillis", 0, MAX_READ_TIMEOUT_MS, 0)
        if min_count > max_count:
            raise InvalidRequest(
                f"readMessagesOptions: minMessageCount {min_count} is greater than "
                f"maxMessageCount {max_count}"
            )
        loop = asyncio.get_running_loop()
        # Answer a little before the read timeout: the client allows readTimeoutMillis up to its own
        # request_timeout, and a reply that lands after the client gave up kills its read loop
        # (KeyError on the unknown requestId), so every later call on that client would time out.
        margin_ms = min(READ_TIMEOUT_MARGIN_MS, timeout_ms // 20)
        deadline = loop.time() + (timeout_ms - margin_ms) / 1000
        while True:
            try:
                msgs = self.store.read(name, start, min_count, max_count, self.max_response_bytes)
                return {"messages": [m.to_wire() for m in msgs]}
            except NotEnoughMessages:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise
            fut = loop.create_future()
            self._waiters.setdefault(name, set()).add(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                waiters = self._waiters.get(name)
                if waiters is not None:
                    waiters.discard(fut)
                    if not waiters:
                        del self._waiters[name]

    def _needs_wait(self, payload: Mapping) -> bool:
        """True if a ReadMessages request may have to wait (so it should not run inline)."""
        opts = payload.get("readMessagesOptions")
        return isinstance(opts, Mapping) and opts.get("readTimeoutMillis") not in (None, 0)

    async def handle(self, op: int, payload: Mapping) -> dict:
        """Run one request; return the response fields besides requestId/status."""
        assert self.store is not None
        self._counters["requests"] += 1
        if op == codec.OP_APPEND:
            name = _req_name(payload, "name")
            data = payload.get("payload")
            if not isinstance(data, bytes) or not data:
                raise InvalidRequest("payload: required, a byte string of at least 1 byte")
            return {"sequenceNumber": self.store.append(name, data)}
        if op == codec.OP_READ:
            return await self._read(payload)
        if op == codec.OP_CREATE:
            self.store.create(parse_definition(_required(payload, "definition")))
            return {}
        if op == codec.OP_UPDATE:
            self.store.update(parse_definition(_required(payload, "definition")))
            return {}
        if op == codec.OP_DELETE:
            self.store.delete(_req_name(payload, "name"))
            return {}
        if op == codec.OP_LIST:
            return {"streams": self.store.names()}
        if op == codec.OP_DESCRIBE:
            return {"messageStreamInfo": self._describe(_req_name(payload, "name"))}
        raise AssertionError(f"handle() called with op {op}")


class _Connection:
    def __init__(
        self,
        server: StreamManagerServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        where: str,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.where = where
        self.tasks: set[asyncio.Task] = set()

    def _protocol_error(self, reason: str) -> _ConnectionClosed:
        self.server._counters["protocolErrors"] += 1
        log.warning("stream manager connection %s: %s; closing this connection", self.where, reason)
        return _ConnectionClosed(reason)

    async def _read_frame(self) -> tuple[int, int]:
        """Read the 5-byte header; return (op, payload length)."""
        length = codec.parse_length(await self.reader.readexactly(4))
        op = (await self.reader.readexactly(1))[0]
        if length < 1:
            raise self._protocol_error(f"frame length {length} is below 1 (op {op})")
        return op, length - 1

    async def _send(self, frame: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(frame)
        await self.writer.drain()

    async def _handshake(self) -> None:
        version = (await self.reader.readexactly(1))[0]
        op, size = await self._read_frame()
        if size > 64 * 1024:
            raise self._protocol_error(f"connect frame of {size} bytes is too large")
        body = await self.reader.readexactly(size)
        if version != codec.CONNECT_VERSION:
            await self._send(
                bytes([codec.CONNECT_VERSION])
                + codec.encode_frame(
                    codec.OP_CONNECT_RESPONSE,
                    {
                        "status": codec.UNSUPPORTED_CONNECT_VERSION,
                        "errorMessage": f"connect version {version} is not supported; "
                        f"use {codec.CONNECT_VERSION}",
                    },
                )
            )
            raise self._protocol_error(f"unsupported connect version byte {version}")
        if op != codec.OP_CONNECT:
            raise self._protocol_error(f"first frame has op {op}, expected Connect (1)")
        try:
            req = codec.decode_payload(body)
        except ValueError as e:
            raise self._protocol_error(f"connect request: {e}") from None
        if not isinstance(req, dict) or not isinstance(req.get("requestId"), str):
            raise self._protocol_error("connect request is not a map with a string requestId")
        resp: dict[str, Any] = {"requestId": req["requestId"]}
        status = codec.SUCCESS
        proto = req.get("protocolVersion")
        others = req.get("otherSupportedProtocolVersions") or []
        offered = [proto] + (list(others) if isinstance(others, list) else [])
        chosen = next((v for v in offered if v in codec.SUPPORTED_PROTOCOL_VERSIONS), None)
        srv = self.server
        if chosen is None:
            status = codec.UNSUPPORTED_PROTOCOL_VERSION
            resp["errorMessage"] = (
                f"protocol versions {offered!r} not supported; server speaks {codec.PROTOCOL_VERSION}"
            )
        elif srv.authenticate_client:
            token = req.get("authToken")
            ok = False
            checks = srv._token_checks()
            if not checks:
                reason = "client authentication is on but this core has no token check configured"
            elif not isinstance(token, str) or not token:
                reason = "no authToken (AWS_CONTAINER_AUTHORIZATION_TOKEN is not set in the client)"
            else:
                reason = "authToken is not the token of a function or component of this core"
                for check in checks:
                    try:
                        ok = bool(check(token))
                    except Exception:  # a failing checker must refuse, not take the connection handler down
                        log.exception("stream manager: token check %r failed; trying the others", check)
                        reason = "token check failed on the core (see its log)"
                    if ok:
                        break
            if not ok:
                status = codec.UNAUTHORIZED
                resp["errorMessage"] = reason
                srv._counters["rejected"] += 1
                log.warning("stream manager connection %s refused: %s", self.where, reason)
        if status == codec.SUCCESS:
            resp.update(
                {
                    "protocolVersion": chosen,
                    "supportedProtocolVersions": list(codec.SUPPORTED_PROTOCOL_VERSIONS),
                    "serverVersion": codec.SERVER_VERSION,
                    "clientIdentifier": str(uuid.uuid4()),
                }
            )
        resp["status"] = status
        await self._send(bytes([codec.CONNECT_VERSION]) + codec.encode_frame(codec.OP_CONNECT_RESPONSE, resp))
        if status != codec.SUCCESS:
            raise _ConnectionClosed("handshake refused")

    async def run(self) -> None:
        try:
            await asyncio.wait_for(self._handshake(), HANDSHAKE_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise self._protocol_error(f"no complete handshake within {HANDSHAKE_TIMEOUT_S} s") from None
        self.server._counters["connections"] += 1
        while True:
            op, size = await self._read_frame()
            if size > self.server.max_frame_bytes:
                await self._oversize(op, size)
                continue
            body = await self.reader.readexactly(size)
            try:
                payload = codec.decode_payload(body)
            except ValueError as e:
                raise self._protocol_error(f"op {op} frame of {size} bytes: {e}") from None
            request_id = payload.get("requestId") if isinstance(payload, dict) else None
            if not isinstance(request_id, str):
                raise self._protocol_error(f"op {op} frame has no string requestId; cannot answer it")
            if op not in codec.RESPONSE_OP:
                log.warning(
                    "stream manager connection %s: unknown operation %d (request %s)",
                    self.where,
                    op,
                    request_id,
                )
                await self._send(
                    codec.encode_frame(
                        codec.OP_UNKNOWN_OPERATION_ERROR,
                        {
                            "requestId": request_id,
                            "status": codec.UNKNOWN_OPERATION,
                            "errorMessage": f"unknown operation {op}",
                        },
                    )
                )
                continue
            if op == codec.OP_READ and self.server._needs_wait(payload):
                task = asyncio.create_task(self._answer(op, request_id, payload))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                await self._answer(op, request_id, payload)

    async def _oversize(self, op: int, size: int) -> None:
        """Answer a too-large frame with RequestPayloadTooLarge if its requestId can be found."""
        prefix = await self.reader.readexactly(min(size, 1024))
        request_id = codec.sniff_request_id(prefix)
        remaining = size - len(prefix)
        if request_id is None or op not in codec.RESPONSE_OP:
            raise self._protocol_error(
                f"op {op} frame of {size} bytes exceeds the {self.server.max_frame_bytes}-byte limit"
            )
        while remaining > 0:
            chunk = await self.reader.readexactly(min(remaining, _DISCARD_CHUNK))
            remaining -= len(chunk)
        log.warning(
            "stream manager connection %s: request %s (op %d) of %d bytes exceeds the %d-byte limit",
            self.where,
            request_id,
            op,
            size,
            self.server.max_frame_bytes,
        )
        await self._send(
            codec.encode_frame(
                codec.RESPONSE_OP[op],
                {
                    "requestId": request_id,
                    "status": PayloadTooLarge.status,
                    "errorMessage": f"request of {size} bytes exceeds the server limit of "
                    f"{self.server.max_frame_bytes} bytes",
                },
            )
        )

    async def _answer(self, op: int, request_id: str, payload: dict) -> None:
        resp: dict[str, Any] = {"requestId": request_id}
        try:
            if not request_id or not REQUEST_ID_RE.fullmatch(request_id):
                raise InvalidRequest(f"requestId: must be 1+ characters matching {REQUEST_ID_RE.pattern}")
            resp.update(await self.server.handle(op, payload))
            resp["status"] = codec.SUCCESS
        except StreamManagerError as e:
            resp = {"requestId": request_id, "status": e.status, "errorMessage": e.message}
        except OSError as e:
            log.error("stream manager: op %d request %s failed on the store: %s", op, request_id, e)
            resp = {
                "requestId": request_id,
                "status": codec.UNKNOWN_FAILURE,
                "errorMessage": f"store error: {e}",
            }
        except MemoryError:
            log.error("stream manager: out of memory serving op %d request %s", op, request_id)
            resp = {
                "requestId": request_id,
                "status": OutOfMemory.status,
                "errorMessage": "the stream manager ran out of memory serving this request",
            }
        except Exception:
            # A bug must cost one request (answered, so the client does not hang), not the connection.
            log.exception("stream manager: op %d request %s failed unexpectedly", op, request_id)
            resp = {
                "requestId": request_id,
                "status": codec.UNKNOWN_FAILURE,
                "errorMessage": "internal error in the stream manager; see the core log",
            }
        try:
            await self._send(codec.encode_frame(codec.RESPONSE_OP[op], resp))
        except ConnectionError as e:
            log.debug(
                "stream manager connection %s: response to %s not delivered: %s", self.where, request_id, e
            )

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2)
        self.writer.close()
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), timeout=2)


def _required(payload: Mapping, key: str) -> Any:
    if key not in payload:
        raise InvalidRequest(f"{key}: required")
    return payload[key]


def _req_name(payload: Mapping, key: str) -> str:
    try:
        return check_stream_name(_required(payload, key), where=key)
    except InvalidRequest as e:
        raise InvalidRequest(e.message) from None


def _opt_int(opts: Mapping, key: str, lo: int, hi: int, default: int) -> int:
    if key not in opts:
        return default
    v = opts[key]
    if type(v) is not int or not lo <= v <= hi:
        raise InvalidRequest(
            f"readMessagesOptions.{key}: must be an integer between {lo} and {hi}, got {v!r}"
        )
    return v
