"""IPC authorization from each component's ``accessControl`` configuration (pure, thread-safe).

Follows aws-greengrass/aws-greengrass-nucleus ``authorization/AuthorizationHandler``, ``AuthorizationModule``,
``AuthorizationPolicyParser``, ``AuthorizationPolicyConfig`` and ``WildcardTrie``:

* ``configuration.accessControl`` (the key is found case-insensitively, as the nucleus' config tree does; a JSON
  *string* holding the map is accepted too) maps a destination service id → policy id → ``{policyDescription,
  operations, resources}`` (policy keys case-insensitive). The principal is always the declaring component.
  A component whose map does not parse (not a map, a list that is not a list of strings, an unknown policy key)
  contributes nothing; a policy without operations is skipped; a destination no service registered is skipped;
  an operation the destination did not register loads anyway (logged); an invalid resource (empty, a bare ``?``,
  a bad ``${...}`` escape) is skipped. Every such problem is logged and listed in :meth:`AccessControl.status`.
* The check tries (principal, operation), (principal, ``*``), (``*``, operation), (``*``, ``*``) for the requested
  resource and allows on the first hit; there are no deny rules. The refusal text is
  ``Principal <c> is not authorized to perform <service>:<operation> on resource <resource>``; an operation the
  destination does not register is refused with ``Component <service> not registered for operation <op>``.
* Resource matching, STANDARD: ``*`` is a glob over any characters (``/`` included); ``+``/``#`` are plain; the
  escapes ``${*}``, ``${$}``, ``${?}`` are the literal characters. MQTT_STYLE (``aws.greengrass.ipc.mqttproxy``):
  the glob plus ``+`` when it fills a whole level and ``#`` when it is the last level (``a/#`` also matches ``a``);
  other uses are plain characters. Policy variables are not expanded at check time (the nucleus does not).
* :meth:`AccessControl.update` replaces one component's policies (a configuration change takes effect at once).

Which operation needs which destination (and the ones that need none) is :data:`OPERATION_POLICIES`.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .errors import UnauthorizedError
from .operations import PREFIX

log = logging.getLogger(__name__)

ANY = "*"
PUBSUB = "aws.greengrass.ipc.pubsub"
MQTT_PROXY = "aws.greengrass.ipc.mqttproxy"
LIFECYCLE = "aws.greengrass.ipc.lifecycle"
SECRETS = "aws.greengrass.SecretManager"
SHADOWS = "aws.greengrass.ShadowManager"
CLI = "aws.greengrass.Cli"
TES = "aws.greengrass.TokenExchangeService"
# registered by plugins: aws-greengrass/aws-greengrass-client-device-auth (ClientDevicesAuthService, its four IPC
# operations on resource ``*``) and the nucleus' ComponentMetricIPCService (resource: the metric name)
CLIENT_DEVICES_AUTH = "aws.greengrass.clientdevices.Auth"
COMPONENT_METRIC = "aws.greengrass.ipc.componentmetric"
CLIENT_DEVICES_OPERATIONS = ("VerifyClientDeviceIdentity", "GetClientDeviceAuthToken", "AuthorizeClientDeviceAction",
                             "SubscribeToCertificateUpdates")

STANDARD = "STANDARD"
MQTT_STYLE = "MQTT_STYLE"

_CLI_OPS = ("GetComponentDetails", "ListComponents", "RestartComponent", "StopComponent", "CreateLocalDeployment",
            "CancelLocalDeployment", "GetLocalDeploymentStatus", "ListLocalDeployments", "CreateDebugPassword")

#: destination service → the operations it registers (the nucleus' componentToOperationsMap; ``*`` always)
REGISTERED: Mapping[str, frozenset] = {
    PUBSUB: frozenset({PREFIX + "PublishToTopic", PREFIX + "SubscribeToTopic", ANY}),
    MQTT_PROXY: frozenset({PREFIX + "PublishToIoTCore", PREFIX + "SubscribeToIoTCore", ANY}),
    SECRETS: frozenset({PREFIX + "GetSecretValue", ANY}),
    SHADOWS: frozenset({PREFIX + o for o in ("GetThingShadow", "UpdateThingShadow", "DeleteThingShadow",
                                              "ListNamedShadowsForThing")} | {ANY}),
    LIFECYCLE: frozenset({PREFIX + "PauseComponent", PREFIX + "ResumeComponent", ANY}),
    CLI: frozenset({PREFIX + o for o in _CLI_OPS} | {ANY}),
    CLIENT_DEVICES_AUTH: frozenset({PREFIX + o for o in CLIENT_DEVICES_OPERATIONS} | {ANY}),
    COMPONENT_METRIC: frozenset({PREFIX + "PutComponentMetric", ANY}),
    TES: frozenset({"getCredentials"}),
}

#: operation → (destination service, resource lookup policy). Operations absent here need no policy.
OPERATION_POLICIES: Mapping[str, tuple[str, str]] = {
    PREFIX + "PublishToTopic": (PUBSUB, STANDARD),
    PREFIX + "SubscribeToTopic": (PUBSUB, STANDARD),
    PREFIX + "PublishToIoTCore": (MQTT_PROXY, MQTT_STYLE),
    PREFIX + "SubscribeToIoTCore": (MQTT_PROXY, MQTT_STYLE),
    PREFIX + "PauseComponent": (LIFECYCLE, STANDARD),
    PREFIX + "ResumeComponent": (LIFECYCLE, STANDARD),
    PREFIX + "GetSecretValue": (SECRETS, STANDARD),
    **{PREFIX + o: (SHADOWS, STANDARD) for o in ("GetThingShadow", "UpdateThingShadow", "DeleteThingShadow",
                                                  "ListNamedShadowsForThing")},
    **{PREFIX + o: (CLI, STANDARD) for o in _CLI_OPS},
    **{PREFIX + o: (CLIENT_DEVICES_AUTH, STANDARD) for o in CLIENT_DEVICES_OPERATIONS},
    PREFIX + "PutComponentMetric": (COMPONENT_METRIC, STANDARD),
}

DECISION_CACHE_SIZE = 4096   # remembered decisions (all forgotten when the policies change or when full)
_POLICY_KEYS = {"policydescription": "policyDescription", "operations": "operations", "resources": "resources"}
_ESCAPES = {"*": "*", "$": "$", "?": "?"}


class ResourceError(ValueError):
    """A policy resource the nucleus would not load."""


# ------------------------------------------------------------------------------------------ resource patterns
def _tokens(resource: str) -> list[tuple[str, str]]:
    """Split a policy resource into ('lit', char) / ('glob', '*') / ('plus'|'hash', char) tokens."""
    if resource == "":
        raise ResourceError("Resource cannot be empty")
    out: list[tuple[str, str]] = []
    i, n = 0, len(resource)
    while i < n:
        c = resource[i]
        if c == "$" and i + 1 < n and resource[i + 1] == "{":
            if i + 3 < n and resource[i + 3] == "}" and resource[i + 2] in _ESCAPES:
                out.append(("lit", resource[i + 2]))
                i += 4
                continue
            raise ResourceError(f"Resource {resource!r} contains an invalid escape sequence. "
                                "You can use ${*}, ${$}, or ${?}")
        if c == "?":
            raise ResourceError(f"Resource {resource!r} contains invalid character: '?'. Use an escape sequence: "
                                "${?}. The '?' character isn't supported as a wildcard")
        out.append(("glob", c) if c == "*" else ("plus", c) if c == "+" else ("hash", c) if c == "#" else ("lit", c))
        i += 1
    return out


def compile_resource(resource: str, lookup: str = STANDARD) -> re.Pattern:
    """The regular expression a policy resource stands for (raises :class:`ResourceError`)."""
    tokens = _tokens(resource)
    parts: list[str] = []
    n = len(tokens)
    for i, (kind, c) in enumerate(tokens):
        prev_sep = i == 0 or tokens[i - 1] == ("lit", "/")
        next_sep = i == n - 1 or tokens[i + 1] == ("lit", "/")
        if kind == "glob":
            parts.append(".*")
        elif lookup == MQTT_STYLE and kind == "plus" and prev_sep and next_sep:
            parts.append("[^/]*")
        elif lookup == MQTT_STYLE and kind == "hash" and i == n - 1 and prev_sep:
            if i == 0:
                parts.append(".*")
            else:   # 'a/#' matches 'a', 'a/' and everything below
                parts.pop()
                parts.append("(?:/.*)?")
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


# ------------------------------------------------------------------------------------------ policies
@dataclass(frozen=True)
class Policy:
    component: str        # the principal (the declaring component)
    destination: str      # service id
    policy_id: str
    operations: tuple[str, ...]
    resources: tuple[str, ...]
    description: Optional[str] = None


def _find_key(mapping: Mapping[str, Any], key: str) -> Any:
    for k, v in mapping.items():
        if isinstance(k, str) and k.lower() == key.lower():
            return v
    return None


def parse_access_control(component: str, configuration: Optional[Mapping[str, Any]]) -> tuple[list[Policy], list[str]]:
    """The policies a component's configuration declares, and the problems found (pure)."""
    if not configuration:
        return [], []
    raw = _find_key(configuration, "accessControl") if isinstance(configuration, Mapping) else None
    if raw is None:
        return [], []
    where = f"{component}: configuration.accessControl"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as e:
            return [], [f"{where} is a string that is not JSON ({e}); no policy loaded"]
    if not isinstance(raw, Mapping):
        return [], [f"{where} must be a map of service id → policy id → policy; no policy loaded"]
    policies: list[Policy] = []
    problems: list[str] = []
    for destination, by_id in raw.items():
        if not isinstance(by_id, Mapping):
            return [], [f"{where}.{destination} must be a map of policy id → policy; no policy loaded"]
        for policy_id, body in by_id.items():
            at = f"{where}.{destination}.{policy_id}"
            if not isinstance(body, Mapping):
                return [], [f"{at} must be a map with operations and resources; no policy loaded"]
            fields: dict[str, Any] = {}
            for k, v in body.items():
                canonical = _POLICY_KEYS.get(str(k).lower())
                if canonical is None:
                    return [], [f"{at}: unknown key {k!r} (policyDescription, operations, resources); "
                                "no policy loaded"]
                fields[canonical] = v
            lists = {}
            for key in ("operations", "resources"):
                value = fields.get(key)
                if value is not None and (not isinstance(value, list) or not all(isinstance(x, str) for x in value)):
                    return [], [f"{at}.{key} must be a list of strings; no policy loaded"]
                lists[key] = tuple(dict.fromkeys(value or ()))
            if not lists["operations"]:
                problems.append(f"{at}: Policy operations are missing or invalid; policy skipped")
                continue
            if not str(policy_id):
                problems.append(f"{at}: empty policy id; policy skipped")
                continue
            desc = fields.get("policyDescription")
            policies.append(Policy(component, str(destination), str(policy_id), lists["operations"],
                                   lists["resources"], None if desc is None else str(desc)))
    return policies, problems


