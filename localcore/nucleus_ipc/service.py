"""The IPC service: one handler table (operation → function), one authorization check before dispatch.

The shape follows aws-greengrass/aws-greengrass-lite ``modules/ggipcd`` (a dispatch table and a single
authorization step) with the nucleus' semantics: an operation of the model that no module wired answers
``ServiceError("Operation aws.greengrass#X is not supported by Greengrass")``
(aws-greengrass/aws-greengrass-nucleus ``ipc/common/DefaultOperationHandler``); the resource checked for each
operation is the one the nucleus' agent checks (``builtin/services/*/...IPC*Agent``); a modeled error is sent as
such, anything else as the nucleus' ``InternalServerError`` (``ipc/common/ExceptionUtil``, RPC
``OperationContinuationHandler``).

A handler gets a :class:`Call` and the request body (a dict). It answers with ``call.respond(...)`` (or raises an
:class:`~.errors.IpcError`), may be a coroutine, and for a streaming operation may keep ``call`` to send events
and register ``call.on_close(fn)`` to clean up when the stream ends (client terminate, disconnect).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Optional, Protocol, Union

from . import pubsub as _pubsub
from .authorization import AccessControl
from .errors import IpcError, ServiceError, UnauthorizedError
from .operations import NUCLEUS_OPERATIONS, PREFIX, OperationSpec

log = logging.getLogger(__name__)


class Call(Protocol):
    """One operation call (one stream), as a handler sees it. Methods may be called from any thread."""

    component: str
    operation: OperationSpec

    def respond(self, body: Any = None) -> bool: ...

    def error(self, error: IpcError) -> bool: ...

    def event(self, body: Union[bytes, Mapping[str, Any]]) -> bool: ...

    def close(self) -> bool: ...

    def on_close(self, fn: Callable[[], None]) -> None: ...


Handler = Callable[[Call, dict], Optional[Awaitable[None]]]
ResourceOf = Callable[[dict], Any]


@dataclass(frozen=True)
class Route:
    handler: Handler
    resource: Optional[ResourceOf] = None   # the resource the authorization check uses (None: no check)


class IpcService:
    """Operations wired to handlers, with the access control that guards them.

    :param access: the core's :class:`AccessControl` (default: a new, empty one).
    :param bus: the local pub/sub bus to serve PublishToTopic / SubscribeToTopic with (default: a new one).
    """

    def __init__(self, access: Optional[AccessControl] = None, bus: Optional[_pubsub.LocalPubSub] = None) -> None:
        self.access = access if access is not None else AccessControl()
        self.bus = bus if bus is not None else _pubsub.LocalPubSub()
        self._routes: dict[str, Route] = {}
        self.unsupported_calls = 0
        self.wire("PublishToTopic", self._publish_to_topic, lambda b: b.get("topic"))
        self.wire("SubscribeToTopic", self._subscribe_to_topic, lambda b: b.get("topic"))

    def wire(self, operation: str, handler: Handler, resource: Optional[ResourceOf] = None) -> None:
        """Serve ``operation`` (short or full name of the nucleus' model) with ``handler``."""
        name = operation if operation.startswith(PREFIX) else PREFIX + operation
        if name not in NUCLEUS_OPERATIONS:
            raise ValueError(f"{name} is not an operation of the nucleus' service model")
        self._routes[name] = Route(handler, resource)

    def unwire(self, operation: str) -> None:
        """Stop serving ``operation``: it answers as an operation no module wired (e.g. a plugin removed)."""
        self._routes.pop(operation if operation.startswith(PREFIX) else PREFIX + operation, None)

    @property
    def wired(self) -> list[str]:
        return sorted(self._routes)

    def dispatch(self, call: Call, body: Any) -> Optional[Awaitable[None]]:
        """Authorize and run one request. Raises :class:`IpcError` for the caller to send."""
        name = call.operation.name
        route = self._routes.get(name)
        if route is None:
            self.unsupported_calls += 1
            raise ServiceError(f"Operation {name} is not supported by Greengrass")
        if not isinstance(body, dict):
            raise ServiceError(f"{call.operation.short}Request must be a JSON object")
        if route.resource is not None:
            resource = route.resource(body)
            if isinstance(resource, str):
                if resource == "":
                    raise UnauthorizedError("Resource cannot be empty")
                self.access.check(call.component, name, resource)
        return route.handler(call, body)

    # -- pubsub ----------------------------------------------------------------------------------
    def _publish_to_topic(self, call: Call, body: dict) -> None:
        parsed = self.bus.parse(body.get("topic"), body.get("publishMessage"))
        call.respond({})      # the response before the events it causes (the client then waits less)
        self.bus.send(call.component, *parsed)

    def _subscribe_to_topic(self, call: Call, body: dict) -> None:
        sub = self.bus.subscribe(call.component, body.get("topic"), body.get("receiveMode"), call.event)
        call.on_close(lambda: self.bus.unsubscribe(sub))
        call.respond({})

    def status(self) -> dict:
        return {"wired": [n[len(PREFIX):] for n in self.wired], "unsupported_calls": self.unsupported_calls,
                "pubsub": self.bus.status(), "authorization": self.access.status()}
