"""The IPC daemon: aiohttp on loopback, wire format of ``docs/protocols/lambda-ipc.md`` §3–§5.

Routes (``<arn>`` is the raw function ARN, matched with ``[^/]+``):

* ``POST /2016-11-01/functions/<arn>``              invoke (``X-Amz-Invocation-Type``)
* ``GET  /2016-11-01/functions/<arn>``              result of ``X-Amz-InvocationId`` (long-poll)
* ``GET  /2016-11-01/functions/<arn>/work``         next invocation for an instance (long-poll)
* ``POST /2016-11-01/functions/<arn>/work``         result / handler error of an invocation
* ``PUT  /2016-11-01/functions/<arn>/initialized``  instance start-up outcome
* ``GET  /2016-11-01/credentialprovider/``          container credentials (botocore)

Every call carries ``Authorization: <AWS_CONTAINER_AUTHORIZATION_TOKEN>``; the token names the
calling function, which is also the *source* of what it publishes.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from aiohttp import web

from localcore.interfaces import (Message, Publisher, QueueFullError, ShadowOperations,
                                  function as function_endpoint)

from .directory import ROUTER, SECRETS, SHADOW, SYSTEM_FUNCTIONS, FunctionDirectory
from .errors import (BadRequest, Forbidden, IPCError, QueueFull, SecretNotFound, SecretsFileError,
                     Unauthorized, UnknownFunction)
from .secrets import SecretsStore
from .work import EVENT, INVOCATION_TYPES, REQUEST_RESPONSE, Result, WorkBroker

log = logging.getLogger(__name__)

API = "/2016-11-01"
H_INVOCATION_ID = "X-Amz-InvocationId"
H_CLIENT_CONTEXT = "X-Amz-Client-Context"
H_INVOCATION_TYPE = "X-Amz-Invocation-Type"
H_FUNCTION_ERROR = "X-Amz-Function-Error"
H_INSTANCE = "X-GG-Instance"

_SHADOW_SUBJECT = re.compile(r"^\$aws/things/(?P<thing>[^/]+)/shadow/(?P<action>get|update|delete)$")


@dataclass
class ServiceBackends:
    """The core services the daemon forwards to (None = not available in this core)."""

    publisher: Optional[Publisher] = None
    shadow: Optional[ShadowOperations] = None
    secrets: Optional[SecretsStore] = None
    # Container credentials served to boto3 inside Lambdas (the group role; dummy ones locally).
    credentials: dict = field(default_factory=lambda: {
        "AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing"})
    credentials_ttl_s: int = 3600
    # Publish every message a Lambda's shadow request produces (accepted, delta, documents) through
    # the router with source shadow:<thing>, as the core's shadow service does.
    publish_shadow_replies: bool = True
    # Why greengrasssdk shadow calls get an error when ``shadow`` is None (a Greengrass V2 core does not
    # serve them to unmodified V1 code: the SDK raises ShadowError with this message).
    no_shadow_reason: str = "no shadow service in this core"


def decode_client_context(value: str) -> dict:
    """Base64 JSON client context → dict ({} when empty). BadRequest when malformed."""
    if not value:
        return {}
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"{H_CLIENT_CONTEXT} is not base64 of a JSON object: {e}") from e
    if not isinstance(decoded, dict):
        raise BadRequest(f"{H_CLIENT_CONTEXT} must encode a JSON object")
    return decoded


def encode_client_context(context: dict) -> str:
    return base64.b64encode(json.dumps(context).encode()).decode()


class IPCServer:
    """``async start()`` / ``stop()``; ``port`` is the bound port after start."""

    def __init__(
        self,
        broker: WorkBroker,
        directory: FunctionDirectory,
        backends: ServiceBackends,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        poll_wait_s: float = 20.0,
        result_wait_s: float = 900.0,
        on_initialized: Callable[[str, str, bool, str], None] | None = None,
    ) -> None:
        self.broker = broker
        self.directory = directory
        self.backends = backends
        self.host = host
        self.port = port
        self.poll_wait_s = poll_wait_s
        self.result_wait_s = result_wait_s
        self._on_initialized = on_initialized
        self._credential_checks: list[Callable[[str], bool]] = []
        self._runner: web.AppRunner | None = None
        self.requests = 0
        self.rejected = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=16 * 1024 * 1024)
        arn = "{arn:[^/]+}"
        app.router.add_post(f"{API}/functions/{arn}", self._invoke)
        app.router.add_get(f"{API}/functions/{arn}", self._get_result)
        app.router.add_get(f"{API}/functions/{arn}/work", self._get_work)
        app.router.add_post(f"{API}/functions/{arn}/work", self._post_work)
        app.router.add_put(f"{API}/functions/{arn}/initialized", self._initialized)
        app.router.add_get(f"{API}/credentialprovider/", self._credentials)
        app.router.add_get(f"{API}/credentialprovider", self._credentials)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(e.errno, f"IPC daemon cannot listen on {self.host}:{self.port} ({e.strerror}); "
                                   "free the port or choose another (ipc_port / GG_DAEMON_PORT)") from e
        self.port = self._runner.addresses[0][1]
        log.info("IPC daemon listening on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def credentials_uri(self) -> str:
        return f"http://{self.host}:{self.port}{API}/credentialprovider/"

    def add_credentials_check(self, check: Callable[[str], bool]) -> None:
        """Serve container credentials also to callers whose token ``check`` accepts — a V2 core's generic
        components, whose ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` the token exchange service accepts as it accepts a
        Lambda's (the function routes stay the functions' own). ``check`` must not block."""
        self._credential_checks.append(check)

    def status(self) -> dict:
        return {"host": self.host, "port": self.port, "requests": self.requests, "rejected": self.rejected}

    # -- helpers --------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        self.requests += 1
        try:
            return await handler(request)
        except IPCError as e:
            self.rejected += 1
            # late answers while the core stops are expected; anything else is worth a warning
            level = logging.DEBUG if self.broker.closed else logging.WARNING
            log.log(level, "IPC %s %s → %d: %s", request.method, request.path, e.status, e)
            return web.Response(status=e.status, text=f"{type(e).__name__}: {e}")
        except web.HTTPException:
            raise
        except Exception as e:  # a bug here must cost one request, never the daemon
            self.rejected += 1
            log.exception("IPC %s %s failed", request.method, request.path)
            return web.Response(status=500, text=f"internal error of the IPC daemon: {type(e).__name__}: {e}")

    def _caller(self, request: web.Request):
        token = request.headers.get("Authorization")
        if not token:
            raise Unauthorized("missing Authorization header (AWS_CONTAINER_AUTHORIZATION_TOKEN)")
        entry = self.directory.by_token(token)
        if entry is None:
            raise Unauthorized("unknown Authorization token: not the token of any function of this core")
        return entry

    def _own_function(self, request: web.Request):
        """Runtime routes: the token must belong to the function named in the path."""
        caller = self._caller(request)
        target = self.directory.by_arn(request.match_info["arn"])
        if target is None:
            raise UnknownFunction(f"function not found: {request.match_info['arn']}")
        if target.name != caller.name:
            raise Forbidden(f"function {caller.name!r} may not take work of function {target.name!r}")
        return target

    @staticmethod
    def _invocation_id(request: web.Request) -> str:
        value = request.headers.get(H_INVOCATION_ID)
        if not value:
            raise BadRequest(f"missing {H_INVOCATION_ID} header")
        return value

    # -- invoke / result ------------------------------------------------------------------------

    async def _invoke(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        arn = request.match_info["arn"]
        invocation_type = request.headers.get(H_INVOCATION_TYPE) or REQUEST_RESPONSE
        if invocation_type not in INVOCATION_TYPES:
            raise BadRequest(f"{H_INVOCATION_TYPE} must be one of {', '.join(INVOCATION_TYPES)}, "
                             f"got {invocation_type!r}")
        client_context = request.headers.get(H_CLIENT_CONTEXT, "")
        body = await request.read()
        system = SYSTEM_FUNCTIONS.get(arn)
        if system == ROUTER:
            result = self._publish(caller, client_context, body)
        elif system == SHADOW:
            result = self._shadow(client_context, body)
        elif system == SECRETS:
            result = self._secret(body)
        else:
            target = self.directory.by_arn(arn)
            if target is None:
                raise UnknownFunction(f"function not found: {arn}")
            if target.encoding == "json" and body:
                try:
                    json.loads(body)
                except ValueError as e:
                    raise BadRequest(f"function {target.name!r} takes JSON (encoding json) but the payload "
                                     f"is not JSON: {e}") from e
            invocation = self.broker.submit(
                target.name, body, client_context=client_context, invocation_type=invocation_type,
                source=function_endpoint(caller.name))
            status = 202 if invocation_type == EVENT else 200
            return web.Response(status=status, headers={H_INVOCATION_ID: invocation.id})
        invocation = self.broker.completed(system, result, invocation_type=invocation_type,
                                           source=function_endpoint(caller.name))
        status = 202 if invocation_type == EVENT else 200
        return web.Response(status=status, headers={H_INVOCATION_ID: invocation.id})

    def _publish(self, caller, client_context: str, body: bytes) -> Result:
        custom = decode_client_context(client_context).get("custom") or {}
        subject = custom.get("subject")
        if not isinstance(subject, str) or not subject:
            raise BadRequest("publish without a topic (client context custom.subject)")
        claimed = custom.get("source")
        if claimed and claimed != caller.arn:
            raise Forbidden(
                f"function {caller.name!r} publishes as {claimed!r}, not its own ARN {caller.arn!r}")
        publisher = self.backends.publisher
        if publisher is None:
            raise IPCError("no router in this core: publish refused")
        # queueFullPolicy "AllOrError" (the SDK's AllOrException): fail rather than drop when any
        # target's queue is full; "" / "BestEffort" drop for the full targets only.
        all_or_error = custom.get("queueFullPolicy") == "AllOrError"
        message = Message(source=function_endpoint(caller.name), topic=subject, payload=body)
        try:
            if all_or_error:
                publisher.publish(message, all_or_error=True)
            else:
                publisher.publish(message)
        except QueueFullError as e:
            raise QueueFull(str(e)) from e
        except ValueError as e:  # the router refuses the topic (TopicError)
            raise BadRequest(f"publish on {subject!r} refused: {e}") from e
        return Result(b"", "")

    def _shadow(self, client_context: str, body: bytes) -> Result:
        custom = decode_client_context(client_context).get("custom") or {}
        subject = custom.get("subject") or ""
        match = _SHADOW_SUBJECT.match(subject)
        if match is None:
            raise BadRequest(f"shadow request with subject {subject!r}: expected $aws/things/<thing>/shadow/"
                             "get|update|delete")
        thing, action = match.group("thing"), match.group("action")
        if self.backends.shadow is None:
            return Result(json.dumps({"code": 503, "message": self.backends.no_shadow_reason}).encode(), "")
        try:
            replies = list(self.backends.shadow.handle(thing, action, body))
        except Exception as e:  # the shadow service's bug must not become a daemon crash
            log.exception("shadow service failed on %s", subject)
            return Result(json.dumps({"code": 500, "message": f"shadow service error: {e}"}).encode(), "")
        answer = None
        for reply in replies:
            if reply.topic in (subject + "/accepted", subject + "/rejected") and answer is None:
                answer = reply.payload
        if self.backends.publish_shadow_replies and self.backends.publisher is not None:
            for reply in replies:
                self.backends.publisher.publish(Message(source=f"shadow:{thing}", topic=reply.topic,
                                                        payload=reply.payload))
        if answer is None:
            answer = json.dumps({"code": 500,
                                 "message": f"shadow service gave no answer to {subject}"}).encode()
        return Result(answer, "")

    def _secret(self, body: bytes) -> Result:
        def error(status: int, message: str) -> Result:
            return Result(json.dumps({"Status": status, "Message": message}).encode(), "")

        try:
            request = json.loads(body or b"{}")
            secret_id = request["SecretId"]
        except (ValueError, KeyError, TypeError):
            return error(400, "request must be JSON with a SecretId")
        if self.backends.secrets is None:
            return error(404, f"no secrets store in this core: cannot find {secret_id}")
        try:
            value = self.backends.secrets.get_secret_value(secret_id, request.get("VersionStage") or "")
        except SecretNotFound as e:
            return error(404, str(e))
        except SecretsFileError as e:
            log.error("%s", e)
            return error(500, str(e))
        return Result(json.dumps(value).encode(), "")

    async def _get_result(self, request: web.Request) -> web.Response:
        self._caller(request)
        arn = request.match_info["arn"]
        invocation_id = self._invocation_id(request)
        name = SYSTEM_FUNCTIONS.get(arn)
        if name is None:
            target = self.directory.by_arn(arn)
            if target is None:
                raise UnknownFunction(f"function not found: {arn}")
            name = target.name
        try:
            result = await self.broker.result(invocation_id, name, self.result_wait_s)
        except TimeoutError as e:
            return web.Response(status=504, text=f"Timeout: {e}")
        # Always send the header, empty on success: the SDK compares FunctionError with ''.
        return web.Response(body=result.payload, headers={H_FUNCTION_ERROR: result.function_error})

    # -- runtime side ---------------------------------------------------------------------------

    def _instance(self, request: web.Request, entry) -> str:
        return request.headers.get(H_INSTANCE) or f"{entry.name}:anonymous"

    async def _get_work(self, request: web.Request) -> web.Response:
        entry = self._own_function(request)
        instance = self._instance(request, entry)
        invocation = await self.broker.next_work(entry.name, instance, self.poll_wait_s)
        if invocation is None:
            return web.Response(status=204)
        return web.Response(body=invocation.payload, headers={
            H_INVOCATION_ID: invocation.id, H_CLIENT_CONTEXT: invocation.client_context})

    async def _post_work(self, request: web.Request) -> web.Response:
        entry = self._own_function(request)
        invocation_id = self._invocation_id(request)
        error = request.headers.get(H_FUNCTION_ERROR, "")
        if error not in ("", "Handled", "Unhandled"):
            raise BadRequest(f"{H_FUNCTION_ERROR} must be Handled or Unhandled, got {error!r}")
        body = await request.read()
        self.broker.finish(entry.name, request.headers.get(H_INSTANCE), invocation_id, Result(body, error))
        return web.Response(status=202)

    async def _initialized(self, request: web.Request) -> web.Response:
        entry = self._own_function(request)
        try:
            document = json.loads(await request.read() or b"{}")
            success = bool(document.get("Success", True))
            response = str(document.get("Response", ""))
        except (ValueError, AttributeError) as e:
            raise BadRequest(
                f"initialized body must be JSON {{\"Success\": bool, \"Response\": str}}: {e}") from e
        if self._on_initialized is not None:
            self._on_initialized(entry.name, self._instance(request, entry), success, response)
        return web.Response(status=202)

    async def _credentials(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization")
        if not (token and any(check(token) for check in self._credential_checks)):
            self._caller(request)
        expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.backends.credentials_ttl_s)
        document = dict(self.backends.credentials)
        document["Expiration"] = expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response(document)
