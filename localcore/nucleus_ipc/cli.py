"""The Greengrass CLI's IPC operations on components: ``GetComponentDetails``, ``ListComponents``,
``RestartComponent``, ``StopComponent`` (a thin adapter over the component host).

Follows aws-greengrass/aws-greengrass-cli ``server/.../CLIEventStreamAgent``: they are served only while
``aws.greengrass.Cli`` is deployed (otherwise the nucleus answers ``Operation … is not supported by Greengrass``);
the component name is checked first (``Component name cannot be empty``), then authorization (service
``aws.greengrass.Cli``, resource the component name, ``*`` for ``ListComponents``; callers named
``aws.greengrass.Cli`` or starting with ``greengrass-cli#`` pass), then the component is looked up
(``Component with name <n> not found in Greengrass``). Details are ``{componentName, version, state,
configuration}``; a restart answers ``SUCCEEDED`` when it was started, ``FAILED`` when the component cannot restart;
a stop ``SUCCEEDED`` once requested.

Local deployments (``CreateLocalDeployment``, ``GetLocalDeploymentStatus``, ``ListLocalDeployments``,
``CancelLocalDeployment``) are served the same way once the core device gave its local deployments
(:meth:`CliOperations.attach_local`): the request is checked (authorization with resource ``*``, the fields, the
artifact folder not a parent of the core's artifact store — ``InvalidArtifactsDirectoryPathError`` —, a recipe or
artifact folder that is not a directory — ``InvalidRecipeDirectoryPathError`` / ``InvalidArtifactsDirectoryPathError``,
where the nucleus queues it and fails it later), queued and answered with its id; a status names a deployment by
UUID (``Invalid deploymentId format received. DeploymentId is a UUID``) or answers ``ResourceNotFoundError``
(``Cannot find deployment``, resource type ``LocalDeployment``). While the CLI is deployed the core writes the
client's token file as the Cli component does (``CLIService.generateCliIpcInfoForEffectiveUser``):
``<root>/cli_ipc_info/user-<uid>`` = ``{"cli_auth_token", "domain_socket_path"}``, readable by its owner only; the
token authenticates as ``greengrass-cli#user-<uid>``, which may call every CLI operation. It is revoked and the
file removed when the CLI leaves the deployment. The client may also publish and subscribe on local pub/sub and IoT
Core (``CLIService.authorizePubSubPermission``: policies ``aws.greengrass.Cli:pubsub:<n>`` on
``aws.greengrass.ipc.pubsub`` and ``…1000`` on ``aws.greengrass.ipc.mqttproxy``, operations and resources ``*``), which
``greengrass-cli pubsub|iotcore`` use.

``CreateDebugPassword`` (``CLIEventStreamAgent.CreateDebugPasswordHandler``): authorization with resource ``*``, then
user ``debug``, a password of 43 characters (the unpadded URL-safe base64 of the SHA-256 of 32 random bytes), valid
8 hours (``passwordExpiration``, epoch seconds on the wire). The nucleus keeps every password it issued under
``_debugPassword`` for the Local Debug Console's login, and answers ``certificateSHA256Hash`` / ``certificateSHA1Hash``
only when that console wrote its TLS certificate's fingerprints (``_certificateFingerprint``); the local core's
dashboard is served over plain HTTP, so no fingerprint is answered (:meth:`CliOperations.debug_password_valid` checks
a password).
"""
from __future__ import annotations

import base64
import hashlib
import inspect
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from .config_store import ConfigStore
from .errors import InvalidArgumentsError, IpcError, ResourceNotFoundError, UnauthorizedError
from .service import Call, IpcService

log = logging.getLogger(__name__)

COMPONENT = "aws.greengrass.Cli"
CLIENT_PREFIX = "greengrass-cli#"
OPERATIONS = ("GetComponentDetails", "ListComponents", "RestartComponent", "StopComponent", "CreateDebugPassword")
LOCAL_OPERATIONS = ("CreateLocalDeployment", "GetLocalDeploymentStatus", "ListLocalDeployments",
                    "CancelLocalDeployment")
