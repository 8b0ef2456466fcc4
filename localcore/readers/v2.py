"""The V2 reader: a Greengrass V2 core device's deployment → the core's configuration (``CoreSetup``).

Two parts:

* **pure** :func:`setup_from_deployment`: the deployment document (components, each with its
  ``configurationUpdate`` applied over its recipe's ``DefaultConfiguration``) and the recipes → the same
  ``group.model.Group`` the V1 reader yields (functions, a V1-style subscription table synthesised from the
  V2 configuration, devices, shadows and their sync, stream manager, loggers, the Docker connector) plus
  the V2 :class:`~localcore.platform.PlatformProfile`. Bad input raises one :class:`DeploymentFailed`.
* **fetching** (``v2_fetch.py``): ``read_core_deployment`` / ``report``: what a core device asks the cloud (the
  local greengrassv2 stand-in's device-side routes, a real boto3 ``greengrassv2`` client) and reports back.

How the V2 configuration becomes routes (docs/protocols/v2-migration.md §3–§5): LegacySubscriptionRouter entries
→ function→cloud / function→function; ``IOT_CORE`` event sources → cloud→function; ``PUB_SUB`` event sources
→ shadow:<thing>→function when the topic is a shadow topic ShadowManager publishes (a ``+`` thing level: for each
thing of the group, core included), else device→function for
each device the Auth policy lets publish on it, when a Bridge LocalMqtt→Pubsub mapping carries it; Bridge
LocalMqtt→IotCore → device→cloud, IotCore→LocalMqtt → cloud→device (devices as the policy allows); the
Bridge shadow pair → device→shadow:<thing> on the shadow topics the policy lets the device publish, and
shadow:<thing>→device on the ones it may subscribe to (a ``+`` thing level: for each thing of the group,
core included); device→device is plain broker pub/sub: each device →
each other device on the topics one may publish and the other subscribe to (the policy enforces it again
at the broker). Function→device does not exist on V2 (the converter routes it through the cloud). The local
pub/sub bus of the nucleus IPC is the endpoint ``pubsub``: a ``PUB_SUB`` event source (not a shadow topic) is also
pubsub→function, Bridge LocalMqtt→Pubsub device→pubsub and Pubsub→LocalMqtt pubsub→device.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from group.model import (NAME_RE, Connectivity, Connector, Core, Device, Function, Group,
                         GroupInfo, Logger, ResourceAccess, Resource, RunAs, StreamManager, Subscription, Volume)
from group.model import DEFAULT_RUNTIME
from group.plan import lambda_name
from group.topics import filters_overlap
from group.v2 import catalog
from group.v2.convert import compose_component_name
from group.v2.lambda_recipe import lambda_parameters_from_recipe
from localcore.clientauth import device_grants, policy_from_config
from localcore.generic_components.config import apply_update
from localcore.generic_components.errors import ConfigurationError
from localcore.platform import ComponentInfo, CoreSetup, PlatformProfile
from localcore.router.topics import intersection
from localcore.shadow.errors import ShadowManagerConfigError
from localcore.shadow.manager_config import parse as parse_shadow_manager

from .errors import DeploymentFailed

log = logging.getLogger(__name__)

PROFILE_NAME = "v2"
DISCOVERY_PREFIX = "greengrassV2-coreDevice-"
LAMBDA_ARTIFACT = "lambda-artifact.zip"
BRIDGE_ENDS = ("LocalMqtt", "Pubsub", "IotCore")
SHADOW_FILTER_RE = re.compile(r"^\$aws/things/([^/]+)/shadow(/|$)")
DOCKER_CONNECTOR_ARN = "arn:aws:greengrass:{region}::/connectors/DockerApplicationDeployment/versions/7"
DEFAULT_BROKER_PORT = 8883
_NAME = re.compile(NAME_RE)


# ---- small helpers ---------------------------------------------------------------------------------


def _config_error(component: str, what: str) -> DeploymentFailed:
    return DeploymentFailed(f"Component {component} configuration is not valid: {what}",
                            ["COMPONENT_CONFIGURATION_NOT_VALID"])


def _covers(outer: str, inner: str) -> bool:
    """Whether every topic matching filter ``inner`` also matches filter ``outer``."""
    a, b = outer.split("/"), inner.split("/")
    for i, x in enumerate(a):
        if x == "#":
            return True
        if i >= len(b):
            return False
        y = b[i]
        if y == "#":
            return False
        if x != "+" and (y == "+" or x != y):
            return False
    return len(a) == len(b)


def _outermost(filters: Iterable[str]) -> List[str]:
    """``filters`` without those another one of them covers (order kept)."""
    items = list(dict.fromkeys(filters))
    return [f for f in items if not any(g != f and _covers(g, f) for g in items)]


def _shadow_thing(topic: str) -> Optional[str]:
    m = SHADOW_FILTER_RE.match(topic)
    return m.group(1) if m else None


def _per_thing(shadow_filter: str, group_things: Sequence[str]) -> List[Tuple[str, str]]:
    """``(thing, filter)`` for a shadow topic filter: its own thing, or — for a ``+`` thing level, which the
    bridge carries and the ShadowManager serves for any thing — the same filter for each of the group's things."""
    levels = shadow_filter.split("/")
    if levels[2] != "+":
        return [(levels[2], shadow_filter)]
    return [(t, "/".join(levels[:2] + [t] + levels[3:])) for t in group_things]


