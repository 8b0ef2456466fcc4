"""The ShadowManager's IPC operations — ``GetThingShadow``, ``UpdateThingShadow``, ``DeleteThingShadow``,
``ListNamedShadowsForThing`` — and its local pub/sub side, as a thin adapter over the core's one shadow store
(:class:`localcore.shadow.ShadowService`: the documents client devices reach over MQTT and the cloud sync uses).

Follows aws-greengrass/aws-greengrass-shadow-manager (``ipc/*RequestHandler``, ``ipc/ListNamedShadowsForThingIPCHandler``,
``PubSubIntegrator``, ``ipc/PubSubClientWrapper``, ``util/Validator``, ``AuthorizationHandlerWrapper``,
``model/Constants``):

* served only while ``aws.greengrass.ShadowManager`` is deployed (otherwise the nucleus answers
  ``Operation … is not supported by Greengrass``);
* names first (``ThingName is missing``, ``ThingName has a maximum length of 128``, ``ThingName must match
  pattern [a-zA-Z0-9:_-]+``, the same for ``ShadowName`` with 64; an empty shadow name is the classic shadow),
  then authorization: service ``aws.greengrass.ShadowManager``, resource ``$aws/things/<thing>/shadow`` or
  ``$aws/things/<thing>/shadow/name/<name>`` (the bare thing name for ``ListNamedShadowsForThing``); the
  ShadowManager itself is always allowed;
* errors: ``ResourceNotFoundError("No shadow found")`` (resource type ``shadow``), ``ConflictError("Version
  conflict")``, ``InvalidArgumentsError`` with the store's text (``Missing update payload`` for an empty update,
  ``The payload exceeds the maximum size allowed``, nesting deeper than 6, …); each failure is also published on
  ``…/<op>/rejected`` as ``{code, message, timestamp[, clientToken]}``;
* responses: Get → the document with ``delta``; Update → what ``update/accepted`` carries; Delete → an empty
  payload; List → ``results`` (names, sorted), ``timestamp`` and, when a page is full, an opaque ``nextToken``
  bound to the caller and the thing (``pageSize`` 1–100, default 25: ``pageSize argument must be between 1 and
  100``; a token that does not decode: ``Invalid nextToken argument``);
* the size limit is the configuration's ``shadowDocumentSizeLimitBytes`` (default 8 KiB, at most 30 KiB).

**Local pub/sub.** Every reply the store produces — for an IPC call, an MQTT request of a client device, a
component's publish, the cloud sync — is published on the local bus as binary JSON on
``$aws/things/<thing>/shadow[/name/<n>]/<op>/(accepted|rejected|delta|documents)`` (and routed through the
router with source ``shadow:<thing>``, so the subscription table carries it on to devices and Lambdas). The
ShadowManager subscribes to ``$aws/things/+/shadow/#``: a component that publishes a request on
``…/shadow[/name/<n>]/(get|update|delete)`` drives the shadow; reply topics are ignored.

Requests run one at a time on one worker thread (the store writes files), in the order they came.

**Configuration** (parsed by :mod:`localcore.shadow.manager_config`, applied at every deployment as the component's
configuration watcher applies a change; one that does not parse leaves the previous one in force, as the component
goes ERRORED — the V2 reader already fails such a deployment):

* ``rateLimits``: every IPC call first takes a permit of the total and of its thing's limiter
  (``ipc/InboundRateLimiter``; List after its name check) — over the limit it fails with ``ServiceError("Too Many
  Requests")``, before authorization and without a ``…/rejected`` publish; requests on local pub/sub (components,
  client devices over the bridge) and the sync are not limited, as the component's ``PubSubIntegrator``;
* ``synchronize`` / ``strategy`` / ``maxOutboundSyncUpdatesPerSecond``: the cloud sync of
  :mod:`localcore.shadow.manager_sync`, once the core gave its thing name and the cloud (:meth:`attach_cloud`).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import Counter
from typing import Any, Callable, Mapping, Optional, Sequence

from localcore.interfaces import Message, ShadowReply
from localcore.shadow import manager_config
from localcore.shadow.errors import ShadowManagerConfigError, ThrottledRequest
from localcore.shadow.manager_config import ShadowManagerConfig
from localcore.shadow.manager_sync import DataPlane, ShadowManagerSync
from localcore.shadow.ratelimit import InboundLimiter
from localcore.shadow.state import parse_shadow_topic, topic as shadow_topic, valid_shadow_name, valid_thing_name

from .errors import (ConflictError, InvalidArgumentsError, IpcError, ResourceNotFoundError, ServiceError,
                     UnauthorizedError)
from .service import Call, IpcService

log = logging.getLogger(__name__)

COMPONENT = "aws.greengrass.ShadowManager"
OPERATIONS = ("GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListNamedShadowsForThing")
SUBSCRIBE_TOPIC = "$aws/things/+/shadow/#"
THROTTLED = "Too Many Requests"
SYNC_STATE = "shadow-manager/sync.json"     # under the store's folder: what each synced shadow last synced
PATTERN = "[a-zA-Z0-9:_-]+"
MAX_THING_NAME = 128
MAX_SHADOW_NAME = 64
DEFAULT_PAGE_SIZE, MIN_PAGE_SIZE, MAX_PAGE_SIZE = 25, 1, 100
RECEIVE_ALL = "RECEIVE_ALL_MESSAGES"


def thing_name_problem(thing: Any) -> Optional[str]:
    """``Validator.validateThingName``'s text for a bad thing name, else None."""
    if not thing:
        return "ThingName is missing"
    return _name_problem("ThingName", thing, MAX_THING_NAME, valid_thing_name)