IPC_INFO_DIR = "cli_ipc_info"          # NucleusPaths.cliIpcInfoPath()
LOCAL_DEPLOYMENT_RESOURCE = "LocalDeployment"
DEBUG_USERNAME = "debug"
DEBUG_PASSWORD_BYTES = 32                     # DEBUG_PASSWORD_LENGTH_REQUIREMENT
DEBUG_PASSWORD_LIFETIME_S = 8 * 3600          # DEBUG_PASSWORD_EXPIRATION
PUBSUB_POLICY_PREFIX = "aws.greengrass.Cli:pubsub:"    # CLIService.POLICY_NAME_PREFIX


class InvalidArtifactsDirectoryPathError(IpcError):
    name = "InvalidArtifactsDirectoryPathError"


class InvalidRecipeDirectoryPathError(IpcError):
    name = "InvalidRecipeDirectoryPathError"


def client_id() -> str:
    """The CLI client of this user (``CLIService``: ``user-<uid>``)."""
    return f"user-{os.geteuid()}"


class LocalDeploymentHost(Protocol):
    """The core device's local deployments (``localcore.local_deployments.host.LocalDeployments``)."""

    store: Any   # .artifacts_dir: the core's artifact store

    def create(self, request: Any) -> str: ...

    def status(self, deployment_id: str) -> Optional[dict]: ...

    def listed(self) -> list: ...

    def cancel(self, deployment_id: str) -> Optional[str]: ...


class ComponentControl(Protocol):
    """What runs the components (``localcore.generic_components.service.ComponentService``)."""

    async def restart_component(self, component: str) -> Optional[bool]:
        """``requestRestart``: True started, False cannot, None: not a component this host runs."""
        ...

    async def stop_component(self, component: str) -> Optional[bool]:
        """``requestStop``: True requested, None: not a component this host runs."""
        ...


