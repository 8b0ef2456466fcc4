"""Greengrass V2 IPC as the nucleus serves it (eventstream RPC over a Unix socket), for the local core.

Public surface::

    from localcore.nucleus_ipc import NucleusIpcServer, IpcService, AccessControl, LocalPubSub

    bus = LocalPubSub(); bus.attach(router)                    # one bus with the router (endpoint "pubsub")
    access = AccessControl(); access.update(name, configuration)   # each component's accessControl
    server = NucleusIpcServer(root / "ipc.socket", tokens.component_of, IpcService(access, bus))
    await server.start() ... await server.stop()

Under ``deploy.py run --platform v2`` :class:`NucleusIpc` (``nucleus``) assembles the server with every operation
module and the core services they reach (``localcore/run_v2.py`` wires it).

Modules: ``framing`` (eventstream codec, pure), ``connection`` (RPC state machine, pure), ``authorization``
(accessControl, pure), ``pubsub`` (local pub/sub bus), ``service`` (dispatch table), ``server`` (asyncio),
``operations`` (the service model's operation names), ``errors``; one module per IPC service: ``pubsub``,
``iotcore`` (mqttproxy), ``config`` (+ ``config_store``, pure), ``lifecycle`` (UpdateState), ``secrets``
(SecretManager), ``cli`` (Greengrass CLI component operations); ``nucleus`` (the assembly).
"""
from __future__ import annotations

from .authorization import AccessControl
from .iotcore import ENDPOINT as MQTTPROXY_ENDPOINT
from .nucleus import NucleusIpc
from .pubsub import ENDPOINT as PUBSUB_ENDPOINT
from .pubsub import LocalPubSub
from .server import NucleusIpcServer
from .service import IpcService

__all__ = ["AccessControl", "IpcService", "LocalPubSub", "MQTTPROXY_ENDPOINT", "NucleusIpc", "NucleusIpcServer",
           "PUBSUB_ENDPOINT"]
