"""Plan: the group model as desired cloud objects, and their diff against the deploy state.

Pure (no AWS calls). ``desired_objects(group, ...)`` lists every object deploy must own, in the
order the Greengrass V1 API needs them, each with a *symbolic* spec: references to other objects
are strings ``"@<key>"`` (that object's ARN to reference: thing ARN, certificate ARN, function
alias ARN, definition version ARN) or ``"@<key>#id"`` (its id). ``group/aws.py`` resolves them
from the state when it applies a spec. ``diff(desired, state_records, missing)`` gives the
changes, printed as ``+ function producer``, ``~ subscription-definition gg-bundle``,
``- thing X``.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import Issue
from .model import CLOUD, SHADOW_PREFIX, Group

TARGETS = ("local", "aws")
ADD, CHANGE, REMOVE = "+", "~", "-"
REF_RE = re.compile(r"^@([a-z\-]+:[^#]+)(#id)?$")

# Deploy order (destroy goes the other way, see DESTROY_ORDER).
KIND_ORDER = (
    "service-role", "thing", "policy", "certificate", "connectivity", "role", "function",
    "core-definition", "device-definition", "function-definition", "resource-definition",
    "logger-definition", "connector-definition", "subscription-definition",
    "group", "group-version", "group-role",
    "table", "bucket", "bucket-object", "kinesis-stream", "video-stream", "iotanalytics-channel", "cloud-function",
    "deployment",
)
# Objects the destroy step removes, in this order (deployment = reset_deployments).
DESTROY_ORDER = (
    "deployment", "group-role", "group-version", "group",
    "subscription-definition", "connector-definition", "logger-definition", "resource-definition",
    "function-definition", "device-definition", "core-definition",
    "connectivity", "certificate", "thing", "policy", "cloud-function", "function", "role",
    "table", "bucket-object", "bucket", "kinesis-stream", "video-stream", "iotanalytics-channel", "service-role",
)
DEFINITION_KINDS = ("core", "device", "function", "resource", "logger", "connector", "subscription")
# Kinds whose change gives a new ARN to reference (a new certificate, a new definition version):
# objects that reference them change too.
REPLACED_ON_CHANGE = frozenset({"certificate", "group-version"}
                               | {f"{k}-definition" for k in DEFINITION_KINDS})

STREAM_MANAGER_ARN = "arn:aws:lambda:::function:GGStreamManager:1"
SHADOW_SERVICE = "GGShadowService"
LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024


def spec_hash(spec: Any) -> str:
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def refs(spec: Any) -> List[str]:
    """Keys of the objects a spec references (``"@key"`` / ``"@key#id"`` strings)."""
    out: List[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            m = REF_RE.match(v)
            if m and m.group(1) not in out:
                out.append(m.group(1))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(spec)
    return out


@dataclass(frozen=True)
class Desired:
    kind: str
    name: str
    spec: Dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def hash(self) -> str:
        return spec_hash(self.spec)

    @property
    def deps(self) -> List[str]:
        return refs(self.spec)


@dataclass(frozen=True)
class Change:
    action: str  # + ~ -
    kind: str
    name: str
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def __str__(self) -> str:
        text = f"{self.action} {self.kind} {self.name}"
        return f"{text}  ({self.reason})" if self.reason else text


@dataclass
class Plan:
    group: str
    target: str
    changes: List[Change] = field(default_factory=list)
    warnings: List[Issue] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    def action(self, key: str) -> Optional[str]:
        return next((c.action for c in self.changes if c.key == key), None)

    def lines(self) -> List[str]:
        return [str(c) for c in self.changes]


# ---- names -------------------------------------------------------------------------------------


def aws_name(*parts: str, limit: int = 64) -> str:
    """Join parts with '-' and keep the result within ``limit`` characters (hash suffix if cut)."""
    name = "-".join(parts)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9]}-{digest}"


def lambda_name(group: Group, function: str) -> str:
    return aws_name(group.name, function)


def policy_name(group: Group) -> str:
    return aws_name(group.name, "thing-policy", limit=128)


def lambda_role_name(group: Group) -> str:
    return aws_name(group.name, "lambda-role")


def group_role_name(group: Group) -> str:
    return aws_name(group.name, "group-role")


def cloud_role_name(group: Group) -> str:
    return aws_name(group.name, "cloud-fn-role")


def cloud_package_key(name: str) -> str:
    """Key of a cloud function's package (cloud and core function names may coincide)."""
    return f"cloud:{name}"


