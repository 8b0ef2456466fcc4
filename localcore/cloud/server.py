"""``LocalCloud``: moto server + gap adapter behind one endpoint URL.

Clients use ``cloud.url`` as ``endpoint_url`` / ``AWS_ENDPOINT_URL``. An aiohttp front on that URL
looks at each request's SigV4 credential scope (the service name, as moto does) and path:
a handler registered for that service may answer (``handler(request) -> CloudResponse | None``);
otherwise the raw request goes to a ``ThreadedMotoServer`` unchanged.

Everything runs on the cloud's own threads (one event loop thread for the front, a worker pool
for handlers, moto's werkzeug thread), so ``start()`` / ``stop()`` are synchronous and blocking
boto3 calls from any thread, including from inside another asyncio loop's executor, never
deadlock against it. ``await cloud.astart()`` / ``astop()`` wrap them for asyncio callers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Union

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from multidict import CIMultiDict
from yarl import URL

from .errors import ApiError, CloudError, CloudStartError
from .greengrass_api import GreengrassApi
from .greengrass_deployments import DeploymentBook
from .greengrass_state import GreengrassState
from .greengrassv2_api import GreengrassV2Api
from .greengrassv2_state import GreengrassV2State
from . import kvs
from .iot_api import IoTApi
from .iotanalytics_api import IoTAnalyticsApi
from .iotanalytics_state import IoTAnalyticsState
from . import moto_snapshot
from .moto_snapshot_writer import SnapshotWriter
from .moto_server import fast_stopping_moto_server
from .moto_link import DROP_REQUEST_HEADERS, DROP_RESPONSE_HEADERS, MotoLink
from .persist import DebouncedSaver, load_json
from .sitewise_api import SiteWiseApi
from .sitewise_state import SiteWiseState
from .wire import CloudRequest, CloudResponse, credential_scope, error_response, json_response

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
Handler = Callable[[CloudRequest], Union[CloudResponse, None, Awaitable[Union[CloudResponse, None]]]]
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_FRONT_DRAIN_S = 2.0  # how long a stop waits for requests in flight before cancelling them
_COMMIT_TIMEOUT_S = 10.0  # a mutating request waits this long for its moto snapshot, then answers anyway
_MAX_BODY = 1 << 30

# moto's backends are process-global. A LocalCloud that starts while no other one runs in this
# process resets them and loads its own snapshot (state_dir/moto.pickle) into them.
_running_lock = threading.Lock()
_running = 0
MOTO_SNAPSHOT = "moto.pickle"
_ADAPTER_ONLY_SERVICES = frozenset({"iotanalytics", "iotsitewise"})  # moto has no backend for them


class LocalCloud:
    """The embedded local cloud. See the module docstring.

    ``state_dir`` holds the adapter's JSON state. The group CAs that
    ``list_group_certificate_authorities`` hands out are ``LocalPKI(pki_dir).group_ca(group_id)``;
    ``pki_dir`` defaults to ``state_dir/"ca"`` — pass the directory the local core's discovery and
    broker use, so the cloud and the core hand out the same group CA.
    ``persist_moto`` (default on): moto's data is loaded from ``state_dir/moto.pickle`` at
    ``start()`` and snapshotted there while it changes (see ``moto_snapshot``): a request that may
    change moto's data is answered only once a snapshot holding it is on disk, so a crash (kill -9,
    power cut) loses nothing that was acknowledged.
    ``auto_complete_deployments=True`` marks every new deployment ``Success`` at once (for
    tests of deploy.py without a core); otherwise a local core acknowledges deployments through
    ``cloud.deployments`` (see ``greengrass_deployments.DeploymentBook``).
    """

    def __init__(
        self,
        state_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        *,
        auto_complete_deployments: bool = False,
        account_id: str = DEFAULT_ACCOUNT_ID,
        pki_dir: str | Path | None = None,
        persist_moto: bool = True,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.pki_dir = Path(pki_dir) if pki_dir is not None else self.state_dir / "ca"
        self.host = host
        self.port = port
        self.region = region
        self.account_id = account_id
        self.auto_complete_deployments = auto_complete_deployments
        self.persist_moto = persist_moto
        self._moto_restored: moto_snapshot.SnapshotReport | None = None
        self._moto_saved: moto_snapshot.SnapshotReport | None = None
        self._snapshots: SnapshotWriter | None = None
        self._handlers: dict[str, list[Handler]] = {}
        self._handlers_lock = threading.Lock()
        self._state = "new"
        self._moto: Any = None
        self.moto_url: str | None = None
        self.moto: MotoLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._savers: list[DebouncedSaver] = []
        self._started_at: float | None = None
        self._bound = False
        self._kvs: Any = None
        self._kvs_error: str | None = None
        self._claimed = False
        self._requests = {"handled": 0, "proxied": 0, "errors": 0}

        self.iotanalytics = IoTAnalyticsState(region, account_id)
        self.sitewise = SiteWiseState()
        self.greengrass = GreengrassState(
            region, account_id, auto_complete_deployments=auto_complete_deployments
        )
        self._greengrass_api: GreengrassApi | None = None
        self.greengrassv2 = GreengrassV2State(  # the V2 stand-in (greengrassv2_api)
            region, account_id, auto_complete_deployments=auto_complete_deployments
        )
        self._greengrassv2_api: GreengrassV2Api | None = None
        self._s3: Any = None
        self._s3_lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    @property
    def url(self) -> str:
        """The endpoint URL clients use (``http://host:port``); valid after ``start()``."""
        if not self._bound:
            raise CloudError("LocalCloud.url is known only after start()")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def register(self, service: str, handler: Handler) -> None:
        """Let ``handler`` answer requests for SigV4 service ``service`` (and ``/_local/<service>/``).

        ``handler(request: CloudRequest) -> CloudResponse | None``; ``None`` falls through to the
        next handler and finally to moto. Plain functions run on a worker thread (they may
        block); ``async def`` handlers run on the front's event loop. Raising ``ApiError`` answers
        with that AWS error. Handlers registered first are asked first.
        """
        with self._handlers_lock:
            self._handlers = {**self._handlers, service: [*self._handlers.get(service, []), handler]}

    @property
    def deployments(self) -> DeploymentBook:
        """The deployment acknowledgement API for a local core (see ``DeploymentBook``)."""
        return self.greengrass.deployments

    @property
    def advertised_host(self) -> str:
        """The host name clients are told (``describe_endpoint``): ``host``, or loopback for a wildcard."""
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    def start(self) -> None:
        if self._state != "new":
            raise CloudError(f"LocalCloud.start() called in state {self._state}")
        self._state = "starting"
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException:
            self._state = "started"  # so stop() tears down whatever came up
            self.stop()
            raise
        self._state = "started"
        self._started_at = time.time()
        log.info("local cloud on %s (moto on %s) in %.2f s", self.url, self.moto_url, time.monotonic() - t0)

    def stop(self) -> None:
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        self._state = "stopping"
        loop = self._loop
        if loop is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._front_stop(), loop)
            try:
                fut.result(timeout=_STOP_TIMEOUT_S)
            except (concurrent.futures.TimeoutError, RuntimeError, OSError):
                log.exception("front did not stop cleanly")
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=_STOP_TIMEOUT_S)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._stop_services()
        for saver in self._savers:
            saver.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._snapshots is not None:
            self._moto_saved = self._snapshots.stop()  # the last snapshot, after moto's last request
        self._release_moto()
        if self.moto is not None:
            self.moto.close()
        self._state = "stopped"

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> "LocalCloud":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self._state,
            "url": self.url if self._bound and self._state == "started" else None,
            "moto_url": self.moto_url,
            "region": self.region,
            "started_at": self._started_at,
            "requests": dict(self._requests),
            "services": sorted(self._handlers),
            "iotanalytics": self.iotanalytics.status(),
            "iotsitewise": self.sitewise.status(),
            "kinesisvideo": (
                self._kvs.status() if self._kvs is not None else {"mounted": False, "error": self._kvs_error}
            ),
            "greengrass": self.greengrass.status(),
            "greengrassv2": self.greengrassv2.status(),
            "moto_snapshot": self._moto_snapshot_status(),
        }
        return out

    def _moto_snapshot_status(self) -> dict[str, Any]:
        saved = self._moto_saved
        if saved is None and self._snapshots is not None:
            saved = self._snapshots.last_report
        return {
            "restored": self._moto_restored.to_json() if self._moto_restored else None,
            "saved": saved.to_json() if saved else None,
            "writer": self._snapshots.status() if self._snapshots is not None else None,
        }

    # ------------------------------------------------------------------ start / stop
    def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = fast_stopping_moto_server()
        self._moto.start()
        mhost, mport = self._moto.get_host_and_port()
        self.moto_url = f"http://{mhost}:{mport}"
        self.moto = MotoLink(self.moto_url)
        self._claim_moto()
        if self.persist_moto:
            self._snapshots = SnapshotWriter(self.state_dir / MOTO_SNAPSHOT)
            self._snapshots.start()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="localcloud"
        )

        self._load_and_persist("iotanalytics", self.iotanalytics)
        self._load_and_persist("iotsitewise", self.sitewise)
        self.register("iotanalytics", IoTAnalyticsApi(self.iotanalytics).handle)
        self.register("iotsitewise", SiteWiseApi(self.sitewise).handle)
        self._start_services()
        self._mount_kvs()

        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._front_main, args=(ready, errors), name="localcloud-front", daemon=True
        )
        self._thread.start()
        if not ready.wait(_START_TIMEOUT_S):
            raise CloudStartError(f"local cloud front did not start within {_START_TIMEOUT_S} s")
        if errors:
            raise CloudStartError(
                f"local cloud front could not listen on {self.host}:{self.port}: " f"{errors[0]}"
            ) from errors[0]

    def _claim_moto(self) -> None:
        global _running
        assert self.moto is not None
        with _running_lock:
            if _running == 0:
                reply = self.moto.request("POST", "/moto-api/reset", {})
                if not reply.ok:
                    raise CloudStartError(f"could not reset moto's in-memory state: HTTP {reply.status}")
                if self.persist_moto:
                    self._moto_restored = moto_snapshot.restore(self.state_dir / MOTO_SNAPSHOT)
            else:
                log.warning(
                    "another LocalCloud runs in this process: sharing its moto data, " "%s not loaded",
                    self.state_dir / MOTO_SNAPSHOT,
                )
            _running += 1
        self._claimed = True

    def _release_moto(self) -> None:
        global _running
        if self._claimed:
            with _running_lock:
                _running -= 1
            self._claimed = False

    def _load_and_persist(self, name: str, state: Any) -> None:
        path = self.state_dir / f"{name}.json"
        data = load_json(path)
        if data is not None:
            state.load_json(data)
        saver = DebouncedSaver(path, state.to_json)
        state.on_change = saver.mark
        saver.start()
        self._savers.append(saver)

    def _start_services(self) -> None:
        self._load_and_persist("greengrass", self.greengrass)
        assert self.moto is not None
        self._greengrass_api = GreengrassApi(self.greengrass, self.moto, self.pki_dir, self._read_s3)
        self.register("greengrass", self._greengrass_api.handle)
        self.register("iot", IoTApi(self.advertised_host, moto=self.moto, pki_dir=self.pki_dir).handle)
        self._load_and_persist("greengrassv2", self.greengrassv2)
        self._greengrassv2_api = GreengrassV2Api(
            self.greengrassv2, moto_url=self.moto_url, public_url=lambda: self.url
        )
        self.register("greengrass", self._greengrassv2_api.handle)  # after V1: /greengrass/v2/...
        self.register("greengrassv2", self._greengrassv2_api.handle)  # /_local/greengrassv2/...

    def _read_s3(self, bucket: str, key: str) -> bytes:
        """Read an object from moto's S3 (bulk deployment input files)."""
        with self._s3_lock:
            if self._s3 is None:
                import boto3  # only the bulk deployment path needs a client of our own

                self._s3 = boto3.client(
                    "s3",
                    endpoint_url=self.moto_url,
                    region_name=self.region,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",
                )
            s3 = self._s3
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def _stop_services(self) -> None:
        if self._greengrass_api is not None:
            self._greengrass_api.close()
        if self._greengrassv2_api is not None:
            self._greengrassv2_api.close()

    def _mount_kvs(self) -> None:
        """Mount the Kinesis Video stand-in (:func:`.kvs.mount` registers its handler for ``kinesisvideo``).

        A stand-in that fails to mount is logged and left out (requests then go to moto), so the rest of
        the cloud stays usable; ``status()["kinesisvideo"]["error"]`` says why.
        """
        try:
            self._kvs = kvs.mount(self)
        except Exception as exc:  # keep the cloud usable without Kinesis Video, and say why
            log.exception("Kinesis Video stand-in not mounted")
            self._kvs_error = f"{type(exc).__name__}: {exc}"

    def _front_main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._front_start())
        except BaseException as exc:  # reported to start(), which raises CloudStartError
            errors.append(exc)
            loop.run_until_complete(self._front_stop())
            loop.close()
            self._loop = None
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            # A client connection still open here would outlive the loop, and its client wait for its read timeout:
            # one accepted just before the listening socket closed gets its handler a loop turn later, after
            # aiohttp's shutdown went over (and cleared) the connections it knew. The selector loop keeps its socket
            # transports by fd; aborting closes them on the loop's next turn (just below).
            for transport in list(getattr(loop, "_transports", {}).values()):
                transport.abort()
            loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()

    async def _front_start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._on_request)
        self._session = ClientSession(
            connector=TCPConnector(limit=64),
            auto_decompress=False,
            timeout=ClientTimeout(total=300),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        # A stop lets requests in flight finish for at most _FRONT_DRAIN_S, then cancels them (aiohttp waits 60 s
        # by default): a client's call blocked on the cloud, a streaming read, must not hold the run's exit. What
        # moto had applied is in the last snapshot, written after the front is down.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=_FRONT_DRAIN_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = sockets[0][1]
        self._bound = True

    async def _front_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ per request
    async def _on_request(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        service, region = credential_scope(request.headers, request.query)
        path = request.path
        if service is None and path.startswith("/_local/"):
            if path.rstrip("/") == "/_local/status":
                return self._to_web(json_response(self.status()))
            service = path.split("/")[2]
        creq = CloudRequest(
            request.method,
            path,
            request.raw_path,
            request.query,
            request.headers,
            body,
            service,
            region or (None if service is None else self.region),
        )
        for handler in self._handlers.get(service or "", ()):
            resp = await self._call(handler, creq)
            if resp is not None:
                self._requests["handled"] += 1
                await self._moto_durable(request)
                return await self._send(request, resp)
        if path.startswith("/_local/") or service in _ADAPTER_ONLY_SERVICES:
            # moto has no backend for these: its HTML 404 would only confuse the client
            return self._to_web(
                error_response(
                    ApiError(
                        f"the local cloud has no route {request.method} {path} for service {service}",
                        code="UnknownOperationException",
                        status=404,
                    )
                )
            )
        self._requests["proxied"] += 1
        out = await self._proxy(request, body)
        await self._moto_durable(request)
        return out

    async def _moto_durable(self, request: web.Request) -> None:
        """Before answering a request that may have changed moto's data, wait (bounded) until a
        snapshot holding the change is on disk: what the cloud acknowledged survives a crash."""
        writer = self._snapshots
        if writer is None or not moto_snapshot.is_mutating(
            request.method, request.headers.get("X-Amz-Target"), request.query.get("Action")
        ):
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(writer.commit()), _COMMIT_TIMEOUT_S)
        except (asyncio.TimeoutError, CloudError) as exc:
            log.warning(
                "answering %s %s before moto's data is on disk: %s",
                request.method,
                request.path,
                exc or f"no snapshot within {_COMMIT_TIMEOUT_S} s",
            )

    async def _call(self, handler: Handler, creq: CloudRequest) -> CloudResponse | None:
        try:
            if inspect.iscoroutinefunction(handler):
                return await handler(creq)  # type: ignore[misc]
            assert self._executor is not None
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, handler, creq)  # type: ignore[arg-type]
        except ApiError as err:
            return error_response(err)
        except Exception as exc:  # a handler bug must not kill the front; answer 500 and log it
            self._requests["errors"] += 1
            log.exception("handler %r failed on %s %s", handler, creq.method, creq.path)
            return error_response(
                ApiError(f"local cloud handler failed: {exc}", code="InternalFailureException", status=500)
            )

    def _to_web(self, resp: CloudResponse) -> web.Response:
        assert isinstance(resp.body, (bytes, bytearray))
        return web.Response(status=resp.status, body=resp.body or None, headers=resp.headers)

    async def _send(self, request: web.Request, resp: CloudResponse) -> web.StreamResponse:
        if isinstance(resp.body, (bytes, bytearray)):
            return self._to_web(resp)
        out = web.StreamResponse(status=resp.status, headers=resp.headers)
        await out.prepare(request)
        loop = asyncio.get_running_loop()
        it = iter(resp.body)
        done = object()
        try:
            while True:
                chunk = await loop.run_in_executor(self._executor, next, it, done)
                if chunk is done:
                    break
                await out.write(chunk)  # type: ignore[arg-type]
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        await out.write_eof()
        return out

    async def _proxy(self, request: web.Request, body: bytes) -> web.StreamResponse:
        assert self._session is not None and self.moto_url is not None
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in DROP_REQUEST_HEADERS
        )
        url = URL(self.moto_url + request.raw_path, encoded=True)
        try:
            return await self._proxy_once(request, url, headers, body)
        except (ClientError, asyncio.TimeoutError) as exc:
            self._requests["errors"] += 1
            log.error("proxying %s %s to moto failed: %s", request.method, request.path, exc)
            return self._to_web(
                error_response(
                    ApiError(
                        f"the local cloud could not reach its moto server at {self.moto_url}: {exc}",
                        code="ServiceUnavailableException",
                        status=502,
                    )
                )
            )

    async def _proxy_once(
        self, request: web.Request, url: URL, headers: CIMultiDict[str], body: bytes
    ) -> web.StreamResponse:
        assert self._session is not None
        async with self._session.request(
            request.method,
            url,
            headers=headers,
            data=body if body or request.method not in ("GET", "HEAD") else None,
            allow_redirects=False,
        ) as mresp:
            data = await mresp.read()
            out_headers = CIMultiDict(
                (k, v) for k, v in mresp.headers.items() if k.lower() not in DROP_RESPONSE_HEADERS
            )
            if request.method == "HEAD" or mresp.status in (204, 304):
                resp = web.Response(status=mresp.status, headers=out_headers)
                length = mresp.headers.get("Content-Length")
                if length is not None and request.method == "HEAD":
                    resp.headers["Content-Length"] = length
                return resp
            return web.Response(status=mresp.status, body=data, headers=out_headers)
