"""Greengrass V2: apply a group's V2 plan with boto3 (plan, deploy, status, destroy).

Public surface::

    plan = plan_group(group, root=..., clients=..., state_dir=..., target="local"|"aws")
    result = deploy_group(group, root=..., clients=..., state_dir=..., target=..., certs_dir=...,
                          certificate_issuer=None, root_ca_pem=None, progress=None, wait=True,
                          timeout=300, service_role=True, redeploy=False)
    status = group_status(group_name, clients=..., state_dir=..., target=...)
    removed = destroy_group(group_name, clients=..., state_dir=..., target=..., certs_dir=...)

What ``convert`` (``group/v2/convert.py``) describes becomes, in this order: the Greengrass service role,
the IoT things (adopted when they exist: a migrating account keeps its things, certificates and
devices in the field keep theirs), the core devices' thing group, the core and client-device IoT
policies, certificates, the token exchange role and its role alias, the core's connectivity, the client
devices associated with the core device, the Lambda functions (a version is published only when code
or configuration changed), the cloud resources, the artifacts bucket and artifacts, then — once the
Lambda versions are known — the component versions (created only for new content: versions are
immutable and derived from content) and one deployment to the thing group, then the wait for the core
device's result. The state lives beside V1's (``.gg/state/<target>-v2/<group>.json``): the V1 and V2
deployments of one group sit side by side in one cloud. A rerun with nothing changed makes only
read-only calls. The V2 kinds' own apply / exists / delete steps are ``kinds.py``'s.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from .. import package as packaging
from ..clients import Clients, Progress, error_cause, error_code, error_fix, is_not_found
from ..errors import DeployError
from ..model import Group
from ..plan import (ADD, CHANGE, REPLACED_ON_CHANGE, Desired, Plan, cloud_objects, diff,
                    function_objects, ownership, service_role_name, spec_hash, target_warnings)
from ..state import State, state_target
from ..steps import (CertificateIssuer, Ctx, amazon_root_ca, apply_one, build_packages, connector_files, context,
                     destroy_all, missing_objects, remove_objects, report_adoptions, resolve, under_state_lock,
                     write_root_ca)
from .kinds import (BUMP_FIX, KINDS, POLL_INTERVAL_S, _get_deployment, _unbumped_issues,
                    artifact_bucket_name, generic_content_hash, unbumped_message, unbumped_versions)
from .model import V2Plan
from .published import check_plan, errors, refusal

log = logging.getLogger(__name__)

PLATFORM = "v2"
Poller = Callable[[Clients, str, str, float], Tuple[str, str]]
# what a core device reports per deployment (ListEffectiveDeployments.coreDeviceExecutionStatus)
DEVICE_DONE = ("SUCCEEDED", "COMPLETED")
DEVICE_FINAL = DEVICE_DONE + ("FAILED", "TIMED_OUT", "CANCELED", "REJECTED")

# deploy order of the V2 kinds (destroy goes the other way)
KIND_ORDER = (
    "service-role", "thing", "thing-group", "policy", "certificate", "role", "role-alias", "connectivity",
    "client-devices", "function", "table", "bucket", "bucket-object", "kinesis-stream", "video-stream",
    "iotanalytics-channel", "cloud-function", "component", "deployment",
)
# a change of these gives something new to reference (a new Lambda version → a new component version →
# a new deployment)
V2_REPLACED = REPLACED_ON_CHANGE | {"function", "component"}


# ---- desired objects ---------------------------------------------------------------------------


def convert_for(group: Group, root: Path, clients: Clients, state: State) -> V2Plan:
    """The converter's plan with the Lambda versions the state records (published by earlier deploys)."""
    from .convert import convert

    versions = {}
    for f in group.functions:
        rec = state.get(f"function:{f.name}")
        if rec and rec.get("version"):
            versions[f.name] = str(rec["version"])
    account, region = clients.account_id(), clients.region
    return convert(group, root=root, account_id=account, region=region, lambda_versions=versions,
                   artifact_bucket=artifact_bucket_name(group, account, region))


