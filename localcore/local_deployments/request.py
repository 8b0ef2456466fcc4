"""A local deployment request and the deployment it makes (pure).

Follows aws-greengrass/aws-greengrass-cli ``CLIEventStreamAgent.CreateLocalDeploymentHandler`` (the request as the
IPC operation ``CreateLocalDeployment`` carries it) and aws-greengrass/aws-greengrass-nucleus
``DeploymentDocumentConverter.convertFromLocalOverrideRequestAndRoot`` (what it becomes):

* a local deployment belongs to the group ``LOCAL_DEPLOYMENT``, or to ``thinggroup/<groupName>`` when the request
  names one (a name with ``:`` is refused);
* its root components are the group's root components as they run now (name → running version), minus
  ``rootComponentsToRemove``, plus ``rootComponentVersionsToAdd`` (added or replaced);
* ``componentToConfiguration`` (name → ``{"MERGE": {...}, "RESET": [...]}``) becomes each component's
  configuration update — a component that is not a root gets the update without becoming one;
* ``componentToRunWithInfo`` becomes each component's ``runWith``;
* the failure handling policy is the request's, **DO_NOTHING** when it names none (the nucleus' default for a
  local deployment; a cloud deployment's is ROLLBACK); configuration validation waits the nucleus' default 20 s.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from localcore.generic_components.deployments import DO_NOTHING, ROLLBACK, Deployment

from .errors import RequestError

LOCAL_GROUP = "LOCAL_DEPLOYMENT"               # DeploymentDocumentConverter.LOCAL_DEPLOYMENT_GROUP_NAME
THING_GROUP_PREFIX = "thinggroup/"
VALIDATION_TIMEOUT_S = 20                      # DynamicComponentConfigurationValidator.DEFAULT_TIMEOUT_SECOND
DEFAULT_FAILURE_POLICY = DO_NOTHING            # convertFailureHandlingPolicyFromSDK(null)
FAILURE_POLICIES = (ROLLBACK, DO_NOTHING)


@dataclass(frozen=True)
class LocalRequest:
    """One ``CreateLocalDeployment`` request, checked (see :func:`parse_request`)."""

    group_name: Optional[str] = None
    to_add: Mapping[str, str] = field(default_factory=dict)
    to_remove: Tuple[str, ...] = ()
    configuration: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)   # name -> {"merge", "reset"}
    run_with: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    recipe_dir: Optional[str] = None
    artifacts_dir: Optional[str] = None
    failure_policy: str = DEFAULT_FAILURE_POLICY

    @property
    def group(self) -> str:
        """The nucleus' group of the deployment: ``LOCAL_DEPLOYMENT`` or ``thinggroup/<groupName>``."""
        return THING_GROUP_PREFIX + self.group_name if self.group_name else LOCAL_GROUP


@dataclass(frozen=True)
class LocalDeployment(Deployment):
    """A local deployment as the core device processes it: ``components`` holds the roots (with
    ``componentVersion``) and the components that only get a configuration update (without one)."""

    @property
    def roots(self) -> dict[str, str]:
        return {n: str(e["componentVersion"]) for n, e in self.components.items() if e.get("componentVersion")}


def new_deployment_id() -> str:
    return str(uuid.uuid4())


def is_deployment_id(text: Any) -> bool:
    """Whether ``text`` is a UUID (the only deployment id the CLI's operations take)."""
    if not isinstance(text, str):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _string(body: Mapping[str, Any], key: str) -> Optional[str]:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RequestError(f"must be a string, got {type(value).__name__}", key)
    return value


def _string_map(body: Mapping[str, Any], key: str) -> Dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"must be a map of component name to version, got {type(value).__name__}", key)
    out = {}
    for name, version in value.items():
        if not isinstance(version, str) or not version:
            raise RequestError(f"the version of {name} must be a non-empty string, got {version!r}", key)
        out[str(name)] = version
    return out


