"""Greengrass V1: apply a group with the V1 API (plan, deploy, bulk deploy, status, destroy).

On AWS, Greengrass V1 was discontinued on 2026-10-07 (``deploy.py`` refuses ``--target aws
--platform v1``); the V1 path serves the embedded local cloud and ``deploy.py run``.

Public surface::

    plan = plan_group(group, root=..., clients=..., state_dir=..., target="local"|"aws")
    result = deploy_group(group, root=..., clients=..., state_dir=..., target=...,
                          certs_dir=..., certificate_issuer=None, root_ca_pem=None,
                          progress=None, wait=True, timeout=300, poller=None,
                          service_role=True, redeploy=False, deploy=True)
    results = bulk_deploy([result, ...], clients=..., state_dir=..., target=...)  # deploy=False results
    status = group_status(group_name, clients=..., state_dir=..., target=...)
    removed = destroy_group(group_name, clients=..., state_dir=..., target=..., certs_dir=...)
    info = deploy_for_run(group, root=..., endpoint_url=..., region=..., state_dir=...,
                          certificate_issuer=..., root_ca_pem=...)       # localcore/run.py

The steps shared with V2 (things, certificates, policies, Lambda, cloud resources) and the apply
loop live in ``group/steps.py``; this module adds the V1 kinds (service role, connectivity,
definitions, group, group version, group role, deployment).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from .. import package as packaging
from ..clients import Clients, Progress, error_cause, error_fix, is_not_found
from ..errors import DeployError
from ..model import Group
from ..plan import ADD, CHANGE, DESTROY_ORDER, Desired, Plan, diff, ownership, spec_hash, target_warnings
from ..state import State, recorded_groups, state_target
from ..steps import (SHARED, CertificateIssuer, Ctx, access_policy, apply_one, build_packages, connector_files,
                     context, delete_role, ensure_role, exists_quietly, ignore_not_found, missing_objects,
                     destroy_all, remove_objects, resolve, amazon_root_ca, under_state_lock, write_root_ca)
from .desired import desired_objects

log = logging.getLogger(__name__)

Poller = Callable[[Clients, str, str, float], Tuple[str, str]]
FINAL_STATUSES = ("Success", "Failure")
_POLL_INTERVAL_S = 1.0
PLATFORM = "v1"


# ---- V1 kinds ----------------------------------------------------------------------------------


def _exists_service_role(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    arn = ctx.clients.greengrass.get_service_role_for_account().get("RoleArn")
    return bool(arn) and (not rec.get("owned") or arn == rec.get("arn"))


def _exists_definition(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    k = rec["kind"][: -len("-definition")].capitalize()
    getattr(ctx.clients.greengrass, f"get_{k.lower()}_definition")(**{f"{k}DefinitionId": rec["id"]})
    return True


def _deployment_status(clients: Clients, rec: Mapping[str, Any]) -> str:
    try:
        return clients.greengrass.get_deployment_status(
            GroupId=rec["group_id"], DeploymentId=rec["id"]).get("DeploymentStatus", "")
    except ClientError as err:
        if is_not_found(err):
            return ""
        raise


def _exists_deployment(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    return bool(_deployment_status(ctx.clients, rec))


def _exists_group_version(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    ctx.clients.greengrass.get_group_version(GroupId=rec["group_id"], GroupVersionId=rec["id"])
    return True


def _exists_connectivity(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    ctx.clients.greengrass.get_connectivity_info(ThingName=rec["name"])
    return True


def _exists_group(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    ctx.clients.greengrass.get_group(GroupId=rec["id"])
    return True


def _exists_group_role(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    ctx.clients.iam.get_role(RoleName=rec["name"])
    return True


def _delete_deployment(ctx: Ctx, rec: Dict[str, Any]) -> None:
    try:
        ctx.clients.greengrass.reset_deployments(GroupId=rec["group_id"], Force=True)
    except ClientError as err:
        # Reset is the courtesy before delete_group; where the endpoint lacks it (or the group is
        # gone) delete_group still decides.
        if not is_not_found(err):
            raise
        ctx.progress.note(f"reset_deployments: {error_cause(err)}; continuing with delete_group")


def _delete_group_role(ctx: Ctx, rec: Dict[str, Any]) -> None:
    if rec.get("group_id"):
        ignore_not_found(ctx.clients.greengrass.disassociate_role_from_group, GroupId=rec["group_id"])
    delete_role(ctx.clients, rec["name"])


def _delete_definition(ctx: Ctx, rec: Dict[str, Any]) -> None:
    k = rec["kind"][: -len("-definition")]
    ignore_not_found(getattr(ctx.clients.greengrass, f"delete_{k}_definition"),
                     **{f"{k.capitalize()}DefinitionId": rec["id"]})


def delete_service_role(ctx: Ctx, rec: Dict[str, Any], client: Any = None) -> None:
    """Disassociate and delete the account's service role, only when this deploy made it."""
    gg = client or ctx.clients.greengrass
    if not rec.get("owned"):
        return
    current = None
    try:
        found = gg.get_service_role_for_account()
        current = found.get("RoleArn") or found.get("roleArn")
    except ClientError as err:
        if not is_not_found(err):
            raise
    if current == rec.get("arn"):
        gg.disassociate_service_role_from_account()
    delete_role(ctx.clients, rec["name"])