def shadow_name_problem(name: Any) -> Optional[str]:
    """``Validator.validateShadowName``'s text for a bad shadow name (empty: the classic shadow), else None."""
    if not name:
        return None
    return _name_problem("ShadowName", name, MAX_SHADOW_NAME, valid_shadow_name)


def _name_problem(label: str, value: Any, max_length: int, valid: Any) -> Optional[str]:
    if not isinstance(value, str):
        return f"{label} must be a string, got {type(value).__name__}"
    if len(value) > max_length:
        return f"{label} has a maximum length of {max_length}"
    if not valid(value):
        return f"{label} must match pattern {PATTERN}"
    return None


def resource(thing: str, shadow_name: str = "") -> str:
    """The authorization resource of a shadow (``ShadowRequest.getShadowTopicPrefix``)."""
    return f"$aws/things/{thing}/shadow" + (f"/name/{shadow_name}" if shadow_name else "")


def error_of(rejected: Mapping[str, Any]) -> IpcError:
    """The IPC error for a ``…/rejected`` body of the store."""
    code, message = rejected.get("code"), str(rejected.get("message") or "")
    if code == 404:
        return ResourceNotFoundError("No shadow found", resource_type="shadow")
    if code == 409:
        return ConflictError("Version conflict")
    if code in (400, 413):
        return InvalidArgumentsError(message)
    return ServiceError(message or "Internal service failure")


