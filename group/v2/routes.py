"""The V1 subscription table as Greengrass V2 routes: LegacySubscriptionRouter entries, Lambda event sources,
MQTT bridge mappings, client-device grants and the topics the core needs in the cloud.

Part of the V2 converter (:class:`~.convert._Converter` mixes :class:`RoutesPart` in); pure. Mapping per
docs/decisions.md ("V2 converter") and the AWS Developer Guide's legacy-subscription-router and mqtt-bridge
component pages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Set, Tuple

from ..model import CLOUD, SHADOW_PREFIX
from .names import component_name


@dataclass
class Routes:
    """What the subscription table turns into, collected in table order."""

    event_sources: Dict[str, List[Dict[str, str]]] = field(default_factory=dict)
    publishers: Set[str] = field(default_factory=set)
    shadow_functions: Set[str] = field(default_factory=set)
    router: Dict[str, Dict[str, str]] = field(default_factory=dict)
    bridge: Dict[str, Dict[str, str]] = field(default_factory=dict)
    device_publish: Dict[str, List[str]] = field(default_factory=dict)
    device_subscribe: Dict[str, List[str]] = field(default_factory=dict)
    cloud_publish: List[str] = field(default_factory=list)
    cloud_subscribe: List[str] = field(default_factory=list)
    shadow_things: List[str] = field(default_factory=list)


def add_unique(seq: List[Any], item: Any) -> None:
    if item not in seq:
        seq.append(item)


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-]", "-", text)[:128]


def has_wildcard(topic: str) -> bool:
    return any(level in ("+", "#") for level in topic.split("/"))


def policy_topic(topic: str) -> str:
    """An MQTT filter as an IoT policy ``topic/`` resource: ``+``/``#`` levels become the policy wildcard ``*``."""
    return "/".join("*" if level in ("+", "#") else level for level in topic.split("/"))


