"""The dashboard's one seam into the local core: :class:`DashboardFacade`.

The dashboard (``web/app.py``) only ever calls these five methods. ``localcore/core.py`` wires
an object that satisfies the protocol; :class:`CoreFacade` is a ready implementation over the
router (``localcore.router.Router``), a :class:`web.tap.MessageTap` attached as the router's
``cloud`` sink, and one zero-argument status provider per section.

Status JSON (every section optional — a missing section means "service not running", and the
page says so; ``errors`` {section: message} reports a provider that raised)::

    {
      "group": {"name": str, "id": str,
                "deployment": {"id": str, "status": str, "version": str}},
      "functions": [{"name": str, "pinned": bool, "state": str, "invocations": int,
                     "errors": int, "last_log_lines": [str, ...]}],
                    # state: function_state() — "running" (pinned, process up), "busy (2 of 5)" /
                    # "idle (1 of 5)" (on demand: instances of the pool size), "failed to start"...
      "devices": [{"thing": str, "connected": bool}],
      "subscriptions": [{"source": str, "target": str, "topic": str}],
      "streams": [{"name": str, "oldest": int|None, "newest": int|None, "bytes": int,
                   "strategy": str,
                   "exporters": [{"id": str, "kind": str, "position": int|None, "lag": int}]}],
      "shadows": {thing: <shadow document {"state": {...}, "metadata": {...}, "version": int}>},
      "car_stats": {<any JSON object>},
      "dynamodb_items": [{...}, ...],
      "webcam": {"latest_jpeg_path": str|None, "captured": int|None, "saved": int, "uploaded": int,
                 "export_statuses": [{...}, ...],
                 "source": str, "last_error": str|None},   # the last two with the Lambda's status
      "connectors": [{"name": str, ...}],
      "platform": {"name": "v1"|"v2", "label": str, "deployment": {...}|None, "components": [...],
                   "client_auth": {...}|None, "ipc": {...}|None},   # platform_section()
      "errors": {section: str}
    }

Adapters for the services' own status: ``functions_section(runtime.status())``,
``streams_section(stream_manager.status())``, ``webcam_section(frames_dir, stream_tail(store,
"S3UploadStatus", 10))``, and ``Cached(provider, max_age_s)`` for sections that cost a cloud call.

Secrets never reach the page: the dashboard removes keys such as ``token``, ``private_key`` or
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` from the status at any depth (``web.redact``), but an
implementation should not put them there in the first place.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol, Union

from localcore.interfaces import CLOUD, Message, Publisher

log = logging.getLogger(__name__)

AGGREGATES_TOPIC = "display/aggregates"

ConsoleMessage = dict
"""``{"topic": str, "payload": bytes, "source": str, "time": float (epoch seconds)}``."""


class DashboardFacade(Protocol):
    """What the dashboard needs from the core. All methods are called on the event loop thread.

    ``status`` and ``latest_aggregates`` must be cheap (called every second); ``publish`` must
    not block; ``snapshot`` may be a coroutine function, otherwise the dashboard runs it in a
    worker thread (it calls the cloud).
    """

    def status(self) -> dict:
        """The JSON-able status described in the module docstring."""
        ...

    def publish(self, topic: str, payload: bytes) -> dict:
        """Publish as source ``cloud`` through the router.

        Returns ``{"delivered": n}`` (targets the message was handed to) and, optionally,
        ``"matched": m`` (subscription-table targets, connected or not). Raises ``ValueError``
        (e.g. ``localcore.router.TopicError``) for a topic the router refuses.
        """
        ...

    def subscribe(self, topic_filter: str) -> AsyncIterator[ConsoleMessage]:
        """A tap on the router: every message matching ``topic_filter`` from now on.

        The dashboard stops with ``aclose()`` when the page unsubscribes or goes away; the
        implementation releases the tap then. Raises ``ValueError`` for an invalid filter.
        """
        ...

    def latest_aggregates(self) -> dict:
        """The reader's latest aggregate per location: ``{location: {"mean", "min", "max",
        "count", "window_start", "window_end"}}`` (the display panel's initial state)."""
        ...

    def snapshot(self, stream_name: str) -> Union[dict, Awaitable[dict]]:
        """Call the snapshot API (cloud Lambda) for a Kinesis Video stream; returns its result
        (e.g. ``{"url": presigned URL, "bucket": ..., "key": ...}``) or raises with a reason."""
        ...


def parse_aggregates(payload: bytes) -> list[dict]:
    """The aggregate records in a ``display/aggregates`` payload.

    Accepts the reader's snapshot ``{"updated_at", "last_sequence", "locations": {name: record}}``
    (``lambdas/reader/latest.py``), one record ``{"location": ..., "mean": ...}``, a list of
    them, ``{"aggregates": [...]}``, or ``{location: {"mean": ...}}``. Raises ``ValueError``
    saying what is wrong.
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"aggregates payload is not UTF-8 JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("locations"), (dict, list)):
        data = data["locations"]
    if isinstance(data, dict) and isinstance(data.get("aggregates"), list):
        data = data["aggregates"]
    if isinstance(data, dict) and "location" in data:
        data = [data]
    elif isinstance(data, dict):
        data = [dict(value, location=value.get("location", key)) for key, value in data.items()
                if isinstance(value, dict)]
    if not isinstance(data, list):
        raise ValueError(f"aggregates payload is JSON {type(data).__name__}; expected an object or a list")
    records = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("location"), str):
            raise ValueError(f"aggregates payload item {index} has no string 'location'")
        records.append(item)
    return records


class CoreFacade:
    """:class:`DashboardFacade` over the real router, a message tap and status providers.

    Wiring (in ``localcore/core.py``)::

        tap = MessageTap(inner=cloud_sink)          # web.tap; the console sees what reaches cloud
        router.attach("cloud", tap)
        facade = CoreFacade(router=router, tap=tap, sections={
            "group": lambda: {...}, "streams": stream_manager.dashboard_streams,
            "shadows": lambda: {t: shadows.document(t) for t in things}, ...},
            snapshot=snapshot_api)                  # callable(stream_name) -> dict (or coroutine)

    ``subscriptions`` defaults to the router's table when no provider is given for it.
    """

    def __init__(self, *, router: Publisher, tap, sections: Mapping[str, Callable[[], Any]] | None = None,
                 snapshot: Callable[[str], Any] | None = None,
                 aggregates_topic: str = AGGREGATES_TOPIC) -> None:
        self._router = router
        self._tap = tap
        self._sections = dict(sections or {})
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._aggregates: dict[str, dict] = {}
        tap.add_listener(aggregates_topic, self._on_aggregates)

    def _on_aggregates(self, message: Message) -> None:
        try:
            records = parse_aggregates(message.payload)
        except ValueError as exc:
            log.warning("ignoring %s from %s: %s", message.topic, message.source, exc)
            return
        with self._lock:
            for record in records:
                self._aggregates[record["location"]] = dict(record, received=time.time())

    def status(self) -> dict:
        result: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, provider in self._sections.items():
            try:
                result[name] = provider()
            except Exception as exc:  # one broken service must not blank the whole dashboard
                log.exception("status provider %r failed", name)
                errors[name] = f"{type(exc).__name__}: {exc}"
        if "subscriptions" not in self._sections and hasattr(self._router, "routes"):
            result["subscriptions"] = [
                {"source": r.source, "target": r.target, "topic": r.topic_filter}
                for r in self._router.routes]
        if errors:
            result["errors"] = errors
        return result

    def publish(self, topic: str, payload: bytes) -> dict:
        delivered = self._router.publish(Message(source=CLOUD, topic=topic, payload=payload))
        result = {"delivered": delivered}
        if hasattr(self._router, "targets"):
            result["matched"] = len(self._router.targets(CLOUD, topic))
        return result

    def subscribe(self, topic_filter: str) -> AsyncIterator[ConsoleMessage]:
        return self._tap.subscribe(topic_filter)

    def latest_aggregates(self) -> dict:
        with self._lock:
            return {k: dict(v) for k, v in self._aggregates.items()}

    def snapshot(self, stream_name: str) -> Union[dict, Awaitable[dict]]:
        if self._snapshot is None:
            raise RuntimeError("the snapshot API is not configured (no cloud snapshot Lambda wired)")
        return self._snapshot(stream_name)


# -- adapters: a service's own status() → the dashboard's section shape ---------------------------
_LOG_TAIL_BYTES = 8192


def tail_lines(path: str | None, count: int) -> list[str]:
    """The last ``count`` lines of a text file (``[]`` when it cannot be read)."""
    if not path or count <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - _LOG_TAIL_BYTES))
            data = fh.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > _LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line was cut by the seek
    return lines[-count:]


_UP = ("ready", "idle", "busy")  # an instance process that took (or waits for) work


def function_state(fn: Mapping[str, Any]) -> str:
    """A function's state as Greengrass shows it, from its ``localcore.runtime`` status entry.

    A pinned (long-lived) function is ``running`` while its process is up (waiting for work or
    not: its own threads do the work), ``starting`` until the process exists, ``not running``
    without one. An on-demand function is ``busy (B of M)`` while B instances run an invocation,
    else ``idle (N of M)`` with N instances up; M is its pool size (``max_instances``).
    ``failed to start`` wins while the last start failed (import error, missing interpreter).
    """
    instances = fn.get("instances") or []
    if fn.get("start_error"):
        return "failed to start"
    states = [str(i.get("state")) for i in instances]
    if fn.get("pinned"):
        alive = [i for i in instances if i.get("state") in _UP
                 or (i.get("state") == "starting" and i.get("pid") is not None)]
        if alive:
            return "running"
        if "starting" in states:
            return "starting"
        if states:
            return "stopping"  # retiring / exited: the restart follows
        return "not running"
    limit = fn.get("max_instances")
    of = f" of {limit}" if limit else ""
    busy = states.count("busy")
    if busy:
        return f"busy ({busy}{of})"
    up = sum(1 for s in states if s in _UP or s == "starting")
    return f"idle ({up}{of})"


def functions_section(runtime_status: Mapping[str, Any], log_lines: int = 5) -> list[dict]:
    """``localcore.runtime`` ``status()`` → ``functions`` rows (state, errors, log tail)."""
    functions = runtime_status.get("functions", {})
    rows = []
    for name, fn in functions.items():
        instances = fn.get("instances") or []
        errors = sum(int(fn.get(key) or 0) for key in ("handled_errors", "unhandled_errors", "timeouts", "crashes"))
        rows.append({"name": name, "pinned": bool(fn.get("pinned")), "state": function_state(fn),
                     "instances": len(instances), "max_instances": fn.get("max_instances"),
                     "queued": fn.get("queued", 0),
                     "invocations": fn.get("invocations", 0), "errors": errors,
                     "last_error": fn.get("last_error") or fn.get("start_error"),
                     "last_log_lines": tail_lines(fn.get("log"), log_lines)})
    return rows


def streams_section(stream_manager_status: Mapping[str, Any]) -> list[dict]:
    """``localcore.streams`` ``StreamManagerServer.status()`` → ``streams`` rows."""
    rows = []
    for stream in stream_manager_status.get("streams", []):
        definition = stream.get("definition") or {}
        rows.append({
            "name": stream.get("name"),
            "oldest": stream.get("oldestSequenceNumber"),
            "newest": stream.get("newestSequenceNumber"),
            "bytes": stream.get("totalBytes", 0),
            "strategy": definition.get("strategyOnFull"),
            "persistence": definition.get("persistence"),
            "max_size": definition.get("maxSize"),
            "exporters": [{"id": e.get("identifier"), "kind": e.get("type"),
                           "position": e.get("lastExportedSequenceNumber"), "lag": e.get("lag", 0),
                           "state": e.get("state"), "error": e.get("errorMessage")}
                          for e in stream.get("exporters", [])],
        })
    return rows


def stream_tail(store, name: str, count: int) -> list[bytes]:
    """The payloads of the newest ``count`` messages of stream ``name`` in a
    ``localcore.streams`` ``StreamStore`` (``[]`` when the stream does not exist or is empty)."""
    from localcore.streams.errors import StreamManagerError

    if store is None or name not in store:
        return []
    try:
        stream = store.get(name)
        oldest, newest = stream.oldest_sequence_number(), stream.newest_sequence_number()
        if oldest is None or newest is None:
            return []
        start = max(oldest, newest - count + 1)
        return [m.payload for m in store.read(name, start, 1, count)]
    except StreamManagerError as exc:  # deleted or trimmed between the checks: show nothing this time
        log.debug("cannot read the tail of stream %s: %s", name, exc)
        return []


# greengrasssdk.stream_manager Status / StatusLevel: status messages carry the enum values
_STATUS = {0: "Success", 1: "Failure", 2: "InProgress", 3: "Warning", 4: "Canceled"}
_LEVEL = {0: "ERROR", 1: "WARN", 2: "INFO", 3: "DEBUG", 4: "TRACE"}


def _export_status(payload: bytes) -> dict | None:
    """One stream-manager ``StatusMessage`` (JSON) → a row for the webcam panel."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    context = data.get("statusContext") or {}
    task = context.get("s3ExportTaskDefinition") or {}
    status, level = data.get("status"), data.get("statusLevel")
    return {"status": _STATUS.get(status, status) if isinstance(status, int) else status,
            "level": _LEVEL.get(level, level) if isinstance(level, int) else level,
            "bucket": task.get("bucket"), "key": task.get("key"),
            "file": str(task.get("inputUrl", "")).rsplit("/", 1)[-1] or None,
            "message": data.get("message"), "time_ms": data.get("timestampEpochMs")}


def webcam_section(frames_dir: str, status_payloads: list[bytes] = (), captured: int | None = None,
                   statuses_shown: int = 10, worker: Mapping[str, Any] | None = None) -> dict:
    """The ``webcam`` section from the frames directory and the S3 export status messages.

    ``latest_jpeg_path`` is the newest ``*.jpg`` (files starting with ``.`` are being written);
    ``saved`` counts the frames in the directory; ``uploaded`` counts ``Success`` statuses.
    ``worker``: the webcam Lambda's own status, what its ``function_handler`` returns
    (``{"frames": captured, "saved": written, "source": "camera"|"synthetic", ...}``, see
    ``lambdas/webcam/handler.py``); ``captured`` comes from its ``frames`` unless given.
    """
    latest, latest_mtime, saved = None, -1.0, 0
    try:
        with os.scandir(frames_dir) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.lower().endswith((".jpg", ".jpeg")):
                    continue
                try:
                    mtime = entry.stat().st_mtime
                except OSError:  # removed by the uploader meanwhile
                    continue
                saved += 1
                if mtime > latest_mtime or (mtime == latest_mtime and entry.name > os.path.basename(latest or "")):
                    latest, latest_mtime = entry.path, mtime
    except OSError as exc:
        log.debug("cannot list frames in %s: %s", frames_dir, exc)
    statuses = [s for s in (_export_status(p) for p in status_payloads) if s is not None]
    if captured is None and isinstance(worker, Mapping) and isinstance(worker.get("frames"), int):
        captured = worker["frames"]
    section_extra = {}
    if isinstance(worker, Mapping):
        section_extra = {"source": worker.get("source"), "last_error": worker.get("last_error")}
    return {**section_extra, "frames_dir": frames_dir, "latest_jpeg_path": latest, "captured": captured, "saved": saved,
            "uploaded": sum(1 for s in statuses if s["status"] == "Success"),
            "export_statuses": statuses[-statuses_shown:]}


class Cached:
    """A status provider that calls ``provider`` at most every ``max_age_s`` seconds (for
    sections that cost a cloud call, e.g. a DynamoDB scan); errors are raised once per refresh."""

    def __init__(self, provider: Callable[[], Any], max_age_s: float, clock: Callable[[], float] = time.monotonic):
        self._provider, self._max_age, self._clock = provider, max_age_s, clock
        self._value: Any = None
        self._at: float | None = None

    def __call__(self) -> Any:
        now = self._clock()
        if self._at is None or now - self._at >= self._max_age:
            self._at = now  # a failing provider is retried after max_age_s, not on every tick
            self._value = self._provider()
        return self._value


class Polled:
    """A status provider over a coroutine function, for a status that costs a round trip on the
    event loop — e.g. invoking a pinned Lambda whose handler returns its worker's status::

        async def webcam_worker():
            result = await runtime.invoke("webcam", b"")
            return None if result.function_error else result.json()
        worker = Polled(webcam_worker, 3.0)
        "webcam": lambda: webcam_section(frames_dir, tail, worker=worker())

    A call returns the last value at once (``None`` before the first answer) and, when that value
    is older than ``max_age_s``, starts one refresh on the running loop (none without a running
    loop). A refresh that fails or outlives ``timeout_s`` is logged and gives ``None``.
    ``aclose()`` cancels a refresh under way.
    """

    def __init__(self, fetch: Callable[[], Awaitable[Any]], max_age_s: float, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch, self._max_age, self._timeout, self._clock = fetch, max_age_s, timeout_s, clock
        self._value: Any = None
        self._at: float | None = None
        self._task: asyncio.Task | None = None

    def __call__(self) -> Any:
        if self._task is None and (self._at is None or self._clock() - self._at >= self._max_age):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called from a thread: keep the last value
                return self._value
            self._task = loop.create_task(self._refresh())
        return self._value

    async def _refresh(self) -> None:
        try:
            self._value = await asyncio.wait_for(self._fetch(), self._timeout)
        except asyncio.TimeoutError:
            log.warning("status refresh %s: no answer within %.0f s", self._fetch, self._timeout)
            self._value = None
        except Exception as exc:  # the provider's failure is shown as "no value", never raised into status()
            log.warning("status refresh %s failed: %s: %s", self._fetch, type(exc).__name__, exc)
            self._value = None
        finally:
            self._at = self._clock()
            self._task = None

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


# -- the platform section: V1 or Greengrass V2 (deployment, components, client-device auth) -------------
PLATFORM_LABELS = {"v1": "Greengrass V1", "v2": "Greengrass V2"}
PROBLEM_STATES = frozenset({"FAILED", "ERRORED", "BROKEN"})
_KIND_ORDER = {"lambda": 0, "generic": 1, "public": 2}
_REFUSALS_SHOWN = 10


def _component_kind(name: str, kinds: Mapping[str, str]) -> str:
    if name in kinds:
        return kinds[name]
    # a component the core reported but the current profile no longer names (a failed follow-up)
    return "public" if name.startswith("aws.greengrass.") else "unknown"


def core_device_health(deployment_status: str | None, components: list[dict],
                       services: list[Mapping[str, Any]] = ()) -> tuple[str, list[str]]:
    """``("HEALTHY" | "UNHEALTHY", reasons)`` of the core device, as a V2 core reports its status: unhealthy
    when its deployment FAILED, a component is ERRORED / BROKEN, or one of the core's services is not up."""
    reasons = []
    if deployment_status == "FAILED":
        reasons.append("the deployment FAILED")
    reasons += [f"component {c['name']} is {c['state']}" for c in components
                if c.get("state") in PROBLEM_STATES]
    reasons += [f"service {s.get('name')} is {s.get('state')}" + (f": {s['error']}" if s.get("error") else "")
                for s in services if s.get("state") not in ("started", None)]
    return ("UNHEALTHY" if reasons else "HEALTHY"), reasons


def platform_section(profile: Any, deployment: Mapping[str, Any] | None, broker_status: Mapping[str, Any] | None,
                     *, core_thing: str | None = None,
                     core_status: Mapping[str, Any] | None = None,
                     ipc_status: Mapping[str, Any] | None = None) -> dict:
    """The ``platform`` section, pure: from the core's ``PlatformProfile`` (``localcore/platform.py``),
    ``core.deployment`` (under v2 ``localcore/run_v2.py`` puts there the id, status, message and the
    ListInstalledComponents-shaped ``components`` the core reported), the broker's ``status()`` (its
    ``client_policy``: the Auth component's decisions) and the core's lifecycle ``status()``.

    ::

        {"name": "v1" | "v2", "label": "Greengrass V1" | "Greengrass V2",
         "deployment": None | {"id", "status", "message",
                               "core_devices": [{"thing", "status", "reason", "health", "health_reasons"}]},
         "components": [{"name", "version", "kind": "lambda"|"generic"|"public"|"unknown", "root",
                         "state", "details", "problem": bool}],        # lambda, generic, public; by name
         "client_auth": None | {"decisions": {operation: {"allowed", "refused"}},
                                "recent_refusals": [{"thing", "operation", "resource", "reason", "time"}],
                                "groups": {name: {"selectionRule", "policyName"}}, "warnings": [str]},
         "ipc": None | {"socket", "connections": [component], "operations": [name], "allowed", "refused",
                        "recent_refusals": [{"principal", "operation", "resource", "reason", "time"}],
                        "problems": [str]}}      # the nucleus IPC server's status (localcore/nucleus_ipc)

    Under v1 ``deployment`` and ``client_auth`` are ``None``, ``ipc`` is absent and ``components`` is empty (the
    page hides its V2 panels). ``state`` is ``None`` for a component the core has not reported yet;
    ``recent_refusals`` are the newest first (at most 10).
    """
    name = str(getattr(profile, "name", "v1") or "v1")
    result: dict[str, Any] = {"name": name, "label": PLATFORM_LABELS.get(name, name),
                              "deployment": None, "components": [], "client_auth": None}
    if name != "v2":
        return result
    deployment = dict(deployment or {})
    kinds = {c.name: c.kind for c in getattr(profile, "components", ())}
    reported = {c.get("componentName"): c for c in deployment.get("components") or [] if isinstance(c, Mapping)}
    rows = []
    for info in getattr(profile, "components", ()):
        entry = reported.pop(info.name, None)
        rows.append(_component_row(info.name, entry, kinds, version=info.version, root=info.root))
    rows += [_component_row(n, entry, kinds) for n, entry in reported.items() if n]
    rows.sort(key=lambda r: (_KIND_ORDER.get(r["kind"], 3), r["name"]))
    result["components"] = rows

    status = deployment.get("status")
    services = list((core_status or {}).get("services") or [])
    health, why = core_device_health(status, rows, services)
    result["deployment"] = {
        "id": deployment.get("id") or getattr(profile, "deployment_id", None),
        "status": status, "message": deployment.get("message") or "",
        "core_devices": [{"thing": core_thing, "status": status or "IN_PROGRESS",
                          "reason": deployment.get("message") or "", "health": health,
                          "health_reasons": why}],
    }
    policy = (broker_status or {}).get("client_policy")
    if isinstance(policy, Mapping):
        refusals = [dict(r) for r in policy.get("recent_refusals") or [] if isinstance(r, Mapping)]
        result["client_auth"] = {
            "decisions": {op: {"allowed": int(c.get("allowed", 0)), "refused": int(c.get("refused", 0))}
                          for op, c in (policy.get("decisions") or {}).items() if isinstance(c, Mapping)},
            "recent_refusals": refusals[::-1][:_REFUSALS_SHOWN],
            "groups": dict(policy.get("groups") or {}),
            "warnings": list(policy.get("warnings") or []),
        }
    result["ipc"] = None
    if isinstance(ipc_status, Mapping):
        authz = ipc_status.get("authorization") or {}
        refused = [dict(r) for r in authz.get("last_refusals") or [] if isinstance(r, Mapping)]
        result["ipc"] = {
            "socket": ipc_status.get("socket"), "connections": list(ipc_status.get("connections") or []),
            "operations": list(ipc_status.get("wired") or []),
            "allowed": int(authz.get("allowed", 0)), "refused": int(authz.get("refused", 0)),
            "recent_refusals": refused[::-1][:_REFUSALS_SHOWN],
            "problems": [p for ps in (authz.get("problems") or {}).values() for p in ps],
        }
    return result


def _component_row(name: str, entry: Mapping[str, Any] | None, kinds: Mapping[str, str], *,
                   version: str | None = None, root: bool = True) -> dict:
    entry = entry or {}
    state = entry.get("lifecycleState")
    details = entry.get("lifecycleStateDetails") or ""
    codes = entry.get("lifecycleStatusCodes") or []
    if codes and not details:
        details = ", ".join(str(c) for c in codes)
    return {"name": name, "version": entry.get("componentVersion") or version,
            "kind": _component_kind(name, kinds), "root": bool(entry.get("isRoot", root)),
            "state": state, "details": details, "problem": state in PROBLEM_STATES}