class PageTokens:
    """Opaque ``nextToken``\\ s: the offset, signed for one (caller, thing) with a key of this core run."""

    def __init__(self, key: Optional[bytes] = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def _mac(self, caller: str, thing: str, offset: int) -> str:
        msg = f"{caller}\x00{thing}\x00{offset}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def make(self, caller: str, thing: str, offset: int) -> str:
        raw = f"{offset}:{self._mac(caller, thing, offset)}".encode()
        return base64.urlsafe_b64encode(raw).decode()

    def offset(self, caller: str, thing: str, token: str) -> int:
        """The offset a token stands for; ValueError if it was not made here for this caller and thing."""
        try:
            text = base64.urlsafe_b64decode(token.encode()).decode()
            number, mac = text.split(":", 1)
            offset = int(number)
        except (binascii.Error, UnicodeError, ValueError):
            raise ValueError("Invalid nextToken argument") from None
        if offset < 0 or not hmac.compare_digest(mac, self._mac(caller, thing, offset)):
            raise ValueError("Invalid nextToken argument")
        return offset


class ShadowManagerOperations:
    """:param access: the core's ``AccessControl``; :param bus: the local pub/sub bus (``LocalPubSub``);
    :param shadows: the core's shadow store (``ShadowService``)."""

    def __init__(self, access: Any, bus: Any, shadows: Any, clock: Callable[[], float] = time.time) -> None:
        self.access = access
        self.bus = bus
        self.shadows = shadows
        self.clock = clock
        self.tokens = PageTokens()
        self.deployed = False
        self._sub: Any = None
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.monotonic: Callable[[], float] = time.monotonic
        self.config = ShadowManagerConfig()
        self._raw_config: Optional[Mapping[str, Any]] = None
        self._limiter = InboundLimiter(self.config.rate_limits.max_total_local_requests_rate,
                                       self.config.rate_limits.max_local_requests_per_second_per_thing, self.monotonic())
        self._core_thing: Optional[str] = None
        self._cloud: Any = None
        self._poll_interval_s = 1.0
        self.sync: Optional[ShadowManagerSync] = None
        self.config_error: Optional[str] = None

    def attach_cloud(self, core_thing: str, client: Callable[[], Any], poll_interval_s: float = 1.0) -> None:
        """The core device's thing name (``synchronize.coreThing``) and its cloud: ``client()`` gives a boto3
        ``iot-data`` client of the (local) cloud. Without it nothing syncs."""
        self._core_thing, self._cloud, self._poll_interval_s = core_thing, DataPlane(client), poll_interval_s
        if self.deployed and self._raw_config is not None:
            self._apply_config(self._raw_config)

    # -- deployment ---------------------------------------------------------------------------
    def configure(self, service: IpcService, configuration: Optional[Mapping[str, Any]]) -> None:
        """The ShadowManager's configuration after a deployment (None: not deployed)."""
        if configuration is None:
            if self.deployed:
                self._undeploy(service)
            return
        self._apply_config(configuration)
        if self.deployed:
            return
        for op, handler in (("GetThingShadow", self.get_thing_shadow), ("UpdateThingShadow", self.update_thing_shadow),
                            ("DeleteThingShadow", self.delete_thing_shadow),
                            ("ListNamedShadowsForThing", self.list_named_shadows_for_thing)):
            service.wire(op, handler)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow-manager")
        self.shadows.add_listener(self._replies)
        self._sub = self.bus.subscribe(COMPONENT, SUBSCRIBE_TOPIC, RECEIVE_ALL, self._from_pubsub)
        self.deployed = True
        log.info("ShadowManager: IPC shadow operations served; subscribed to %s on local pub/sub", SUBSCRIBE_TOPIC)

    def _apply_config(self, configuration: Mapping[str, Any]) -> None:
        try:
            cfg = manager_config.parse(configuration, self._core_thing)
        except ShadowManagerConfigError as e:
            self.config_error = str(e)
            log.error("%s: configuration refused, the previous one stays in force: %s", COMPONENT, e)
            return
        self._raw_config, self.config, self.config_error = dict(configuration), cfg, None
        self.shadows.set_max_document_bytes(cfg.max_document_bytes)
        limits = cfg.rate_limits
        with self._lock:
            self._limiter.update(limits.max_total_local_requests_rate, limits.max_local_requests_per_second_per_thing)
        if self._cloud is None:
            if cfg.synced:
                log.warning("%s: synchronize names %d shadow(s) but the core gave no cloud: nothing syncs", COMPONENT,
                            len(cfg.synced))
            return
        if self.sync is None:
            if not cfg.synced:
                return
            self.sync = ShadowManagerSync(self.shadows, self._cloud, poll_interval_s=self._poll_interval_s,
                                          state_file=self.shadows.directory / SYNC_STATE)
            self.shadows.add_listener(self.sync.local_changed)
        self.sync.configure(cfg.synced, cfg.direction, cfg.strategy, limits.max_outbound_updates_per_second)
        self.sync.start()

    def _stop_sync(self) -> None:
        sync, self.sync = self.sync, None
        if sync is not None:
            self.shadows.remove_listener(sync.local_changed)
            sync.stop()

    def _undeploy(self, service: IpcService) -> None:
        for op in OPERATIONS:
            service.unwire(op)
        self._detach()
        self.shadows.set_max_document_bytes(None)
        self.config, self._raw_config = ShadowManagerConfig(), None
        with self._lock:
            self._limiter.clear()
        log.info("ShadowManager removed: IPC shadow operations answer as a nucleus without it")

    def _detach(self) -> None:
        self._stop_sync()
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
            self._sub = None
        self.shadows.remove_listener(self._replies)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=False)
        self.deployed = False

    def close(self) -> None:
        """Stop listening and finish the queued requests (the core stops)."""
        self._detach()

    # -- the bus ------------------------------------------------------------------------------
    def _replies(self, thing: str, shadow_name: str, replies: Sequence[ShadowReply]) -> None:
        """Every reply of the store on local pub/sub, as the ShadowManager publishes them (binary)."""
        for reply in replies:
            self.bus.deliver(Message(source=f"shadow:{thing}", topic=reply.topic, payload=reply.payload))
        with self._lock:
            self.counts["published"] += len(replies)

    def _from_pubsub(self, event: bytes) -> None:
        """A message on ``$aws/things/+/shadow/#`` (SubscriptionResponseMessage JSON): a request drives the store."""
        try:
            body = json.loads(event)
            part = body.get("binaryMessage") or body.get("jsonMessage") or {}
            topic_name = (part.get("context") or {}).get("topic") or ""
            parsed = parse_shadow_topic(topic_name)
            if parsed is None:
                return   # a reply topic (ours included) or no shadow request
            if "binaryMessage" in body:
                payload = base64.b64decode(part.get("message") or "")
            else:
                payload = json.dumps(part.get("message"), separators=(",", ":")).encode()
        except (ValueError, TypeError, AttributeError, binascii.Error) as e:
            log.warning("ShadowManager: unreadable local pub/sub message ignored: %s", e)
            return
        thing, shadow_name, action = parsed
        executor = self._executor
        if executor is None:
            return
        with self._lock:
            self.counts["pubsub_requests"] += 1
        try:
            executor.submit(self._run_logged, self.shadows.handle_and_publish, thing, action, payload, shadow_name)
        except RuntimeError:   # shut down meanwhile (undeployed, core stopping)
            log.info("ShadowManager: %s %s of %s dropped: the ShadowManager is stopping", action, shadow_name, thing)

    @staticmethod
    def _run_logged(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except ValueError as e:   # BadShadowRequest: the topic parsed, so only an action or name refused late
            log.warning("ShadowManager: local pub/sub request refused: %s", e)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        executor = self._executor
        if executor is None:
            raise ServiceError("The ShadowManager is stopping")
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    # -- IPC ----------------------------------------------------------------------------------
    def _throttle(self, call: Call, thing: Any) -> None:
        """``InboundRateLimiter.acquireLockForThing``: a permit of the total and of the thing's limiter."""
        try:
            with self._lock:
                self._limiter.acquire(thing if isinstance(thing, str) else None, self.monotonic())
        except ThrottledRequest as e:
            self._count(call.operation.short, "throttled")
            log.warning("%s: %s refused for %s (thing %s): %s", COMPONENT, call.operation.short, call.component,
                        thing, e)
            raise ServiceError(THROTTLED) from None

    def _names(self, body: dict) -> tuple[str, str]:
        thing, name = body.get("thingName"), body.get("shadowName")
        problem = thing_name_problem(thing) or shadow_name_problem(name)
        if problem:
            raise InvalidArgumentsError(problem)
        return thing, name or ""

    def _authorize(self, call: Call, res: str, rejected_topic: Optional[str]) -> None:
        if call.component == COMPONENT:
            return
        try:
            self.access.check(call.component, call.operation.name, res)
        except UnauthorizedError:
            if rejected_topic is not None:
                self._reject(rejected_topic, 401, "Unauthorized")
            raise

    def _reject(self, topic_name: str, code: int, message: str, token: Optional[str] = None) -> None:
        body: dict = {"code": code, "message": message, "timestamp": int(self.clock())}
        if token is not None:
            body["clientToken"] = token
        self.bus.deliver(Message(source=COMPONENT, topic=topic_name, payload=json.dumps(body).encode()))

    def _count(self, op: str, outcome: str) -> None:
        with self._lock:
            self.counts[f"{op}.{outcome}"] += 1

    async def _apply(self, call: Call, thing: str, name: str, action: str, payload: bytes) -> bytes:
        replies = await self._run(self.shadows.handle_and_publish, thing, action, payload, name)
        for reply in replies:
            suffix = reply.topic.rsplit("/", 1)[-1]
            if suffix == "rejected":
                self._count(call.operation.short, "failed")
                raise error_of(json.loads(reply.payload))
            if suffix == "accepted":
                self._count(call.operation.short, "ok")
                return reply.payload
        raise ServiceError(f"the shadow store gave no answer to {action}")

    async def get_thing_shadow(self, call: Call, body: dict) -> None:
        self._throttle(call, body.get("thingName"))
        thing, name = self._names(body)
        self._authorize(call, resource(thing, name), shadow_topic(thing, "get", "rejected", name))
        payload = await self._apply(call, thing, name, "get", b"")
        call.respond({"payload": base64.b64encode(payload).decode()})

    async def update_thing_shadow(self, call: Call, body: dict) -> None:
        self._throttle(call, body.get("thingName"))
        thing, name = self._names(body)
        rejected = shadow_topic(thing, "update", "rejected", name)
        payload = _payload(body.get("payload"))
        if not payload:
            self._reject(rejected, 400, "Missing update payload")
            raise InvalidArgumentsError("Missing update payload")
        self._authorize(call, resource(thing, name), rejected)
        accepted = await self._apply(call, thing, name, "update", payload)
        call.respond({"payload": base64.b64encode(accepted).decode()})

    async def delete_thing_shadow(self, call: Call, body: dict) -> None:
        self._throttle(call, body.get("thingName"))
        thing, name = self._names(body)
        self._authorize(call, resource(thing, name), shadow_topic(thing, "delete", "rejected", name))
        await self._apply(call, thing, name, "delete", b"")
        call.respond({"payload": ""})   # an empty payload, as the service's DeleteThingShadow

    def list_named_shadows_for_thing(self, call: Call, body: dict) -> None:
        thing = body.get("thingName")
        problem = thing_name_problem(thing)
        if problem:
            raise InvalidArgumentsError(problem)
        self._throttle(call, thing)
        self._authorize(call, thing, None)
        page_size = body.get("pageSize")
        if page_size is None:
            page_size = DEFAULT_PAGE_SIZE
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
                MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE):
            raise InvalidArgumentsError("pageSize argument must be between 1 and 100")
        offset = 0
        token = body.get("nextToken")
        if token:
            if not isinstance(token, str):
                raise InvalidArgumentsError("Invalid nextToken argument")
            try:
                offset = self.tokens.offset(call.component, thing, token)
            except ValueError as e:
                raise InvalidArgumentsError(str(e)) from None
        names = self.shadows.named_shadows(thing)[offset:offset + page_size]
        out: dict = {"results": names, "timestamp": self.clock()}
        if len(names) == page_size:
            out["nextToken"] = self.tokens.make(call.component, thing, offset + page_size)
        self._count(call.operation.short, "ok")
        call.respond(out)

    def status(self) -> dict:
        with self._lock:
            counts = dict(self.counts)
        limits = self.config.rate_limits
        sync = self.sync
        return {"deployed": self.deployed, "subscribed": self._sub is not None,
                "max_document_bytes": self.shadows.max_document_bytes, "counts": counts,
                "rate_limits": {"total_per_second": limits.max_total_local_requests_rate,
                                "per_thing_per_second": limits.max_local_requests_per_second_per_thing,
                                "outbound_per_second": limits.max_outbound_updates_per_second},
                "sync": sync.status() if sync is not None else None, "config_error": self.config_error}


def _payload(value: Any) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise InvalidArgumentsError("payload must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentsError("payload is not valid base64") from None
