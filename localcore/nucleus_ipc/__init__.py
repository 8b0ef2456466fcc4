"""Greengrass V2 IPC as the nucleus serves it (eventstream RPC over a Unix socket), for the local core.

Public surface::

    from localcore.nucleus_ipc import NucleusIpcServer, IpcService, AccessControl, LocalPubSub

    bus = LocalPubSub(); bus.attach(router)                    # one bus with the router (endpoint "pubsub")
    access = AccessControl(); access.update(name, configuration)   # each component's accessControl
    server = NucleusIpcServer(root / "ipc.socket", tokens.component_of, IpcService(access, bus))
    await server.start() ... await server.stop()

Modules: ``framing`` (eventstream codec, pure), ``connection`` (RPC state machine, pure), ``authorization``
(accessControl, pure), ``pubsub`` (local pub/sub bus), ``service`` (dispatch table), ``server`` (asyncio),
``operations`` (the service model's operation names), ``errors``.
"""
from __future__ import annotations

from .authorization import AccessControl
from .pubsub import ENDPOINT as PUBSUB_ENDPOINT
from .pubsub import LocalPubSub
from .server import NucleusIpcServer, socket_path_for_component
from .service import IpcService

__all__ = ["AccessControl", "IpcService", "LocalPubSub", "NucleusIpcServer", "PUBSUB_ENDPOINT",
           "socket_path_for_component"]
