"""The dashboard: an aiohttp app over a :class:`web.facade.DashboardFacade`, plus static files.

Start it::

    dashboard = Dashboard(facade)                 # token: a fresh per-run secret
    await dashboard.start()                       # 127.0.0.1:8080; port=0 for an ephemeral port
    print(dashboard.url)                          # http://127.0.0.1:8080/?token=...
    await dashboard.stop()

HTTP API (all under ``/api/``, all need the token, see :mod:`web.security`)::

    GET    /api/status                    redacted facade.status()
    GET    /api/aggregates                facade.latest_aggregates()
    POST   /api/publish                   {"topic": str, "payload": str} -> {"delivered": n, ...}
    POST   /api/snapshot?stream_name=S    facade.snapshot(S)
    GET    /api/events                    server-sent events: hello, status, aggregates, message
    POST   /api/subscriptions             {"client": id from hello, "filter": str} -> {"id", "filter"}
    DELETE /api/subscriptions/{id}?client=ID
    GET    /api/webcam/latest.jpg         the file at status()["webcam"]["latest_jpeg_path"], else the
                                          last frame the dashboard read (the uploader deletes frames)

Every refusal is ``403 {"error": "forbidden", "reason": ...}``; bad input is 400 with a reason.
"""
from __future__ import annotations

import asyncio
import base64
import inspect
import itertools
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from aiohttp import web

from web.errors import DashboardConfigError
from web.facade import AGGREGATES_TOPIC, DashboardFacade, parse_aggregates
from web.redact import redact
from web.security import host_refusal, normalise_hosts, origin_refusal, token_refusal

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 256 * 1024
MAX_PAYLOAD_BYTES = 128 * 1024  # the core's MQTT payload limit
MAX_CLIENTS = 32
MAX_SUBSCRIPTIONS_PER_CLIENT = 20
HEARTBEAT_S = 15.0
DISCONNECT_CHECK_S = 0.5
SNAPSHOT_TIMEOUT_S = 60.0
_STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                  ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

FACADE = web.AppKey("facade", object)
SETTINGS = web.AppKey("settings", dict)
CLIENTS = web.AppKey("clients", dict)
FRAMES = web.AppKey("frames", object)


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _forbidden(reason: str) -> web.Response:
    return web.json_response({"error": "forbidden", "reason": reason}, status=403, dumps=_json_dumps)


def _bad_request(reason: str, status: int = 400) -> web.Response:
    return web.json_response({"error": "bad request", "reason": reason}, status=status, dumps=_json_dumps)


def _payload_json(payload: bytes) -> dict:
    """A console message payload for the page: text when it is UTF-8, base64 otherwise."""
    try:
        return {"payload": payload.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(payload).decode("ascii"), "encoding": "base64"}


# -- middleware ---------------------------------------------------------------------------------
@web.middleware
async def _guard(request: web.Request, handler):
    settings = request.app[SETTINGS]
    api = request.path.startswith("/api/")
    reason = host_refusal(request.headers.get("Host"), settings["allowed_hosts"])
    if reason is None:
        reason = origin_refusal(request.headers, request.headers["Host"], api)
    if reason is None and api and request.path not in settings["public_paths"]:
        reason = token_refusal(request.headers, request.query, settings["token"])
    if reason is not None:
        log.warning("refused %s %s: %s", request.method, request.path, reason)
        return _forbidden(reason)
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", _CSP)
    if api:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# -- static ---------------------------------------------------------------------------------------
def _static_file(name: str) -> web.Response:
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in _CONTENT_TYPES or not path.is_file():
        raise web.HTTPNotFound(text=f"no static file {name!r}")
    response = web.Response(body=path.read_bytes(), content_type=_CONTENT_TYPES[path.suffix],
                            charset="utf-8" if path.suffix in (".html", ".js", ".css", ".svg") else None)
    response.headers["Cache-Control"] = "no-cache"
    return response


async def _index(request: web.Request) -> web.Response:
    return _static_file("index.html")


async def _static(request: web.Request) -> web.Response:
    return _static_file(request.match_info["name"])


# -- plain API --------------------------------------------------------------------------------------
def _status_of(facade: DashboardFacade) -> dict:
    status = facade.status()
    if not isinstance(status, dict):
        raise TypeError(f"facade.status() returned {type(status).__name__}, expected dict")
    return redact(status)