def desired_objects(group: Group, plan: V2Plan, target: str, code_hashes: Mapping[str, str], *,
                    service_role: bool = True, files: Optional[Mapping[str, Tuple[str, str]]] = None,
                    root: Optional[Path] = None) -> Dict[str, Desired]:
    """Every object the V2 deploy owns for ``group`` on ``target``, in deploy order (symbolic specs)."""
    out: List[Desired] = []
    add = out.append
    core = plan.core_thing
    if service_role and plan.client_devices:  # client devices need the account's Greengrass service role
        name = service_role_name(group)
        add(Desired("service-role", name, {"role_name": name, "trust": "greengrass.amazonaws.com"}))
    for thing in group.things:
        add(Desired("thing", thing, {"thing": thing}))
    add(Desired("thing-group", plan.thing_group, {"name": plan.thing_group, "things": [core],
                                                   "members": [f"@thing:{core}"]}))
    core_policies = plan.core_policies or ((plan.core_policy_name, plan.core_policy),)
    for name, doc in core_policies:  # IoT's 2048-character limit splits the core's statements
        add(Desired("policy", name, {"policy_name": name, "document": doc}))
    if plan.client_devices:
        add(Desired("policy", plan.device_policy_name, {"policy_name": plan.device_policy_name,
                                                        "document": plan.device_policy}))
    issuer = "local-ca" if target == "local" else "aws"
    for thing in group.things:
        pols = [n for n, _ in core_policies] if thing == core else [plan.device_policy_name]
        add(Desired("certificate", thing, {"thing": f"@thing:{thing}", "policies": [f"@policy:{p}" for p in pols],
                                           "issuer": issuer}))
    tes = plan.token_exchange_role_name
    add(Desired("role", tes, {"role_name": tes, "trust": "credentials.iot.amazonaws.com",
                              "policy": plan.token_exchange_role_policy}))
    add(Desired("role-alias", plan.role_alias_name, {"name": plan.role_alias_name, "role": f"@role:{tes}"}))
    if plan.connectivity_info:
        add(Desired("connectivity", core, {"thing": f"@thing:{core}",
                                           "connectivityInfo": [dict(c) for c in plan.connectivity_info]}))
    if plan.client_devices:
        add(Desired("client-devices", core, {"core": core, "things": list(plan.client_devices),
                                             "refs": [f"@thing:{t}" for t in plan.client_devices]}))
    out.extend(function_objects(group, code_hashes, alias=False))
    buckets = list(group.cloud.buckets)
    if plan.artifact_bucket and plan.generic and plan.artifact_bucket not in buckets:
        buckets.append(plan.artifact_bucket)
    artifacts = []
    for gc in plan.generic:
        for art in gc.artifacts:
            bucket, _, key = art.uri[len("s3://"):].partition("/")
            path = str((root / art.source_path).resolve()) if root is not None and art.source_path else None
            artifacts.append(Desired("bucket-object", f"{bucket}/{key}", {
                "bucket": f"@bucket:{bucket}#id" if bucket in buckets else bucket, "key": key,
                "path": path, "data": None if path else (art.data or b"").decode("utf-8", "replace"),
                "sha256": art.sha256}))
    out.extend(cloud_objects(group, target, code_hashes, buckets=buckets, bucket_objects=artifacts))
    for lc in plan.lambdas:
        add(Desired("component", lc.component_name, {
            "name": lc.component_name, "version": lc.component_version, "lambdaFunction": lc.request,
            "function": f"@function:{lc.function}"}))
    for gc in plan.generic:
        add(Desired("component", gc.name, {"name": gc.name, "version": gc.version, "recipe": gc.recipe,
                                           "content": generic_content_hash(gc)}))
    add(Desired("deployment", group.name, {
        "document": plan.deployment, "client_token": plan.deployment_client_token(), "core": core,
        "thing_group": f"@thing-group:{plan.thing_group}",
        "components": [f"@component:{n}" for n in plan.custom_components()]}))
    return {d.key: d for d in out}


# ---- plan / deploy -----------------------------------------------------------------------------


@dataclass
class DeployResult:
    group: str
    deployment_id: Optional[str]
    status: str
    changes: List[str]
    state_file: Path
    components: Dict[str, str]
    findings: List[str]
    group_id: Optional[str] = None          # V1's fields, for callers that print either
    group_version_id: Optional[str] = None


def _context(group_name: str, clients: Clients, state_dir: Path | str, target: str,
             certs_dir: Optional[Path], **kw: Any) -> Ctx:
    v1 = State.load(state_dir, state_target(target, "v1"), group_name)
    ctx = context(group_name, clients, state_dir, state_target(target, PLATFORM), certs_dir, kinds=KINDS,
                  adopt=True, other=v1, other_platform="v1", **kw)
    ctx.target = target
    return ctx


