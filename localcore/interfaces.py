"""The small interfaces through which the local core's services reach each other.

Services never import each other's modules; ``localcore/core.py`` wires concrete objects that
satisfy these protocols. Everything here is pure (no sockets, no asyncio objects).

Endpoint names (sources and targets of the subscription table), canonical form:

* ``device:<thing>``   a device (MQTT client whose client id is the thing name)
* ``function:<name>``  a Lambda of the group (its name in group.yaml)
* ``cloud``            AWS IoT Core (the local cloud's IoT data plane)
* ``shadow:<thing>``   the local shadow service, acting for one thing (GGShadowService)

group.yaml writes devices and functions by their bare names; ``group.model`` resolves them to
the canonical form above.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

CLOUD = "cloud"


def device(thing: str) -> str:
    return f"device:{thing}"


def function(name: str) -> str:
    return f"function:{name}"


def shadow(thing: str) -> str:
    return f"shadow:{thing}"


def split(endpoint: str) -> tuple[str, str]:
    """``'device:T'`` → ``('device', 'T')``; ``'cloud'`` → ``('cloud', '')``."""
    kind, _, name = endpoint.partition(":")
    return kind, name


@dataclass(frozen=True)
class Route:
    """One row of the subscription table (one-way)."""

    source: str
    target: str
    topic_filter: str
    id: str = ""


@dataclass(frozen=True)
class Message:
    """A message travelling through the core, with the endpoint that sent it."""

    source: str
    topic: str
    payload: bytes
    qos: int = 0

    def __init__(self, source: str, topic: str, payload: bytes, qos: int = 0) -> None:
        # the generated __init__ of a frozen dataclass sets each field with object.__setattr__ (about
        # 40 % of a Message's cost); the instance dict filled directly is the same object, still frozen
        fields = self.__dict__
        fields["source"] = source
        fields["topic"] = topic
        fields["payload"] = payload
        fields["qos"] = qos


class MessageSink(Protocol):
    """Something a routed message can be handed to. Must not block (enqueue and return)."""

    def deliver(self, message: Message) -> None: ...


class QueueFullError(Exception):
    """``queueFullPolicy: AllOrError``: a target's queue is full, so the message went to no one."""


class Publisher(Protocol):
    """The router as seen by everything that sends messages into the group."""

    def publish(self, message: Message, all_or_error: bool = False) -> int:
        """Route ``message`` by the subscription table; returns the number of targets reached.

        ``all_or_error``: raise :class:`QueueFullError` (delivering nothing) if a target has no room.
        """
        ...


@dataclass(frozen=True)
class ShadowReply:
    topic: str
    payload: bytes


class ShadowOperations(Protocol):
    """The local shadow service. ``action`` is get | update | delete (classic shadow)."""

    def handle(self, thing: str, action: str, payload: bytes) -> Sequence[ShadowReply]:
        """Apply one request; returns every message it produces (accepted/rejected, delta, documents)."""
        ...


@dataclass(frozen=True)
class FunctionSpec:
    """What the Lambda runtime needs to know about one function (filled from the group model)."""

    name: str
    code_dir: str
    handler: str  # "module.function"
    arn: str  # qualified ARN (alias), MY_FUNCTION_ARN
    pinned: bool = False
    memory_mb: Optional[int] = None
    timeout_s: int = 3
    encoding: str = "json"  # json | binary
    environment: dict = field(default_factory=dict)
    isolation: str = "GreengrassContainer"
    run_as: Optional[tuple[int, int]] = None
    volumes: tuple = ()  # ((source, dest, permission), ...)
    devices: tuple = ()  # ((path, permission), ...)
    libraries: tuple = ()  # shared code folders put on sys.path after the function's own code
    max_instances: Optional[int] = None  # on-demand pool size (None: the runtime's default)


class ClientPolicy(Protocol):
    """Per-operation authorization of client devices (V2: ``aws.greengrass.clientdevices.Auth``).

    ``thing`` is the thing the MQTT client id names (the broker has already checked that the
    certificate is attached to it). Each call is one decision; the implementation logs and counts
    refusals (``status()``)."""

    def can_connect(self, thing: str, client_id: str) -> bool: ...

    def can_publish(self, thing: str, topic: str) -> bool: ...

    def can_subscribe(self, thing: str, topic_filter: str) -> bool: ...

    def status(self) -> dict: ...


StatusProvider = Callable[[], dict]
"""A zero-argument callable returning a JSON-able status snapshot (for the dashboard)."""