def _safe_name(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_\-]", "-", text)[:128]
    return out or "unnamed"


def _bridge_mappings(config: Mapping[str, Any]) -> List[Tuple[str, Dict[str, str]]]:
    mapping = config.get("mqttTopicMapping") or {}
    if not isinstance(mapping, dict):
        raise _config_error(catalog.BRIDGE, "mqttTopicMapping must be a map of name → {topic, source, target}")
    out = []
    for name, m in mapping.items():
        where = f"mqttTopicMapping.{name}"
        if not isinstance(m, dict):
            raise _config_error(catalog.BRIDGE, f"{where} must be a map with topic, source and target")
        topic, source, target = m.get("topic"), m.get("source"), m.get("target")
        if not isinstance(topic, str) or not topic:
            raise _config_error(catalog.BRIDGE, f"{where}.topic must be a non-empty topic filter")
        levels = topic.split("/")
        if any(("#" in lv and lv != "#") or ("+" in lv and lv != "+") for lv in levels) or "#" in levels[:-1]:
            raise _config_error(catalog.BRIDGE, f"{where}.topic {topic!r} is not a valid MQTT topic filter")
        if source not in BRIDGE_ENDS or target not in BRIDGE_ENDS:
            raise _config_error(catalog.BRIDGE, f"{where}: source and target must be one of {list(BRIDGE_ENDS)} "
                                                f"(got {source!r} → {target!r})")
        if source == target:
            raise _config_error(catalog.BRIDGE, f"{where}: source and target must differ (both {source!r})")
        out.append((str(name), {"topic": topic, "source": source, "target": target}))
    return out


# ---- the pure reader --------------------------------------------------------------------------------


def _is_public(name: str) -> bool:
    return name in catalog.PUBLIC_COMPONENTS or name.startswith("aws.greengrass.")


def _setenv(recipe: Mapping[str, Any]) -> Dict[str, str]:
    lifecycle = recipe.get("Lifecycle") or {}
    env = lifecycle.get("setenv") or lifecycle.get("Setenv") or {}
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


def _function_names(deployment: Mapping[str, Any], lambda_components: Sequence[str],
                    base: Optional[Group]) -> Dict[str, str]:
    """Lambda component → V1 function name: the base group's names when it has them (the converter names a
    component ``lambda_name(group, function)``), else the component name without ``<deploymentName>-``."""
    known = {lambda_name(base, f.name): f.name for f in base.functions} if base is not None else {}
    prefix = f"{deployment.get('deploymentName') or ''}-"
    out: Dict[str, str] = {}
    for comp in lambda_components:
        if comp in known:
            out[comp] = known[comp]
            continue
        name = comp[len(prefix):] if len(prefix) > 1 and comp.startswith(prefix) else comp
        out[comp] = name if _NAME.match(name) else _safe_name(name)
    return out