def _verify(ctx: Ctx) -> Tuple[List[str], bool]:
    missing = missing_objects(ctx)
    failed = False
    rec = ctx.state.get(f"deployment:{ctx.group_name}")
    if rec is not None and f"deployment:{ctx.group_name}" not in missing:
        failed = device_status(ctx.clients, rec.get("core", ""), rec["id"])[0] in (
            "FAILED", "TIMED_OUT", "CANCELED", "REJECTED")
    return missing, failed


def _desired(ctx: Ctx, group: Group, root: Path, service_role: bool) -> Tuple[V2Plan, Dict[str, Desired]]:
    v2 = convert_for(group, root, ctx.clients, ctx.state)
    errors = v2.errors()
    if errors:
        raise DeployError("convert", group.name, "the group cannot be carried to Greengrass V2: "
                          + "; ".join(str(f) for f in errors), "see `deploy.py validate --platform v2`")
    code = {n: p.code_sha256 for n, p in ctx.packages.items()}
    desired = desired_objects(group, v2, ctx.target, code, service_role=service_role,
                              files=connector_files(group, root), root=root)
    return v2, desired


def plan_group(group: Group, *, root: Path, clients: Clients, state_dir: Path | str, target: str,
               certs_dir: Optional[Path] = None, service_role: bool = True,
               packages: Optional[Mapping[str, packaging.Package]] = None) -> Plan:
    """Desired (group file → V2 plan) vs recorded state, checked with read-only calls. Makes no change.
    ``warnings`` carry what the catalog's public components look like in the cloud (:mod:`.published`; file
    ``group/v2/catalog.py``)."""
    packages = packages if packages is not None else build_packages(group, Path(root))
    ctx = _context(group.name, clients, state_dir, target, certs_dir, packages=packages)
    v2, desired = _desired(ctx, group, Path(root), service_role)
    missing, failed = _verify(ctx)
    plan = diff(group.name, target, desired, ctx.state.objects, missing, failed,
                target_warnings(group, target) + _unbumped_issues(v2, ctx.state), replaced_on_change=V2_REPLACED)
    plan.ownership = ownership(PLATFORM, "v1", desired, ctx.state.objects, ctx.other.objects if ctx.other else {})
    findings, overall = check_plan(ctx.clients, v2)  # the catalog vs what the cloud publishes: deploy refuses errors
    plan.warnings += [f.to_issue() for f in findings + [overall]]
    unbumped = {f"component:{gc.name}": unbumped_message(gc) for gc in unbumped_versions(v2, ctx.state)}
    if unbumped:  # the plan's lines are what the CLI prints: the refusal deploy will give shows there
        plan.changes = [replace(c, reason=unbumped[c.key] + "; deploy refuses it") if c.key in unbumped else c
                        for c in plan.changes]
    return plan


def deploy_group(group: Group, *, root: Path, clients: Clients, state_dir: Path | str, target: str,
                 certs_dir: Optional[Path] = None, certificate_issuer: Optional[CertificateIssuer] = None,
                 root_ca_pem: Optional[bytes] = None, progress: Optional[Progress] = None,
                 wait: bool = True, timeout: float = 300.0, poller: Optional[Poller] = None,
                 service_role: bool = True, redeploy: bool = False,
                 packages: Optional[Mapping[str, packaging.Package]] = None) -> DeployResult:
    """Create or update everything the group's V2 plan needs, then deploy it to the core devices'
    thing group and (``wait``) wait for the core device's result. Raises DeployError (step + object)."""
    progress = progress or Progress()
    root = Path(root)
    packages = packages if packages is not None else build_packages(group, root)
    ctx = _context(group.name, clients, state_dir, target, certs_dir, issuer=certificate_issuer,
                   packages=packages, progress=progress)
    return under_state_lock(
        ctx, lambda: _deploy_locked(ctx, group, root, wait, timeout, poller, service_role, redeploy, root_ca_pem))


