"""The Auth component's ``deviceGroups`` configuration, parsed and validated (pure).

Mirrors ``GroupConfiguration`` / ``GroupDefinition`` / ``AuthorizationPolicyStatement`` of
aws-greengrass-client-device-auth: ``formatVersion`` must be ``2021-03-05`` when given;
``definitions`` name → ``{selectionRule, policyName}`` (both required; the rule must parse);
``policies`` name → statement name → ``{operations, resources, statementDescription, effect}``
(``effect`` can only be ``ALLOW``); every ``policyName`` must name a policy; the only policy
variable is ``${iot:Connection.Thing.ThingName}``. Anything else is an :class:`AuthConfigError`
(the component's service errors, so the deployment fails). Unknown keys are ignored (the
component's JSON mapper does so) but reported in ``warnings``, as are operations and resource
types that no MQTT request can ever match.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple

from localcore.clientauth.errors import AuthConfigError
from localcore.clientauth.rules import SelectionRule, parse_rule

FORMAT_VERSION = "2021-03-05"
THING_NAME_VARIABLE = "${iot:Connection.Thing.ThingName}"
_VARIABLE = re.compile(r"\$\{.*?}")
OPERATIONS = ("mqtt:connect", "mqtt:publish", "mqtt:subscribe", "mqtt:*", "*")
_RESOURCE_PREFIXES = ("mqtt:clientId:", "mqtt:topic:", "mqtt:topicfilter:")
_DEVICE_GROUPS_KEYS = {"formatVersion", "definitions", "policies"}
_DEFINITION_KEYS = {"selectionRule", "policyName"}
_STATEMENT_KEYS = {"operations", "resources", "statementDescription", "effect"}


@dataclass(frozen=True)
class Statement:
    name: str
    operations: Tuple[str, ...]
    resources: Tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class DeviceGroup:
    name: str
    rule: SelectionRule
    policy_name: str


@dataclass(frozen=True)
class DeviceGroups:
    format_version: str
    groups: Tuple[DeviceGroup, ...]
    policies: Mapping[str, Tuple[Statement, ...]]
    warnings: Tuple[str, ...] = ()


def _mapping(value: Any, path: str, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AuthConfigError(path, f"must be an object of {what}, not {type(value).__name__}")
    return value


def _strings(value: Any, path: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise AuthConfigError(path, f"must be a list of strings, not {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise AuthConfigError(f"{path}[{i}]", f"must be a string, not {type(item).__name__}")
    # empty entries are skipped by the component
    return tuple(dict.fromkeys(item for item in value if item))


def _unknown(obj: Mapping[str, Any], known: set, path: str, warnings: List[str]) -> None:
    for key in obj:
        if key not in known:
            warnings.append(f"{path}.{key}: unknown key, ignored (known: {', '.join(sorted(known))})")


def device_groups_of(auth_config: Any) -> Tuple[Any, str]:
    """The ``deviceGroups`` object inside ``auth_config`` and its path.

    ``auth_config`` may be the component's whole configuration (``{"deviceGroups": {...}, ...}``)
    or the ``deviceGroups`` object itself."""
    if isinstance(auth_config, Mapping) and "deviceGroups" in auth_config:
        return auth_config["deviceGroups"], "deviceGroups"
    if isinstance(auth_config, Mapping) and not (_DEVICE_GROUPS_KEYS & set(auth_config)):
        return {}, "deviceGroups"  # an Auth configuration without device groups: nobody is allowed anything
    return auth_config, "deviceGroups"


def parse_device_groups(auth_config: Any) -> DeviceGroups:
    """Validate and parse; raise :class:`AuthConfigError` with the path of the first bad value."""
    raw, base = device_groups_of(auth_config)
    root = _mapping(raw, base, "formatVersion, definitions and policies")
    warnings: List[str] = []
    _unknown(root, _DEVICE_GROUPS_KEYS, base, warnings)
    version = root.get("formatVersion")
    if version is None:
        version = FORMAT_VERSION
    elif version != FORMAT_VERSION:
        raise AuthConfigError(f"{base}.formatVersion", f"{version!r} is not a known format version "
                                                      f"(the only one is {FORMAT_VERSION!r})")

    policies: Dict[str, Tuple[Statement, ...]] = {}
    for pname, pbody in _mapping(root.get("policies"), f"{base}.policies", "policies").items():
        ppath = f"{base}.policies.{pname}"
        statements = []
        for sname, sbody in _mapping(pbody, ppath, "policy statements").items():
            spath = f"{ppath}.{sname}"
            body = _mapping(sbody, spath, "operations, resources, statementDescription")
            _unknown(body, _STATEMENT_KEYS, spath, warnings)
            effect = body.get("effect", "ALLOW")
            if effect != "ALLOW":
                raise AuthConfigError(f"{spath}.effect", f"{effect!r} is not supported (only 'ALLOW')")
            description = body.get("statementDescription") or ""
            if not isinstance(description, str):
                raise AuthConfigError(f"{spath}.statementDescription", "must be a string")
            ops = _strings(body.get("operations"), f"{spath}.operations")
            resources = _strings(body.get("resources"), f"{spath}.resources")
            for i, op in enumerate(ops):
                if op not in OPERATIONS:
                    warnings.append(f"{spath}.operations: {op!r} matches no MQTT request "
                                    f"(the broker asks for {', '.join(OPERATIONS[:3])})")
            for resource in resources:
                for variable in _VARIABLE.findall(resource):
                    if variable != THING_NAME_VARIABLE:
                        index = body["resources"].index(resource)
                        raise AuthConfigError(f"{spath}.resources[{index}]",
                                              f"unknown policy variable {variable} (Policy contains unknown "
                                              f"variables; the only one is {THING_NAME_VARIABLE})")
                if "*" not in resource and not resource.startswith(_RESOURCE_PREFIXES):
                    warnings.append(f"{spath}.resources: {resource!r} matches no MQTT request "
                                    "(use mqtt:clientId:, mqtt:topic:, mqtt:topicfilter: or *)")
            statements.append(Statement(sname, ops, resources, description))
        policies[pname] = tuple(statements)

    groups = []
    for gname, gbody in _mapping(root.get("definitions"), f"{base}.definitions", "device groups").items():
        gpath = f"{base}.definitions.{gname}"
        body = _mapping(gbody, gpath, "selectionRule and policyName")
        _unknown(body, _DEFINITION_KEYS, gpath, warnings)
        for key in ("selectionRule", "policyName"):
            if body.get(key) is None:
                raise AuthConfigError(f"{gpath}.{key}", "is required")
        rule = parse_rule(body["selectionRule"], f"{gpath}.selectionRule")
        warnings.extend(rule.warnings)
        policy_name = body["policyName"]
        if not isinstance(policy_name, str):
            raise AuthConfigError(f"{gpath}.policyName",
                                  f"must be a string, not {type(policy_name).__name__}")
        if policy_name not in policies:
            known = ", ".join(sorted(policies)) or "none"
            raise AuthConfigError(f"{gpath}.policyName", f"Policy definition {policy_name} does not have a "
                                                         f"corresponding policy (policies: {known})")
        groups.append(DeviceGroup(gname, rule, policy_name))
    return DeviceGroups(version, tuple(groups), policies, tuple(warnings))
