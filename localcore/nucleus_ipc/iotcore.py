"""IPC ``PublishToIoTCore`` / ``SubscribeToIoTCore`` through the core's cloud connection (the router's ``cloud``).

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/mqttproxy/MqttProxyIPCAgent``:

* order of checks: ``topicName`` (``Topic is required``), then authorization (service
  ``aws.greengrass.ipc.mqttproxy``, MQTT-style resource match, refusal text ``Not Authorized``), then ``payload``
  (``Payload is required``) and ``qos`` (``QoS is required``, ``Invalid QoS value: <v>``); a publish the connection
  cannot take is ``ServiceError("Publish to topic <t> failed: <cause>")``, a subscription it refuses
  ``ServiceError("Subscribe to topic <t> failed with error <cause>")``;
* a publish answers once the message is handed to the cloud connection (which spools while the cloud is away);
* a subscription answers after the core subscribed; messages reach it only after that answer; closing the stream
  unsubscribes.

**The core's cloud connection** is the router's ``cloud`` endpoint, the one the dashboard's MQTT console taps
(``web/tap.py``). A publish is handed to the sink attached there, with source ``component:<name>``, so the console
shows it as a cloud-bound message and the cloud connection forwards it to the (local) cloud. What IoT Core sends the
core reaches the router with source ``cloud`` (the console's publishes); the core subscribes to IoT Core for its
components as routes ``cloud → mqttproxy`` (:data:`ENDPOINT`), one per subscribed filter, and this module is the
sink of that endpoint. A publish also comes back to the core's own subscriptions that match it, as IoT Core
delivers to a subscribed publisher. The router's table is the deployment's plus these routes: after a deployment
replaced it, :meth:`IoTCoreProxy.refresh_routes` puts them back.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

from localcore.interfaces import CLOUD, Message, Route
from localcore.router.errors import RouterError
from localcore.router.topics import TopicError, matches, validate_filter, validate_topic

from .authorization import AccessControl
from .errors import InvalidArgumentsError, ServiceError, UnauthorizedError
from .service import Call, IpcService

log = logging.getLogger(__name__)

ENDPOINT = "mqttproxy"
ROUTE_PREFIX = "mqttproxy:"
QOS = {"0": 0, "1": 1}


@dataclass(eq=False)
class _Subscription:
    component: str
    topic_filter: str
    call: Call
    delivered: int = 0


def _event(message: Message) -> dict:
    return {"message": {"topicName": message.topic, "payload": base64.b64encode(bytes(message.payload)).decode(),
                        "retain": False, "payloadFormat": "0"}}


class IoTCoreProxy:
    """The mqttproxy operations and the router sink for endpoint ``mqttproxy``. ``deliver`` is thread-safe."""

    def __init__(self, access: AccessControl, router: Any) -> None:
        self.access = access
        self.router = router
        self._subs: list[_Subscription] = []
        self._lock = threading.Lock()
        self.counts = {"published": 0, "received": 0, "delivered": 0}

    def wire(self, service: IpcService) -> None:
        service.wire("PublishToIoTCore", self.publish_to_iot_core)
        service.wire("SubscribeToIoTCore", self.subscribe_to_iot_core)
        self.router.attach(ENDPOINT, self)

    def detach(self) -> None:
        self.router.detach(ENDPOINT, self)

    # -- operations ------------------------------------------------------------------------------
    def _checked(self, call: Call, body: dict) -> str:
        topic = body.get("topicName")
        if topic is None:
            raise InvalidArgumentsError("Topic is required")
        if not isinstance(topic, str):
            raise InvalidArgumentsError(f"topicName must be a string, got {type(topic).__name__}")
        if topic == "":   # the authorization module refuses an empty resource; mqttproxy says only this
            raise UnauthorizedError("Not Authorized")
        self.access.check(call.component, call.operation.name, topic)
        return topic

    @staticmethod
    def _qos(body: dict) -> int:
        qos = body.get("qos")
        if qos is None:
            raise InvalidArgumentsError("QoS is required")
        if qos not in QOS:
            raise InvalidArgumentsError(f"Invalid QoS value: {qos}")
        return QOS[qos]

    def publish_to_iot_core(self, call: Call, body: dict) -> None:
        topic = self._checked(call, body)
        raw = body.get("payload")
        if raw is None:
            raise InvalidArgumentsError("Payload is required")
        try:
            payload = base64.b64decode(raw, validate=True) if isinstance(raw, str) else None
        except (binascii.Error, ValueError):
            payload = None
        if payload is None:
            raise InvalidArgumentsError("payload must be a base64 string")
        qos = self._qos(body)
        try:
            validate_topic(topic)
        except TopicError as e:
            raise ServiceError(f"Publish to topic {topic} failed: {e}") from None
        sink = self.router.sink_for(CLOUD)
        if sink is None:
            raise ServiceError(f"Publish to topic {topic} failed: the core has no cloud connection")
        message = Message(source=f"component:{call.component}", topic=topic, payload=payload, qos=qos)
        sink.deliver(message)
        with self._lock:
            self.counts["published"] += 1
        call.respond({})
        self._fan_out(message)      # IoT Core delivers to the core's own matching subscriptions too

    def subscribe_to_iot_core(self, call: Call, body: dict) -> None:
        topic = self._checked(call, body)
        self._qos(body)
        try:
            validate_filter(topic)
        except TopicError as e:
            raise ServiceError(f"Subscribe to topic {topic} failed with error {e}") from None
        sub = _Subscription(call.component, topic, call)
        call.on_close(lambda: self._unsubscribe(sub))
        call.respond({})            # then the subscription: nothing reaches it before its response
        with self._lock:
            self._subs.append(sub)
        self.refresh_routes()

    def _unsubscribe(self, sub: _Subscription) -> None:
        with self._lock:
            if sub not in self._subs:
                return
            self._subs.remove(sub)
        self.refresh_routes()

    # -- the cloud side --------------------------------------------------------------------------
    def deliver(self, message: Message) -> None:
        """``MessageSink`` of endpoint ``mqttproxy``: a message from IoT Core for the core's subscriptions."""
        with self._lock:
            self.counts["received"] += 1
        self._fan_out(message)

    def _fan_out(self, message: Message) -> int:
        with self._lock:
            subs = [s for s in self._subs if matches(s.topic_filter, message.topic)]
        if not subs:
            return 0
        body = json.dumps(_event(message), separators=(",", ":")).encode()
        n = 0
        for sub in subs:
            if sub.call.event(body):
                sub.delivered += 1
                n += 1
        with self._lock:
            self.counts["delivered"] += n
        return n

    def filters(self) -> list:
        with self._lock:
            return sorted({s.topic_filter for s in self._subs})

    def refresh_routes(self) -> None:
        """Make the router's table the deployment's routes plus ``cloud → mqttproxy`` for each subscribed filter."""
        base = [r for r in self.router.routes if r.target != ENDPOINT]
        mine = [Route(CLOUD, ENDPOINT, f, id=ROUTE_PREFIX + f) for f in self.filters()]
        if [r for r in self.router.routes if r.target == ENDPOINT] == mine:
            return
        try:
            self.router.replace_routes(base + mine)
        except RouterError as e:   # the filters were validated; a table the router refuses is a bug worth a trace
            log.error("IoT Core subscriptions: the router refused the table: %s", e)

    def status(self) -> dict:
        with self._lock:
            subs = [{"component": s.component, "filter": s.topic_filter, "delivered": s.delivered}
                    for s in self._subs]
            return {"subscriptions": subs, **self.counts}


__all__ = ["ENDPOINT", "IoTCoreProxy"]