def _deploy_locked(ctx: Ctx, group: Group, root: Path, wait: bool, timeout: float, poller: Optional[Poller],
                   service_role: bool, redeploy: bool, root_ca_pem: Optional[bytes]) -> DeployResult:
    clients, progress, target = ctx.clients, ctx.progress, ctx.target
    ctx.state.reload()
    ctx.state.meta.update(region=clients.region, endpoint_url=clients.endpoint_url, platform=PLATFORM)
    v2, desired = _desired(ctx, group, root, service_role)
    unbumped = unbumped_versions(v2, ctx.state)
    if unbumped:  # before any change: the artifacts of the deployed version must not be overwritten
        raise DeployError("component", ", ".join(f"{gc.name} {gc.version}" for gc in unbumped),
                          "; ".join(unbumped_message(gc) for gc in unbumped), BUMP_FIX)
    findings, _ = check_plan(ctx.clients, v2)  # before any change: the device must get the catalog's set
    if errors(findings):
        raise DeployError("catalog", *refusal(findings))
    for f in findings:
        progress.note(str(f))
    missing, failed = _verify(ctx)
    plan = diff(group.name, target, desired, ctx.state.objects, missing, failed,
                target_warnings(group, target), replaced_on_change=V2_REPLACED)
    for w in plan.warnings:
        progress.note(f"{w.path}: {w.message}")
    if ctx.certs_dir is not None:
        write_root_ca(ctx.certs_dir, root_ca_pem if root_ca_pem is not None else
                      (None if ctx.issuer is not None else amazon_root_ca()))
    actions = {c.key: c.action for c in plan.changes}
    # phase 1: everything up to the Lambda functions and cloud resources
    for key, d in desired.items():
        if d.kind in ("component", "deployment"):
            continue
        apply_one(ctx, key, d, missing, actions.get(key))
    report_adoptions(ctx)
    # phase 2: the component versions and the deployment, with the Lambda versions just published
    v2, desired = _desired(ctx, group, root, service_role)
    dkey = f"deployment:{group.name}"
    for key, d in desired.items():
        if d.kind == "component":
            apply_one(ctx, key, d, missing)
    drec = ctx.state.get(dkey)
    if redeploy or failed or dkey in missing or drec is None \
            or drec.get("applied") != spec_hash(resolve(desired[dkey].spec, ctx.state)):
        if drec is not None:
            ctx.state.update(dkey, applied=None)
        apply_one(ctx, dkey, desired[dkey], [dkey] if (redeploy or failed) else missing,
                  CHANGE if drec is not None else ADD)
    obsolete = [k for k in ctx.state if k not in desired]
    if obsolete:
        remove_objects(ctx, obsolete)
    drec = ctx.state.get(dkey) or {}
    status = drec.get("status", "")
    if wait and drec.get("id"):
        status = _wait_device(ctx, dkey, drec, timeout, poller or poll_device)
    return DeployResult(group.name, drec.get("id"), status, plan.lines(), ctx.state.path,
                        v2.component_versions(), [str(f) for f in v2.findings])


# ---- the core device's result --------------------------------------------------------------------


def device_status(clients: Clients, core: str, deployment_id: str) -> Tuple[str, str]:
    """``(coreDeviceExecutionStatus, reason)`` of ``deployment_id`` on ``core``; ``("", "")`` if none yet."""
    try:
        pages = clients.greengrassv2.get_paginator("list_effective_deployments").paginate(
            coreDeviceThingName=core)
        for page in pages:
            for e in page.get("effectiveDeployments", []):
                if e.get("deploymentId") == deployment_id:
                    return e.get("coreDeviceExecutionStatus", ""), e.get("reason", "") or ""
    except ClientError as err:
        if is_not_found(err):
            return "", ""
        raise
    return "", ""


