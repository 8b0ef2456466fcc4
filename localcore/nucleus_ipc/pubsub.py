"""Local publish/subscribe (IPC ``PublishToTopic`` / ``SubscribeToTopic``) as one bus with the core's router.

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/pubsub/PubSubIPCEventStreamAgent`` and
``SubscriptionTrie``:

* topics are split at ``/`` the way Java's ``String.split`` does (trailing empty levels dropped); a filter level
  ``+`` matches one level, a level ``#`` matches what follows it (so ``a/#`` does **not** match ``a``); other
  characters are plain (``a+`` is a literal level); ``#`` also sees ``$``-topics;
* ``receiveMode`` ``RECEIVE_MESSAGES_FROM_OTHERS`` suppresses delivery to the publishing component itself; when
  absent it is that for a wildcard filter (a ``+`` level, or ``#`` as the last level) and ``RECEIVE_ALL_MESSAGES``
  otherwise;
* a JSON publish is delivered as ``jsonMessage``, a binary one as ``binaryMessage``, each with ``context.topic``;
  publishing with no subscriber succeeds; delivery keeps order per subscriber;
* error texts: ``Publish topic must not be null``, ``Publish topic must not contain a wildcard.``,
  ``Subscribe topic must not be empty``; an empty topic reaches the authorization check first, which refuses it
  with ``Resource cannot be empty`` (aws-greengrass-nucleus ``authorization/AuthorizationModule``).

**One bus.** :class:`LocalPubSub` is also a :class:`localcore.interfaces.MessageSink` for the router endpoint
``pubsub`` (:data:`ENDPOINT`): ``attach(router)`` registers it, so a route ``<source> → pubsub`` (a device's
messages that the MQTT bridge maps LocalMqtt→Pubsub, a Lambda's publishes) reaches IPC subscribers as
``binaryMessage`` (the bridge and the Lambda launcher publish bytes), and every IPC publish is also handed to the
router as ``Message(source="pubsub", ...)``, so routes ``pubsub → function:<f>`` (a Lambda's PUB_SUB event source)
and ``pubsub → device:<thing>`` (bridge Pubsub→LocalMqtt) carry it on. Messages whose source is ``pubsub`` are
never fed back to IPC subscribers (no loop).

Thread-safe: the router may deliver from any thread; subscriber callbacks must not block (the server's callback
hops to its event loop).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from localcore.interfaces import Message

from .errors import InvalidArgumentsError, ServiceError

log = logging.getLogger(__name__)

ENDPOINT = "pubsub"
RECEIVE_ALL = "RECEIVE_ALL_MESSAGES"
RECEIVE_FROM_OTHERS = "RECEIVE_MESSAGES_FROM_OTHERS"
RECEIVE_MODES = (RECEIVE_ALL, RECEIVE_FROM_OTHERS)
MATCH_CACHE_SIZE = 4096   # topics whose subscribers are remembered (all forgotten at a (un)subscribe or when full)

#: a subscriber callback: (the JSON bytes of one SubscriptionResponseMessage event) -> None; must not block
Deliver = Callable[[bytes], None]


def levels(topic: str) -> list[str]:
    """``topic.split('/')`` with Java's semantics: trailing empty levels are dropped."""
    parts = topic.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def is_wildcard(topic_filter: str) -> bool:
    """The nucleus' rule for the default receive mode: a ``+`` level, or ``#`` as the last level."""
    parts = levels(topic_filter)
    return any(p == "+" for p in parts) or (bool(parts) and parts[-1] == "#")


@dataclass(eq=False)
class Subscription:
    component: str
    topic_filter: str
    receive_mode: str
    deliver: Deliver
    delivered: int = 0


@dataclass(eq=False)
class _Node:
    children: dict[str, "_Node"] = field(default_factory=dict)
    subs: set = field(default_factory=set)