class AccessControl:
    """The core's IPC authorization state: every component's policies, the checks and refusal counters."""

    def __init__(self, registered: Mapping[str, frozenset] = REGISTERED) -> None:
        self._registered = dict(registered)
        self._by_component: dict[str, list[Policy]] = {}
        self._problems: dict[str, list[str]] = {}
        # destination → principal → operation → [(policy id, resource, compiled STANDARD, compiled MQTT)]
        # (the table, the decisions is_authorized made with it): one reference, swapped whole when policies change
        self._current: tuple[dict[str, dict[str, dict[str, list[tuple[str, str, re.Pattern, re.Pattern]]]]],
                             dict[tuple[str, str, str, str, str], bool]] = ({}, {})
        self._lock = threading.RLock()
        self._allowed = 0
        self._refusals: Counter[tuple[str, str, str]] = Counter()
        self._last_refusals: list[dict] = []
        self._rebuild()

    # -- configuration --------------------------------------------------------------------------
    def update(self, component: str, configuration: Optional[Mapping[str, Any]]) -> list[str]:
        """Replace ``component``'s policies with the ones its (new) configuration declares.

        Returns the problems found (also logged with the component's name); ``configuration=None`` removes them.
        """
        policies, problems = parse_access_control(component, configuration)
        with self._lock:
            if configuration is None:
                self._by_component.pop(component, None)
            else:
                self._by_component[component] = policies
            mine = problems + [p for p in self._rebuild() if p.startswith(component + ":")]
            self._problems[component] = mine
        for p in mine:
            log.warning("[%s] accessControl: %s", component, p)
        return mine

    def remove(self, component: str) -> None:
        self.update(component, None)
        with self._lock:
            self._problems.pop(component, None)

    def _rebuild(self) -> list[str]:
        table: dict = {}
        problems: list[str] = []
        # the nucleus' default policy: every principal may get credentials from the token exchange service
        table.setdefault(TES, {}).setdefault(ANY, {})["getCredentials"] = [("default", "*", re.compile(".*"),
                                                                             re.compile(".*"))]
        for component, policies in self._by_component.items():
            for p in policies:
                at = f"{component}: configuration.accessControl.{p.destination}.{p.policy_id}"
                registered = self._registered.get(p.destination)
                if registered is None:
                    problems.append(f"{at}: Component not registered: {p.destination}; policy skipped")
                    continue
                unknown = [o for o in p.operations if o not in registered]
                if unknown:
                    problems.append(f"{at}: Operation not registered with component {p.destination}: "
                                    f"{', '.join(unknown)} (loaded, never matches)")
                compiled = []
                for r in p.resources:
                    try:
                        compiled.append((p.policy_id, r, compile_resource(r, STANDARD), compile_resource(r, MQTT_STYLE)))
                    except ResourceError as e:
                        problems.append(f"{at}: {e}; resource skipped")
                by_op = table.setdefault(p.destination, {}).setdefault(component, {})
                for op in p.operations:
                    by_op.setdefault(op, []).extend(compiled)
        self._current = (table, {})
        return problems

    # -- checks ---------------------------------------------------------------------------------
    def is_authorized(self, principal: str, destination: str, operation: str, resource: str,
                      lookup: str = STANDARD) -> bool:
        """The nucleus' four-step lookup (raises nothing; counts nothing). A decision is remembered until the
        policies change (the same decision each time: nothing else goes into it)."""
        table, decisions = self._current   # a decision is stored with the table it came from
        key = (principal, destination, operation, resource, lookup)
        allowed = decisions.get(key)
        if allowed is None:
            allowed = self._lookup(table, principal, destination, operation, resource, lookup)
            if len(decisions) >= DECISION_CACHE_SIZE:
                decisions.clear()
            decisions[key] = allowed
        return allowed

    @staticmethod
    def _lookup(table: Mapping[str, Any], principal: str, destination: str, operation: str, resource: str,
                lookup: str) -> bool:
        dest = table.get(destination)
        if dest is None:
            return False
        for who, what in ((principal, operation), (principal, ANY), (ANY, operation), (ANY, ANY)):
            for _pid, _res, std, mqtt in dest.get(who, {}).get(what, ()):
                if (mqtt if lookup == MQTT_STYLE else std).fullmatch(resource):
                    return True
        return False

    def check(self, principal: str, operation: str, resource: str) -> None:
        """Authorize ``principal`` calling ``operation`` (full name) on ``resource``.

        Operations that need no policy pass. Raises :class:`~.errors.UnauthorizedError` with the nucleus' text
        (``Not Authorized`` for mqttproxy) and counts the refusal.
        """
        rule = OPERATION_POLICIES.get(operation)
        if rule is None:
            return
        destination, lookup = rule
        if operation not in self._registered.get(destination, ()):
            text = f"Component {destination} not registered for operation {operation}"
        elif self.is_authorized(principal, destination, operation, resource, lookup):
            with self._lock:
                self._allowed += 1
            return
        else:
            text = (f"Principal {principal} is not authorized to perform {destination}:{operation} "
                    f"on resource {resource}")
        with self._lock:
            self._refusals[(principal, operation, resource)] += 1
            self._last_refusals = (self._last_refusals + [{"principal": principal, "operation": operation,
                                                            "resource": resource, "reason": text,
                                                            "time": time.time()}])[-20:]
        log.info("[%s] refused %s on %r: %s", principal, operation, resource, text)
        raise UnauthorizedError("Not Authorized" if destination == MQTT_PROXY else text)

    def status(self) -> dict:
        with self._lock:
            return {
                "components": {c: [f"{p.destination}/{p.policy_id}" for p in ps]
                               for c, ps in sorted(self._by_component.items())},
                "problems": {c: list(p) for c, p in sorted(self._problems.items()) if p},
                "allowed": self._allowed,
                "refused": sum(self._refusals.values()),
                "refusals": [{"principal": p, "operation": o, "resource": r, "count": n}
                             for (p, o, r), n in self._refusals.most_common(50)],
                "last_refusals": list(self._last_refusals),
            }
