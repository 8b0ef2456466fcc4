"""The nucleus IPC server: an asyncio Unix-socket server around :class:`~.connection.RpcConnection`.

Socket handling follows aws-greengrass/aws-greengrass-nucleus ``ipc/IPCEventStreamService`` and
``util/platforms/unix/UnixPlatform``: one socket per core (the nucleus' is ``<root>/ipc.socket``), a stale file
removed before binding, mode 0666 after binding, removed again on close. A path of 108 bytes or more does not fit
in ``sockaddr_un``; the nucleus then binds through a symlink in its working directory and gives components the
relative path ``../../ipc.socket`` (their working directory is ``<root>/work/<name>``). We give components the same
relative path (``localcore/nucleus_socket.py``) but bind through ``/proc/self/fd/<directory fd>/<name>`` instead
of changing the core's working directory (Linux).

Per connection, on asyncio's transport callbacks (no reader task, no writer task): bytes in → connection events →
:class:`~.service.IpcService` dispatch, the replies of one read written once; what the socket does not take at
once waits in the transport's buffer. Subscription events beyond ``max_pending_bytes`` of unsent data for one client
are dropped and counted (a slow component cannot make the core buffer without bound); responses are never
dropped. A client that goes away has every stream closed (subscriptions removed). A malformed frame closes only
that client's connection. Every log line names the component.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import stat
import threading
from threading import get_ident
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from localcore.nucleus_socket import SUN_PATH_MAX

from .connection import Close, Connected, Request, RpcConnection, StreamClosed
from .errors import ConfigurationError, IpcError
from .operations import OperationSpec
from .service import IpcService

log = logging.getLogger(__name__)

REFUSED_LINGER_S = 2.0
READ_SIZE = 256 * 1024        # bytes read at most at once (asyncio's own default)


class _Client(asyncio.BufferedProtocol):
    """One component connection: the protocol state, its open calls and its transport.

    Bytes are handled as they arrive (no reader task), read into the server's one read buffer (no 256 KiB
    allocation per read); the replies they cause are written once per read. Whatever the socket does not take at
    once waits in the transport's buffer, in order.
    """

    def __init__(self, server: "NucleusIpcServer", number: int) -> None:
        self.server = server
        self.label = f"conn#{number}"
        self.transport: Optional[asyncio.Transport] = None
        self.conn = RpcConnection(server._authenticate)
        self.calls: dict[int, _ServerCall] = {}
        self.closing = False
        self.closed = server.loop.create_future()    # done once the connection is gone and cleaned up
        self._linger: Optional[asyncio.TimerHandle] = None
        self.dropped_events = 0
        self.requests = 0
        self.batching = False                 # inside handle(): the replies of one read go out in one write

    @property
    def component(self) -> Optional[str]:
        return self.conn.component

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        server._clients.add(self)
        server.connections_total += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                self.label = f"{self.label} pid {int.from_bytes(creds[:4], 'little')}"

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server._read_buffer      # one loop thread: each read is handled before the next one starts

    def buffer_updated(self, nbytes: int) -> None:
        if self.closing:
            return                            # after a refusal or a protocol error: read and dropped until EOF
        self.handle(self.conn.receive_data(bytes(self.server._read_buffer[:nbytes])))
        if self.closing:
            self._close_after_refusal_or_error()

    def eof_received(self) -> bool:
        return False                          # close (what was written is sent first)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closing = True
        if self._linger is not None:
            self._linger.cancel()
        if exc is not None:
            log.info("[%s] IPC connection dropped: %s", self.label, exc)
        self.lost()
        self.server._clients.discard(self)
        if self.component:
            log.info("[%s] IPC disconnected (%d request(s))", self.component, self.requests)
        if not self.closed.done():
            self.closed.set_result(None)

    def _close_after_refusal_or_error(self) -> None:
        if self.conn.component is None and self.conn.refusal:
            self.server.refused_connections += 1
            # Let the client read the refusing CONNECT_ACK and hang up first: closing at once races with it, and
            # the SDK then reports AWS_IO_SOCKET_CLOSED instead of AccessDeniedError. Bounded.
            self._linger = self.server.loop.call_later(REFUSED_LINGER_S, self.transport.close)
        else:
            self.transport.close()

    # -- output -------------------------------------------------------------------------------------
    def flush(self) -> None:
        if self.batching:
            return                            # handle() flushes once after the whole read
        data = self.conn.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def has_room(self) -> bool:
        return self.transport.get_write_buffer_size() < self.server.max_pending_bytes

    # -- input --------------------------------------------------------------------------------------
    def handle(self, events: list) -> None:
        self.batching = True
        try:
            for ev in events:
                if type(ev) is Request:
                    self._dispatch(ev)
                else:
                    self._on_event(ev)
        finally:
            self.batching = False
        self.flush()

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, StreamClosed):
            call = self.calls.pop(ev.stream_id, None)
            if call is not None:
                call.closed()
        elif isinstance(ev, Connected):
            self.label = ev.component
            log.info("[%s] connected over IPC", ev.component)
        elif isinstance(ev, Close):
            self.closing = True
            if self.conn.refusal and self.conn.component is None:
                log.warning("[%s] IPC connection refused: %s", self.label, self.conn.refusal)
            else:
                log.info("[%s] IPC connection closed: %s", self.label, ev.reason)

    def _dispatch(self, req: Request) -> None:
        self.requests += 1
        call = _ServerCall(self, req.stream_id, req.operation)
        self.calls[req.stream_id] = call
        try:
            result = self.server.service.dispatch(call, req.body)
        except IpcError as e:
            log.debug("[%s] %s on stream %d: %s %s", self.label, req.operation.short, req.stream_id, e.name,
                      e.message)
            call.error(e)
            return
        except Exception:   # a handler bug fails that one call, as the nucleus' InternalServerError
            log.exception("[%s] %s failed", self.label, req.operation.short)
            call.internal_error()
            return
        if result is not None:
            task = asyncio.ensure_future(result)
            call.task = task
            task.add_done_callback(call.task_done)

    def lost(self) -> None:
        for ev in self.conn.connection_lost():
            call = self.calls.pop(ev.stream_id, None)
            if call is not None:
                call.closed()
        for call in list(self.calls.values()):
            call.closed()
        self.calls.clear()


class _ServerCall:
    """:class:`~.service.Call` over one stream of one client; safe to use from any thread."""

    __slots__ = ("client", "stream_id", "operation", "component", "task", "_on_close", "_closed", "_loop_thread")

    def __init__(self, client: _Client, stream_id: int, operation: OperationSpec) -> None:
        self.client = client
        self.stream_id = stream_id
        self.operation = operation
        self.component = client.conn.component or ""
        self.task: Optional[asyncio.Future] = None
        self._on_close: list[Callable[[], None]] = []
        self._closed = False
        self._loop_thread = client.server.loop_thread

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> bool:
        loop = self.client.server.loop
        if get_ident() == self._loop_thread:
            return fn(*args)
        if loop is None or loop.is_closed():
            return False
        loop.call_soon_threadsafe(fn, *args)
        return True

    def respond(self, body: Any = None) -> bool:
        if get_ident() != self._loop_thread:
            return self._on_loop(self._respond, body)
        return self._respond(body)

    def _respond(self, body: Any) -> bool:
        client = self.client
        ok = client.conn.respond(self.stream_id, body)
        if ok and self.operation.event_shape is None:     # not streaming: the call is over
            client.calls.pop(self.stream_id, None)
        client.flush()
        return ok

    def event(self, body: Union[bytes, Mapping[str, Any]]) -> bool:
        if get_ident() == self._loop_thread:
            return self._event(body)
        return self._on_loop(self._event, body)

    def _event(self, body: Any) -> bool:
        client = self.client
        if self._closed:
            return False
        if not client.has_room():
            client.dropped_events += 1
            client.server.dropped_events += 1
            if client.dropped_events in (1, 10, 100) or client.dropped_events % 1000 == 0:
                log.warning("[%s] %s: dropped %d event(s): the component reads slower than they arrive "
                            "(%d bytes unsent)", client.label, self.operation.short, client.dropped_events,
                            client.transport.get_write_buffer_size())
            return False
        ok = client.conn.send_event(self.stream_id, body)
        client.flush()
        return ok

    def error(self, error: IpcError) -> bool:
        return self._on_loop(self._error, error)

    def _error(self, error: IpcError) -> bool:
        ok = self.client.conn.send_error(self.stream_id, error)
        self.client.flush()
        if ok:
            self._finish()
        return ok

    def internal_error(self) -> bool:
        return self._on_loop(self._internal_error)

    def _internal_error(self) -> bool:
        ok = self.client.conn.send_internal_error(self.stream_id)
        self.client.flush()
        if ok:
            self._finish()
        return ok

    def close(self) -> bool:
        return self._on_loop(self._close)

    def _close(self) -> bool:
        ok = self.client.conn.close_stream(self.stream_id)
        self.client.flush()
        if ok:
            self._finish()
        return ok

    def on_close(self, fn: Callable[[], None]) -> None:
        if self._closed:
            fn()
        else:
            self._on_close.append(fn)

    def _finish(self) -> None:
        self.client.calls.pop(self.stream_id, None)
        self.closed()

    def closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        for fn in self._on_close:
            try:
                fn()
            except Exception:   # cleanup of one stream must not stop the others; logged with its trace
                log.exception("[%s] cleanup of %s failed", self.client.label, self.operation.short)
        self._on_close.clear()

    def task_done(self, task: asyncio.Future) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, IpcError):
            self._error(exc)
        else:
            log.error("[%s] %s failed: %r", self.client.label, self.operation.short, exc, exc_info=exc)
            self._internal_error()


class NucleusIpcServer:
    """The core's V2 IPC endpoint (one per core).

    :param socket_path: where to listen (the nucleus' layout: ``<root>/ipc.socket``); any length.
    :param authenticate: CONNECT ``authToken`` → component name, or None (e.g.
        ``ComponentTokens.component_of``); the component name is the identity for authorization.
    :param service: the operations served (default: an :class:`IpcService` with local pub/sub).
    :param max_pending_bytes: unsent bytes per client above which subscription events are dropped.
    """

    def __init__(self, socket_path: Union[str, os.PathLike], authenticate: Callable[[str], Optional[str]],
                 service: Optional[IpcService] = None, *, max_pending_bytes: int = 8 * 1024 * 1024) -> None:
        self.socket_path = Path(os.path.abspath(socket_path))
        self._authenticate = authenticate
        self.service = service if service is not None else IpcService()
        self.max_pending_bytes = max_pending_bytes
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.loop_thread: Optional[int] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._clients: set[_Client] = set()
        self._read_buffer = memoryview(bytearray(READ_SIZE))
        self._numbers = itertools.count(1)
        self._dir_fd: Optional[int] = None
        self.connections_total = 0
        self.refused_connections = 0
        self.dropped_events = 0

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            raise ConfigurationError(f"IPC server on {self.socket_path} is already started")
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        directory = self.socket_path.parent
        if not directory.is_dir():
            raise ConfigurationError(f"IPC socket folder {directory} does not exist; create the core's root first")
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                raise ConfigurationError(f"{self.socket_path} exists and is not a socket; remove it or choose "
                                         "another IPC socket path")
            os.unlink(self.socket_path)     # a stale socket from an earlier run
            log.info("removed stale IPC socket %s", self.socket_path)
        bind_path = str(self.socket_path)
        if len(os.fsencode(bind_path)) >= SUN_PATH_MAX:
            self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            bind_path = f"/proc/self/fd/{self._dir_fd}/{self.socket_path.name}"
        try:
            self._server = await self.loop.create_unix_server(lambda: _Client(self, next(self._numbers)),
                                                              path=bind_path)
        except OSError:
            self._close_dir_fd()
            raise
        os.chmod(self.socket_path, 0o666)
        log.info("nucleus IPC listening on %s", self.socket_path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        clients = list(self._clients)
        for client in clients:
            client.closing = True
            client.transport.close()
        if clients:
            await asyncio.wait([c.closed for c in clients], timeout=5)
        if server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=5)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
        self._close_dir_fd()

    def _close_dir_fd(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def status(self) -> dict:
        return {
            "socket": str(self.socket_path),
            "listening": self._server is not None,
            "connections": sorted(c.label for c in self._clients),
            "connections_total": self.connections_total,
            "refused_connections": self.refused_connections,
            "dropped_events": self.dropped_events,
            **self.service.status(),
        }