class SubscriptionTrie:
    """Filters → subscriptions, matched level by level (not thread-safe by itself)."""

    def __init__(self) -> None:
        self._root = _Node()
        self.size = 0

    def add(self, topic_filter: str, sub: Subscription) -> None:
        node = self._root
        for level in levels(topic_filter):
            node = node.children.setdefault(level, _Node())
        if sub not in node.subs:
            node.subs.add(sub)
            self.size += 1

    def remove(self, topic_filter: str, sub: Subscription) -> bool:
        path = [self._root]
        for level in levels(topic_filter):
            nxt = path[-1].children.get(level)
            if nxt is None:
                return False
            path.append(nxt)
        if sub not in path[-1].subs:
            return False
        path[-1].subs.discard(sub)
        self.size -= 1
        names = levels(topic_filter)
        for i in range(len(path) - 1, 0, -1):   # prune empty branches
            if path[i].subs or path[i].children:
                break
            del path[i - 1].children[names[i - 1]]
        return True

    def match(self, topic: str) -> set:
        parts = levels(topic) or [""]
        result: set = set()
        paths = [self._root]
        for level in parts:
            nxt: list[_Node] = []
            for node in paths:
                child = node.children.get(level)
                if child is not None:
                    nxt.append(child)
                plus = node.children.get("+")
                if plus is not None:
                    nxt.append(plus)
                hash_ = node.children.get("#")
                if hash_ is not None:
                    nxt.append(hash_)
                    result |= hash_.subs
            paths = nxt
            if not paths:
                break
        for node in paths:
            result |= node.subs
        return result


_compact_json = json.JSONEncoder(separators=(",", ":")).encode   # json.dumps(..., separators=(",", ":"))
_json_string = json.encoder.encode_basestring_ascii                # how that encoder writes a str


def _event(topic: str, json_message: Any = None, binary: Optional[bytes] = None) -> bytes:
    """The SubscriptionResponseMessage event, byte for byte ``json.dumps(body, separators=(",", ":"))`` of
    ``{"binaryMessage"|"jsonMessage": {"message": ..., "context": {"topic": topic}}}``."""
    if binary is not None:
        return b"".join((b'{"binaryMessage":{"message":"', base64.b64encode(binary),
                         b'","context":{"topic":', _json_string(topic).encode(), b"}}}"))
    return _json_event(topic, _compact_json(json_message))


def _json_event(topic: str, message_json: str) -> bytes:
    return f'{{"jsonMessage":{{"message":{message_json},"context":{{"topic":{_json_string(topic)}}}}}}}'.encode()