def service_role_name(group: Group) -> str:
    return aws_name(group.name, "gg-service-role")


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:_\-]", "-", text)[:128]


# ---- warnings that depend on the target --------------------------------------------------------


def target_warnings(group: Group, target: str, file: str = "group.yaml") -> List[Issue]:
    out: List[Issue] = []
    if target == "aws":
        if group.cloud.iotanalytics_channels:
            out.append(Issue(file, "cloud.iotanalytics_channels",
                             "AWS retired IoT Analytics (no new channels; botocore has no client any more): "
                             "the channels are not created with --target aws",
                             "export streams to Kinesis (EXPORT_TARGET: kinesis) instead", "warning"))
        for i, f in enumerate(group.functions):
            if f.runtime in ("python3.7", "python3.8"):
                out.append(Issue(file, f"functions[{i}].runtime",
                                 f"AWS Lambda no longer creates functions on the deprecated {f.runtime} "
                                 "runtime; create_function may be refused on real AWS",
                                 "use an account that still allows it, or upload the code another way",
                                 "warning"))
    return out


# ---- desired objects ---------------------------------------------------------------------------


def _endpoint_ref(group: Group, symbol: str) -> str:
    if symbol == CLOUD:
        return "cloud"
    if symbol.startswith(SHADOW_PREFIX):
        return SHADOW_SERVICE
    if group.function(symbol) is not None:
        return f"@function:{symbol}"
    return f"@thing:{symbol}"


def _function_entry(f: Any) -> Dict[str, Any]:
    execution: Dict[str, Any] = {"IsolationMode": f.isolation}
    if f.run_as is not None:
        execution["RunAs"] = {"Uid": f.run_as.uid, "Gid": f.run_as.gid}
    env: Dict[str, Any] = {"Variables": dict(sorted(f.environment.items())),
                           "AccessSysfs": f.access_sysfs, "Execution": execution}
    if f.resources:
        env["ResourceAccessPolicies"] = [{"ResourceId": ra.ref, "Permission": ra.permission}
                                         for ra in f.resources]
    cfg: Dict[str, Any] = {"Pinned": f.pinned, "Timeout": f.timeout_s,
                           "EncodingType": f.encoding, "Environment": env}
    if f.memory_mb is not None:
        cfg["MemorySize"] = f.memory_mb * 1024  # the API takes KB
    return {"Id": _safe_id(f.name), "FunctionArn": f"@function:{f.name}", "FunctionConfiguration": cfg}


def _stream_manager_entry(group: Group) -> Dict[str, Any]:
    sm = group.stream_manager
    variables = {"STREAM_MANAGER_SERVER_PORT": str(sm.port),
                 "STREAM_MANAGER_AUTHENTICATE_CLIENT": "true" if sm.authenticate_client else "false"}
    if sm.store_root:
        variables["STREAM_MANAGER_STORE_ROOT_DIR"] = sm.store_root
    if sm.exporter_thread_pool_size:
        variables["STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE"] = str(sm.exporter_thread_pool_size)
    if sm.exporter_max_bandwidth_kbps:
        variables["STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH"] = str(sm.exporter_max_bandwidth_kbps)
    return {"Id": "stream-manager", "FunctionArn": STREAM_MANAGER_ARN,
            "FunctionConfiguration": {"Pinned": True, "MemorySize": 4194304, "Timeout": 3,
                                      "Environment": {"Variables": variables}}}