def poll_device(clients: Clients, core: str, deployment_id: str, timeout: float) -> Tuple[str, str]:
    """Poll the core device's execution status until final or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        status, reason = device_status(clients, core, deployment_id)
        if status in DEVICE_FINAL or time.monotonic() >= deadline:
            return status, reason
        time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))


def _wait_device(ctx: Ctx, key: str, rec: Mapping[str, Any], timeout: float, poller: Poller) -> str:
    core, dep = rec.get("core", ""), rec["id"]
    with ctx.progress.waiting(f"waiting for core device {core} to apply deployment {dep} (up to {timeout:.0f} s)"):
        try:
            status, reason = poller(ctx.clients, core, dep, timeout)
        except (ClientError, BotoCoreError) as err:
            raise DeployError("deployment", ctx.group_name, error_cause(err), error_fix(err)) from None
    ctx.state.update(key, status=status or "QUEUED")
    if status in DEVICE_DONE:
        return status
    if status in DEVICE_FINAL:
        raise DeployError("deployment", ctx.group_name, f"core device {core}: deployment {dep} {status}: {reason}",
                          "fix the cause on the core (its greengrass.log) and run deploy again")
    raise DeployError("deployment", ctx.group_name,
                      f"core device {core} has not finished deployment {dep} after {timeout:.0f} s "
                      f"({status or 'no report from the device yet'})",
                      "check the core device runs the nucleus (deploy.py status --platform v2), raise --timeout, "
                      "or use --no-wait")


# ---- status / destroy --------------------------------------------------------------------------


def group_status(group_name: str, *, clients: Clients, state_dir: Path | str, target: str) -> Dict[str, Any]:
    """What the V2 state records, with the live deployment, core device and installed components."""
    state = State.load(state_dir, state_target(target, PLATFORM), group_name)
    out: Dict[str, Any] = {"group": group_name, "target": target, "platform": PLATFORM,
                           "state_file": str(state.path), "deployed": bool(len(state)), "objects": len(state),
                           "region": state.meta.get("region")}
    dep = state.get(f"deployment:{group_name}")
    out["deployment_id"] = dep and dep.get("id")
    out["components"] = {}
    if dep:
        gg = clients.greengrassv2
        core = dep.get("core", "")
        out["core_device"] = core
        try:
            found = _get_deployment(clients, dep["id"]) or {}
            out["status"] = found.get("deploymentStatus", "NotFound")
            out["device_status"], out["reason"] = device_status(clients, core, dep["id"])
            latest = _latest_for_target(clients, dep.get("target_arn"))
            if latest is not None:  # a deployment to the same thing group made after ours (another tool)
                status, reason = device_status(clients, core, latest["deploymentId"])
                out["latest_deployment"] = {"id": latest["deploymentId"], "ours": latest["deploymentId"] == dep["id"],
                                            "status": latest.get("deploymentStatus"), "device_status": status,
                                            "reason": reason}
            try:
                cd = gg.get_core_device(coreDeviceThingName=core)
                out["core_device_status"] = cd.get("status")
            except ClientError as err:
                if not is_not_found(err):
                    raise
                out["core_device_status"] = "not reported yet"
            try:
                pages = gg.get_paginator("list_installed_components").paginate(
                    coreDeviceThingName=core, topologyFilter="ALL")
                for page in pages:
                    for c in page.get("installedComponents", []):
                        out["components"][c["componentName"]] = {
                            "version": c.get("componentVersion"), "state": c.get("lifecycleState"),
                            "details": c.get("lifecycleStateDetails", ""), "root": c.get("isRoot")}
            except ClientError as err:
                if not is_not_found(err):
                    raise
        except (ClientError, BotoCoreError) as err:
            raise DeployError("status", group_name, error_cause(err), error_fix(err)) from None
    else:
        out["status"] = "NotDeployed"
    out["kinds"] = {}
    for key in state:
        kind = key.split(":", 1)[0]
        out["kinds"][kind] = out["kinds"].get(kind, 0) + 1
    return out


def _latest_for_target(clients: Clients, target_arn: Optional[str]) -> Optional[Dict[str, Any]]:
    if not target_arn:
        return None
    found = clients.greengrassv2.list_deployments(targetArn=target_arn, historyFilter="LATEST_ONLY")
    deployments = found.get("deployments", [])
    return deployments[0] if deployments else None


def destroy_group(group_name: str, *, clients: Clients, state_dir: Path | str, target: str,
                  certs_dir: Optional[Path] = None, progress: Optional[Progress] = None) -> List[str]:
    """Delete exactly what the V2 state lists (deployment cancelled and deleted, components, client-device
    associations, core device, thing group, things, certificates, role alias, roles, functions, cloud
    resources), adopted objects left as they are; NotFound is success; safe to re-run."""
    return destroy_all(_context(group_name, clients, state_dir, target, certs_dir, progress=progress or Progress()))


__all__ = ["DeployResult", "deploy_group", "destroy_group", "group_status", "plan_group", "desired_objects",
           "device_status", "poll_device", "artifact_bucket_name", "KINDS", "error_code", "unbumped_versions",
           "generic_content_hash"]