def _apply_service_role(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c = ctx.clients
    current = None
    try:
        current = c.greengrass.get_service_role_for_account().get("RoleArn")
    except ClientError as err:
        if not is_not_found(err):
            raise
    if current and (rec is None or current != rec.get("arn")):
        ctx.progress.note(f"the account already has a Greengrass service role ({current}); kept as it is")
        ctx.state.put(key, {"hash": d.hash, "applied": None, "arn": current, "ref": current, "owned": False})
        return
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "iot:*", "greengrass:*", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
        "lambda:GetAlias", "s3:GetObject", "secretsmanager:GetSecretValue"], "Resource": "*"}]}
    rec = ensure_role(ctx, key, d, spec, rec, policy)
    c.greengrass.associate_service_role_to_account(RoleArn=rec["arn"])


def _apply_connectivity(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    ctx.clients.greengrass.update_connectivity_info(ThingName=d.name,
                                                    ConnectivityInfo=spec["ConnectivityInfo"])
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": d.name, "ref": d.name})


def _apply_definition(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    g = ctx.clients.greengrass
    k = d.kind[: -len("-definition")]
    cap = k.capitalize()
    body = {kk: v for kk, v in spec.items() if kk != "name"}
    if rec is None:
        resp = getattr(g, f"create_{k}_definition")(Name=spec["name"], InitialVersion=body)
        ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp["Id"], "arn": resp["Arn"],
                            "ref": resp["LatestVersionArn"], "version": resp["LatestVersion"]})
        return
    ver = getattr(g, f"create_{k}_definition_version")(**{f"{cap}DefinitionId": rec["id"]}, **body)
    ctx.state.update(key, ref=ver["Arn"], version=ver["Version"])


def _apply_group(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    if rec is not None:
        return  # the name is the whole spec; nothing to update
    resp = ctx.clients.greengrass.create_group(Name=spec["name"])
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp["Id"], "arn": resp["Arn"],
                        "ref": resp["Arn"]})


def _apply_group_version(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    resp = ctx.clients.greengrass.create_group_version(**spec)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp["Version"], "arn": resp["Arn"],
                        "ref": resp["Version"], "group_id": spec["GroupId"]})