def desired_objects(group: Group, target: str, code_hashes: Mapping[str, str], *,
                    service_role: bool = True,
                    files: Optional[Mapping[str, Tuple[str, str]]] = None) -> Dict[str, Desired]:
    """Every object deploy owns for ``group`` on ``target``, in deploy order.

    ``code_hashes`` maps function name (``cloud:<name>`` for cloud functions) → the CodeSha256 of
    its package (group/package.py).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}")
    g = group.name
    out: List[Desired] = []
    add = out.append

    if service_role:
        add(Desired("service-role", service_role_name(group),
                    {"role_name": service_role_name(group), "trust": "greengrass.amazonaws.com"}))
    for thing in group.things:
        add(Desired("thing", thing, {"thing": thing}))
    pol = policy_name(group)
    add(Desired("policy", pol, {"policy_name": pol, "document": thing_policy_document()}))
    issuer = "local-ca" if target == "local" else "aws"
    for thing in group.things:
        add(Desired("certificate", thing, {"thing": f"@thing:{thing}", "policy": f"@policy:{pol}",
                                           "issuer": issuer}))
    if group.core.connectivity:
        add(Desired("connectivity", group.core.thing, {
            "thing": f"@thing:{group.core.thing}",
            "ConnectivityInfo": [{"Id": c.id or f"{i}", "HostAddress": c.host, "PortNumber": c.port,
                                  "Metadata": c.metadata} for i, c in enumerate(group.core.connectivity)]}))
    if group.functions:
        role = lambda_role_name(group)
        add(Desired("role", role, {"role_name": role, "trust": "lambda.amazonaws.com"}))
        for f in group.functions:
            add(Desired("function", f.name, {
                "function_name": lambda_name(group, f.name), "runtime": f.runtime, "handler": f.handler,
                "memory": max(LAMBDA_MIN_MEMORY_MB, f.memory_mb or LAMBDA_MIN_MEMORY_MB),
                "timeout": f.timeout_s, "code_sha256": code_hashes.get(f.name, ""), "role": f"@role:{role}"}))

    defs: Dict[str, str] = {}

    def definition(kind: str, body: Dict[str, Any]) -> None:
        d = Desired(f"{kind}-definition", g, {"name": aws_name(g, kind, limit=128), **body})
        defs[kind] = d.key
        add(d)

    definition("core", {"Cores": [{"Id": _safe_id(group.core.thing), "ThingArn": f"@thing:{group.core.thing}",
                                   "CertificateArn": f"@certificate:{group.core.thing}",
                                   "SyncShadow": group.core.sync_shadow}]})
    if group.devices:
        definition("device", {"Devices": [{"Id": _safe_id(d.thing), "ThingArn": f"@thing:{d.thing}",
                                           "CertificateArn": f"@certificate:{d.thing}",
                                           "SyncShadow": d.sync_shadow} for d in group.devices]})
    functions = [_function_entry(f) for f in group.functions]
    if group.stream_manager.enabled:
        functions.append(_stream_manager_entry(group))
    if functions:
        definition("function", {"Functions": functions,
                                "DefaultConfig": {"Execution": {"IsolationMode": "GreengrassContainer"}}})
    if group.resources:
        res = []
        for r in group.resources:
            owner = {"AutoAddGroupOwner": r.group_owner}
            if r.device is not None:
                data = {"LocalDeviceResourceData": {"SourcePath": r.device, "GroupOwnerSetting": owner}}
            else:
                assert r.volume is not None
                data = {"LocalVolumeResourceData": {"SourcePath": r.volume.source,
                                                    "DestinationPath": r.volume.dest,
                                                    "GroupOwnerSetting": owner}}
            res.append({"Id": r.name, "Name": r.name, "ResourceDataContainer": data})
        definition("resource", {"Resources": res})
    if group.loggers:
        loggers = []
        for lg in group.loggers:
            entry: Dict[str, Any] = {"Id": lg.id or _safe_id(f"{lg.component}-{lg.type}"),
                                     "Component": lg.component, "Type": lg.type, "Level": lg.level}
            if lg.type == "FileSystem":
                entry["Space"] = lg.space_kb or 128
            loggers.append(entry)
        definition("logger", {"Loggers": loggers})
    if group.connectors:
        definition("connector", {"Connectors": [
            {"Id": c.name, "ConnectorArn": c.arn,
             "Parameters": {k: _param(v) for k, v in c.parameters.items()}}
            for c in group.connectors]})
    if group.subscriptions:
        definition("subscription", {"Subscriptions": [
            {"Id": _safe_id(s.id or f"sub-{i}"), "Source": _endpoint_ref(group, s.source),
             "Target": _endpoint_ref(group, s.target), "Subject": s.topic}
            for i, s in enumerate(group.subscriptions)]})

    add(Desired("group", g, {"name": g}))
    version = {"GroupId": f"@group:{g}#id"}
    for kind, key in defs.items():
        version[f"{kind.capitalize()}DefinitionVersionArn"] = f"@{key}"
    add(Desired("group-version", g, version))

    access = {"tables": [t.name for t in group.cloud.tables], "buckets": list(group.cloud.buckets),
              "kinesis_streams": [k.name for k in group.cloud.kinesis_streams],
              "video_streams": list(group.cloud.video_streams),
              "iotanalytics_channels": list(group.cloud.iotanalytics_channels) if target == "local" else []}
    grole = group_role_name(group)
    add(Desired("group-role", grole, {"role_name": grole, "trust": "greengrass.amazonaws.com",
                                      "access": access, "group": f"@group:{g}#id"}))

    for t in group.cloud.tables:
        add(Desired("table", t.name, {"name": t.name, "hash_key": t.hash_key,
                                      "hash_key_type": t.hash_key_type}))
    for b in group.cloud.buckets:
        add(Desired("bucket", b, {"name": b}))
    for c in group.connectors:  # the Docker connector's compose file, read by the core from S3
        if c.compose_file is not None and files and c.name in files:
            path, sha = files[c.name]
            bucket, key = str(c.parameters.get("DockerComposeFileS3Bucket")), str(c.parameters.get("DockerComposeFileS3Key"))
            add(Desired("bucket-object", f"{bucket}/{key}", {"bucket": bucket, "key": key, "path": path, "sha256": sha}))
    for k in group.cloud.kinesis_streams:
        add(Desired("kinesis-stream", k.name, {"name": k.name, "shards": k.shards}))
    for v in group.cloud.video_streams:
        add(Desired("video-stream", v, {"name": v}))
    if target == "local":
        for ch in group.cloud.iotanalytics_channels:
            add(Desired("iotanalytics-channel", ch, {"name": ch}))
    if group.cloud.functions:
        crole = cloud_role_name(group)
        add(Desired("role", crole, {"role_name": crole, "trust": "lambda.amazonaws.com", "access": access}))
        for cf in group.cloud.functions:
            add(Desired("cloud-function", cf.name, {
                "function_name": lambda_name(group, cf.name), "runtime": cf.runtime, "handler": cf.handler,
                "memory": cf.memory_mb, "timeout": cf.timeout_s,
                "environment": dict(sorted(cf.environment.items())),
                "code_sha256": code_hashes.get(cloud_package_key(cf.name), ""), "role": f"@role:{crole}"}))

    add(Desired("deployment", g, {"group": f"@group:{g}#id", "group_version": f"@group-version:{g}",
                                  "group_role": f"@group-role:{grole}",
                                  "code": {f.name: code_hashes.get(f.name, "") for f in group.functions}}))
    return {d.key: d for d in out}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def thing_policy_document() -> Dict[str, Any]:
    """IoT policy for the group's things: MQTT, shadows and Greengrass discovery/deployment."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive",
                                       "iot:GetThingShadow", "iot:UpdateThingShadow",
                                       "iot:DeleteThingShadow"],
         "Resource": ["*"]},
        {"Effect": "Allow", "Action": ["greengrass:*"], "Resource": ["*"]},
    ]}


