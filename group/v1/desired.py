"""The Greengrass V1 group as desired cloud objects (pure, no AWS calls).

``desired_objects(group, ...)`` lists every object the V1 deploy owns, in the order the Greengrass V1
API needs them, each with a *symbolic* spec: references to other objects are strings ``"@<key>"``
(that object's ARN to reference: thing ARN, certificate ARN, function alias ARN, definition version
ARN) or ``"@<key>#id"`` (its id); ``group/steps.py`` resolves them from the state.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..model import CLOUD, SHADOW_PREFIX, Group
from ..plan import (SHADOW_SERVICE, STREAM_MANAGER_ARN, TARGETS, Desired, _safe_id, aws_name, cloud_access,
                    cloud_objects, function_objects, group_role_name, policy_name, service_role_name)


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
    out.extend(function_objects(group, code_hashes))

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

    access = cloud_access(group, target)
    grole = group_role_name(group)
    add(Desired("group-role", grole, {"role_name": grole, "trust": "greengrass.amazonaws.com",
                                      "access": access, "group": f"@group:{g}#id"}))

    compose = []
    for c in group.connectors:  # the Docker connector's compose file, read by the core from S3
        if c.compose_file is not None and files and c.name in files:
            path, sha = files[c.name]
            bucket, key = str(c.parameters.get("DockerComposeFileS3Bucket")), str(c.parameters.get("DockerComposeFileS3Key"))
            compose.append(Desired("bucket-object", f"{bucket}/{key}",
                                   {"bucket": bucket, "key": key, "path": path, "sha256": sha}))
    out.extend(cloud_objects(group, target, code_hashes, bucket_objects=compose))

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


