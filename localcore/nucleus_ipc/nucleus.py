"""The nucleus IPC of one V2 core: the server, every operation module, and the core services they reach.

``localcore/run_v2.py`` wires it (the only place that knows the core, the component service and this)::

    ipc = NucleusIpc(root / "ipc.socket", tokens, core.router, host=component_service,
                     installed=core_device.installed, secrets_client=make_secretsmanager_client)
    await ipc.start()                    # before any component starts (they get root / "ipc.socket")
    await ipc.configure(configs)         # every deployment, before its components (re)start
    ipc.status()                         # the dashboard's "ipc" part
    await ipc.stop()                     # after the components stopped

``configure`` takes every component's effective configuration (name → ``configuration``) and makes it what the
operations see, as the nucleus' config tree is: each component's ``accessControl`` policies (a component no longer
deployed loses them), the configuration store (watchers hear what changed), ``aws.greengrass.SecretManager``'s
secrets, the Greengrass CLI operations (served only while ``aws.greengrass.Cli`` is deployed), and the IoT Core
subscriptions' routes (a deployment replaces the router's table).

Served: local pub/sub (PublishToTopic, SubscribeToTopic — one bus with the router's ``pubsub`` endpoint), IoT Core
(PublishToIoTCore, SubscribeToIoTCore — the router's ``cloud`` endpoint), configuration (Get/Update/
SubscribeToConfigurationUpdate, SubscribeToValidateConfigurationUpdates, SendConfigurationValidityReport),
UpdateState, GetSecretValue (with the SecretManager) and the CLI's GetComponentDetails, ListComponents,
RestartComponent, StopComponent (with the CLI); the shadow operations over the core's shadow store (with the
ShadowManager, :mod:`.shadows`), the client device auth operations (with ``aws.greengrass.clientdevices.Auth``,
:mod:`.clientdevices`), SubscribeToComponentUpdates / DeferComponentUpdate (:mod:`.component_updates`: the core
calls ``await ipc.before_update(id, document)`` before a deployment's merge and ``ipc.after_update(id)`` after it),
PauseComponent / ResumeComponent (:mod:`.pause`) and PutComponentMetric (:mod:`.metrics`). Every other operation
answers as a nucleus without it.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from .authorization import AccessControl
from .cli import COMPONENT as CLI_COMPONENT
from .cli import CliOperations
from .clientdevices import COMPONENT as CLIENT_DEVICES_COMPONENT
from .clientdevices import ClientDeviceOperations, ClientDeviceTrust
from .component_updates import ComponentUpdates
from .config import DEFAULT_VALIDATION_TIMEOUT_S, ConfigurationOperations
from .config_store import ConfigStore
from .iotcore import IoTCoreProxy
from .lifecycle import LifecycleOperations
from .metrics import ComponentMetrics
from .pause import PauseOperations
from .pubsub import LocalPubSub
from .secrets import COMPONENT as SECRETS_COMPONENT
from .secrets import SecretOperations
from .server import NucleusIpcServer
from .service import IpcService
from .shadows import COMPONENT as SHADOW_MANAGER
from .shadows import ShadowManagerOperations
from .tokens import TokenValidation

log = logging.getLogger(__name__)


class NucleusIpc:
    """:param socket_path: the core's socket (the nucleus' ``<root>/ipc.socket``).
    :param tokens: the components' tokens (``ComponentTokens``: ``component_of`` authenticates a CONNECT).
    :param router: the core's router (``pubsub``, ``cloud`` and ``mqttproxy`` endpoints).
    :param host: the component service: ``update_configuration``, ``report_state``, ``restart_component``,
        ``stop_component`` (see :mod:`.config`, :mod:`.lifecycle`, :mod:`.cli`).
    :param installed: every component the core runs, as ListInstalledComponents entries (for the CLI operations).
    :param secrets_client: makes a boto3 ``secretsmanager`` client of the (local) cloud, when first needed.
    :param shadows: the core's shadow store (``localcore.shadow.ShadowService``) the ShadowManager's operations use;
        None: they stay unserved.
    :param client_devices: what the client device auth operations trust (:class:`.clientdevices.ClientDeviceTrust`:
        the local PKI and the broker's certificate authorizer); None: they stay unserved.
    """

    def __init__(self, socket_path: Union[str, os.PathLike], tokens: Any, router: Any, *, host: Any,
                 installed: Callable[[], list], secrets_client: Callable[[], Any],
                 clock: Callable[[], float] = time.time, shadows: Any = None,
                 client_devices: Optional[ClientDeviceTrust] = None) -> None:
        self.access = AccessControl()
        self.bus = LocalPubSub()
        self.store = ConfigStore(clock)
        self.service = IpcService(self.access, self.bus)
        self.router = router
        self.config = ConfigurationOperations(self.store, host)
        self.lifecycle = LifecycleOperations(host)
        self.iotcore = IoTCoreProxy(self.access, router)
        self.secrets = SecretOperations(self.access, secrets_client)
        self.cli = CliOperations(self.access, self.store, installed, host)
        self.shadows = ShadowManagerOperations(self.access, self.bus, shadows) if shadows is not None else None
        self.client_devices = (ClientDeviceOperations(self.access, client_devices) if client_devices is not None
                               else None)
        self.component_updates = ComponentUpdates(self._is_component)
        self.pause = PauseOperations(self.access, host, self._is_component)
        self.metrics = ComponentMetrics(self.access, clock)
        self.token_validation = TokenValidation(tokens.component_of)   # ValidateAuthorizationToken
        self.server = NucleusIpcServer(socket_path, tokens.component_of, self.service)
        self._secrets_config: Optional[dict] = None
        self._configured: set = set()

    @property
    def socket_path(self) -> Path:
        return self.server.socket_path

    async def start(self) -> None:
        self.bus.attach(self.router)
        self.config.wire(self.service)
        self.lifecycle.wire(self.service)
        self.iotcore.wire(self.service)
        self.component_updates.wire(self.service)
        self.pause.wire(self.service)
        self.metrics.wire(self.service)
        self.token_validation.wire(self.service)
        await self.server.start()

    async def stop(self) -> None:
        self.component_updates.close()
        self.pause.resume_all()
        await self.server.stop()
        if self.shadows is not None:
            self.shadows.close()
        self.iotcore.detach()
        self.bus.detach(self.router)

    async def configure(self, configurations: Mapping[str, Mapping[str, Any]]) -> None:
        """Every component's effective configuration after a deployment (see the module doc)."""
        for name in sorted(self._configured - set(configurations)):
            self.access.remove(name)
            self.store.set(name, None)
        for name, configuration in configurations.items():
            self.access.update(name, configuration)
            self.store.set(name, dict(configuration or {}))
        self._configured = set(configurations)
        if CLI_COMPONENT in configurations:
            self.cli.wire(self.service)
        else:
            self.cli.unwire(self.service)
        secrets = configurations.get(SECRETS_COMPONENT)
        if secrets is None:
            self.service.unwire("GetSecretValue")
            self._secrets_config = None
        else:
            self.secrets.wire(self.service)
            if dict(secrets) != self._secrets_config:
                self._secrets_config = dict(secrets)
                await self.secrets.configure(secrets)
        if self.shadows is not None:
            self.shadows.configure(self.service, configurations.get(SHADOW_MANAGER))
        elif SHADOW_MANAGER in configurations:
            log.warning("%s is deployed but the core gave the IPC no shadow store: shadow operations stay unserved",
                        SHADOW_MANAGER)
        if self.client_devices is not None:
            self.client_devices.configure(self.service, configurations.get(CLIENT_DEVICES_COMPONENT))
        self.iotcore.refresh_routes()

    def _is_component(self, name: str) -> bool:
        return name in self._configured

    async def before_update(self, deployment_id: str, document: Optional[Mapping[str, Any]]) -> None:
        """Before a deployment's merge: components subscribed to component updates hear of it and may defer it
        (the deployment's ``componentUpdatePolicy``); returns when it may go on."""
        await self.component_updates.before(deployment_id, document)

    def after_update(self, deployment_id: str) -> None:
        """After a deployment's merge (whatever its outcome): the subscribers' postUpdateEvent."""
        self.component_updates.after(deployment_id)

    async def validate(self, deployment_id: str, document: Mapping[str, Any],
                       proposed: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
        """Before a deployment changes configurations: the components that subscribed to validation check theirs
        (``proposed``: name → configuration, for components whose version stays); the timeout is the deployment's
        ``configurationValidationPolicy.timeoutInSeconds`` (default 20 s). Returns why the deployment fails, or
        None."""
        policy = ((document or {}).get("deploymentPolicies") or {}).get("configurationValidationPolicy") or {}
        timeout = policy.get("timeoutInSeconds")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            timeout = DEFAULT_VALIDATION_TIMEOUT_S
        return await self.config.validate(deployment_id, proposed, float(timeout))

    def status(self) -> dict:
        """JSON-able: the server (socket, connections, operations, authorization with refusals) and each part."""
        return {**self.server.status(), "configuration": self.config.status(), "iotcore": self.iotcore.status(),
                "secrets": self.secrets.status(), "cli": self.cli.status(), "update_state": self.lifecycle.status(),
                "shadows": self.shadows.status() if self.shadows is not None else None,
                "client_devices": self.client_devices.status() if self.client_devices is not None else None,
                "component_updates": self.component_updates.status(), "pause": self.pause.status(),
                "component_metrics": self.metrics.status(),
                "token_validation": self.token_validation.status()}


__all__ = ["NucleusIpc"]
