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
from .model import Group

TARGETS = ("local", "aws")
ADD, CHANGE, REMOVE = "+", "~", "-"
REF_RE = re.compile(r"^@([a-z0-9\-]+:[^#]+)(#[a-z_]+)?$")

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


@dataclass(frozen=True)
class Ownership:
    """Who owns the objects of one platform's deployment of a group, beside the same group's deployment on the
    other platform (V1 and V2 share things, certificates, functions, roles and cloud resources). Each list holds
    state keys (``kind:name``)."""

    platform: str
    other: str
    owned: Tuple[str, ...] = ()        # made by this platform, used by it alone: its destroy deletes them
    lent: Tuple[str, ...] = ()         # made by this platform, used by the other too: its destroy leaves them to it
    borrowed: Tuple[str, ...] = ()     # made by the other platform, adopted here: this destroy leaves them
    adopted: Tuple[str, ...] = ()      # existed before either platform made them: never deleted
    to_borrow: Tuple[str, ...] = ()    # not deployed here yet, the other platform has them: deploy adopts them

    def lines(self, verbose: bool = False) -> List[str]:
        """What ``plan`` prints: one line of counts, then (``verbose``) one line per group of objects."""
        me, other = self.platform, self.other
        groups = [(self.owned, f"owned by {me}"),
                  (self.lent, f"owned by {me}, used by {other} too (destroy --platform {me} leaves them to {other})"),
                  (self.borrowed, f"owned by {other}, used here (destroy --platform {me} leaves them)"),
                  (self.adopted, "adopted, made by neither platform (never deleted)"),
                  (self.to_borrow, f"owned by {other}: deploy --platform {me} will use them as they are")]
        shown = [(keys, what) for keys, what in groups if keys]
        if not shown:
            return []
        out = ["ownership: " + "; ".join(f"{len(keys)} {what}" for keys, what in shown)]
        if verbose:
            out += [f"  {what}: " + ", ".join(k.replace(":", " ", 1) for k in keys)
                    for keys, what in shown]
        return out


def ownership(platform: str, other: str, desired: Iterable[str], records: Mapping[str, Mapping[str, Any]],
              other_records: Mapping[str, Mapping[str, Any]]) -> Ownership:
    """Sort one platform's recorded and desired objects by owner (pure)."""
    owned: List[str] = []
    lent: List[str] = []
    borrowed: List[str] = []
    adopted: List[str] = []
    for key, rec in records.items():
        theirs = other_records.get(key)
        if rec.get("owned") is not False:
            (lent if theirs is not None else owned).append(key)
        elif theirs is not None and theirs.get("owned") is not False:
            borrowed.append(key)
        else:
            adopted.append(key)
    to_borrow = [k for k in desired if k not in records and k in other_records]
    return Ownership(platform, other, tuple(owned), tuple(lent), tuple(borrowed), tuple(adopted), tuple(to_borrow))


@dataclass
class Plan:
    group: str
    target: str
    changes: List[Change] = field(default_factory=list)
    warnings: List[Issue] = field(default_factory=list)
    ownership: Optional[Ownership] = None

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
    return out


# ---- cloud resources (both platforms) -----------------------------------------------------------


def function_objects(group: Group, code_hashes: Mapping[str, str], *, alias: bool = True) -> List[Desired]:
    """The core functions as Lambda functions (and their role). V1 references them through the alias
    ``live``; V2 (``alias=False``) through the published version (a component import refuses aliases)."""
    if not group.functions:
        return []
    role = lambda_role_name(group)
    out = [Desired("role", role, {"role_name": role, "trust": "lambda.amazonaws.com"})]
    for f in group.functions:
        spec: Dict[str, Any] = {
            "function_name": lambda_name(group, f.name), "runtime": f.runtime, "handler": f.handler,
            "memory": max(LAMBDA_MIN_MEMORY_MB, f.memory_mb or LAMBDA_MIN_MEMORY_MB),
            "timeout": f.timeout_s, "code_sha256": code_hashes.get(f.name, ""), "role": f"@role:{role}"}
        if not alias:
            spec["alias"] = False
        out.append(Desired("function", f.name, spec))
    return out


def cloud_access(group: Group, target: str) -> Dict[str, List[str]]:
    """The group's cloud resources a role of the group may use (IoT Analytics only locally: AWS retired it)."""
    return {"tables": [t.name for t in group.cloud.tables], "buckets": list(group.cloud.buckets),
            "kinesis_streams": [k.name for k in group.cloud.kinesis_streams],
            "video_streams": list(group.cloud.video_streams),
            "iotanalytics_channels": list(group.cloud.iotanalytics_channels) if target == "local" else []}


def cloud_objects(group: Group, target: str, code_hashes: Mapping[str, str], *,
                  buckets: Optional[List[str]] = None, bucket_objects: Iterable[Desired] = ()) -> List[Desired]:
    """The group's cloud resources in deploy order: tables, buckets (``buckets`` when the platform adds one),
    ``bucket_objects`` (files uploaded to them), Kinesis and Kinesis Video streams, IoT Analytics channels
    (local only) and the cloud Lambdas with their role."""
    out: List[Desired] = []
    for t in group.cloud.tables:
        out.append(Desired("table", t.name, {"name": t.name, "hash_key": t.hash_key,
                                             "hash_key_type": t.hash_key_type}))
    for b in (group.cloud.buckets if buckets is None else buckets):
        out.append(Desired("bucket", b, {"name": b}))
    out.extend(bucket_objects)
    for k in group.cloud.kinesis_streams:
        out.append(Desired("kinesis-stream", k.name, {"name": k.name, "shards": k.shards}))
    for v in group.cloud.video_streams:
        out.append(Desired("video-stream", v, {"name": v}))
    if target == "local":
        for ch in group.cloud.iotanalytics_channels:
            out.append(Desired("iotanalytics-channel", ch, {"name": ch}))
    if group.cloud.functions:
        crole = cloud_role_name(group)
        out.append(Desired("role", crole, {"role_name": crole, "trust": "lambda.amazonaws.com",
                                           "access": cloud_access(group, target)}))
        for cf in group.cloud.functions:
            out.append(Desired("cloud-function", cf.name, {
                "function_name": lambda_name(group, cf.name), "runtime": cf.runtime, "handler": cf.handler,
                "memory": cf.memory_mb, "timeout": cf.timeout_s,
                "environment": dict(sorted(cf.environment.items())),
                "code_sha256": code_hashes.get(cloud_package_key(cf.name), ""), "role": f"@role:{crole}"}))
    return out


# ---- diff --------------------------------------------------------------------------------------


def diff(group: str, target: str, desired: Mapping[str, Desired], records: Mapping[str, Mapping[str, Any]],
         missing: Iterable[str] = (), deployment_failed: bool = False,
         warnings: Iterable[Issue] = (), replaced_on_change: Iterable[str] = REPLACED_ON_CHANGE) -> Plan:
    """Changes that take ``records`` (the state) to ``desired``.

    ``missing``: recorded keys that read-only calls found gone (they are made again).
    ``deployment_failed``: the last recorded deployment ended in Failure (deploy again).
    """
    missing = set(missing)
    replaced = frozenset(replaced_on_change)
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
            if act[0] == ADD or dep.split(":", 1)[0] in replaced:
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
