"""The core's IPC daemon: the HTTP side of greengrasssdk inside Lambdas (GGC 1.x wire format).

* ``work``    pure scheduling state: invocations, per-function work queues, results (no sockets)
* ``secrets`` the local secrets store answering GGSecretManager
* ``server``  the aiohttp daemon (routes of ``docs/protocols/lambda-ipc.md`` §3 + container credentials)
"""
from .errors import IPCError, QueueFull, SecretNotFound, UnknownFunction
from .server import IPCServer, ServiceBackends
from .work import Invocation, WorkBroker

__all__ = ["IPCError", "QueueFull", "SecretNotFound", "UnknownFunction", "IPCServer", "ServiceBackends",
           "Invocation", "WorkBroker"]