class CliOperations:
    """:param installed: every component the core runs, as ListInstalledComponents entries (``componentName``,
        ``componentVersion``, ``lifecycleState``); :param host: restarts and stops them."""

    def __init__(self, access: Any, store: ConfigStore, installed: Callable[[], list], host: ComponentControl,
                 clock: Callable[[], float] = time.time) -> None:
        self.access = access
        self.store = store
        self.installed = installed
        self.host = host
        self.clock = clock
        self.counts = {"restarts": 0, "stops": 0, "local_deployments": 0, "debug_passwords": 0}
        self._passwords: dict[str, float] = {}     # password -> expiry (epoch s): the nucleus' _debugPassword.debug
        self._passwords_lock = threading.Lock()
        self.local: Optional[LocalDeploymentHost] = None
        self._tokens: Any = None
        self._socket_path: Optional[Path] = None
        self._client_file: Optional[Path] = None

    def attach_local(self, local: LocalDeploymentHost, tokens: Any, socket_path: Path) -> None:
        """Serve local deployments with ``local`` and write the client's token file (``tokens``: the core's
        ``ComponentTokens``) while the CLI is deployed; ``socket_path``: the core's IPC socket."""
        self.local, self._tokens, self._socket_path = local, tokens, Path(socket_path)

    def wire(self, service: IpcService) -> None:
        service.wire("GetComponentDetails", self.get_component_details)
        service.wire("ListComponents", self.list_components)
        service.wire("RestartComponent", self.restart_component)
        service.wire("StopComponent", self.stop_component)
        service.wire("CreateDebugPassword", self.create_debug_password)
        if self.local is not None:
            service.wire("CreateLocalDeployment", self.create_local_deployment)
            service.wire("GetLocalDeploymentStatus", self.get_local_deployment_status)
            service.wire("ListLocalDeployments", self.list_local_deployments)
            service.wire("CancelLocalDeployment", self.cancel_local_deployment)
            self._open_client_access()

    def unwire(self, service: IpcService) -> None:
        for op in OPERATIONS + LOCAL_OPERATIONS:
            service.unwire(op)
        self.close_client_access()

    # -- the client's token file -------------------------------------------------------------------
    def _open_client_access(self) -> None:
        if self._client_file is not None or self._tokens is None or self._socket_path is None:
            return
        folder = self._socket_path.parent / IPC_INFO_DIR
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():   # revokeOutdatedAuthTokens: an earlier run's files
            if stale.is_file():
                stale.unlink()
        client = client_id()
        token = self._tokens.issue(CLIENT_PREFIX + client)
        path = folder / client
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"cli_auth_token": token, "domain_socket_path": str(self._socket_path)}, f)
        self._client_file = path
        self.access.update(CLIENT_PREFIX + client, client_policies())
        log.info("Greengrass CLI client token written to %s", path)

    def close_client_access(self) -> None:
        """Revoke the client's token and remove its file (the CLI left the deployment, or the core stops)."""
        if self._client_file is None:
            return
        self._tokens.revoke(CLIENT_PREFIX + client_id())
        self.access.remove(CLIENT_PREFIX + client_id())
        self._client_file.unlink(missing_ok=True)
        self._client_file = None

    def _authorize(self, call: Call, resource: str) -> None:
        if not call.component:
            raise UnauthorizedError("Component is not authorized to call CLI APIs")
        if call.component == COMPONENT or call.component.startswith(CLIENT_PREFIX):
            return
        self.access.check(call.component, call.operation.name, resource)

    @staticmethod
    def _name(body: dict) -> str:
        name = body.get("componentName")
        if not name:
            raise InvalidArgumentsError("Component name cannot be empty")
        if not isinstance(name, str):
            raise InvalidArgumentsError(f"componentName must be a string, got {type(name).__name__}")
        return name

    def _details(self, entry: dict) -> dict:
        name = entry.get("componentName")
        out = {"componentName": name, "version": entry.get("componentVersion"),
               "state": entry.get("lifecycleState") or "NEW", "configuration": self.store.value(name) or {}}
        return {k: v for k, v in out.items() if v is not None}

    def _entry(self, name: str) -> dict:
        for entry in self.installed():
            if entry.get("componentName") == name:
                return entry
        raise ResourceNotFoundError(f"Component with name {name} not found in Greengrass")

    def get_component_details(self, call: Call, body: dict) -> None:
        name = self._name(body)
        self._authorize(call, name)
        call.respond({"componentDetails": self._details(self._entry(name))})

    def list_components(self, call: Call, body: dict) -> None:
        self._authorize(call, "*")
        call.respond({"components": [self._details(e) for e in self.installed()]})

    async def restart_component(self, call: Call, body: dict) -> None:
        name = self._name(body)
        self._authorize(call, name)
        self._entry(name)
        done = await _maybe_await(self.host.restart_component(name))
        self.counts["restarts"] += 1
        if done:
            call.respond({"restartStatus": "SUCCEEDED"})
        else:
            call.respond({"restartStatus": "FAILED",
                          "message": f"{name} cannot be restarted now (a BROKEN component restarts only with a "
                                     "deployment; the local core restarts generic components only)"})

    async def stop_component(self, call: Call, body: dict) -> None:
        name = self._name(body)
        self._authorize(call, name)
        self._entry(name)
        done = await _maybe_await(self.host.stop_component(name))
        self.counts["stops"] += 1
        if done:
            call.respond({"stopStatus": "SUCCEEDED"})
        else:
            call.respond({"stopStatus": "FAILED", "message": f"the local core stops generic components only, not "
                                                             f"{name}"})

    # -- debug password --------------------------------------------------------------------------
    def create_debug_password(self, call: Call, body: dict) -> None:
        self._authorize(call, "*")
        digest = hashlib.sha256(secrets.token_bytes(DEBUG_PASSWORD_BYTES)).digest()
        password = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        now = self.clock()
        expiry = now + DEBUG_PASSWORD_LIFETIME_S
        with self._passwords_lock:
            self._passwords = {p: e for p, e in self._passwords.items() if e > now}
            self._passwords[password] = expiry
        self.counts["debug_passwords"] += 1
        call.respond({"username": DEBUG_USERNAME, "password": password, "passwordExpiration": expiry})

    def debug_password_valid(self, username: str, password: str) -> bool:
        """Whether ``username``/``password`` is a debug password this core issued and that has not expired."""
        with self._passwords_lock:
            expiry = self._passwords.get(password)
        return username == DEBUG_USERNAME and expiry is not None and expiry > self.clock()

    # -- local deployments -------------------------------------------------------------------------
    def _local(self) -> LocalDeploymentHost:
        assert self.local is not None, "wired only with local deployments"
        return self.local

    def create_local_deployment(self, call: Call, body: dict) -> None:
        from localcore.local_deployments.errors import RequestError
        from localcore.local_deployments.request import parse_request

        self._authorize(call, "*")
        try:
            request = parse_request(body)
        except RequestError as e:
            raise InvalidArgumentsError(str(e)) from None
        store = Path(self._local().store.artifacts_dir)
        if request.artifacts_dir is not None:
            given = Path(request.artifacts_dir)
            if store.resolve().is_relative_to(given.resolve()):
                raise InvalidArtifactsDirectoryPathError(
                    "Requested artifacts directory path is parent of kernel artifacts directory path. Specify another "
                    "path to avoid recursive copy")
            if not given.is_absolute() or not given.is_dir():
                raise InvalidArtifactsDirectoryPathError(
                    f"Artifacts directory {given} is not an absolute path of a directory on the core")
        if request.recipe_dir is not None:
            given = Path(request.recipe_dir)
            if not given.is_absolute() or not given.is_dir():
                raise InvalidRecipeDirectoryPathError(
                    f"Recipe directory {given} is not an absolute path of a directory on the core")
        deployment_id = self._local().create(request)
        self.counts["local_deployments"] += 1
        call.respond({"deploymentId": deployment_id})

    @staticmethod
    def _deployment_id(body: dict) -> str:
        from localcore.local_deployments.request import is_deployment_id

        deployment_id = body.get("deploymentId")
        if not is_deployment_id(deployment_id):
            raise InvalidArgumentsError("Invalid deploymentId format received. DeploymentId is a UUID")
        return deployment_id

    def get_local_deployment_status(self, call: Call, body: dict) -> None:
        deployment_id = self._deployment_id(body)
        self._authorize(call, deployment_id)
        found = self._local().status(deployment_id)
        if found is None:
            raise ResourceNotFoundError("Cannot find deployment", LOCAL_DEPLOYMENT_RESOURCE, deployment_id)
        call.respond({"deployment": found})

    def list_local_deployments(self, call: Call, body: dict) -> None:
        self._authorize(call, "*")
        call.respond({"localDeployments": self._local().listed()})

    def cancel_local_deployment(self, call: Call, body: dict) -> None:
        deployment_id = self._deployment_id(body)
        self._authorize(call, "*")
        message = self._local().cancel(deployment_id)
        if message is None:
            raise ResourceNotFoundError(f"Cannot find the deployment id provided {deployment_id}",
                                        LOCAL_DEPLOYMENT_RESOURCE, deployment_id)
        call.respond({"message": message})

    def status(self) -> dict:
        with self._passwords_lock:
            live = sum(1 for e in self._passwords.values() if e > self.clock())
        return {**self.counts, "debug_passwords_valid": live,
                "client_token_file": str(self._client_file) if self._client_file else None}


def client_policies() -> dict:
    """The configuration ``CLIService`` gives a CLI client: publish and subscribe on every local pub/sub and IoT Core
    topic (``authorizePubSubPermission``; the client id's policy number is 1)."""
    def policy() -> dict:
        return {"policyDescription": "Allows access to publish/subscribe topic.", "operations": ["*"],
                "resources": ["*"]}
    return {"accessControl": {"aws.greengrass.ipc.pubsub": {f"{PUBSUB_POLICY_PREFIX}1": policy()},
                              "aws.greengrass.ipc.mqttproxy": {f"{PUBSUB_POLICY_PREFIX}11000": policy()}}}


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