def _run_as(entry: Mapping[str, Any]) -> Optional[RunAs]:
    user = ((entry.get("runWith") or {}).get("posixUser") or "")
    m = re.fullmatch(r"(\d+):(\d+)", str(user))
    return RunAs(uid=int(m.group(1)), gid=int(m.group(2))) if m else None


class _Resources:
    """Group resources made from Lambda volumes and devices: the base group's names where they match."""

    def __init__(self, base: Optional[Group]) -> None:
        self.base = base
        self.items: List[Resource] = []

    def ref(self, res: Resource) -> str:
        for r in self.items:
            if (r.device, r.volume) == (res.device, res.volume):
                return r.name
        if self.base is not None:
            for r in self.base.resources:
                if (r.device, r.volume) == (res.device, res.volume):
                    res = res.model_copy(update={"name": r.name})
                    break
        names = {r.name for r in self.items}
        name, i = res.name, 2
        while name in names:
            name, i = f"{res.name}-{i}", i + 1
        self.items.append(res.model_copy(update={"name": name}))
        return name

    def ordered(self) -> Tuple[Resource, ...]:
        """The resources in the base group's order (new ones last)."""
        order = {r.name: i for i, r in enumerate(self.base.resources)} if self.base is not None else {}
        return tuple(sorted(self.items, key=lambda r: order.get(r.name, len(order))))


def _in_base_order(items: Sequence[Any], key: str, base_items: Sequence[Any]) -> Tuple[Any, ...]:
    """``items`` ordered as the group file lists them (by attribute ``key``), the others after, as given."""
    order = {getattr(b, key): i for i, b in enumerate(base_items)}
    return tuple(sorted(items, key=lambda x: order.get(getattr(x, key), len(order))))


def _function(fn: str, comp: str, recipe: Mapping[str, Any], config: Mapping[str, Any],
              entry: Mapping[str, Any], code_dir: Path, base: Optional[Group], resources: _Resources) -> Function:
    effective = {**recipe, "ComponentConfiguration": {"DefaultConfiguration": dict(config)}}
    try:
        p = lambda_parameters_from_recipe(effective)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _config_error(comp, f"Lambda parameters cannot be read ({type(e).__name__}: {e})") from None
    env = _setenv(recipe)
    old = base.function(fn) if base is not None else None
    handler = env.get("AWS_GREENGRASS_LAMBDA_FUNCTION_HANDLER") or (old.handler if old else "handler.function_handler")
    runtime = env.get("AWS_GREENGRASS_LAMBDA_RUNTIME") or (old.runtime if old else DEFAULT_RUNTIME)
    linux = p.get("linuxProcessParams") or {}
    isolation = linux.get("isolationMode", "GreengrassContainer")
    container = linux.get("containerParams") or {}
    access: List[ResourceAccess] = []
    if isolation == "GreengrassContainer":
        for d in container.get("devices") or []:
            ref = resources.ref(Resource(name=_safe_name(f"device{d['path']}"), device=d["path"],
                                         group_owner=bool(d.get("addGroupOwner", False))))
            access.append(ResourceAccess(ref=ref, permission=d.get("permission", "ro")))
        for v in container.get("volumes") or []:
            ref = resources.ref(Resource(name=_safe_name(f"volume{v['sourcePath']}"),
                                         volume=Volume(source=v["sourcePath"], dest=v["destinationPath"]),
                                         group_owner=bool(v.get("addGroupOwner", False))))
            access.append(ResourceAccess(ref=ref, permission=v.get("permission", "ro")))
    pinned = bool(p.get("pinned", True))
    memory_kb = container.get("memorySizeInKB") if isolation == "GreengrassContainer" else None
    try:
        return Function(
            name=fn, path=str(code_dir), handler=handler, runtime=runtime, pinned=pinned,
            max_instances=None if pinned else int(p.get("maxInstancesCount", 100)),
            memory_mb=int(memory_kb) // 1024 if memory_kb is not None else None,
            timeout_s=int(p.get("timeoutInSeconds", 3)), encoding=p.get("inputPayloadEncodingType", "json"),
            environment={str(k): str(v) for k, v in (p.get("environmentVariables") or {}).items()},
            isolation=isolation, run_as=_run_as(entry), access_sysfs=bool(container.get("mountROSysfs", False)),
            resources=tuple(access),
        )
    except ValueError as e:  # pydantic ValidationError is a ValueError
        raise _config_error(comp, f"Lambda parameters are not valid: {e}") from None