# ---- diff --------------------------------------------------------------------------------------


def diff(group: str, target: str, desired: Mapping[str, Desired], records: Mapping[str, Mapping[str, Any]],
         missing: Iterable[str] = (), deployment_failed: bool = False,
         warnings: Iterable[Issue] = ()) -> Plan:
    """Changes that take ``records`` (the state) to ``desired``.

    ``missing``: recorded keys that read-only calls found gone (they are made again).
    ``deployment_failed``: the last recorded deployment ended in Failure (deploy again).
    """
    missing = set(missing)
    actions: Dict[str, Tuple[str, str]] = {}
    for key, d in desired.items():
        rec = records.get(key)
        if rec is None:
            actions[key] = (ADD, "")
        elif key in missing:
            actions[key] = (ADD, "recorded in the state but gone")
        elif rec.get("applied") is None:
            actions[key] = (CHANGE, "a previous deploy stopped half-way")
        elif rec.get("hash") != d.hash:
            actions[key] = (CHANGE, "")
    for key, d in desired.items():
        if key in actions:
            continue
        for dep in d.deps:
            act = actions.get(dep)
            if act is None:
                continue
            if act[0] == ADD or dep.split(":", 1)[0] in REPLACED_ON_CHANGE:
                actions[key] = (CHANGE, f"{dep} changes")
                break
    dkey = next((k for k, d in desired.items() if d.kind == "deployment"), None)
    if dkey is not None and dkey not in actions and deployment_failed:
        actions[dkey] = (CHANGE, "the last deployment did not succeed")
    changes = [Change(a, desired[k].kind, desired[k].name, why) for k, (a, why) in actions.items()]
    order = {k: i for i, k in enumerate(desired)}
    changes.sort(key=lambda c: order[c.key])
    for key, rec in records.items():
        if key not in desired:
            kind, _, name = key.partition(":")
            changes.append(Change(REMOVE, kind, name))
    return Plan(group, target, changes, list(warnings))
