"""Greengrass V2: the V2 kinds of objects deploy makes, each with its apply / exists / delete step (the kinds
both platforms share are ``group/steps.py``'s): the service role, the core devices' thing group, the role
alias, the core's connectivity, the client devices associated with the core device, the component versions
(waiting until the service can deploy them) and the deployment (its client token: one per request, kept until
the answer is recorded). ``apply.py`` orders them, plans and deploys.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional

from botocore.exceptions import ClientError

from ..clients import Clients, is_not_found
from ..errors import DeployError, Issue
from ..model import Group
from ..plan import Desired, aws_name, spec_hash
from ..state import State
from ..steps import SHARED, Ctx, adopted, delete_role, ensure_role, ignore_not_found
from .model import GenericComponent, V2Plan, content_hash

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
_COMPONENT_READY_S = 120.0

DESTROY_ORDER = (
    "deployment", "component", "client-devices", "connectivity", "role-alias", "certificate", "thing-group",
    "thing", "policy", "cloud-function", "function", "role", "table", "bucket-object", "bucket",
    "kinesis-stream", "video-stream", "iotanalytics-channel", "service-role",
)


# ---- names -------------------------------------------------------------------------------------


def artifact_bucket_name(group: Group, account_id: str, region: str) -> str:
    """The artifacts bucket deploy manages (bucket names are global: account and region in it)."""
    name = f"{group.name}-gg-artifacts-{account_id}-{region}".lower().replace("_", "-")
    return aws_name(name, limit=63)


# ---- V2 kinds ----------------------------------------------------------------------------------


def _service_role_arn(ctx: Ctx) -> Optional[str]:
    try:
        found = ctx.clients.greengrassv2.get_service_role_for_account()
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    return found.get("roleArn") or None


def _apply_service_role(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    current = _service_role_arn(ctx)
    if current and (rec is None or current != rec.get("arn")):
        ctx.progress.note(f"the account already has a Greengrass service role ({current}); kept as it is")
        ctx.state.put(key, {"hash": d.hash, "applied": None, "arn": current, "ref": current, "owned": False})
        return
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "iot:DescribeCertificate", "iot:ListThingPrincipals", "iot:DescribeThing",
        "greengrass:*", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "s3:GetObject"],
        "Resource": "*"}]}
    rec = ensure_role(ctx, key, d, spec, rec, policy)
    ctx.clients.greengrassv2.associate_service_role_to_account(roleArn=rec["arn"])


def _exists_service_role(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    arn = _service_role_arn(ctx)
    return bool(arn) and (not rec.get("owned") or arn == rec.get("arn"))


def _delete_service_role(ctx: Ctx, rec: Dict[str, Any]) -> None:
    if not rec.get("owned"):
        return
    if _service_role_arn(ctx) == rec.get("arn"):
        ctx.clients.greengrassv2.disassociate_service_role_from_account()
    delete_role(ctx.clients, rec["name"])


def _apply_thing_group(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    iot, name = ctx.clients.iot, spec["name"]
    if rec is None:
        try:
            found = iot.describe_thing_group(thingGroupName=name)
            adopted(ctx, key, d, "thing-group", name, "thing group", arn=found.get("thingGroupArn"),
                    ref=found.get("thingGroupArn"))
        except ClientError as err:
            if not is_not_found(err):
                raise
            resp = iot.create_thing_group(thingGroupName=name, thingGroupProperties={
                "thingGroupDescription": f"Greengrass V2 core devices of group {ctx.group_name} (deploy.py)"})
            ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": resp["thingGroupArn"],
                                "ref": resp["thingGroupArn"]})
    for thing in spec["things"]:
        iot.add_thing_to_thing_group(thingGroupName=name, thingName=thing)
    ctx.state.update(key, things=list(spec["things"]))


def _delete_thing_group(ctx: Ctx, rec: Dict[str, Any]) -> None:
    ignore_not_found(ctx.clients.iot.delete_thing_group, thingGroupName=rec["name"])


def _apply_role_alias(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    iot, name = ctx.clients.iot, spec["name"]
    if rec is None:
        try:
            iot.describe_role_alias(roleAlias=name)
            adopted(ctx, key, d, "role-alias", name, "IoT role alias")
            rec = ctx.state.get(key)
        except ClientError as err:
            if not is_not_found(err):
                raise
            resp = iot.create_role_alias(roleAlias=name, roleArn=spec["role"], credentialDurationSeconds=3600)
            ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": resp["roleAliasArn"],
                                "ref": resp["roleAliasArn"]})
            return
    if rec is not None and rec.get("owned") is not False:
        iot.update_role_alias(roleAlias=name, roleArn=spec["role"])


def _apply_connectivity(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    ctx.clients.greengrassv2.update_connectivity_info(thingName=d.name, connectivityInfo=spec["connectivityInfo"])
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": d.name, "ref": d.name})


def _exists_connectivity(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    ctx.clients.greengrassv2.get_connectivity_info(thingName=rec["name"])
    return True


def _apply_client_devices(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    gg, core = ctx.clients.greengrassv2, spec["core"]
    wanted = list(spec["things"])
    before = list((rec or {}).get("things", []))
    gone = [t for t in before if t not in wanted]
    if gone:
        _check_entries("disassociate", core, gg.batch_disassociate_client_device_from_core_device(
            coreDeviceThingName=core, entries=[{"thingName": t} for t in gone]))
    for i in range(0, len(wanted), 100):
        _check_entries("associate", core, gg.batch_associate_client_device_with_core_device(
            coreDeviceThingName=core, entries=[{"thingName": t} for t in wanted[i:i + 100]]))
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": core, "core": core, "things": wanted})


def _check_entries(what: str, core: str, resp: Mapping[str, Any]) -> None:
    errors = resp.get("errorEntries") or []
    if errors:  # the call answers 200 even when entries fail
        text = "; ".join(f"{e.get('thingName')}: {e.get('code')} {e.get('message', '')}".strip() for e in errors)
        raise DeployError("client-devices", core, f"{what} client devices: {text}",
                          "check the device things exist, then re-run deploy")


def _exists_client_devices(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    pages = ctx.clients.greengrassv2.get_paginator("list_client_devices_associated_with_core_device").paginate(
        coreDeviceThingName=rec["core"])
    have = {e["thingName"] for page in pages for e in page.get("associatedClientDevices", [])}
    return set(rec.get("things", [])) <= have


def _delete_client_devices(ctx: Ctx, rec: Dict[str, Any]) -> None:
    things = list(rec.get("things", []))
    for i in range(0, len(things), 100):
        try:
            ctx.clients.greengrassv2.batch_disassociate_client_device_from_core_device(
                coreDeviceThingName=rec["core"], entries=[{"thingName": t} for t in things[i:i + 100]])
        except ClientError as err:
            if not is_not_found(err):
                raise


def component_arn(ctx: Ctx, name: str, version: str) -> str:
    return (f"arn:{ctx.clients.partition}:greengrass:{ctx.clients.region}:{ctx.clients.account_id()}:"
            f"components:{name}:versions:{version}")


def _component_state(ctx: Ctx, arn: str) -> Optional[Dict[str, Any]]:
    try:
        return ctx.clients.greengrassv2.describe_component(arn=arn).get("status") or {}
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def _wait_deployable(ctx: Ctx, name: str, arn: str, status: Optional[Dict[str, Any]] = None) -> None:
    """Until the version is DEPLOYABLE. ``status``: its status as the service last answered it
    (CreateComponentVersion and DescribeComponent both carry it), looked at before asking again."""
    deadline = time.monotonic() + _COMPONENT_READY_S
    while True:
        if status is None:
            status = _component_state(ctx, arn)
        state = (status or {}).get("componentState", "")
        if state == "DEPLOYABLE":
            return
        if state == "FAILED":
            raise DeployError("component", name, f"the service refused the component version: "
                              f"{status.get('message') or status.get('errors') or 'FAILED'}",
                              "fix the cause (Lambda version, recipe) and re-run deploy")
        if time.monotonic() > deadline:
            what = state or f"unknown (DescribeComponent {arn}: not found)"
            raise DeployError("component", name, f"still {what} after {_COMPONENT_READY_S:.0f} s",
                              "re-run deploy later; check the endpoint serves region "
                              f"{ctx.clients.region} (--region / AWS_REGION / group.region)")
        time.sleep(POLL_INTERVAL_S)
        status = None


def _apply_component(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    """Create the component version unless it exists (versions are immutable and derived from content), then
    wait until it is deployable — under the ARN the service gave it."""
    name, version = spec["name"], spec["version"]
    arn = component_arn(ctx, name, version)
    versions = list((rec or {}).get("versions", []))
    status = _component_state(ctx, arn)
    if status is None:
        if "lambdaFunction" in spec:
            resp = ctx.clients.greengrassv2.create_component_version(lambdaFunction=spec["lambdaFunction"])
        else:
            recipe = json.dumps(spec["recipe"], sort_keys=True, separators=(",", ":")).encode()
            resp = ctx.clients.greengrassv2.create_component_version(inlineRecipe=recipe)
        made = resp.get("arn") or arn
        if made != arn:  # e.g. an endpoint that serves another region than the one asked for
            raise DeployError("component", name, f"the service made {made}, not {arn}: it serves another "
                              f"region or account than {ctx.clients.region}/{ctx.clients.account_id()}",
                              "deploy to an endpoint of the group's region (--region / AWS_REGION / group.region)")
        status = resp.get("status")
    if version not in versions:
        versions.append(version)
    record = {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": version, "version": version,
              "versions": versions}
    if spec.get("content"):
        record["content"] = spec["content"]
    ctx.state.put(key, record)
    _wait_deployable(ctx, name, arn, status)


def generic_content_hash(gc: GenericComponent) -> str:
    """What a generic component version is made of: its recipe and the bytes of its artifacts (by hash)."""
    return content_hash({"recipe": gc.recipe, "artifacts": {a.name: a.sha256 for a in gc.artifacts}})


def unbumped_versions(plan: V2Plan, state: State) -> List[GenericComponent]:
    """Generic components whose content changed since the recorded deploy while ``ComponentVersion`` did not.

    Versions are immutable on Greengrass: the service keeps the old version (CreateComponentVersion of an
    existing version is a ConflictException) and overwriting its artifacts would change what devices that
    already run it download. ``plan`` shows them as warnings; ``deploy`` stops before any change."""
    out = []
    for gc in plan.generic:
        rec = state.get(f"component:{gc.name}") or {}
        if rec.get("version") == gc.version and rec.get("content") and rec["content"] != generic_content_hash(gc):
            out.append(gc)
    return out


BUMP_FIX = "raise ComponentVersion in the component's recipe (e.g. to the next patch version) and deploy again"


def unbumped_message(gc: GenericComponent) -> str:
    return f"component {gc.name} {gc.version} changed but its version did not: bump ComponentVersion " \
           "(versions are immutable)"


def _unbumped_issues(plan: V2Plan, state: State) -> List[Issue]:
    return [Issue("group.yaml", "components", unbumped_message(gc), BUMP_FIX, "warning")
            for gc in unbumped_versions(plan, state)]


def _exists_component(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    status = _component_state(ctx, rec["arn"])
    return status is not None and status.get("componentState") in ("DEPLOYABLE", "REQUESTED", "INITIATED")


def _delete_component(ctx: Ctx, rec: Dict[str, Any]) -> None:
    for version in rec.get("versions", [rec.get("version")]):
        if version:
            ignore_not_found(ctx.clients.greengrassv2.delete_component,
                             arn=component_arn(ctx, rec["name"], version))


def _client_token(ctx: Ctx, spec: Dict[str, Any]) -> str:
    """CreateDeployment's idempotency token: one per deployment this state asks for, kept in the state until
    the answer is recorded. A re-run after a lost answer (a crash, a dropped connection) repeats the request with
    the same token and gets the same deployment back; any other request — after a destroy, ``--redeploy``, a
    retry of a failed deployment — gets a new token and so a new deployment. (A token derived from the content
    alone would hand back, for 8 hours, a deployment destroy had deleted: AWS keeps clientTokens that long.)"""
    applied = spec_hash(spec)
    pending = ctx.state.meta.get(_PENDING_REQUEST) or {}
    if pending.get("for") == applied and pending.get("token"):
        return str(pending["token"])
    token = uuid.uuid4().hex
    ctx.state.meta[_PENDING_REQUEST] = {"token": token, "for": applied}
    ctx.state.save()  # before the call: its answer may be lost
    return token


_PENDING_REQUEST = "pending_deployment_request"


def _apply_deployment(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    document = dict(spec["document"])
    token = _client_token(ctx, spec)
    resp = ctx.clients.greengrassv2.create_deployment(clientToken=token, **document)
    ctx.state.meta.pop(_PENDING_REQUEST, None)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp["deploymentId"], "ref": resp["deploymentId"],
                        "iot_job_id": resp.get("iotJobId"), "target_arn": document["targetArn"],
                        "core": spec["core"], "status": "QUEUED"})


def _get_deployment(clients: Clients, deployment_id: str) -> Optional[Dict[str, Any]]:
    try:
        return clients.greengrassv2.get_deployment(deploymentId=deployment_id)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def _exists_deployment(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    found = _get_deployment(ctx.clients, rec["id"])
    return (found is not None and found.get("isLatestForTarget", True)
            and found.get("deploymentStatus") not in ("CANCELED", "FAILED", "INACTIVE"))


def _delete_deployment(ctx: Ctx, rec: Dict[str, Any]) -> None:
    gg = ctx.clients.greengrassv2
    found = _get_deployment(ctx.clients, rec["id"])
    if found is not None:
        if found.get("deploymentStatus") == "ACTIVE":
            ignore_not_found(gg.cancel_deployment, deploymentId=rec["id"])
        ignore_not_found(gg.delete_deployment, deploymentId=rec["id"])
    if rec.get("core"):  # the core device record the device made by reporting to this deployment
        ignore_not_found(gg.delete_core_device, coreDeviceThingName=rec["core"])


KINDS = SHARED.extend(
    apply={"service-role": _apply_service_role, "thing-group": _apply_thing_group, "role-alias": _apply_role_alias,
           "connectivity": _apply_connectivity, "client-devices": _apply_client_devices,
           "component": _apply_component, "deployment": _apply_deployment},
    exists={"service-role": _exists_service_role,
            "thing-group": lambda ctx, r: bool(ctx.clients.iot.describe_thing_group(thingGroupName=r["name"])),
            "role-alias": lambda ctx, r: bool(ctx.clients.iot.describe_role_alias(roleAlias=r["name"])),
            "connectivity": _exists_connectivity, "client-devices": _exists_client_devices,
            "component": _exists_component, "deployment": _exists_deployment},
    delete={"service-role": _delete_service_role, "thing-group": _delete_thing_group,
            "role-alias": lambda ctx, r: ignore_not_found(ctx.clients.iot.delete_role_alias, roleAlias=r["name"]),
            "client-devices": _delete_client_devices, "component": _delete_component,
            "deployment": _delete_deployment},
    destroy_order=DESTROY_ORDER)