class LocalPubSub:
    """The core's local pub/sub bus (see the module docstring). Implements ``MessageSink``."""

    def __init__(self) -> None:
        self._trie = SubscriptionTrie()
        self._matches: dict[str, tuple[Subscription, ...]] = {}   # topic → its subscribers, until they change
        self._lock = threading.Lock()
        self._forward: Optional[Callable[[Message], Any]] = None
        self.counts = {"published": 0, "delivered": 0, "from_router": 0, "to_router": 0, "router_refused": 0}

    # -- the router ------------------------------------------------------------------------------
    def attach(self, router: Any) -> None:
        """Join the router's bus: deliveries to endpoint ``pubsub`` come here; IPC publishes go to the router."""
        router.attach(ENDPOINT, self)
        self._forward = router.publish

    def detach(self, router: Any) -> None:
        router.detach(ENDPOINT, self)
        self._forward = None

    def deliver(self, message: Message) -> None:
        """``MessageSink``: a routed message (device, function, shadow, cloud) → IPC subscribers, as bytes."""
        if message.source == ENDPOINT:
            return
        self._fan_out(None, message.topic, None, message.payload, "from_router")

    # -- IPC -------------------------------------------------------------------------------------
    def subscribe(self, component: str, topic_filter: Any, receive_mode: Any, deliver: Deliver) -> Subscription:
        """Register a SubscribeToTopic stream (validated as the nucleus does; authorization is the caller's)."""
        if not isinstance(topic_filter, str) or not topic_filter:
            raise InvalidArgumentsError("Subscribe topic must not be empty")
        if receive_mode is None:
            receive_mode = RECEIVE_FROM_OTHERS if is_wildcard(topic_filter) else RECEIVE_ALL
        elif receive_mode not in RECEIVE_MODES:
            raise InvalidArgumentsError(f"receiveMode must be one of {', '.join(RECEIVE_MODES)}, "
                                        f"got {receive_mode!r}")
        sub = Subscription(component, topic_filter, receive_mode, deliver)
        with self._lock:
            self._trie.add(topic_filter, sub)
            self._matches = {}
        log.debug("[%s] subscribed to %s (%s)", component, topic_filter, receive_mode)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            removed = self._trie.remove(sub.topic_filter, sub)
            if removed:
                self._matches = {}
        if removed:
            log.debug("[%s] unsubscribed from %s", sub.component, sub.topic_filter)

    def publish(self, component: str, topic: Any, publish_message: Any) -> int:
        """A PublishToTopic request's body parts → subscribers and the router; returns IPC deliveries."""
        return self.send(component, *self.parse(topic, publish_message))

    def parse(self, topic: Any, publish_message: Any) -> tuple[str, Any, Optional[bytes]]:
        """Validate a PublishToTopic request as the nucleus does: (topic, JSON message or None, bytes or None)."""
        if topic is None:
            raise InvalidArgumentsError("Publish topic must not be null")
        if not isinstance(topic, str):
            raise InvalidArgumentsError(f"Publish topic must be a string, got {type(topic).__name__}")
        if "+" in topic or "#" in topic or "*" in topic:
            raise InvalidArgumentsError("Publish topic must not contain a wildcard.")
        json_message, binary = self._message_of(publish_message)
        return topic, json_message, binary

    def send(self, component: str, topic: str, json_message: Any, binary: Optional[bytes]) -> int:
        """Deliver a parsed publish to the IPC subscribers and hand it to the router; returns IPC deliveries."""
        n, message_json = self._fan_out(component, topic, json_message, binary, "published")
        forward = self._forward
        if forward is not None:
            if binary is not None:
                payload = binary
            else:
                payload = (message_json if message_json is not None else _compact_json(json_message)).encode()
            try:
                forward(Message(source=ENDPOINT, topic=topic, payload=payload))
                with self._lock:
                    self.counts["to_router"] += 1
            except ValueError as e:   # a topic the router's MQTT rules refuse (e.g. over 256 bytes)
                with self._lock:
                    self.counts["router_refused"] += 1
                log.info("[%s] publish on %r reached IPC subscribers only: the router refused it (%s)",
                         component, topic, e)
        return n

    @staticmethod
    def _message_of(publish_message: Any) -> tuple[Any, Optional[bytes]]:
        if not isinstance(publish_message, dict):
            raise ServiceError("publishMessage is required (jsonMessage or binaryMessage)")
        json_part, binary_part = publish_message.get("jsonMessage"), publish_message.get("binaryMessage")
        if (json_part is None) == (binary_part is None):
            raise InvalidArgumentsError("publishMessage must set exactly one of jsonMessage and binaryMessage")
        if json_part is not None:
            if not isinstance(json_part, dict) or not isinstance(json_part.get("message"), dict):
                raise InvalidArgumentsError("jsonMessage.message must be a JSON object")
            return json_part["message"], None
        raw = binary_part.get("message", "") if isinstance(binary_part, dict) else None
        if not isinstance(raw, str):
            raise InvalidArgumentsError("binaryMessage.message must be a base64 string")
        try:
            return None, base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentsError("binaryMessage.message is not valid base64") from None

    def _fan_out(self, publisher: Optional[str], topic: str, json_message: Any, binary: Any,
                 count: str) -> tuple[int, Optional[str]]:
        """Deliver to the subscribers of ``topic``; returns how many got it and the JSON message's encoding (if
        it was needed). The event is built once, and only when someone receives it."""
        with self._lock:
            self.counts[count] += 1
            subs = self._matches.get(topic)
            if subs is None:
                subs = tuple(self._trie.match(topic))
                matches = self._matches
                if len(matches) >= MATCH_CACHE_SIZE:
                    matches.clear()
                matches[topic] = subs
        n = 0
        event = None
        message_json = None
        for sub in subs:
            if publisher is not None and sub.receive_mode == RECEIVE_FROM_OTHERS and sub.component == publisher:
                continue
            if event is None:
                if binary is not None:
                    event = _event(topic, binary=bytes(binary))
                else:
                    message_json = _compact_json(json_message)
                    event = _json_event(topic, message_json)
            try:
                sub.deliver(event)
            except Exception:   # one faulty subscriber must not stop the others; logged with its trace
                log.exception("[%s] delivery on %s failed", sub.component, topic)
                continue
            sub.delivered += 1
            n += 1
        if n:
            with self._lock:
                self.counts["delivered"] += n
        return n, message_json

    def status(self) -> dict:
        with self._lock:
            return {"subscriptions": self._trie.size, "attached_to_router": self._forward is not None,
                    **self.counts}