def _apply_group_role(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    rec = ensure_role(ctx, key, d, spec, rec, access_policy(ctx.clients, spec["access"]))
    ctx.clients.greengrass.associate_role_to_group(GroupId=spec["group"], RoleArn=rec["arn"])
    ctx.state.update(key, group_id=spec["group"])


_DEFINITIONS = ("core", "device", "function", "resource", "logger", "connector", "subscription")

KINDS = SHARED.extend(
    apply={"service-role": _apply_service_role, "connectivity": _apply_connectivity, "group": _apply_group,
           "group-version": _apply_group_version, "group-role": _apply_group_role,
           **{f"{k}-definition": _apply_definition for k in _DEFINITIONS}},
    exists={"service-role": _exists_service_role, "connectivity": _exists_connectivity, "group": _exists_group,
            "group-version": _exists_group_version, "group-role": _exists_group_role,
            "deployment": _exists_deployment, **{f"{k}-definition": _exists_definition for k in _DEFINITIONS}},
    delete={"deployment": _delete_deployment, "group-role": _delete_group_role,
            "group": lambda ctx, r: ignore_not_found(ctx.clients.greengrass.delete_group, GroupId=r["id"]),
            "service-role": delete_service_role,
            **{f"{k}-definition": _delete_definition for k in _DEFINITIONS}},
    destroy_order=DESTROY_ORDER)


def verify(ctx: Ctx) -> Tuple[List[str], bool]:
    """Read-only: which recorded objects are gone, and whether the last deployment failed."""
    missing = missing_objects(ctx)
    failed = False
    for key in ctx.state:
        rec = ctx.state.get(key)
        if rec is not None and rec["kind"] == "deployment" and key not in missing:
            failed = failed or _deployment_status(ctx.clients, rec) == "Failure"
    return missing, failed


# ---- deployment --------------------------------------------------------------------------------


def poll_deployment(clients: Clients, group_id: str, deployment_id: str, timeout: float) -> Tuple[str, str]:
    """Poll get_deployment_status until Success/Failure or ``timeout``; returns (status, error message)."""
    deadline = time.monotonic() + timeout
    status, message = "", ""
    while True:
        resp = clients.greengrass.get_deployment_status(GroupId=group_id, DeploymentId=deployment_id)
        status, message = resp.get("DeploymentStatus", ""), resp.get("ErrorMessage", "") or ""
        if status in FINAL_STATUSES or time.monotonic() >= deadline:
            return status, message
        time.sleep(min(_POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))


def _record_deployment(state: State, pending: "PendingDeployment", deployment_id: str,
                       arn: Optional[str], status: str) -> None:
    spec = pending.spec
    state.put(pending.key, {"hash": pending.hash, "applied": spec_hash(spec), "id": deployment_id, "arn": arn,
                            "ref": deployment_id, "group_id": spec["group"],
                            "group_version": spec["group_version"], "status": status})


def _deploy(ctx: Ctx, pending: "PendingDeployment", wait: bool, timeout: float,
            poller: Poller) -> Tuple[str, str]:
    spec = pending.spec
    resp = ctx.clients.greengrass.create_deployment(GroupId=spec["group"], DeploymentType="NewDeployment",
                                                    GroupVersionId=spec["group_version"])
    _record_deployment(ctx.state, pending, resp["DeploymentId"], resp.get("DeploymentArn"), "InProgress")
    if not wait:
        return resp["DeploymentId"], "InProgress"
    return resp["DeploymentId"], _wait_deployment(ctx, pending.key, resp["DeploymentId"], timeout, poller)


def _wait_deployment(ctx: Ctx, key: str, deployment_id: str, timeout: float, poller: Poller) -> str:
    group_id = ctx.state.objects[key]["group_id"]
    with ctx.progress.waiting(f"waiting for deployment {deployment_id} of {ctx.group_name} "
                              f"(up to {timeout:.0f} s)"):
        status, message = poller(ctx.clients, group_id, deployment_id, timeout)
    ctx.state.update(key, status=status)
    if status == "Failure":
        raise DeployError("deployment", ctx.group_name, f"deployment {deployment_id} failed: {message}",
                          "fix the cause on the core and run deploy again")
    if status != "Success":
        raise DeployError("deployment", ctx.group_name,
                          f"deployment {deployment_id} still '{status}' after {timeout:.0f} s",
                          "check the core is running (deploy.py status), raise --timeout, or use --no-wait")
    return status


def _context(group_name: str, clients: Clients, state_dir: Path | str, target: str,
             certs_dir: Optional[Path], **kw: Any) -> Ctx:
    """A V1 context; it adopts (never deletes) what the same group's V2 deployment made."""
    v2 = State.load(state_dir, state_target(target, "v2"), group_name)
    return context(group_name, clients, state_dir, target, certs_dir, kinds=KINDS,
                   adopt=lambda key: key in v2.objects, other=v2, other_platform="v2", **kw)


# ---- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingDeployment:
    """A deployment deploy_group(deploy=False) left to the caller (bulk deployment)."""

    key: str
    hash: str
    spec: Dict[str, Any]  # resolved: group (id), group_version (id), group_role, code


@dataclass
class DeployResult:
    group: str
    group_id: Optional[str]
    group_version_id: Optional[str]
    deployment_id: Optional[str]
    status: str
    changes: List[str]
    state_file: Path
    pending: Optional[PendingDeployment] = None


def _plan(ctx: Ctx, group: Group, desired: Mapping[str, Desired]) -> Tuple[Plan, List[str], bool]:
    missing, failed = verify(ctx)
    plan = diff(group.name, ctx.target, desired, ctx.state.objects, missing, failed,
                target_warnings(group, ctx.target))
    return plan, missing, failed


def plan_group(group: Group, *, root: Path, clients: Clients, state_dir: Path | str, target: str,
               certs_dir: Optional[Path] = None, service_role: bool = True,
               packages: Optional[Mapping[str, packaging.Package]] = None) -> Plan:
    """Desired (group file) vs recorded state, checked with read-only calls. Makes no change."""
    packages = packages if packages is not None else build_packages(group, Path(root))
    desired = desired_objects(group, target, {n: p.code_sha256 for n, p in packages.items()},
                              service_role=service_role, files=connector_files(group, Path(root)))
    ctx = _context(group.name, clients, state_dir, target, certs_dir, packages=packages)
    plan, _, _ = _plan(ctx, group, desired)
    plan.ownership = ownership(PLATFORM, "v2", desired, ctx.state.objects, ctx.other.objects if ctx.other else {})
    return plan


def deploy_group(group: Group, *, root: Path, clients: Clients, state_dir: Path | str, target: str,
                 certs_dir: Optional[Path] = None, certificate_issuer: Optional[CertificateIssuer] = None,
                 root_ca_pem: Optional[bytes] = None, progress: Optional[Progress] = None,
                 wait: bool = True, timeout: float = 300.0, poller: Optional[Poller] = None,
                 service_role: bool = True, redeploy: bool = False, deploy: bool = True,
                 packages: Optional[Mapping[str, packaging.Package]] = None) -> DeployResult:
    """Create or update everything ``group`` needs, in API order, then deploy it (see module doc).

    ``certificate_issuer(thing) -> (cert_pem, key_pem)``: register certificates from that CA
    (``register_certificate_without_ca``); without it, ``create_keys_and_certificate``.
    ``root_ca_pem`` is written to ``certs_dir/root-ca.pem`` (default with no issuer: Amazon Root CA 1).
    ``poller(clients, group_id, deployment_id, timeout) -> (status, message)`` replaces the default
    polling of get_deployment_status. ``redeploy=True`` makes a new deployment of the current group
    version even when nothing changed. ``deploy=False`` stops before the deployment and returns
    it as ``result.pending`` (when one is due) for :func:`bulk_deploy`.
    Raises DeployError (step + object) on any failure.
    """
    progress = progress or Progress()
    packages = packages if packages is not None else build_packages(group, Path(root))
    desired = desired_objects(group, target, {n: p.code_sha256 for n, p in packages.items()},
                              service_role=service_role, files=connector_files(group, Path(root)))
    ctx = _context(group.name, clients, state_dir, target, certs_dir, issuer=certificate_issuer,
                   packages=packages, progress=progress)
    return under_state_lock(
        ctx, lambda: _deploy_locked(ctx, group, desired, root_ca_pem, wait, timeout, poller, redeploy, deploy))


def _deploy_locked(ctx: Ctx, group: Group, desired: Mapping[str, Desired], root_ca_pem: Optional[bytes],
                   wait: bool, timeout: float, poller: Optional[Poller], redeploy: bool,
                   deploy: bool) -> DeployResult:
    clients, progress = ctx.clients, ctx.progress
    ctx.state.meta.update(region=clients.region, endpoint_url=clients.endpoint_url)
    ctx.state.reload()
    plan, missing, failed = _plan(ctx, group, desired)
    for w in plan.warnings:
        progress.note(f"{w.path}: {w.message}")
    actions = {c.key: c.action for c in plan.changes}
    if ctx.certs_dir is not None:
        write_root_ca(ctx.certs_dir, root_ca_pem if root_ca_pem is not None else
                       (None if ctx.issuer is not None else amazon_root_ca()))
    deployment_id: Optional[str] = None
    status = ""
    pending: Optional[PendingDeployment] = None
    for key, d in desired.items():
        rec = ctx.state.get(key)
        gone = key in missing
        if d.kind == "deployment":
            spec = resolve(d.spec, ctx.state)
            need = rec is None or gone or rec.get("applied") != spec_hash(spec) or failed or redeploy
            if not need:
                if rec.get("hash") != d.hash:
                    ctx.state.update(key, hash=d.hash)
                deployment_id, status = rec["id"], _safe_status(clients, rec)
                continue
            pending = PendingDeployment(key, d.hash, spec)
            if not deploy:
                continue
            progress.step(actions.get(key, CHANGE), d.kind, d.name, "" if key in actions else "redeploy")
            try:
                deployment_id, status = _deploy(ctx, pending, wait, timeout, poller or poll_deployment)
                pending = None
            except (ClientError, BotoCoreError) as err:
                raise DeployError("deployment", group.name, error_cause(err), error_fix(err)) from None
            continue
        apply_one(ctx, key, d, missing)
    obsolete = [k for k in ctx.state if k not in desired]
    if obsolete:
        remove_objects(ctx, obsolete)
    grp, ver = ctx.state.get(f"group:{group.name}"), ctx.state.get(f"group-version:{group.name}")
    return DeployResult(group.name, grp and grp.get("id"), ver and ver.get("id"), deployment_id, status,
                        plan.lines(), ctx.state.path, pending)


BULK_STATE = "_bulk"  # state of the fleet-level objects of bulk deployments (input bucket, role)


BULK_FINAL = ("Completed", "Failed", "Stopped")


def _bulk_infra(ctx: Ctx) -> Tuple[str, str]:
    """The input-file bucket and the execution role of bulk deployments: made once per account,
    region and target, recorded in the ``_bulk`` state."""
    c = ctx.clients
    bucket = f"gg-bulk-{c.account_id()}-{c.region}"[:63]
    role = "gg-bulk-deployment-role"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["greengrass:CreateDeployment"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:{c.partition}:s3:::{bucket}/*"}]}
    for d in (Desired("bucket", bucket, {"name": bucket}),
              Desired("role", role, {"role_name": role, "trust": "greengrass.amazonaws.com",
                                     "policy": policy})):
        rec = ctx.state.get(d.key)
        gone = rec is not None and not exists_quietly(ctx, rec)
        apply_one(ctx, d.key, d, [d.key] if gone else [])
    return bucket, ctx.state.objects[f"role:{role}"]["arn"]


def bulk_deploy(results: Sequence[DeployResult], *, clients: Clients, state_dir: Path | str, target: str,
                progress: Optional[Progress] = None, wait: bool = True, timeout: float = 300.0,
                poller: Optional[Poller] = None) -> List[DeployResult]:
    """Deploy the ``pending`` deployments of ``results`` (from ``deploy_group(deploy=False)``) with
    one ``start_bulk_deployment``: the input file goes to a bucket of ours, the bulk deployment
    is polled until it has made every deployment, and each group's state records its own."""
    progress = progress or Progress()
    todo = [r for r in results if r.pending is not None]
    if not todo:
        return list(results)
    ctx = _context(BULK_STATE, clients, state_dir, target, None, progress=progress)
    names = ", ".join(r.group for r in todo)
    with ctx.state.lock():
        ctx.state.reload()
        bucket, role_arn = _bulk_infra(ctx)
        body = "".join(json.dumps({"GroupId": r.pending.spec["group"],
                                   "GroupVersionId": r.pending.spec["group_version"],
                                   "DeploymentType": "NewDeployment"}) + "\n" for r in todo if r.pending)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        key = f"bulk/{stamp}-{hashlib.sha256(body.encode()).hexdigest()[:8]}.json"
        progress.step(ADD, "bulk-deployment", names)
        try:
            clients.s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
            uri = f"https://s3.{clients.region}.amazonaws.com/{bucket}/{key}"
            resp = clients.greengrass.start_bulk_deployment(ExecutionRoleArn=role_arn, InputFileUri=uri)
            bulk_id = resp["BulkDeploymentId"]
            deadline = time.monotonic() + timeout
            with progress.waiting(f"bulk deployment {bulk_id}: creating {len(todo)} deployment(s)"):
                while True:
                    st = clients.greengrass.get_bulk_deployment_status(BulkDeploymentId=bulk_id)
                    if st.get("BulkDeploymentStatus") in BULK_FINAL or time.monotonic() >= deadline:
                        break
                    time.sleep(_POLL_INTERVAL_S)
            reports: List[Dict[str, Any]] = []
            for page in clients.greengrass.get_paginator("list_bulk_deployment_detailed_reports").paginate(
                    BulkDeploymentId=bulk_id):
                reports += page.get("Deployments", [])
        except (ClientError, BotoCoreError) as err:
            raise DeployError("bulk-deployment", names, error_cause(err), error_fix(err)) from None
    status = st.get("BulkDeploymentStatus")
    if status not in BULK_FINAL:
        raise DeployError("bulk-deployment", names, f"bulk deployment {bulk_id} still '{status}' after "
                          f"{timeout:.0f} s", "raise --timeout, or check it with get_bulk_deployment_status")
    by_group = {str(rep.get("GroupArn", "")).rsplit("/", 1)[-1]: rep for rep in reports}
    out, failures = [], []
    for r in results:
        if r.pending is None:
            out.append(r)
            continue
        rep = by_group.get(r.pending.spec["group"])
        if rep is None or not rep.get("DeploymentId"):
            why = (rep or {}).get("ErrorMessage") or st.get("ErrorMessage") or f"bulk deployment {status}"
            failures.append(f"{r.group}: {why}")
            out.append(r)
            continue
        gctx = _context(r.group, clients, state_dir, target, None, progress=progress)
        with gctx.state.lock():
            gctx.state.reload()
            _record_deployment(gctx.state, r.pending, rep["DeploymentId"], rep.get("DeploymentArn"),
                               rep.get("DeploymentStatus") or "InProgress")
            dstatus = rep.get("DeploymentStatus") or "InProgress"
            if wait:
                dstatus = _wait_deployment(gctx, r.pending.key, rep["DeploymentId"], timeout,
                                           poller or poll_deployment)
        out.append(dataclasses.replace(r, deployment_id=rep["DeploymentId"], status=dstatus, pending=None))
    if failures:
        raise DeployError("bulk-deployment", names, "; ".join(failures),
                          "fix the cause and deploy again: only the groups without a deployment are retried")
    return out


def destroy_bulk_infra_if_unused(*, clients: Clients, state_dir: Path | str, target: str,
                                 progress: Optional[Progress] = None) -> List[str]:
    """Remove the bulk deployment bucket and role once no group of ``target`` has a state any more."""
    if recorded_groups(state_dir, target) or not State.load(state_dir, target, BULK_STATE).exists:
        return []
    return destroy_group(BULK_STATE, clients=clients, state_dir=state_dir, target=target, progress=progress)


def deploy_for_run(group: Group, *, root: Path, endpoint_url: str, region: str, state_dir: Path | str,
                   certificate_issuer: Callable[[str], Tuple[Any, Any]], root_ca_pem: Any,
                   file: Optional[str] = None, certs_dir: Optional[Path] = None,
                   progress: Optional[Progress] = None, credentials: Tuple[str, str] = ("testing", "testing"),
                   redeploy: bool = False) -> Dict[str, Any]:
    """``deploy.py run``'s call: deploy to the embedded local cloud without waiting (the local core
    acknowledges the deployment). Certificates go to ``certs_dir`` (default ``root/certs``).
    With nothing changed no deployment is made (``deployment_id`` is the last one) unless
    ``redeploy=True``.

    Returns ``{"group_id", "group_version", "deployment_id", "status", "changes" (count),
    "change_lines", "state_file"}``. Raises DeployError like deploy_group.
    """
    def issue(thing: str) -> Tuple[bytes, bytes]:
        cert, key = certificate_issuer(thing)
        return (cert.encode() if isinstance(cert, str) else cert,
                key.encode() if isinstance(key, str) else key)

    ca = root_ca_pem.encode() if isinstance(root_ca_pem, str) else root_ca_pem
    clients = Clients.create(region, endpoint_url, credentials)
    result = deploy_group(group, root=Path(root), clients=clients, state_dir=state_dir, target="local",
                          certs_dir=Path(certs_dir) if certs_dir else Path(root) / "certs",
                          certificate_issuer=issue, root_ca_pem=ca, progress=progress, wait=False,
                          redeploy=redeploy)
    return {"group_id": result.group_id, "group_version": result.group_version_id,
            "deployment_id": result.deployment_id, "status": result.status, "changes": len(result.changes),
            "change_lines": result.changes, "state_file": str(result.state_file)}


def _safe_status(clients: Clients, rec: Mapping[str, Any]) -> str:
    try:
        return _deployment_status(clients, rec) or rec.get("status", "")
    except (ClientError, BotoCoreError):
        return rec.get("status", "")


def group_status(group_name: str, *, clients: Clients, state_dir: Path | str, target: str) -> Dict[str, Any]:
    """What the state says was deployed for the group, with the live deployment status."""
    state = State.load(state_dir, target, group_name)
    out: Dict[str, Any] = {"group": group_name, "target": target, "state_file": str(state.path),
                           "deployed": bool(len(state)), "objects": len(state)}
    grp = state.get(f"group:{group_name}")
    ver = state.get(f"group-version:{group_name}")
    dep = state.get(f"deployment:{group_name}")
    out["group_id"] = grp and grp.get("id")
    out["group_version_id"] = ver and ver.get("id")
    out["deployment_id"] = dep and dep.get("id")
    if dep:
        try:
            resp = clients.greengrass.get_deployment_status(GroupId=dep["group_id"], DeploymentId=dep["id"])
            out["status"] = resp.get("DeploymentStatus", "")
            if resp.get("ErrorMessage"):
                out["error"] = resp["ErrorMessage"]
        except (ClientError, BotoCoreError) as err:
            raise DeployError("status", group_name, error_cause(err), error_fix(err)) from None
    else:
        out["status"] = "NotDeployed"
    out["region"] = state.meta.get("region")
    out["kinds"] = {}
    for key in state:
        kind = key.split(":", 1)[0]
        out["kinds"][kind] = out["kinds"].get(kind, 0) + 1
    return out


def destroy_group(group_name: str, *, clients: Clients, state_dir: Path | str, target: str,
                  certs_dir: Optional[Path] = None, progress: Optional[Progress] = None) -> List[str]:
    """Delete exactly what the state lists, in reverse dependency order; NotFound is success."""
    return destroy_all(_context(group_name, clients, state_dir, target, certs_dir, progress=progress or Progress()))
