"""V1 group model → Greengrass V2 plan (Lambda components, public components, one deployment, policies).

Pure: no boto3, no network, no clock, no randomness; the only file read is a Docker connector's compose
file (its bytes become an artifact and its hash the component version). Every V1 feature either maps to a
V2 configuration or yields a ``Finding`` with the group.yaml path it concerns; nothing is dropped silently.
Mapping table and rationale: docs/protocols/v2-migration.md §1–§10 and docs/decisions.md ("V2 converter").
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..model import CLOUD, DOCKER_CONNECTOR, SHADOW_PREFIX, SHADOW_REPLIES, Function, Group
from ..plan import aws_name, lambda_name
from ..topics import filters_overlap
from . import catalog
from .catalog import (BRIDGE, CLIENT_AUTH, DOCKER_MANAGER, IP_DETECTOR, LAMBDA_LAUNCHER, LAMBDA_MANAGER,
                      LAMBDA_RUNTIMES, LOG_MANAGER, MOQUETTE, NUCLEUS, SHADOW_MANAGER, STREAM_MANAGER,
                      SUBSCRIPTION_ROUTER, TOKEN_EXCHANGE)
from .recipe import RecipeError, load_recipe
from .model import (Artifact, Finding, GenericComponent, LambdaComponent, PublicComponent, V2Plan,
                    canonical_json, content_hash)

COMPONENT_NAME_MAX = 128
IOT_POLICY_MAX_CHARS = 2048  # iot CreatePolicy: "maximum length of 2048, excluding whitespace" (botocore iot model)
IOT_POLICIES_PER_CERTIFICATE = 10  # AWS IoT quota: policies attached to one certificate
DEFAULT_BROKER_PORT = 8883
PLACEHOLDER_ARTIFACT_BUCKET = "artifacts-bucket"
DEFAULT_STREAM_MANAGER_PORT = 8088
LINUX = [{"name": "Linux", "attributes": {"os": "linux"}}]
ROOT_DIR = "/greengrass/v2"
DEPLOYMENT_POLICIES = {
    "failureHandlingPolicy": "ROLLBACK",
    "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
    "configurationValidationPolicy": {"timeoutInSeconds": 30},
}
TAG_KEY = "gg-bundle:group"
# V1 connectors that have their own V2 public component (docs/protocols/v2-migration.md §1.2;
# not converted automatically).
CONNECTOR_REPLACEMENTS = {
    "CloudWatchMetrics": "aws.greengrass.Cloudwatch",
    "SNS": "aws.greengrass.SNS",
    "KinesisFirehose": "aws.greengrass.KinesisFirehose",
    "IoTSiteWise": "aws.iot.SiteWiseEdgeCollectorOpcua",
    "SageMakerNeoDeployment": "aws.greengrass.DLRImageClassification (rewrite)",
}
DOCKER_PARAMS_MAPPED = {"DockerComposeFileS3Bucket", "DockerComposeFileS3Key", "DockerUserId",
                        "DockerPullBeforeUp", "DockerComposeFileDestinationPath"}


# ---- names ---------------------------------------------------------------------------------------


def component_name(group: Group, function: str) -> str:
    """A Lambda component's name: the Lambda function's name, as AWS's import defaults to (≤ 64 chars)."""
    return lambda_name(group, function)


def compose_component_name(group: Group, connector: str) -> str:
    return aws_name(group.name, connector, "compose", limit=COMPONENT_NAME_MAX)


def thing_group_name(group: Group) -> str:
    return group.name


def core_policy_name(group: Group) -> str:
    return aws_name(group.name, "v2-core-policy", limit=128)


def device_policy_name(group: Group) -> str:
    return aws_name(group.name, "v2-device-policy", limit=128)


def token_exchange_role_name(group: Group) -> str:
    return aws_name(group.name, "token-exchange-role")  # IAM role names: 64 chars


def role_alias_name(group: Group) -> str:
    return aws_name(group.name, "token-exchange-alias", limit=128)


def lambda_component_version(lambda_version: str, request_content: Mapping[str, Any]) -> str:
    """``<lambdaVersion>.0.<p>``: p = the content hash as an integer below 10**6 (a version part has at most
    6 digits in Greengrass's recipe schema), so unchanged code (same published Lambda version) and parameters
    give the same version and any change a new one (a repeat has a one-in-a-million chance)."""
    return f"{lambda_version}.0.{_patch(content_hash(request_content))}"


def file_component_version(sha256_hex: str) -> str:
    return f"1.0.{_patch(sha256_hex)}"


def _patch(sha256_hex: str) -> int:
    return int(sha256_hex[:8], 16) % 1_000_000


# ---- the conversion --------------------------------------------------------------------------------


@dataclass
class _Routes:
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


def _add(seq: List[Any], item: Any) -> None:
    if item not in seq:
        seq.append(item)


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-]", "-", text)[:128]


def _has_wildcard(topic: str) -> bool:
    return any(level in ("+", "#") for level in topic.split("/"))


def _policy_topic(topic: str) -> str:
    """An MQTT filter as an IoT policy ``topic/`` resource: ``+``/``#`` levels become the policy wildcard ``*``."""
    return "/".join("*" if level in ("+", "#") else level for level in topic.split("/"))