def _compose_connector(comp: str, recipe: Mapping[str, Any], entry: Mapping[str, Any], region: str,
                       deployment_name: str, base: Optional[Group]) -> Optional[Connector]:
    """The V1 Docker connector shape of the converter's compose component (None: not a compose component)."""
    deps = recipe.get("ComponentDependencies") or {}
    if catalog.DOCKER_MANAGER not in deps:
        return None
    for manifest in recipe.get("Manifests") or []:
        run = str(((manifest.get("Lifecycle") or {}).get("Run")) or "")
        if "compose" not in run:
            continue
        for art in manifest.get("Artifacts") or []:
            uri = str(art.get("URI") or art.get("Uri") or "")
            if not uri.startswith("s3://") or not uri.endswith((".yml", ".yaml")):
                continue
            bucket, _, key = uri[len("s3://"):].partition("/")
            name = None
            if base is not None:
                name = next((c.name for c in base.connectors if compose_component_name(base, c.name) == comp), None)
            if name is None:
                stem = comp[len(deployment_name) + 1:] if comp.startswith(f"{deployment_name}-") else comp
                name = _safe_name(stem[:-len("-compose")] if stem.endswith("-compose") else stem)
            params: Dict[str, Any] = {"DockerComposeFileS3Bucket": bucket, "DockerComposeFileS3Key": key}
            if re.search(r"\bpull\b", run):
                params["DockerPullBeforeUp"] = "true"
            user = (entry.get("runWith") or {}).get("posixUser")
            if user:
                params["DockerUserId"] = str(user)
            return Connector(name=name, arn=DOCKER_CONNECTOR_ARN.format(region=region), parameters=params)
    return None


def _loggers(nucleus: Mapping[str, Any], log_manager: Optional[Mapping[str, Any]]) -> List[Logger]:
    out: List[Logger] = []
    logging_cfg = nucleus.get("logging")
    if isinstance(logging_cfg, dict) and str(logging_cfg.get("outputType", "FILE")).upper() == "FILE":
        level = str(logging_cfg.get("level", "INFO")).upper()
        level = level if level in ("DEBUG", "INFO", "WARN", "ERROR") else "INFO"
        space = max(128, int(logging_cfg.get("totalLogsSizeKB", 10240)))
        # V2 has one local limit for the nucleus and every component
        out.append(Logger(component="GreengrassSystem", type="FileSystem", level=level, space_kb=space))
        out.append(Logger(component="Lambda", type="FileSystem", level=level, space_kb=space))
    if log_manager:
        uploader = log_manager.get("logsUploaderConfiguration") or {}
        system = uploader.get("systemLogsConfiguration") or {}
        if str(system.get("uploadToCloudWatch", "false")).lower() == "true":
            out.append(Logger(component="GreengrassSystem", type="AWSCloudWatch",
                              level=str(system.get("minimumLogLevel", "INFO")).upper()))
        comps = uploader.get("componentLogsConfigurationMap") or {}
        if comps:
            first = next(iter(comps.values())) or {}
            out.append(Logger(component="Lambda", type="AWSCloudWatch",
                              level=str(first.get("minimumLogLevel", "INFO")).upper()))
    return out