class RoutesPart:
    """Subscriptions → :class:`Routes` (needs ``self.g`` and ``self.find``)."""

    # -- subscriptions -------------------------------------------------------------------------
    def kind(self, symbol: str) -> Tuple[str, str]:
        if symbol == CLOUD:
            return "cloud", ""
        if symbol.startswith(SHADOW_PREFIX):
            return "shadow", symbol[len(SHADOW_PREFIX):]
        if self.g.function(symbol) is not None:
            return "function", symbol
        if any(d.thing == symbol for d in self.g.devices):
            return "device", symbol
        return "unknown", symbol

    def routes(self) -> Routes:
        r = Routes()
        for i, s in enumerate(self.g.subscriptions):
            self.route(r, i, s.id or f"sub-{i}", s.source, s.target, s.topic)
        return r

    def route(self, r: Routes, i: int, sub_id: str, source: str, target: str, topic: str) -> None:
        p = f"subscriptions[{i}]"
        (sk, sv), (tk, tv) = self.kind(source), self.kind(target)
        rid = safe_id(sub_id)
        if sk == "unknown" or tk == "unknown":
            bad = "source" if sk == "unknown" else "target"
            self.find(f"{p}.{bad}", "error", f"'{source if bad == 'source' else target}' is not a device, "
                      "function, 'cloud' or 'shadow:<thing>' of this group", "fix the name")
            return
        if sk == "function":
            comp = f"component:{component_name(self.g, sv)}"
            if tk in ("cloud", "function"):
                dest = "cloud" if tk == "cloud" else f"component:{component_name(self.g, tv)}"
                r.router[rid] = {"id": rid, "source": comp, "subject": topic, "target": dest}
                r.publishers.add(sv)
                if tk == "cloud":
                    add_unique(r.cloud_publish, topic)
            elif tk == "device":
                # AWS: rewrite to IPC PublishToTopic + Bridge Pubsub→LocalMqtt. Unmodified code: through the cloud.
                r.router[rid] = {"id": rid, "source": comp, "subject": topic, "target": "cloud"}
                r.publishers.add(sv)
                add_unique(r.cloud_publish, topic)
                add_unique(r.cloud_subscribe, topic)
                self.bridge(r, f"{rid}-cloud-to-device", topic, "IotCore", "LocalMqtt")
                add_unique(r.device_subscribe.setdefault(tv, []), topic)
                self.find(p, "warning", f"function '{sv}' → device '{tv}' on '{topic}': a V2 core does not deliver "
                          "greengrasssdk publish() to client devices; converted to router → cloud + Bridge "
                          "IotCore→LocalMqtt (a cloud round trip, unverified)",
                          "rewrite the function to IPC PublishToTopic and bridge Pubsub→LocalMqtt")
            elif tk == "shadow":
                r.shadow_functions.add(sv)
                add_unique(r.shadow_things, tv)
                self.find(p, "warning", f"function '{sv}' calls the local shadow of '{tv}' through greengrasssdk "
                          "(GGShadowService); a real V2 core does not serve these calls (v2-migration §5)",
                          "rewrite to IPC GetThingShadow/UpdateThingShadow with a ShadowManager accessControl policy")
        elif sk == "cloud":
            if tk == "function":
                add_unique(r.event_sources.setdefault(tv, []), {"topic": topic, "type": "IOT_CORE"})
                add_unique(r.cloud_subscribe, topic)
            elif tk == "device":
                self.bridge(r, rid, topic, "IotCore", "LocalMqtt")
                add_unique(r.cloud_subscribe, topic)
                add_unique(r.device_subscribe.setdefault(tv, []), topic)
            elif tk == "shadow":
                add_unique(r.shadow_things, tv)
                self.find(p, "warning", f"cloud → shadow '{tv}' is not a route on V2: ShadowManager synchronizes "
                          "shadows with the cloud", f"set sync_shadow: true for '{tv}' instead of this subscription")
            else:
                self.find(p, "error", "cloud → cloud never passes through the core", "remove the subscription")
        elif sk == "device":
            if tk == "function":
                self.bridge(r, rid, topic, "LocalMqtt", "Pubsub")
                add_unique(r.event_sources.setdefault(tv, []), {"topic": topic, "type": "PUB_SUB"})
                add_unique(r.device_publish.setdefault(sv, []), topic)
            elif tk == "cloud":
                self.bridge(r, rid, topic, "LocalMqtt", "IotCore")
                add_unique(r.cloud_publish, topic)
                add_unique(r.device_publish.setdefault(sv, []), topic)
            elif tk == "device":
                add_unique(r.device_publish.setdefault(sv, []), topic)
                add_unique(r.device_subscribe.setdefault(tv, []), topic)
                self.find(p, "warning", f"device '{sv}' → device '{tv}' on '{topic}' becomes plain broker pub/sub: "
                          f"'{tv}' receives what any device allowed to publish on the topic sends, not only '{sv}'",
                          "keep the topic unique to this pair, or accept the broader delivery")
            elif tk == "shadow":
                self.shadow_pair(r, tv)
                add_unique(r.device_publish.setdefault(sv, []), topic)
        elif sk == "shadow":
            add_unique(r.shadow_things, sv)
            if tk == "function":
                add_unique(r.event_sources.setdefault(tv, []), {"topic": topic, "type": "PUB_SUB"})
                r.shadow_functions.add(tv)
                self.find(p, "info", f"shadow '{sv}' → function '{tv}': a PUB_SUB event source on '{topic}', "
                          "fed by ShadowManager's local publishes (unverified end to end on a real core)")
            elif tk == "device":
                self.shadow_pair(r, sv)
                add_unique(r.device_subscribe.setdefault(tv, []), topic)
            elif tk == "cloud":
                self.find(p, "warning", f"shadow '{sv}' → cloud is not a route on V2: ShadowManager synchronizes "
                          "shadows with the cloud", f"set sync_shadow: true for '{sv}' instead of this subscription")
            else:
                self.find(p, "error", "shadow → shadow can never fire", "remove the subscription")

    def bridge(self, r: Routes, name: str, topic: str, source: str, target: str) -> None:
        mapping = {"topic": topic, "source": source, "target": target}
        if mapping not in r.bridge.values():
            r.bridge[safe_id(name)] = mapping

    def shadow_pair(self, r: Routes, thing: str) -> None:
        """The documented bidirectional bridge of a thing's shadow topics (docs/protocols/v2-migration.md §5)."""
        add_unique(r.shadow_things, thing)
        topic = f"$aws/things/{thing}/shadow/#"
        self.bridge(r, f"shadow-{thing}-to-pubsub", topic, "LocalMqtt", "Pubsub")
        self.bridge(r, f"shadow-{thing}-to-local", topic, "Pubsub", "LocalMqtt")
