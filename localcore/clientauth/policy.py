"""Per-operation authorization of client devices, as ``aws.greengrass.clientdevices.Auth`` decides.

Evaluation follows ``PermissionEvaluationUtils.isAuthorized``: the device groups whose selection
rule selects the thing give their policy's statements (ALLOW only); a request is allowed when one
statement's operation matches (exactly, ``mqtt:*`` or ``*``) and one of its resources matches the
requested resource. A resource matches as the nucleus ``WildcardTrie.matchesStandard`` does: ``*``
is a glob over any characters (``/`` and ``:`` included) anywhere in the resource string, and MQTT
wildcards are plain characters — a ``mqtt:topicfilter:a/+/b`` grant allows subscribing to the
filter ``a/+/b`` only, ``mqtt:topic:a/#`` allows publishing to the topic ``a/#`` only, while
``mqtt:topic:a/*`` allows every topic under ``a/``. ``${iot:Connection.Thing.ThingName}`` becomes
the thing's name before matching.

Decisions are cached per (thing, operation, resource) in a bounded cache; ``update`` swaps the
configuration (a new deployment) and empties the caches. Refusals are logged at INFO with the
reason, counted per operation, and the last ones kept for the dashboard (``status()``).

``can_publish`` is asked for every PUBLISH, so an allowed (thing, topic) seen before is answered from
a set: no string formatting, no lock, one int increment (the broker asks from its event loop thread
only). Everything else — first decisions, refusals (logged each time) — takes the locked path.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from localcore.clientauth.config import THING_NAME_VARIABLE, DeviceGroups, parse_device_groups

log = logging.getLogger(__name__)

CONNECT, PUBLISH, SUBSCRIBE = "mqtt:connect", "mqtt:publish", "mqtt:subscribe"
_SHORT = {CONNECT: "connect", PUBLISH: "publish", SUBSCRIBE: "subscribe"}
# the component refuses a request whose resource name has other characters (RESOURCE_NAME_PATTERN)
_RESOURCE_NAME = re.compile(r"[\w -/:-@\[-`{-~]+")

Resource = Callable[[str], bool]
_Grant = Tuple[str, str, Resource]  # (operation, resource as configured, matcher)


def resource_matcher(pattern: str) -> Resource:
    """``WildcardTrie.matchesStandard`` for one configured resource: ``*`` matches any run of characters."""
    if "*" not in pattern:
        return pattern.__eq__
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
    return lambda resource: regex.fullmatch(resource) is not None


def _well_formed(resource: str) -> bool:
    """``PermissionEvaluationUtils.parseResource``: ``<alpha>:<alpha>:<name>``."""
    parts = resource.split(":", 2)
    return (len(parts) == 3 and parts[0].isalpha() and parts[1].isalpha()
            and _RESOURCE_NAME.fullmatch(parts[2]) is not None)


def _operation_matches(requested: str, granted: str) -> bool:
    return granted == requested or granted == "*" or granted == requested.split(":", 1)[0] + ":*"


class DeviceGroupsPolicy:
    """The :class:`localcore.platform.ClientPolicy` of a V2 core (see module docstring)."""

    def __init__(self, groups: DeviceGroups, *, cache_size: int = 8192, keep_refusals: int = 50) -> None:
        if cache_size < 1 or keep_refusals < 0:
            raise ValueError("cache_size must be ≥ 1 and keep_refusals ≥ 0")
        self._groups = groups
        self._cache_size = cache_size
        self._decisions: Dict[Tuple[str, str, str], Tuple[bool, str]] = {}
        self._grants: Dict[str, Tuple[Tuple[str, ...], Tuple[_Grant, ...]]] = {}
        self._lock = threading.Lock()
        self._counts = {op: {"allowed": 0, "refused": 0} for op in _SHORT.values()}
        self._refusals: Deque[Dict[str, Any]] = deque(maxlen=keep_refusals)
        self._hits = 0
        self._misses = 0
        # (thing, topic) pairs allowed to publish under the current configuration; cleared by update()
        self._publish_allowed: set[Tuple[str, str]] = set()
        self._publish_hits = 0  # publishes answered from _publish_allowed (allowed, cache hits)
        for warning in groups.warnings:
            log.warning("clientdevices.Auth configuration: %s", warning)

    # -- ClientPolicy ---------------------------------------------------------------------------
    def can_connect(self, thing: str, client_id: str) -> bool:
        return self.decide(thing, CONNECT, f"mqtt:clientId:{client_id}")

    def can_publish(self, thing: str, topic: str) -> bool:
        key = (thing, topic)
        if key in self._publish_allowed:
            self._publish_hits += 1
            return True
        return self._decide(thing, PUBLISH, f"mqtt:topic:{topic}", key)

    def can_subscribe(self, thing: str, topic_filter: str) -> bool:
        return self.decide(thing, SUBSCRIBE, f"mqtt:topicfilter:{topic_filter}")

    def decide(self, thing: str, operation: str, resource: str) -> bool:
        """One decision (counted; a refusal is logged and remembered)."""
        return self._decide(thing, operation, resource, None)

    def _decide(self, thing: str, operation: str, resource: str,
                publish_key: Optional[Tuple[str, str]]) -> bool:
        key = (thing, operation, resource)
        with self._lock:
            decision = self._decisions.get(key)
            if decision is None:
                self._misses += 1
                decision = self._evaluate(thing, operation, resource)
                if len(self._decisions) >= self._cache_size:
                    del self._decisions[next(iter(self._decisions))]
                self._decisions[key] = decision
            else:
                self._hits += 1
            allowed, reason = decision
            if allowed and publish_key is not None:
                # under the lock, so an update() in between cannot leave an old decision behind
                if len(self._publish_allowed) >= self._cache_size:
                    self._publish_allowed.clear()
                self._publish_allowed.add(publish_key)
            counts = self._counts.setdefault(_SHORT.get(operation, operation), {"allowed": 0, "refused": 0})
            counts["allowed" if allowed else "refused"] += 1
            if not allowed:
                self._refusals.append({"thing": thing, "operation": operation, "resource": resource,
                                       "reason": reason, "time": time.time()})
        if not allowed:
            log.info("client device %s refused %s on %s: %s", thing, operation, resource, reason)
        return allowed

    def explain(self, thing: str, operation: str, resource: str) -> Tuple[bool, str]:
        """The decision and its reason, without counting or caching (for tools and the dashboard)."""
        with self._lock:
            return self._evaluate(thing, operation, resource)

    # -- configuration --------------------------------------------------------------------------
    def update(self, auth_config: Any) -> None:
        """Apply a new configuration (a deployment). On :class:`AuthConfigError` the current one stays,
        as the component keeps its last good device groups when a bad one makes it error."""
        groups = parse_device_groups(auth_config)
        with self._lock:
            self._groups = groups
            self._decisions = {}
            self._grants = {}
            self._publish_allowed = set()
        for warning in groups.warnings:
            log.warning("clientdevices.Auth configuration: %s", warning)

    @property
    def groups(self) -> DeviceGroups:
        return self._groups

    # -- evaluation -----------------------------------------------------------------------------
    def _grants_of(self, thing: str) -> Tuple[Tuple[str, ...], Tuple[_Grant, ...]]:
        found = self._grants.get(thing)
        if found is not None:
            return found
        names: List[str] = []
        grants: List[_Grant] = []
        for group in self._groups.groups:
            if not group.rule.matches(thing):
                continue
            names.append(group.name)
            for statement in self._groups.policies.get(group.policy_name, ()):
                for resource in statement.resources:
                    concrete = resource.replace(THING_NAME_VARIABLE, thing)
                    matcher = resource_matcher(concrete)
                    for operation in statement.operations:
                        grants.append((operation, resource, matcher))
        if len(self._grants) >= self._cache_size:
            del self._grants[next(iter(self._grants))]
        found = self._grants[thing] = (tuple(names), tuple(grants))
        return found

    def _evaluate(self, thing: str, operation: str, resource: str) -> Tuple[bool, str]:
        if not _well_formed(resource):
            return False, f"resource {resource!r} is malformed for the Auth component"
        groups, grants = self._grants_of(thing)
        if not groups:
            return False, "no device group's selectionRule selects this thing"
        for granted_op, configured, matches in grants:
            if _operation_matches(operation, granted_op) and matches(resource):
                return True, f"allowed by {configured!r}"
        return False, (f"no statement of the policies of device group(s) {', '.join(groups)} allows "
                       f"{operation} on this resource")

    # -- introspection --------------------------------------------------------------------------
    def status(self) -> Dict[str, Any]:
        with self._lock:
            counts = {op: dict(c) for op, c in self._counts.items()}
            counts[_SHORT[PUBLISH]]["allowed"] += self._publish_hits
            refusals = list(self._refusals)
            cache = {"entries": len(self._decisions), "max": self._cache_size,
                     "hits": self._hits + self._publish_hits, "misses": self._misses}
        groups = self._groups
        return {
            "formatVersion": groups.format_version,
            "groups": {g.name: {"selectionRule": g.rule.text, "policyName": g.policy_name}
                       for g in groups.groups},
            "decisions": counts,
            "recent_refusals": refusals,
            "cache": cache,
            "warnings": list(groups.warnings),
        }


def policy_from_config(auth_config: Any, *, cache_size: int = 8192,
                       keep_refusals: int = 50) -> DeviceGroupsPolicy:
    """The policy of an ``aws.greengrass.clientdevices.Auth`` configuration (the whole component
    configuration or its ``deviceGroups`` object). Raises :class:`AuthConfigError` (path + reason)."""
    return DeviceGroupsPolicy(parse_device_groups(auth_config), cache_size=cache_size,
                              keep_refusals=keep_refusals)