def _stream_manager(config: Optional[Mapping[str, Any]]) -> StreamManager:
    if config is None:
        return StreamManager(enabled=False)

    def opt_int(key: str) -> Optional[int]:
        v = config.get(key)
        return int(v) if v not in (None, "") else None

    try:
        return StreamManager(
            enabled=True, store_root=config.get("STREAM_MANAGER_STORE_ROOT_DIR") or None,
            port=int(config.get("STREAM_MANAGER_SERVER_PORT", 8088)),
            authenticate_client=str(config.get("STREAM_MANAGER_AUTHENTICATE_CLIENT", "true")).lower() == "true",
            exporter_thread_pool_size=opt_int("STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE"),
            exporter_max_bandwidth_kbps=opt_int("STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH"),
        )
    except ValueError as e:
        raise _config_error(catalog.STREAM_MANAGER, str(e)) from None


def _connectivity(connectivity: Sequence[Mapping[str, Any]], broker_port: int) -> Tuple[Connectivity, ...]:
    out = []
    for c in connectivity:
        host = c.get("hostAddress", c.get("HostAddress"))
        port = c.get("portNumber", c.get("PortNumber", broker_port))
        out.append(Connectivity(host=str(host), port=int(port), metadata=str(c.get("metadata", c.get("Metadata")) or ""),
                                id=c.get("id", c.get("Id"))))
    return tuple(out) or (Connectivity(host="127.0.0.1", port=broker_port),)


def _client_policy(auth_config: Optional[Mapping[str, Any]]) -> Any:
    """The Auth policy engine (``localcore.clientauth``) over the component's configuration."""
    if auth_config is None:
        return None
    try:
        return policy_from_config(dict(auth_config))
    except (ValueError, TypeError, KeyError) as e:  # AuthConfigError: the path and the reason
        raise _config_error(catalog.CLIENT_AUTH, str(e)) from None


class _Routes:
    def __init__(self) -> None:
        self.items: List[Subscription] = []
        self._seen: set = set()
        self._ids: set = set()

    def add(self, rid: str, source: str, target: str, topic: str) -> None:
        key = (source, target, topic)
        if key in self._seen:
            return
        self._seen.add(key)
        sid, i = rid, 2
        while sid in self._ids:
            sid, i = f"{rid}-{i}", i + 1
        self._ids.add(sid)
        self.items.append(Subscription(source=source, target=target, topic=topic, id=sid))