def parse_request(body: Mapping[str, Any]) -> LocalRequest:
    """The request of a ``CreateLocalDeployment`` call (its JSON body); :class:`RequestError` names the field."""
    group = _string(body, "groupName")
    if group is not None and ":" in group:
        raise RequestError("Thing group name cannot contain colon characters")
    to_add = _string_map(body, "rootComponentVersionsToAdd")
    remove = body.get("rootComponentsToRemove")
    remove = [] if remove is None else remove
    if not isinstance(remove, list) or not all(isinstance(n, str) and n for n in remove):
        raise RequestError("must be a list of component names", "rootComponentsToRemove")
    configuration: Dict[str, Dict[str, Any]] = {}
    raw = body.get("componentToConfiguration")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise RequestError('must be a map of component name to {"MERGE": {...}, "RESET": [...]}',
                           "componentToConfiguration")
    for name, update in raw.items():
        where = f"componentToConfiguration.{name}"
        if not isinstance(update, dict):
            raise RequestError('must be {"MERGE": {...}, "RESET": [...]}', where)
        merge, reset = update.get("MERGE"), update.get("RESET")
        if merge is not None and not isinstance(merge, dict):
            raise RequestError(f"MERGE must be a JSON object, got {type(merge).__name__}", where)
        if reset is not None and (not isinstance(reset, list) or not all(isinstance(p, str) for p in reset)):
            raise RequestError("RESET must be a list of JSON pointers such as /key/sub", where)
        configuration[str(name)] = {k: v for k, v in (("merge", merge), ("reset", reset)) if v is not None}
    run_with: Dict[str, Dict[str, Any]] = {}
    raw = body.get("componentToRunWithInfo")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise RequestError("must be a map of component name to {posixUser, windowsUser, systemResourceLimits}",
                           "componentToRunWithInfo")
    for name, info in raw.items():
        if not isinstance(info, dict):
            raise RequestError("must be {posixUser, windowsUser, systemResourceLimits}",
                               f"componentToRunWithInfo.{name}")
        run_with[str(name)] = {k: v for k, v in info.items()
                               if k in ("posixUser", "windowsUser", "systemResourceLimits") and v is not None}
    policy = _string(body, "failureHandlingPolicy") or DEFAULT_FAILURE_POLICY
    if policy not in FAILURE_POLICIES:
        raise RequestError(f"must be ROLLBACK or DO_NOTHING, got {policy!r}", "failureHandlingPolicy")
    return LocalRequest(group_name=group, to_add=to_add, to_remove=tuple(remove), configuration=configuration,
                        run_with=run_with, recipe_dir=_string(body, "recipeDirectoryPath"),
                        artifacts_dir=_string(body, "artifactsDirectoryPath"), failure_policy=policy)


def to_deployment(deployment_id: str, request: LocalRequest, running_roots: Mapping[str, str]) -> LocalDeployment:
    """``convertFromLocalOverrideRequestAndRoot``: the deployment ``request`` makes, given the group's root
    components as they run now (name → version)."""
    roots = dict(running_roots)
    for name in request.to_remove:
        roots.pop(name, None)
    roots.update(request.to_add)
    components: Dict[str, Dict[str, Any]] = {}
    for name, update in request.configuration.items():
        components.setdefault(name, {})["configurationUpdate"] = dict(update)
    for name, version in roots.items():
        components.setdefault(name, {})["componentVersion"] = version
    for name, info in request.run_with.items():
        if info:
            components.setdefault(name, {})["runWith"] = dict(info)
    document = {"deploymentId": deployment_id, "groupName": request.group,
                "deploymentPolicies": {
                    "failureHandlingPolicy": request.failure_policy,
                    "configurationValidationPolicy": {"timeoutInSeconds": VALIDATION_TIMEOUT_S},
                    "componentUpdatePolicy": {"action": "SKIP_NOTIFY_COMPONENTS", "timeoutInSeconds": 0}},
                "components": components}
    return LocalDeployment(id=deployment_id, group=request.group, name="", components=components,
                           failure_policy=request.failure_policy, document=document)