class _Converter:
    def __init__(self, group: Group, root: Path, account_id: str, region: str,
                 lambda_versions: Mapping[str, str], artifact_bucket: Optional[str]) -> None:
        if not re.fullmatch(r"\d{12}", account_id):
            raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
            raise ValueError(f"region {region!r} is not an AWS region name")
        self.g = group
        self.root = root
        self.account = account_id
        self.region = region
        self.lambda_versions = dict(lambda_versions)
        self.artifact_bucket = artifact_bucket
        self.findings: List[Finding] = []
        self.run_with: Dict[str, Dict[str, Any]] = {}
        self.configuration_updates: Dict[str, Any] = {}  # bundle component name -> ConfigurationUpdate
        self.iot = f"arn:aws:iot:{region}:{account_id}"

    def find(self, path: str, severity: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(path, severity, message, fix))

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

    def routes(self) -> _Routes:
        r = _Routes()
        for i, s in enumerate(self.g.subscriptions):
            self.route(r, i, s.id or f"sub-{i}", s.source, s.target, s.topic)
        return r

    def route(self, r: _Routes, i: int, sub_id: str, source: str, target: str, topic: str) -> None:
        p = f"subscriptions[{i}]"
        (sk, sv), (tk, tv) = self.kind(source), self.kind(target)
        rid = _safe_id(sub_id)
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
                    _add(r.cloud_publish, topic)
            elif tk == "device":
                # AWS: rewrite to IPC PublishToTopic + Bridge Pubsub→LocalMqtt. Unmodified code: through the cloud.
                r.router[rid] = {"id": rid, "source": comp, "subject": topic, "target": "cloud"}
                r.publishers.add(sv)
                _add(r.cloud_publish, topic)
                _add(r.cloud_subscribe, topic)
                self.bridge(r, f"{rid}-cloud-to-device", topic, "IotCore", "LocalMqtt")
                _add(r.device_subscribe.setdefault(tv, []), topic)
                self.find(p, "warning", f"function '{sv}' → device '{tv}' on '{topic}': a V2 core does not deliver "
                          "greengrasssdk publish() to client devices; converted to router → cloud + Bridge "
                          "IotCore→LocalMqtt (a cloud round trip, unverified)",
                          "rewrite the function to IPC PublishToTopic and bridge Pubsub→LocalMqtt")
            elif tk == "shadow":
                r.shadow_functions.add(sv)
                _add(r.shadow_things, tv)
                self.find(p, "warning", f"function '{sv}' calls the local shadow of '{tv}' through greengrasssdk "
                          "(GGShadowService); a real V2 core does not serve these calls (v2-migration §5)",
                          "rewrite to IPC GetThingShadow/UpdateThingShadow with a ShadowManager accessControl policy")
        elif sk == "cloud":
            if tk == "function":
                _add(r.event_sources.setdefault(tv, []), {"topic": topic, "type": "IOT_CORE"})
                _add(r.cloud_subscribe, topic)
            elif tk == "device":
                self.bridge(r, rid, topic, "IotCore", "LocalMqtt")
                _add(r.cloud_subscribe, topic)
                _add(r.device_subscribe.setdefault(tv, []), topic)
            elif tk == "shadow":
                _add(r.shadow_things, tv)
                self.find(p, "warning", f"cloud → shadow '{tv}' is not a route on V2: ShadowManager synchronizes "
                          "shadows with the cloud", f"set sync_shadow: true for '{tv}' instead of this subscription")
            else:
                self.find(p, "error", "cloud → cloud never passes through the core", "remove the subscription")
        elif sk == "device":
            if tk == "function":
                self.bridge(r, rid, topic, "LocalMqtt", "Pubsub")
                _add(r.event_sources.setdefault(tv, []), {"topic": topic, "type": "PUB_SUB"})
                _add(r.device_publish.setdefault(sv, []), topic)
            elif tk == "cloud":
                self.bridge(r, rid, topic, "LocalMqtt", "IotCore")
                _add(r.cloud_publish, topic)
                _add(r.device_publish.setdefault(sv, []), topic)
            elif tk == "device":
                _add(r.device_publish.setdefault(sv, []), topic)
                _add(r.device_subscribe.setdefault(tv, []), topic)
                self.find(p, "warning", f"device '{sv}' → device '{tv}' on '{topic}' becomes plain broker pub/sub: "
                          f"'{tv}' receives what any device allowed to publish on the topic sends, not only '{sv}'",
                          "keep the topic unique to this pair, or accept the broader delivery")
            elif tk == "shadow":
                self.shadow_pair(r, tv)
                _add(r.device_publish.setdefault(sv, []), topic)
        elif sk == "shadow":
            _add(r.shadow_things, sv)
            if tk == "function":
                _add(r.event_sources.setdefault(tv, []), {"topic": topic, "type": "PUB_SUB"})
                r.shadow_functions.add(tv)
                self.find(p, "info", f"shadow '{sv}' → function '{tv}': a PUB_SUB event source on '{topic}', "
                          "fed by ShadowManager's local publishes (unverified end to end on a real core)")
            elif tk == "device":
                self.shadow_pair(r, sv)
                _add(r.device_subscribe.setdefault(tv, []), topic)
            elif tk == "cloud":
                self.find(p, "warning", f"shadow '{sv}' → cloud is not a route on V2: ShadowManager synchronizes "
                          "shadows with the cloud", f"set sync_shadow: true for '{sv}' instead of this subscription")
            else:
                self.find(p, "error", "shadow → shadow can never fire", "remove the subscription")

    def bridge(self, r: _Routes, name: str, topic: str, source: str, target: str) -> None:
        mapping = {"topic": topic, "source": source, "target": target}
        if mapping not in r.bridge.values():
            r.bridge[_safe_id(name)] = mapping

    def shadow_pair(self, r: _Routes, thing: str) -> None:
        """The documented bidirectional bridge of a thing's shadow topics (docs/protocols/v2-migration.md §5)."""
        _add(r.shadow_things, thing)
        topic = f"$aws/things/{thing}/shadow/#"
        self.bridge(r, f"shadow-{thing}-to-pubsub", topic, "LocalMqtt", "Pubsub")
        self.bridge(r, f"shadow-{thing}-to-local", topic, "Pubsub", "LocalMqtt")

    # -- Lambda components -----------------------------------------------------------------------
    def uses_streams(self, f: Function) -> bool:
        names = {s.name for s in self.g.streams}
        return any(s.created_by == f.name for s in self.g.streams) or any(
            v in names for v in f.environment.values())

    def lambda_component(self, i: int, f: Function, r: _Routes) -> LambdaComponent:
        p = f"functions[{i}]"
        version = self.lambda_versions.get(f.name)
        if version is None:
            version = "1"
            self.find(p, "info", f"Lambda version of '{f.name}' assumed to be 1 (no published version given)",
                      "deploy publishes the version; export shows what version 1 would be")
        elif not str(version).isdigit():
            raise ValueError(f"lambda_versions[{f.name!r}] must be a published version number, got {version!r}")
        fname = lambda_name(self.g, f.name)
        name = component_name(self.g, f.name)
        env = dict(sorted(f.environment.items()))

        deps: Dict[str, Dict[str, str]] = {}
        if f.name in r.publishers:
            deps[SUBSCRIPTION_ROUTER] = {"versionRequirement": catalog.info(SUBSCRIPTION_ROUTER).caret,
                                         "dependencyType": "HARD"}
        if self.uses_streams(f):
            if self.g.stream_manager.enabled:
                deps[STREAM_MANAGER] = {"versionRequirement": catalog.info(STREAM_MANAGER).caret,
                                        "dependencyType": "HARD"}
                port = self.g.stream_manager.port
                if port != DEFAULT_STREAM_MANAGER_PORT and "STREAM_MANAGER_SERVER_PORT" not in env:
                    env["STREAM_MANAGER_SERVER_PORT"] = str(port)
                    env = dict(sorted(env.items()))
                    self.find(f"{p}.environment", "info", f"STREAM_MANAGER_SERVER_PORT={port} added: the V2 stream "
                              "manager client falls back to 8088")
            else:
                self.find(p, "warning", f"function '{f.name}' uses streams but stream_manager.enabled is false",
                          "enable the stream manager or remove the stream use")
        if f.name in r.shadow_functions:
            deps[SHADOW_MANAGER] = {"versionRequirement": catalog.info(SHADOW_MANAGER).caret,
                                    "dependencyType": "HARD"}

        params: Dict[str, Any] = {}
        sources = r.event_sources.get(f.name, [])
        if sources:
            params["eventSources"] = [dict(s) for s in sources]
            for s in sources:
                if s["type"] == "PUB_SUB" and _has_wildcard(s["topic"]):
                    self.find(p, "info", f"PUB_SUB event source '{s['topic']}' has MQTT wildcards: the API model "
                              "says PUB_SUB takes none, the guide allows them from nucleus 2.6.0 / LambdaManager "
                              "2.2.5 (this plan pins newer)", "use exact topics where you can")
        params["maxQueueSize"] = 1000
        if f.pinned:
            params["statusTimeoutInSeconds"] = 60
        else:
            params["maxInstancesCount"] = f.max_instances or 100
            params["maxIdleTimeInSeconds"] = 60
        params["timeoutInSeconds"] = f.timeout_s
        params["pinned"] = f.pinned  # explicit: V2 defaults to true
        params["inputPayloadEncodingType"] = f.encoding
        params["environmentVariables"] = env
        params["linuxProcessParams"] = self.process_params(p, f)

        content = {"componentPlatforms": LINUX, "componentDependencies": deps,
                   "componentLambdaParameters": params}
        request: Dict[str, Any] = {
            "lambdaArn": f"arn:aws:lambda:{self.region}:{self.account}:function:{fname}:{version}",
            "componentName": name,
            "componentVersion": lambda_component_version(str(version), content),
            "componentPlatforms": [dict(x) for x in LINUX],
            "componentDependencies": deps,
            "componentLambdaParameters": params,
        }
        if not deps:
            del request["componentDependencies"]
        if f.run_as is not None:
            self.run_with[name] = {"posixUser": f"{f.run_as.uid}:{f.run_as.gid}"}
            self.find(f"{p}.run_as", "info", f"run_as uid {f.run_as.uid} gid {f.run_as.gid} becomes the deployment's "
                      f"runWith.posixUser '{f.run_as.uid}:{f.run_as.gid}'",
                      "make sure the user and group exist on the core device")
            if f.run_as.uid == 0:
                self.find(f"{p}.run_as", "warning", "running as root needs the nucleus itself to run as root",
                          "use a non-root user")
        return LambdaComponent(f.name, name, request["componentVersion"], fname, str(version), request,
                               f.handler, f.runtime)

    def process_params(self, p: str, f: Function) -> Dict[str, Any]:
        if f.isolation == "NoContainer":
            for j, ra in enumerate(f.resources):
                self.find(f"{p}.resources[{j}]", "error", f"resource '{ra.ref}' on a NoContainer function: V2 fails "
                          "the deployment (volumes and devices exist only in container mode)",
                          "remove the resource or use isolation: GreengrassContainer")
            if f.access_sysfs:
                self.find(f"{p}.access_sysfs", "warning", "access_sysfs has no effect without a container",
                          "remove it")
            return {"isolationMode": "NoContainer"}
        volumes: List[Dict[str, Any]] = []
        devices: List[Dict[str, Any]] = []
        for j, ra in enumerate(f.resources):
            res = self.g.resource(ra.ref)
            if res is None:
                self.find(f"{p}.resources[{j}].ref", "error", f"unknown resource '{ra.ref}'",
                          "declare it under resources:")
            elif res.device is not None:
                devices.append({"path": res.device, "permission": ra.permission, "addGroupOwner": res.group_owner})
            elif res.volume is not None:
                volumes.append({"sourcePath": res.volume.source, "destinationPath": res.volume.dest,
                                "permission": ra.permission, "addGroupOwner": res.group_owner})
        memory_kb = (f.memory_mb or 16) * 1024
        if f.memory_mb is None:
            self.find(f"{p}.memory_mb", "info", "no memory_mb: the V2 default of 16384 KB applies")
        return {"isolationMode": "GreengrassContainer",
                "containerParams": {"memorySizeInKB": memory_kb, "mountROSysfs": f.access_sysfs,
                                    "volumes": volumes, "devices": devices}}

    # -- client devices ----------------------------------------------------------------------------
    def broker_port(self) -> int:
        ports = sorted({c.port for c in self.g.core.connectivity})
        if len(ports) > 1:
            self.find("core.connectivity", "warning", f"several ports {ports}: a V2 core runs one broker port "
                      f"({ports[0]} is used for Moquette)", "use one port in every connectivity entry")
        return ports[0] if ports else DEFAULT_BROKER_PORT

    def device_grants(self, thing: str, r: _Routes) -> Tuple[List[str], List[str]]:
        pubs = list(r.device_publish.get(thing, []))
        subs: List[str] = []
        for f in r.device_subscribe.get(thing, []):
            _add(subs, f)
            m = re.match(r"^\$aws/things/([^/]+)/shadow/", f)
            if m and _has_wildcard(f):
                # Auth matches topic filters literally: grant the shadow replies the SDK subscribes to one by one.
                for reply in SHADOW_REPLIES:
                    concrete = f"$aws/things/{m.group(1)}/shadow/{reply}"
                    if filters_overlap(f, concrete):
                        _add(subs, concrete)
        return pubs, subs

    def auth_config(self, r: _Routes) -> Dict[str, Any]:
        definitions: Dict[str, Any] = {}
        policies: Dict[str, Any] = {}
        for i, d in enumerate(self.g.devices):
            pubs, subs = self.device_grants(d.thing, r)
            for t in pubs:
                if _has_wildcard(t):
                    self.find(f"devices[{i}]", "warning", f"device '{d.thing}' publishes on the filter '{t}': Auth "
                              "publish grants name exact topics, so only the literal topic is allowed",
                              "list the exact topics the device publishes in subscriptions:")
            policy = f"policy-{_safe_id(d.thing)}"
            statements: Dict[str, Any] = {
                "Connect": {"statementDescription": "connect with its own thing name as client id",
                            "operations": ["mqtt:connect"], "resources": [f"mqtt:clientId:{d.thing}"]}}
            if pubs:
                statements["Publish"] = {"statementDescription": "topics the subscription table routes from it",
                                         "operations": ["mqtt:publish"],
                                         "resources": [f"mqtt:topic:{t}" for t in pubs]}
            if subs:
                statements["Subscribe"] = {"statementDescription": "topics the subscription table routes to it",
                                           "operations": ["mqtt:subscribe"],
                                           "resources": [f"mqtt:topicfilter:{t}" for t in subs]}
            definitions[f"device-{_safe_id(d.thing)}"] = {
                "selectionRule": "thingName: " + d.thing.replace(":", "\\:"), "policyName": policy}
            policies[policy] = statements
        return {"deviceGroups": {"formatVersion": "2021-03-05", "definitions": definitions, "policies": policies}}

    # -- public components ---------------------------------------------------------------------------
    def logging(self) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """(nucleus logging, LogManager configuration or None)."""
        def level(i: int, lvl: str) -> str:
            if lvl == "FATAL":
                self.find(f"loggers[{i}].level", "warning", "FATAL has no V2 log level; ERROR is used",
                          "set level: ERROR")
                return "ERROR"
            return lvl

        fs = {lg.component: (i, lg) for i, lg in enumerate(self.g.loggers) if lg.type == "FileSystem"}
        cw = {lg.component: (i, lg) for i, lg in enumerate(self.g.loggers) if lg.type == "AWSCloudWatch"}
        first = fs.get("GreengrassSystem") or fs.get("Lambda")
        nucleus: Dict[str, Any] = {"level": "INFO", "outputType": "FILE", "format": "JSON" if cw else "TEXT"}
        space = 10240
        if first is not None:
            i, lg = first
            nucleus["level"] = level(i, lg.level)
            space = lg.space_kb or 128
        if "Lambda" in fs and "GreengrassSystem" in fs:
            i, _ = fs["Lambda"]
            self.find(f"loggers[{i}]", "info", "V2 has one local log limit for the nucleus and every component "
                      "(nucleus logging.totalLogsSizeKB); the GreengrassSystem logger's level and space are used")
        nucleus["totalLogsSizeKB"] = space
        nucleus["fileSizeKB"] = min(1024, space)
        if not cw:
            return nucleus, None
        uploader: Dict[str, Any] = {}
        if "GreengrassSystem" in cw:
            i, lg = cw["GreengrassSystem"]
            uploader["systemLogsConfiguration"] = {"uploadToCloudWatch": "true", "minimumLogLevel": level(i, lg.level)}
        else:
            uploader["systemLogsConfiguration"] = {"uploadToCloudWatch": "false"}
        if "Lambda" in cw:
            i, lg = cw["Lambda"]
            lvl = level(i, lg.level)
            uploader["componentLogsConfigurationMap"] = {
                component_name(self.g, f.name): {"minimumLogLevel": lvl} for f in self.g.functions}
        self.find("loggers", "info", "CloudWatch loggers become LogManager uploads; minimumLogLevel filters only "
                  "JSON logs, so the nucleus log format is set to JSON")
        return nucleus, {"logsUploaderConfiguration": uploader, "periodicUploadIntervalSec": "300"}

    def stream_manager_config(self) -> Dict[str, str]:
        sm = self.g.stream_manager
        cfg = {"STREAM_MANAGER_SERVER_PORT": str(sm.port),
               "STREAM_MANAGER_AUTHENTICATE_CLIENT": "true" if sm.authenticate_client else "false"}
        if sm.store_root:
            if sm.store_root.startswith("/"):
                cfg["STREAM_MANAGER_STORE_ROOT_DIR"] = sm.store_root
            else:
                self.find("stream_manager.store_root", "warning", f"store_root '{sm.store_root}' is relative to the "
                          "local core's state dir; V2 uses the component's work folder",
                          "use an absolute path (e.g. /greengrass/v2/work/streams) or leave it out")
        if sm.exporter_thread_pool_size:
            cfg["STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE"] = str(sm.exporter_thread_pool_size)
        if sm.exporter_max_bandwidth_kbps:
            cfg["STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH"] = str(sm.exporter_max_bandwidth_kbps)
        return cfg

    def shadow_config(self, r: _Routes) -> Tuple[Dict[str, Any], List[str]]:
        synced = [d.thing for d in self.g.devices if d.sync_shadow]
        cfg: Dict[str, Any] = {"strategy": {"type": "realTime"}}
        sync: Dict[str, Any] = {}
        if self.g.core.sync_shadow:
            sync["coreThing"] = {"classic": True, "namedShadows": []}
        if synced:
            sync["shadowDocuments"] = [{"thingName": t, "classic": True, "namedShadows": []} for t in synced]
        if sync:
            sync["direction"] = "betweenDeviceAndCloud"
            cfg["synchronize"] = sync
        return cfg, synced

    # -- docker connector ------------------------------------------------------------------------------
    def connectors(self) -> Tuple[List[GenericComponent], List[str]]:
        generic: List[GenericComponent] = []
        s3_objects: List[str] = []
        for i, c in enumerate(self.g.connectors):
            p = f"connectors[{i}]"
            if c.kind != DOCKER_CONNECTOR:
                repl = CONNECTOR_REPLACEMENTS.get(c.kind)
                self.find(p, "error", f"connector '{c.name}' ({c.kind}) is not converted: V1 connectors do not run "
                          "on V2", f"deploy {repl} instead" if repl else "replace it with a V2 component")
                continue
            if c.compose_file is None:
                self.find(f"{p}.compose_file", "error", "the Docker connector needs compose_file to become a V2 "
                          "component (the compose file is its artifact)", "set compose_file")
                continue
            path = self.root / c.compose_file
            try:
                data = path.read_bytes()
            except OSError as exc:
                self.find(f"{p}.compose_file", "error", f"cannot read {c.compose_file}: {exc.strerror}",
                          "fix the path (relative to the bundle root)")
                continue
            sha = hashlib.sha256(data).hexdigest()
            name = compose_component_name(self.g, c.name)
            version = file_component_version(sha)
            bucket = self.artifact_bucket or str(c.parameters.get("DockerComposeFileS3Bucket", ""))
            if not bucket:
                self.find(f"{p}.parameters", "error", "no bucket for the compose artifact",
                          "pass an artifact bucket or set DockerComposeFileS3Bucket")
                continue
            basename = PurePosixPath(c.compose_file).name
            key = f"components/{name}/{version}/{basename}"
            uri = f"s3://{bucket}/{key}"
            s3_objects.append(f"arn:aws:s3:::{bucket}/components/{name}/*")
            project = re.sub(r"[^a-z0-9_-]", "-", c.name.lower())
            compose = f"docker compose -f {{artifacts:path}}/{basename} -p {project}"
            run = f"{compose} up"
            if str(c.parameters.get("DockerPullBeforeUp", "false")).lower() == "true":
                run = f"{compose} pull && {run}"
            recipe = {
                "RecipeFormatVersion": "2020-01-25",
                "ComponentName": name,
                "ComponentVersion": version,
                "ComponentDescription": f"Runs the compose file of the V1 Docker connector '{c.name}' "
                                        f"(group {self.g.name})",
                "ComponentPublisher": self.g.name,
                "ComponentDependencies": {
                    DOCKER_MANAGER: {"VersionRequirement": catalog.info(DOCKER_MANAGER).caret,
                                     "DependencyType": "HARD"},
                    TOKEN_EXCHANGE: {"VersionRequirement": catalog.info(TOKEN_EXCHANGE).caret,
                                     "DependencyType": "HARD"}},
                "Manifests": [{"Platform": {"os": "linux"},
                               "Lifecycle": {"Run": run, "Shutdown": f"{compose} down"},
                               "Artifacts": [{"URI": uri}]}],
            }
            generic.append(GenericComponent(name, version, recipe, (Artifact(basename, sha, uri, c.compose_file),)))
            uid = c.parameters.get("DockerUserId")
            if uid is not None:
                self.run_with[name] = {"posixUser": str(uid)}
                self.find(f"{p}.parameters.DockerUserId", "info", f"DockerUserId {uid} becomes runWith.posixUser",
                          "the user must be in the docker group on the core device")
            if "DockerComposeFileDestinationPath" in c.parameters:
                self.find(f"{p}.parameters.DockerComposeFileDestinationPath", "info",
                          "no V2 equivalent: compose runs from the component's read-only artifact folder")
            for k in sorted(set(c.parameters) - DOCKER_PARAMS_MAPPED):
                self.find(f"{p}.parameters.{k}", "warning", f"connector parameter '{k}' has no V2 equivalent",
                          "remove it or express it in the compose file")
            self.find(p, "info", f"Docker connector '{c.name}' becomes DockerApplicationManager + component '{name}' "
                      "running docker compose (no direct AWS replacement)",
                      "the core needs Docker Engine and Compose installed and running")
        return generic, s3_objects

    # -- the bundle's own generic components (group.yaml components:) ------------------------------------
    def bundle_components(self, taken: Mapping[str, str]) -> Tuple[List[GenericComponent], List[str]]:
        """Each ``components[i]`` as a GenericComponent: the user's recipe with only its ``s3://`` artifact URIs
        pointed at ``s3://<artifact bucket>/components/<name>/<version>/<file>``; findings for what is wrong.
        ``taken``: component names already in the plan → what they are (clashes are errors)."""
        out: List[GenericComponent] = []
        s3_objects: List[str] = []
        names: Dict[str, str] = dict(taken)
        # deploy and export always name the managed bucket; validate converts without one
        bucket = self.artifact_bucket or PLACEHOLDER_ARTIFACT_BUCKET
        for i, c in enumerate(self.g.components):
            p = f"components[{i}]"
            rfile, problem = c.recipe_file(self.root)
            if rfile is None:
                self.find(f"{p}.recipe" if c.recipe else f"{p}.path", "error", problem,
                          "create the folder with its recipe, or fix 'path'/'recipe'")
                continue
            rel = _relpath(rfile, self.root)
            try:
                recipe = load_recipe(rfile)
            except RecipeError as exc:
                for issue in exc.issues:
                    where = f" at {issue.path}" if issue.path else ""
                    self.find(f"{p}.recipe", "error", f"recipe {rel}{where}: {issue.message}", issue.fix)
                continue
            name, version = recipe.name, recipe.version
            if c.name is not None and c.name != name:
                self.find(f"{p}.name", "error", f"name '{c.name}' differs from the recipe's ComponentName "
                          f"'{name}' ({rel})", "remove 'name' or make the two equal")
                continue
            if name in names:
                self.find(f"{p}.recipe", "error", f"component name '{name}' ({rel}) is already {names[name]}",
                          "rename the component in its recipe")
                continue
            if name.startswith("aws.greengrass."):
                self.find(f"{p}.recipe", "warning", f"component name '{name}' uses the aws.greengrass prefix "
                          "AWS reserves for its own components", "use your own prefix (e.g. com.example.)")
            names[name] = f"the component of {p}"
            folder = c.folder(self.root)
            uris: Dict[str, str] = {}
            artifacts: List[Artifact] = []
            missing = False
            for uri in recipe.artifact_uris():
                if not uri.lower().startswith("s3://"):
                    continue  # docker: images and the like are fetched by the device as they are
                file_name = uri.rstrip("/").rsplit("/", 1)[-1]
                src = folder / file_name
                if not src.is_file():
                    self.find(f"{p}.recipe", "error", f"recipe {rel} names the artifact {uri} but {c.path.rstrip('/')}/"
                              f"{file_name} does not exist", "put the file in the component folder or fix the URI")
                    missing = True
                    continue
                key = f"components/{name}/{version}/{file_name}"
                new_uri = f"s3://{bucket}/{key}"
                uris[uri] = new_uri
                if all(a.name != file_name for a in artifacts):
                    data = src.read_bytes()
                    artifacts.append(Artifact(file_name, hashlib.sha256(data).hexdigest(), new_uri,
                                              _relpath(src, self.root), data))
            if missing:
                continue
            if uris:
                s3_objects.append(f"arn:aws:s3:::{bucket}/components/{name}/*")
            final = recipe.with_artifact_uris(uris) if uris else recipe
            out.append(GenericComponent(name, version, final.raw, tuple(artifacts)))
            if c.run_with is not None:
                self.run_with[name] = {"posixUser": c.run_with.posix_user}
            if c.configuration_update is not None:
                self.configuration_updates[name] = c.configuration_update
        return out, s3_objects

    # -- policies -----------------------------------------------------------------------------------------
    def core_policy(self, r: _Routes, synced: Sequence[str], has_devices: bool, alias: str) -> Dict[str, Any]:
        core = self.g.core.thing
        iot = self.iot
        statements: List[Dict[str, Any]] = [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{iot}:client/{core}*"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
                f"{iot}:topic/$aws/things/{core}*/greengrass/health/json",
                f"{iot}:topic/$aws/things/{core}*/greengrassv2/health/json",
                f"{iot}:topic/$aws/things/{core}*/jobs/*",
                f"{iot}:topic/$aws/things/{core}*/shadow/*"]},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
                f"{iot}:topicfilter/$aws/things/{core}*/jobs/*",
                f"{iot}:topicfilter/$aws/things/{core}*/shadow/*"]},
            {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": f"{iot}:rolealias/{alias}"},
            {"Effect": "Allow", "Action": ["greengrass:GetComponentVersionArtifact",
                                           "greengrass:ResolveComponentCandidates",
                                           "greengrass:GetDeploymentConfiguration",
                                           "greengrass:ListThingGroupsForCoreDevice"], "Resource": "*"},
        ]
        if has_devices:
            statements += [
                {"Effect": "Allow", "Action": "iot:Publish",
                 "Resource": f"{iot}:topic/$aws/things/{core}*-gci/shadow/get"},
                {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
                    f"{iot}:topicfilter/$aws/things/{core}*-gci/shadow/update/delta",
                    f"{iot}:topicfilter/$aws/things/{core}*-gci/shadow/get/accepted"]},
                {"Effect": "Allow", "Action": "iot:Receive", "Resource": [
                    f"{iot}:topic/$aws/things/{core}*-gci/shadow/update/delta",
                    f"{iot}:topic/$aws/things/{core}*-gci/shadow/get/accepted"]},
                {"Effect": "Allow", "Action": ["greengrass:PutCertificateAuthorities",
                                               "greengrass:VerifyClientDeviceIdentity"], "Resource": "*"},
                {"Effect": "Allow", "Action": "greengrass:VerifyClientDeviceIoTCertificateAssociation",
                 "Resource": f"{iot}:thing/*"},
                {"Effect": "Allow", "Action": ["greengrass:GetConnectivityInfo",
                                               "greengrass:UpdateConnectivityInfo"],
                 "Resource": f"{iot}:thing/{core}*"},
            ]
        if synced:
            statements += [
                {"Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow",
                                               "iot:DeleteThingShadow"],
                 "Resource": [f"{iot}:thing/{t}" for t in synced]},
                {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
                 "Resource": [f"{iot}:topic/$aws/things/{t}/shadow/*" for t in synced]},
                {"Effect": "Allow", "Action": "iot:Subscribe",
                 "Resource": [f"{iot}:topicfilter/$aws/things/{t}/shadow/*" for t in synced]},
            ]
        if r.cloud_publish:
            statements.append({"Effect": "Allow", "Action": "iot:Publish", "Resource": _unique(
                f"{iot}:topic/{_policy_topic(t)}" for t in r.cloud_publish)})
        if r.cloud_subscribe:
            statements.append({"Effect": "Allow", "Action": "iot:Subscribe", "Resource": _unique(
                f"{iot}:topicfilter/{t}" for t in r.cloud_subscribe)})
            statements.append({"Effect": "Allow", "Action": "iot:Receive", "Resource": _unique(
                f"{iot}:topic/{_policy_topic(t)}" for t in r.cloud_subscribe)})
        return {"Version": "2012-10-17", "Statement": statements}

    def device_policy(self) -> Dict[str, Any]:
        things = [d.thing for d in self.g.devices]
        statements: List[Dict[str, Any]] = []
        if things:
            statements.append({"Effect": "Allow", "Action": "greengrass:Discover",
                               "Resource": [f"{self.iot}:thing/{t}" for t in things]})
        return {"Version": "2012-10-17", "Statement": statements}

    def role_policy(self, compose_objects: Sequence[str], logs: bool) -> Dict[str, Any]:
        values = {v for f in self.g.functions for v in f.environment.values()}
        c = self.g.cloud
        tables = [t.name for t in c.tables if t.name in values]
        # a bundle component names its buckets in its own code (the group file cannot see them): all of cloud.buckets
        buckets = [b for b in c.buckets if b in values or self.g.components]
        streams = [k.name for k in c.kinesis_streams if k.name in values]
        videos = [v for v in c.video_streams if v in values]
        for i, ch in enumerate(c.iotanalytics_channels):
            if ch in values:
                self.find(f"cloud.iotanalytics_channels[{i}]", "warning", f"IoT Analytics channel '{ch}' is not "
                          "granted: AWS retired IoT Analytics", "export to Kinesis (EXPORT_TARGET: kinesis)")
        r, a = self.region, self.account
        st: List[Dict[str, Any]] = [{
            "Sid": "Logs", "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": [f"arn:aws:logs:{r}:{a}:log-group:/aws/greengrass/*",
                         f"arn:aws:logs:{r}:{a}:log-group:/aws/greengrass/*:log-stream:*"]}]
        del logs  # the baseline grants logs either way (v2-migration §9.2); LogManager needs exactly these
        objects = list(compose_objects)
        if self.artifact_bucket:
            objects.insert(0, f"arn:aws:s3:::{self.artifact_bucket}/*")
        if objects:
            st.append({"Sid": "ComponentArtifacts", "Effect": "Allow", "Action": ["s3:GetObject"],
                       "Resource": _unique(objects)})
        all_buckets = _unique([o.split(":::")[1].split("/")[0] for o in objects] + buckets)
        if all_buckets:
            st.append({"Sid": "BucketLocation", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
                       "Resource": [f"arn:aws:s3:::{b}" for b in all_buckets]})
        if buckets:
            st.append({"Sid": "LambdaBuckets", "Effect": "Allow",
                       "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts",
                                  "s3:PutObject"],
                       "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets]})
        if tables:
            st.append({"Sid": "LambdaTables", "Effect": "Allow",
                       "Action": ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
                                  "dynamodb:Query", "dynamodb:UpdateItem"],
                       "Resource": [f"arn:aws:dynamodb:{r}:{a}:table/{t}" for t in tables]})
        if streams:
            st.append({"Sid": "StreamExports", "Effect": "Allow", "Action": ["kinesis:PutRecords"],
                       "Resource": [f"arn:aws:kinesis:{r}:{a}:stream/{s}" for s in streams]})
        if videos:
            st.append({"Sid": "VideoStreams", "Effect": "Allow",
                       "Action": ["kinesisvideo:DescribeStream", "kinesisvideo:GetDataEndpoint",
                                  "kinesisvideo:PutMedia"],
                       "Resource": [f"arn:aws:kinesisvideo:{r}:{a}:stream/{v}/*" for v in videos]})
        return {"Version": "2012-10-17", "Statement": st}

    # -- everything ------------------------------------------------------------------------------------
    def run(self) -> V2Plan:
        g = self.g
        r = self.routes()
        lambdas = [self.lambda_component(i, f, r) for i, f in enumerate(g.functions)]
        generic, compose_objects = self.connectors()
        taken = {lc.component_name: f"the Lambda component of functions[{i}]" for i, lc in enumerate(lambdas)}
        taken.update({gc.name: "the Docker connector's compose component" for gc in generic})
        taken.update({n: "an AWS public component" for n in catalog.PUBLIC_COMPONENTS})
        own, own_objects = self.bundle_components(taken)
        compose_generic = list(generic)
        generic = generic + own
        compose_objects = list(compose_objects) + own_objects

        public: List[PublicComponent] = []

        def add(name: str, merge: Optional[Dict[str, Any]] = None, reset: Sequence[str] = ("",)) -> None:
            merge = merge or {}
            public.append(PublicComponent(name, catalog.version(name), merge, tuple(reset) if merge else ()))

        nucleus_logging, log_manager = self.logging()
        nucleus_merge = {"interpolateComponentConfiguration": True, "logging": nucleus_logging}
        public.append(PublicComponent(NUCLEUS, catalog.version(NUCLEUS), nucleus_merge,
                                      ("/interpolateComponentConfiguration", "/logging")))
        add(TOKEN_EXCHANGE)
        if lambdas:
            add(LAMBDA_MANAGER)
            add(LAMBDA_LAUNCHER)
            add(LAMBDA_RUNTIMES)
        if r.router:
            add(SUBSCRIPTION_ROUTER, {"subscriptions": r.router})
        connectivity: List[Dict[str, Any]] = []
        if g.devices:
            port = self.broker_port()
            add(CLIENT_AUTH, self.auth_config(r))
            add(MOQUETTE, {"moquette": {"ssl_port": str(port), "host": "0.0.0.0"}})
            if r.bridge:
                add(BRIDGE, {"mqttTopicMapping": r.bridge, "brokerUri": f"ssl://localhost:{port}"})
            if g.core.connectivity:
                connectivity = [{"id": c.id or str(i), "hostAddress": c.host, "portNumber": c.port,
                                 "metadata": c.metadata} for i, c in enumerate(g.core.connectivity)]
                for i, c in enumerate(g.core.connectivity):
                    if c.host in ("127.0.0.1", "localhost", "::1"):
                        self.find(f"core.connectivity[{i}].host", "warning", f"'{c.host}' is reachable only from "
                                  "the core machine itself; devices on other machines cannot connect",
                                  "list the core's LAN address (or leave connectivity empty to use IPDetector)")
            else:
                add(IP_DETECTOR, {"defaultPort": str(port), "includeIPv4LoopbackAddrs": False,
                                  "includeIPv4LinkLocalAddrs": False})
        synced: List[str] = []
        if r.shadow_things or g.core.sync_shadow or any(d.sync_shadow for d in g.devices):
            cfg, synced = self.shadow_config(r)
            add(SHADOW_MANAGER, cfg)
        if g.stream_manager.enabled:
            add(STREAM_MANAGER, self.stream_manager_config())
        if log_manager is not None:
            add(LOG_MANAGER, log_manager)
        if compose_generic:
            add(DOCKER_MANAGER)

        for name in (p.name for p in public):
            assert name in catalog.PUBLIC_COMPONENTS
        components: Dict[str, Any] = {p.name: p.deployment_entry() for p in public}
        for lc in lambdas:
            entry: Dict[str, Any] = {"componentVersion": lc.component_version,
                                     "configurationUpdate": {"reset": [""]}}
            if lc.component_name in self.run_with:
                entry["runWith"] = self.run_with[lc.component_name]
            components[lc.component_name] = entry
        for gc in generic:
            entry = {"componentVersion": gc.version}
            if gc.name in self.run_with:
                entry["runWith"] = self.run_with[gc.name]
            cu = self.configuration_updates.get(gc.name)
            if cu is not None:
                update: Dict[str, Any] = {}
                if cu.reset:
                    update["reset"] = list(cu.reset)
                if cu.merge:
                    update["merge"] = canonical_json(cu.merge)
                if update:
                    entry["configurationUpdate"] = update
            components[gc.name] = entry
        for name in components:
            if len(name) > COMPONENT_NAME_MAX:
                self.find("group.name", "error", f"component name '{name[:40]}…' is {len(name)} characters; "
                          f"the limit is {COMPONENT_NAME_MAX}", "use a shorter group or function name")

        thing_group = thing_group_name(g)
        target_arn = f"{self.iot}:thinggroup/{thing_group}"
        deployment = {
            "targetArn": target_arn,
            "deploymentName": g.name,
            "components": dict(sorted(components.items())),
            "deploymentPolicies": DEPLOYMENT_POLICIES,
            "tags": {TAG_KEY: g.name},
        }
        alias = role_alias_name(g)
        core_docs = pack_policy(self.core_policy(r, synced, bool(g.devices), alias)["Statement"])
        base = core_policy_name(g)
        core_policies = tuple((base if i == 0 else f"{base}-{i + 1}", doc) for i, doc in enumerate(core_docs))
        if len(core_policies) > IOT_POLICIES_PER_CERTIFICATE:
            self.find("subscriptions", "error", f"the V2 core needs {len(core_policies)} IoT policies of "
                      f"{IOT_POLICY_MAX_CHARS} characters; a certificate takes at most {IOT_POLICIES_PER_CERTIFICATE}",
                      "route fewer distinct topics through the cloud, or use wildcard topics")
        device_policy = self.device_policy()
        size = len(canonical_json(device_policy))
        if size > IOT_POLICY_MAX_CHARS:
            self.find("devices", "error", f"the V2 device IoT policy is {size} characters without whitespace; "
                      f"IoT allows {IOT_POLICY_MAX_CHARS}", "split the devices over several groups")
        role_policy = self.role_policy(compose_objects, log_manager is not None)
        nucleus_config = {
            "system": {"certificateFilePath": f"{ROOT_DIR}/device.pem.crt",
                       "privateKeyPath": f"{ROOT_DIR}/private.pem.key",
                       "rootCaPath": f"{ROOT_DIR}/AmazonRootCA1.pem",
                       "rootpath": ROOT_DIR, "thingName": g.core.thing},
            "services": {NUCLEUS: {"componentType": "NUCLEUS", "version": catalog.version(NUCLEUS),
                                   "configuration": {
                                       "awsRegion": self.region,
                                       "iotRoleAlias": alias,
                                       "iotDataEndpoint": f"<prefix>-ats.iot.{self.region}.amazonaws.com",
                                       "iotCredEndpoint": f"<prefix>.credentials.iot.{self.region}.amazonaws.com",
                                       "greengrassDataPlanePort": 8443,
                                       "runWithDefault": {"posixUser": "ggc_user:ggc_group"},
                                       "interpolateComponentConfiguration": True,
                                       "logging": nucleus_logging}}},
        }
        return V2Plan(
            group=g.name, region=self.region, account_id=self.account, core_thing=g.core.thing,
            thing_group=thing_group, target_arn=target_arn, deployment_name=g.name,
            lambdas=tuple(lambdas), public=tuple(public), generic=tuple(generic), deployment=deployment,
            client_devices=tuple(d.thing for d in g.devices), connectivity_info=tuple(connectivity),
            core_policy_name=core_policies[0][0], core_policy=core_policies[0][1], core_policies=core_policies,
            device_policy_name=device_policy_name(g), device_policy=device_policy,
            token_exchange_role_name=token_exchange_role_name(g), role_alias_name=alias,
            token_exchange_role_trust={"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "credentials.iot.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            token_exchange_role_policy=role_policy,
            findings=tuple(self.findings), artifact_bucket=self.artifact_bucket, nucleus_config=nucleus_config,
        )


def pack_policy(statements: Sequence[Dict[str, Any]], limit: int = IOT_POLICY_MAX_CHARS) -> List[Dict[str, Any]]:
    """Spread IAM-style statements over as few policy documents of at most ``limit`` characters (canonical JSON,
    i.e. without whitespace) as the order allows; a statement too long alone is split by its resources."""
    def size(stmts: List[Dict[str, Any]]) -> int:
        return len(canonical_json({"Version": "2012-10-17", "Statement": stmts}))

    pieces: List[Dict[str, Any]] = []
    for st in statements:
        if size([st]) <= limit or isinstance(st.get("Resource"), str):
            pieces.append(st)
            continue
        chunk: List[str] = []
        for res in st["Resource"]:
            if chunk and size([{**st, "Resource": chunk + [res]}]) > limit:
                pieces.append({**st, "Resource": chunk})
                chunk = []
            chunk.append(res)
        pieces.append({**st, "Resource": chunk})
    docs: List[List[Dict[str, Any]]] = [[]]
    for piece in pieces:
        if docs[-1] and size(docs[-1] + [piece]) > limit:
            docs.append([])
        docs[-1].append(piece)
    return [{"Version": "2012-10-17", "Statement": stmts} for stmts in docs]


def _relpath(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _unique(items: Any) -> List[str]:
    out: List[str] = []
    for x in items:
        _add(out, x)
    return out


def convert(group: Group, *, root: Path, account_id: str, region: str,
            lambda_versions: Optional[Mapping[str, str]] = None,
            artifact_bucket: Optional[str] = None) -> V2Plan:
    """The V2 plan of ``group``: Lambda components, public components with configuration, the deployment
    (to the thing group), client devices, policies and findings. Pure and deterministic.

    ``lambda_versions`` maps function name → published Lambda version (missing: ``1`` with an info finding);
    ``artifact_bucket`` is where apply uploads generic-component artifacts (default: the connector's bucket).
    """
    return _Converter(group, Path(root), account_id, region, lambda_versions or {}, artifact_bucket).run()