def setup_from_deployment(deployment: Mapping[str, Any], recipes: Mapping[str, Mapping[str, Any]], *,
                          core_thing: str, region: str, account: str, code_dirs: Mapping[str, Path],
                          connectivity: Sequence[Mapping[str, Any]], base: Optional[Group] = None,
                          client_devices: Optional[Sequence[str]] = None,
                          configurations: Optional[Mapping[str, Mapping[str, Any]]] = None) -> CoreSetup:
    """The core configuration a V2 deployment document describes (pure; see the module docstring).

    ``recipes``: component name → recipe dict of every custom component (Lambda and generic; public ones are
    optional). ``code_dirs``: function name *or* Lambda component name → the unzipped Lambda package.
    ``connectivity``: GetConnectivityInfo entries (boto3 lowerCamel or the wire's capitalised keys).
    ``base``: the group file, for what a deployment does not carry (cloud resources, stream docs, names).
    ``client_devices``: the things associated with the core device. ``configurations``: component → the
    configuration the core resolved for it across deployments (``localcore/generic_components/config.py``);
    without one, a component's ``configurationUpdate`` over its recipe's default. Raises :class:`DeploymentFailed`.
    """
    comps = deployment.get("components")
    if not isinstance(comps, dict):
        raise DeploymentFailed("The deployment document has no components map", ["DEPLOYMENT_DOCUMENT_NOT_VALID"])
    deployment_name = str(deployment.get("deploymentName") or (base.name if base else core_thing))

    # every component's effective configuration: its configurationUpdate over the recipe's default
    configs: Dict[str, Dict[str, Any]] = {}
    kinds: Dict[str, str] = {}
    for name, entry in comps.items():
        if not isinstance(entry, dict) or not entry.get("componentVersion"):
            raise DeploymentFailed(f"Component {name} has no componentVersion in the deployment",
                                   ["DEPLOYMENT_DOCUMENT_NOT_VALID"])
        version = str(entry["componentVersion"])
        recipe = recipes.get(name)
        if recipe is None and not _is_public(name):
            raise DeploymentFailed(f"Failed to negotiate component {name} version {version} with cloud",
                                   ["NO_AVAILABLE_COMPONENT_VERSION"])
        if recipe is not None and str(recipe.get("ComponentVersion", version)) != version:
            raise DeploymentFailed(f"Failed to negotiate component {name} version {version} with cloud "
                                   f"(the recipe is version {recipe.get('ComponentVersion')})",
                                   ["NO_AVAILABLE_COMPONENT_VERSION"])
        default = ((recipe or {}).get("ComponentConfiguration") or {}).get("DefaultConfiguration") or {}
        try:
            configs[name] = dict(configurations[name]) if configurations and name in configurations else \
                apply_update(default, None, entry.get("configurationUpdate"))
        except ConfigurationError as e:
            raise _config_error(name, str(e)) from None
        if recipe is not None and recipe.get("ComponentType") == catalog.LAMBDA_TYPE:
            kinds[name] = "lambda"
        elif _is_public(name):
            kinds[name] = "public"
        else:
            kinds[name] = "generic"

    # Lambda components → functions
    lambda_comps = [n for n in comps if kinds[n] == "lambda"]
    fn_of = _function_names(deployment, lambda_comps, base)
    resources = _Resources(base)
    functions: List[Function] = []
    profile_dirs: Dict[str, Path] = {}
    for comp in lambda_comps:
        fn = fn_of[comp]
        code = code_dirs.get(fn) or code_dirs.get(comp)
        if code is None:
            raise DeploymentFailed(f"Failed to download artifact name: '{catalog_artifact()}' for component "
                                   f"{comp}-{comps[comp]['componentVersion']}: the Lambda code is missing",
                                   ["ARTIFACT_DOWNLOAD_ERROR"])
        profile_dirs[fn] = Path(code)
        functions.append(_function(fn, comp, recipes[comp], configs[comp], comps[comp], Path(code), base, resources))
    by_source: Dict[str, str] = {}
    for comp in lambda_comps:
        by_source[f"component:{comp}"] = fn_of[comp]
        src = recipes[comp].get("ComponentSource")
        if src:
            by_source[str(src)] = fn_of[comp]

    # client devices and what the Auth policy grants them
    auth = configs.get(catalog.CLIENT_AUTH)
    policy = _client_policy(auth)  # the Auth engine validates the configuration first, as the component does
    grants = device_grants(auth, client_devices or ()) if auth is not None else {}
    things = [t for t in grants if t != core_thing]
    shadow_cfg = configs.get(catalog.SHADOW_MANAGER)
    synced, core_sync = set(), False
    if shadow_cfg is not None:   # the one parser of the ShadowManager's configuration (its sync: nucleus_ipc/shadows)
        try:
            parsed = parse_shadow_manager(shadow_cfg, core_thing)
        except ShadowManagerConfigError as e:
            raise _config_error(catalog.SHADOW_MANAGER, str(e)) from None
        synced = set(parsed.classic_things())   # the group model's sync_shadow: things whose classic shadow syncs
        core_sync = core_thing in synced
        synced.discard(core_thing)
    devices = [Device(thing=t, sync_shadow=t in synced) for t in things]

    # routes
    routes = _Routes()
    router = configs.get(catalog.SUBSCRIPTION_ROUTER)
    if router is not None:
        subs = router.get("subscriptions") or {}
        if not isinstance(subs, dict):
            raise _config_error(catalog.SUBSCRIPTION_ROUTER, "subscriptions must be a map of id → {id, source, "
                                                             "subject, target}")
        for key, s in subs.items():
            if not isinstance(s, dict) or not all(isinstance(s.get(k), str) for k in ("source", "subject", "target")):
                raise _config_error(catalog.SUBSCRIPTION_ROUTER, f"subscriptions.{key} needs source, subject and "
                                                                 "target strings")
            src = by_source.get(s["source"])
            dst = "cloud" if s["target"] == "cloud" else by_source.get(s["target"])
            if src is None or dst is None:
                log.warning("LegacySubscriptionRouter entry %s: %s → %s names no Lambda component of the deployment; "
                            "it never routes", key, s["source"], s["target"])
                continue
            routes.add(str(key), src, dst, s["subject"])
    bridge = _bridge_mappings(configs[catalog.BRIDGE]) if catalog.BRIDGE in configs else []
    to_pubsub = [m["topic"] for _, m in bridge if m["source"] == "LocalMqtt" and m["target"] == "Pubsub"]
    has_shadows = shadow_cfg is not None
    # A shadow topic with a '+' thing level (the ShadowManager serves any thing's shadow) routes for each thing of
    # the group: the subscription table names shadow:<thing> endpoints of the group only (Group.endpoint) and
    # matches a reply's source exactly.
    group_things = [core_thing] + things
    for f in functions:
        comp = next(c for c in lambda_comps if fn_of[c] == f.name)
        params = lambda_parameters_from_recipe({"ComponentConfiguration": {"DefaultConfiguration": configs[comp]}})
        for i, es in enumerate(params.get("eventSources") or []):
            topic, kind = es.get("topic"), es.get("type", "PUB_SUB")
            if not isinstance(topic, str) or kind not in ("PUB_SUB", "IOT_CORE"):
                raise _config_error(comp, f"pubsubTopics.{i} needs a topic and type PUB_SUB or IOT_CORE")
            if kind == "IOT_CORE":
                routes.add(f"{f.name}-iotcore-{i}", "cloud", f.name, topic)
                continue
            if _shadow_thing(topic) is not None and has_shadows:
                for owner, owned in _per_thing(topic, group_things):
                    routes.add(f"{f.name}-shadow-{i}", f"shadow:{owner}", f.name, owned)
                continue
            routes.add(f"{f.name}-pubsub-{i}", "pubsub", f.name, topic)   # IPC PublishToTopic (localcore/nucleus_ipc)
            if any(filters_overlap(b, topic) for b in to_pubsub):
                for d in things:
                    if grants[d].may_publish_matching(topic):
                        routes.add(f"{f.name}-pubsub-{i}-{d}", d, f.name, topic)
    # The bridge's shadow pair: the bridge carries a device's shadow request to local pub/sub, where the ShadowManager
    # serves any thing's shadow, and its replies back; a '+' thing level (the tutorial's $aws/things/+/shadow/#
    # with a policy of '*') routes for each thing of the group, as above.
    for key, m in bridge:
        topic, source, target = m["topic"], m["source"], m["target"]
        shadow = _shadow_thing(topic)
        if shadow is not None and has_shadows and (source, target) in (("LocalMqtt", "Pubsub"), ("Pubsub", "LocalMqtt")):
            for d in things:
                g = grants[d]
                if source == "LocalMqtt":
                    for t in g.may_publish_matching(topic):
                        if _shadow_thing(t) is not None:
                            for owner, flt in _per_thing(t, group_things):
                                routes.add(f"{key}-{d}", d, f"shadow:{owner}", flt)
                else:   # what the bridge carries and the device may subscribe to
                    shared = [x for f in g.may_subscribe_overlapping(topic)
                              if (x := intersection(f, topic)) is not None and _shadow_thing(x) is not None]
                    for flt in _outermost(shared):
                        for owner, owned in _per_thing(flt, group_things):
                            routes.add(f"{key}-{d}", f"shadow:{owner}", d, owned)
            continue
        if source == "LocalMqtt" and target == "Pubsub":   # to IPC SubscribeToTopic (localcore/nucleus_ipc)
            for d in things:
                if grants[d].may_publish_matching(topic):
                    routes.add(f"{key}-{d}", d, "pubsub", topic)
        elif source == "Pubsub" and target == "LocalMqtt":   # IPC PublishToTopic to the devices
            for d in things:
                if grants[d].may_subscribe_overlapping(topic):
                    routes.add(f"{key}-{d}", "pubsub", d, topic)
        elif source == "LocalMqtt" and target == "IotCore":
            for d in things:
                if grants[d].may_publish_matching(topic):
                    routes.add(f"{key}-{d}", d, "cloud", topic)
        elif source == "IotCore" and target == "LocalMqtt":
            for d in things:
                if grants[d].may_subscribe_overlapping(topic):
                    routes.add(f"{key}-{d}", "cloud", d, topic)
    # device → device: broker pub/sub within the policy
    for a in things:
        for b in things:
            if a == b:
                continue
            for t in grants[a].routes_to(grants[b]):   # glob grants too (clientauth.grants)
                routes.add(f"pubsub-{a}-{b}", a, b, t)

    # the rest of the core configuration
    moquette = (configs.get(catalog.MOQUETTE) or {}).get("moquette") or {}
    try:
        broker_port = int(moquette.get("ssl_port", DEFAULT_BROKER_PORT))
    except (TypeError, ValueError):
        raise _config_error(catalog.MOQUETTE, f"moquette.ssl_port {moquette.get('ssl_port')!r} is not a port") from None
    if not connectivity and catalog.IP_DETECTOR in configs:
        try:
            broker_port = int(configs[catalog.IP_DETECTOR].get("defaultPort", broker_port))
        except (TypeError, ValueError):
            raise _config_error(catalog.IP_DETECTOR, "defaultPort is not a port") from None
    core = Core(thing=core_thing, connectivity=_connectivity(connectivity, broker_port), sync_shadow=core_sync,
                **({"ram_mb": base.core.ram_mb} if base is not None else {}))
    connectors = [c for c in (
        _compose_connector(n, recipes[n], comps[n], region, deployment_name, base)
        for n in comps if kinds[n] == "generic") if c is not None]
    group_name = base.name if base is not None else _safe_name(deployment_name)
    try:
        group = Group(
            group=GroupInfo(name=group_name, region=region), core=core,
            devices=_in_base_order(devices, "thing", base.devices if base is not None else ()),
            functions=_in_base_order(functions, "name", base.functions if base is not None else ()),
            subscriptions=tuple(routes.items), resources=resources.ordered(),
            stream_manager=_stream_manager(configs.get(catalog.STREAM_MANAGER)),
            streams=base.streams if base is not None else (),
            loggers=tuple(_loggers(configs.get(catalog.NUCLEUS) or {}, configs.get(catalog.LOG_MANAGER))),
            connectors=tuple(connectors), cloud=base.cloud if base is not None else Group.model_fields["cloud"].default,
        )
    except ValueError as e:
        raise DeploymentFailed(f"The deployment's configuration is not valid: {e}",
                               ["COMPONENT_CONFIGURATION_NOT_VALID"]) from None

    components = tuple(ComponentInfo(name=n, version=str(comps[n]["componentVersion"]), kind=kinds[n])
                       for n in comps)
    profile = PlatformProfile(
        name=PROFILE_NAME, code_dirs=profile_dirs, client_policy=policy,
        client_devices=tuple(client_devices) if client_devices is not None else tuple(things),
        discovery_group_id=f"{DISCOVERY_PREFIX}{core_thing}", serves_sdk_shadow_calls=False,
        deployment_id=deployment.get("deploymentId"), components=components,
    )
    return CoreSetup(group=group, profile=profile)


def catalog_artifact() -> str:
    return f"greengrass:{LAMBDA_ARTIFACT}"