async def _status(request: web.Request) -> web.Response:
    return web.json_response(_status_of(request.app[FACADE]), dumps=_json_dumps)


async def _aggregates(request: web.Request) -> web.Response:
    return web.json_response(redact(request.app[FACADE].latest_aggregates()), dumps=_json_dumps)


async def _read_json_object(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise web.HTTPBadRequest(
            text=_json_dumps({"error": "bad request",
                              "reason": f"body must be application/json, got {request.content_type!r}"}),
            content_type="application/json")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=_json_dumps({"error": "bad request", "reason": f"body is not JSON: {exc}"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=_json_dumps({"error": "bad request", "reason": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


async def _publish(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    topic, payload = body.get("topic"), body.get("payload", "")
    if not isinstance(topic, str) or not topic:
        return _bad_request("field 'topic' must be a non-empty string")
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload)
    if not isinstance(payload, str):
        return _bad_request("field 'payload' must be a string (the message text) or a JSON object")
    data = payload.encode("utf-8")
    if len(data) > MAX_PAYLOAD_BYTES:
        return _bad_request(f"payload is {len(data)} bytes; the core's limit is {MAX_PAYLOAD_BYTES}", 413)
    try:
        result = request.app[FACADE].publish(topic, data)
        if inspect.isawaitable(result):
            result = await result
    except ValueError as exc:
        return _bad_request(f"topic {topic!r} refused: {exc}")
    return web.json_response(result, dumps=_json_dumps)


async def _snapshot(request: web.Request) -> web.Response:
    name = request.query.get("stream_name", "")
    if not _STREAM_NAME.match(name):
        return _bad_request(f"query 'stream_name' must be 1-256 of [a-zA-Z0-9_.-], got {name!r}")
    facade = request.app[FACADE]
    try:
        if inspect.iscoroutinefunction(facade.snapshot):
            result = await asyncio.wait_for(facade.snapshot(name), SNAPSHOT_TIMEOUT_S)
        else:
            result = await asyncio.wait_for(asyncio.to_thread(facade.snapshot, name), SNAPSHOT_TIMEOUT_S)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, SNAPSHOT_TIMEOUT_S)
    except asyncio.TimeoutError:
        return web.json_response({"error": "snapshot failed",
                                  "reason": f"no answer from the snapshot API within {SNAPSHOT_TIMEOUT_S:.0f} s"},
                                 status=504)
    except Exception as exc:  # the cloud call can fail many ways; the page shows the reason
        log.warning("snapshot of %s failed: %s", name, exc)
        return web.json_response({"error": "snapshot failed", "reason": f"{type(exc).__name__}: {exc}"},
                                 status=502, dumps=_json_dumps)
    return web.json_response(redact(result), dumps=_json_dumps)


class _LastFrame:
    """The newest webcam frame the dashboard has read.

    The S3 uploader deletes a frame once it is in S3, often within a second: the status that
    named it reaches the page before the page asks for the file. The status loop reads each new
    frame as it sees it, and ``/api/webcam/latest.jpg`` serves that copy once the file is gone.
    """

    WATCH_S = 0.25  # frames live ~0.3 s before the uploader deletes them: look more often than the status

    def __init__(self) -> None:
        self.path: Optional[str] = None
        self.data: Optional[bytes] = None
        self.folder: Optional[Path] = None  # where the frames are written (learnt from the status)
        self.mtime = -1.0  # of the frame kept: the watcher only moves on to newer ones

    async def read(self, path: str) -> bytes:
        """The bytes of ``path`` (OSError when unreadable and never read before)."""
        if path == self.path and self.data is not None:
            return self.data
        data, mtime = await asyncio.to_thread(_read_with_mtime, path)
        if self.data is None or mtime >= self.mtime:  # never go back to an older frame
            self.path, self.data, self.mtime = path, data, mtime
        return data

    async def remember(self, status: dict) -> None:
        webcam = status.get("webcam")
        path = webcam.get("latest_jpeg_path") if isinstance(webcam, dict) else None
        folder = webcam.get("frames_dir") if isinstance(webcam, dict) else None
        if isinstance(folder, str) and folder:
            self.folder = Path(folder)  # watched from the first status on (a status may never catch a frame)
        if isinstance(path, str) and Path(path).suffix.lower() in (".jpg", ".jpeg"):
            self.folder = self.folder or Path(path).parent
            try:
                await self.read(path)
            except OSError:  # already uploaded and deleted: the page keeps the previous frame
                pass

    def _newest(self) -> Optional[tuple]:
        newest, newest_mtime = None, -1.0
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.name.lower().endswith((".jpg", ".jpeg")):
                        continue
                    try:
                        mtime = entry.stat().st_mtime
                    except OSError:
                        continue
                    if mtime > newest_mtime:
                        newest, newest_mtime = entry.path, mtime
        except OSError:
            return None
        return (newest, newest_mtime) if newest else None

    async def watch(self) -> None:
        """Keep a copy of the newest frame of the folder the status named, between status rounds."""
        while True:
            await asyncio.sleep(self.WATCH_S)
            if self.folder is None:
                continue
            found = await asyncio.to_thread(self._newest)
            if found and found[1] > self.mtime and found[0] != self.path:
                try:
                    await self.read(found[0])
                except OSError:  # deleted meanwhile: the next one
                    pass


def _read_with_mtime(path: str) -> tuple:
    p = Path(path)
    mtime = p.stat().st_mtime
    return p.read_bytes(), mtime


async def _webcam_latest(request: web.Request) -> web.Response:
    frames: _LastFrame = request.app[FRAMES]
    webcam = _status_of(request.app[FACADE]).get("webcam")
    path = webcam.get("latest_jpeg_path") if isinstance(webcam, dict) else None
    if not path:
        if frames.data is not None:
            return web.Response(body=frames.data, content_type="image/jpeg")
        return web.json_response({"error": "not found", "reason": "the webcam has saved no frame yet"}, status=404)
    file = Path(path)
    if file.suffix.lower() not in (".jpg", ".jpeg"):
        return web.json_response({"error": "not found", "reason": "latest frame is not a .jpg file"}, status=404)
    try:
        data = await frames.read(path)
    except OSError as exc:
        if frames.data is not None:  # deleted after upload: the newest frame read before
            return web.Response(body=frames.data, content_type="image/jpeg")
        return web.json_response({"error": "not found", "reason": f"cannot read the latest frame: {exc.strerror}"},
                                 status=404)
    return web.Response(body=data, content_type="image/jpeg")


# -- server-sent events -----------------------------------------------------------------------------
class _EventClient:
    """One open ``/api/events`` stream: a queue of events and the tasks feeding it."""

    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = f"c{next(self._ids)}-{secrets.token_hex(4)}"
        self.queue: asyncio.Queue[Optional[tuple[str, str]]] = asyncio.Queue(maxsize=1000)
        self.tasks: dict[str, asyncio.Task] = {}
        self.subscriptions: dict[str, Any] = {}
        self._sub_ids = itertools.count(1)

    def send(self, event: str, data: Any) -> None:
        if self.queue.full():  # a stalled page loses old events rather than growing memory
            self.queue.get_nowait()
        self.queue.put_nowait((event, _json_dumps(data)))

    def next_subscription_id(self) -> str:
        return f"s{next(self._sub_ids)}"

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # already logged by the task; closing must go on
                log.exception("event task failed")
        self.tasks.clear()
        for sub in self.subscriptions.values():
            await _aclose(sub)
        self.subscriptions.clear()


async def _aclose(iterator: Any) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # a facade's close error must not break the page's other streams
            log.exception("closing a facade subscription failed")


async def _status_loop(client: _EventClient, facade: DashboardFacade, interval: float,
                       frames: _LastFrame) -> None:
    last = None
    while True:
        try:
            status = _status_of(facade)
            await frames.remember(status)
            webcam = status.get("webcam")
            if isinstance(webcam, dict) and webcam.get("latest_jpeg_path") != frames.path:
                # The page is told of the frame the dashboard holds a copy of, never of one it could not
                # read: the newest is often uploaded and deleted before the status loop sees it (the
                # first one too — then the page waits for the next rather than asking for a gone file).
                status = dict(status, webcam=dict(webcam, latest_jpeg_path=frames.path,
                                                  latest_kept=frames.path is not None))
        except Exception as exc:  # keep the stream alive; the page shows the failure
            log.exception("facade.status() failed")
            status = {"errors": {"dashboard": f"status failed: {type(exc).__name__}: {exc}"}}
        text = _json_dumps(status)
        if text != last:
            client.send("status", status)
            last = text
        await asyncio.sleep(interval)


async def _pump(client: _EventClient, sub_id: str, iterator: Any, aggregates: bool) -> None:
    async for item in iterator:
        if aggregates:
            try:
                records = parse_aggregates(item["payload"])
            except ValueError as exc:
                log.warning("display panel ignores %s: %s", item.get("topic"), exc)
                continue
            client.send("aggregates", {"records": redact(records), "time": item.get("time", time.time())})
        else:
            client.send("message", dict(_payload_json(item["payload"]), subscription=sub_id,
                                        topic=item["topic"], source=item.get("source", ""),
                                        time=item.get("time", time.time())))


async def _events(request: web.Request) -> web.StreamResponse:
    clients: dict = request.app[CLIENTS]
    if len(clients) >= MAX_CLIENTS:
        return web.json_response({"error": "busy", "reason": f"{MAX_CLIENTS} event streams are open already"},
                                 status=503)
    facade: DashboardFacade = request.app[FACADE]
    settings = request.app[SETTINGS]
    client = _EventClient()
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    clients[client.id] = client
    try:
        client.send("hello", {"client": client.id})
        client.send("aggregates", {"records": list(redact(facade.latest_aggregates()).values()),
                                   "time": time.time(), "initial": True})
        aggregates = facade.subscribe(AGGREGATES_TOPIC)
        client.subscriptions["_aggregates"] = aggregates
        client.tasks["_aggregates"] = asyncio.create_task(_pump(client, "_aggregates", aggregates, True))
        client.tasks["_status"] = asyncio.create_task(_status_loop(client, facade, settings["status_interval"],
                                                                   request.app[FRAMES]))
        last_write = time.monotonic()
        while True:
            try:
                item = await asyncio.wait_for(client.queue.get(), DISCONNECT_CHECK_S)
            except asyncio.TimeoutError:
                # a page that went away is only noticed on a write or through the transport
                if request.transport is None or request.transport.is_closing():
                    break
                if time.monotonic() - last_write >= HEARTBEAT_S:
                    await response.write(b": ping\n\n")
                    last_write = time.monotonic()
                continue
            if item is None:  # the dashboard is stopping
                break
            event, data = item
            await response.write(f"event: {event}\ndata: {data}\n\n".encode("utf-8"))
            last_write = time.monotonic()
    except ConnectionResetError:
        log.debug("event stream %s closed by the page", client.id)
    finally:
        clients.pop(client.id, None)
        await client.close()
    return response


async def _subscribe(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    client = request.app[CLIENTS].get(body.get("client"))
    topic_filter = body.get("filter")
    if client is None:
        return _bad_request("field 'client' must be the id of an open /api/events stream (its hello event)")
    if not isinstance(topic_filter, str) or not topic_filter:
        return _bad_request("field 'filter' must be a non-empty topic filter")
    if len(client.subscriptions) > MAX_SUBSCRIPTIONS_PER_CLIENT:
        return _bad_request(f"at most {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions per page")
    try:
        iterator = request.app[FACADE].subscribe(topic_filter)
    except ValueError as exc:
        return _bad_request(f"topic filter {topic_filter!r} refused: {exc}")
    sub_id = client.next_subscription_id()
    client.subscriptions[sub_id] = iterator
    client.tasks[sub_id] = asyncio.create_task(_pump(client, sub_id, iterator, False))
    return web.json_response({"id": sub_id, "filter": topic_filter})


async def _unsubscribe(request: web.Request) -> web.Response:
    client = request.app[CLIENTS].get(request.query.get("client"))
    sub_id = request.match_info["sub_id"]
    if client is None or sub_id.startswith("_") or sub_id not in client.subscriptions:
        return web.json_response({"error": "not found", "reason": f"no subscription {sub_id!r} for this page"},
                                 status=404)
    task = client.tasks.pop(sub_id)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await _aclose(client.subscriptions.pop(sub_id))
    return web.json_response({"id": sub_id, "closed": True})


async def _on_shutdown(app: web.Application) -> None:
    for client in list(app[CLIENTS].values()):
        try:
            client.queue.put_nowait(None)
        except asyncio.QueueFull:
            client.queue.get_nowait()
            client.queue.put_nowait(None)


# -- app and server --------------------------------------------------------------------------------
def make_app(facade: DashboardFacade, *, token: str, allowed_hosts: Iterable[str],
             status_interval: float = 1.0, public_routes: Iterable[tuple] = ()) -> web.Application:
    """The dashboard's aiohttp application (no server); see the module docstring for the API.

    ``public_routes``: ``(method, path, handler)`` API routes served **without** the token, still
    behind the Host / Origin / cross-site checks — the cloud snapshot API (``GET /api/snapshot``),
    which on AWS is an HTTP endpoint of its own and is called with curl.
    """
    if not isinstance(token, str) or len(token) < 16:
        raise DashboardConfigError("token must be a string of at least 16 characters (use secrets.token_urlsafe())")
    hosts = normalise_hosts(allowed_hosts)
    if not hosts:
        raise DashboardConfigError("allowed_hosts is empty: no browser could reach the dashboard")
    if status_interval <= 0:
        raise DashboardConfigError(f"status_interval must be > 0 seconds, got {status_interval}")
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY_BYTES)
    app[FACADE] = facade
    public_routes = list(public_routes)
    app[SETTINGS] = {"token": token, "allowed_hosts": hosts, "status_interval": status_interval,
                     "public_paths": frozenset(path for _, path, _ in public_routes)}
    app[CLIENTS] = {}
    app[FRAMES] = _LastFrame()
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/aggregates", _aggregates)
    app.router.add_post("/api/publish", _publish)
    app.router.add_post("/api/snapshot", _snapshot)
    app.router.add_get("/api/events", _events)
    app.router.add_post("/api/subscriptions", _subscribe)
    app.router.add_delete("/api/subscriptions/{sub_id}", _unsubscribe)
    app.router.add_get("/api/webcam/latest.jpg", _webcam_latest)
    for method, path, handler in public_routes:
        app.router.add_route(method, path, handler)
    app.on_shutdown.append(_on_shutdown)
    app.cleanup_ctx.append(_frame_watch)
    return app


async def _frame_watch(app: web.Application):
    task = asyncio.create_task(app[FRAMES].watch(), name="dashboard-frame-watch")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class Dashboard:
    """The dashboard server. ``token`` defaults to a fresh secret per run.

    ``allowed_hosts`` defaults to ``127.0.0.1``, ``localhost``, ``::1`` and the bound host; add
    the names a browser uses when you bind another address.
    """

    def __init__(self, facade: DashboardFacade, *, token: Optional[str] = None,
                 allowed_hosts: Optional[Iterable[str]] = None, status_interval: float = 1.0,
                 public_routes: Iterable[tuple] = ()) -> None:
        self.facade = facade
        self._public_routes = list(public_routes)
        self.token = token or secrets.token_urlsafe(32)
        self._allowed_hosts = list(allowed_hosts) if allowed_hosts is not None else None
        self._status_interval = status_interval
        self._runner: Optional[web.AppRunner] = None
        self.host: Optional[str] = None
        self.port: Optional[int] = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the dashboard is not started; call await start() first")
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/?token={self.token}"

    async def start(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        if self._runner is not None:
            raise RuntimeError("the dashboard is already started")
        hosts = self._allowed_hosts if self._allowed_hosts is not None else ["127.0.0.1", "localhost", "::1"]
        if host not in ("0.0.0.0", "::"):
            hosts = [*hosts, f"[{host}]" if ":" in host else host]
        app = make_app(self.facade, token=self.token, allowed_hosts=hosts, status_interval=self._status_interval,
                       public_routes=self._public_routes)
        runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        self.port = runner.addresses[0][1]
        log.info("dashboard on http://%s:%s/ (the URL with its token is Dashboard.url)", host, self.port)

    def status(self) -> dict:
        """Open event streams (pages) and their console subscriptions; no token."""
        clients = self._runner.app[CLIENTS] if self._runner is not None else {}
        return {"running": self._runner is not None, "host": self.host, "port": self.port,
                "event_streams": len(clients),
                "console_subscriptions": sum(
                    sum(1 for k in c.subscriptions if not k.startswith("_")) for c in clients.values())}

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.port = None
