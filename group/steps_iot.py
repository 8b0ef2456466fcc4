"""Deploy steps of the IAM, IoT and Lambda objects both platforms share: IoT things, policies and certificates,
IAM roles, Lambda functions (core and cloud) — how each is made or updated, checked and deleted.

Each step records what it made in the state right after the call that made it (``group/state.py``); an object
that exists outside the state is adopted or refused (:func:`group.context.adopted`).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from botocore.exceptions import ClientError

from .clients import Clients, collision, error_code, is_not_found
from .context import Ctx, Delete, Exists, Step, adopted, checking, deleting, ignore_not_found
from .errors import DeployError
from .plan import Desired, cloud_package_key, spec_hash

_IAM_PROPAGATION_S = 30.0


def _exists_certificate(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    desc = ctx.clients.iot.describe_certificate(certificateId=rec["id"])["certificateDescription"]
    if desc.get("status") != "ACTIVE":
        return False
    if ctx.certs_dir is not None and rec.get("owned", True):
        d = ctx.certs_dir / rec.get("thing", rec["name"])
        if not (d / "cert.pem").exists() or not (d / "private.key").exists():
            return False
        # the files on disk must be this certificate (another target may have written its own)
        if rec.get("file_sha256") and sha256_file(d / "cert.pem") != rec["file_sha256"]:
            return False
    return True


def _exists_function(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    if rec.get("ref") and rec.get("alias", True):
        ctx.clients.lambda_.get_alias(FunctionName=rec["function_name"], Name="live")
    else:
        ctx.clients.lambda_.get_function(FunctionName=rec["function_name"])
    return True



def trust_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def role_exists(c: Clients, name: str) -> bool:
    try:
        c.iam.get_role(RoleName=name)
        return True
    except ClientError as err:
        if is_not_found(err):
            return False
        raise


def ensure_role(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[Dict[str, Any]],
                 policy: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    c, name = ctx.clients, spec["role_name"]
    if rec is None:
        if role_exists(c, name):
            if ctx.adopts(key):  # e.g. the group's V1 Lambda role: used as it is, never changed
                arn = c.iam.get_role(RoleName=name)["Role"]["Arn"]
                adopted(ctx, key, d, d.kind, name, "IAM role", arn=arn, ref=arn)
                return ctx.state.get(key) or {}
            raise collision(d.kind, name, "IAM role")
        arn = c.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(spec["trust"]),
                                Description=f"made by deploy.py for Greengrass group {ctx.group_name}",
                                )["Role"]["Arn"]
        rec = ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn,
                                  "owned": True})
    else:
        c.iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_policy(spec["trust"]))
    if policy is not None:
        c.iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
    return rec


def _apply_thing(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["thing"]
    if rec is not None:
        return  # made by a previous run that stopped before recording it as done
    if rec is None:
        try:
            desc = c.iot.describe_thing(thingName=name)
            adopted(ctx, key, d, "thing", name, "IoT thing", arn=desc.get("thingArn"), ref=desc.get("thingArn"))
            return
        except ClientError as err:
            if not is_not_found(err):
                raise
    resp = c.iot.create_thing(thingName=name)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp.get("thingId"), "arn": resp["thingArn"],
                        "ref": resp["thingArn"]})


def _apply_policy(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["policy_name"]
    doc = json.dumps(spec["document"])
    if rec is None:
        try:
            c.iot.get_policy(policyName=name)
            raise collision("policy", name, "IoT policy")
        except ClientError as err:
            if not is_not_found(err):
                raise
        resp = c.iot.create_policy(policyName=name, policyDocument=doc)
        ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": resp["policyArn"],
                            "ref": name})
        return
    versions = c.iot.list_policy_versions(policyName=name).get("policyVersions", [])
    old = sorted((v for v in versions if not v.get("isDefaultVersion")), key=lambda v: int(v["versionId"]))
    while len(old) >= 4:  # IoT keeps at most 5 versions
        c.iot.delete_policy_version(policyName=name, policyVersionId=old.pop(0)["versionId"])
    c.iot.create_policy_version(policyName=name, policyDocument=doc, setAsDefault=True)


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _apply_certificate(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, thing = ctx.clients, d.name
    if rec is None and ctx.adopts(key):
        found = _existing_certificate(ctx, thing)
        if found is not None:
            adopted(ctx, key, d, "certificate", thing, "certificate of thing", id=found[1], arn=found[0],
                    ref=found[0], thing=thing)
            rec = ctx.state.get(key)
    if rec is None:
        if ctx.issuer is not None:
            cert_pem, key_pem = ctx.issuer(thing)
            cert_text = cert_pem.decode() if isinstance(cert_pem, bytes) else cert_pem
            resp = c.iot.register_certificate_without_ca(certificatePem=cert_text, status="ACTIVE")
            arn, cid = resp["certificateArn"], resp["certificateId"]
        else:
            resp = c.iot.create_keys_and_certificate(setAsActive=True)
            arn, cid = resp["certificateArn"], resp["certificateId"]
            cert_text, key_pem = resp["certificatePem"], resp["keyPair"]["PrivateKey"].encode()
        rec = ctx.state.put(key, {"hash": d.hash, "applied": None, "id": cid, "arn": arn, "ref": arn,
                                  "thing": thing})
        if ctx.certs_dir is not None:
            cdir = ctx.certs_dir / thing
            cdir.mkdir(parents=True, exist_ok=True)
            (cdir / "cert.pem").write_text(cert_text)
            write_private(cdir / "private.key", key_pem if isinstance(key_pem, bytes) else key_pem.encode())
            ctx.state.update(key, file_sha256=sha256_file(cdir / "cert.pem"))
    policies = list(spec["policies"]) if "policies" in spec else [spec["policy"]]
    for name in policies:
        c.iot.attach_policy(policyName=name, target=rec["arn"])
    for name in rec.get("policies", []):
        if name not in policies:  # a policy the desired state no longer names
            ignore_not_found(c.iot.detach_policy, policyName=name, target=rec["arn"])
    if rec.get("owned") is not False:
        c.iot.attach_thing_principal(thingName=thing, principal=rec["arn"])
    ctx.state.update(key, policy=policies[0], policies=policies)


def _existing_certificate(ctx: Ctx, thing: str) -> Optional[Tuple[str, str]]:
    """(arn, id) of an ACTIVE certificate attached to ``thing`` that we can use: locally the one whose
    PEM is in ``certs_dir/<thing>/cert.pem`` (the local run needs its key); on AWS the device holds its
    key, so the first active one. None when there is none."""
    c = ctx.clients
    try:
        principals = c.iot.list_thing_principals(thingName=thing).get("principals", [])
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    local_pem = None
    if ctx.target == "local":
        path = ctx.certs_dir / thing / "cert.pem" if ctx.certs_dir is not None else None
        if path is None or not path.exists() or not (path.parent / "private.key").exists():
            return None
        local_pem = path.read_text().strip()
    for arn in sorted(p for p in principals if ":cert/" in p):
        cid = arn.rsplit("/", 1)[1]
        desc = c.iot.describe_certificate(certificateId=cid)["certificateDescription"]
        if desc.get("status") != "ACTIVE":
            continue
        if local_pem is None or desc.get("certificatePem", "").strip() == local_pem:
            return arn, cid
    return None


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _apply_role(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    logs = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [logs]}
    if "access" in spec:  # cloud functions reach the group's cloud resources
        policy["Statement"] += access_policy(ctx.clients, spec["access"])["Statement"]
    if "policy" in spec:  # a role with a fixed job (bulk deployments)
        policy = spec["policy"]
    ensure_role(ctx, key, d, spec, rec, policy)


def wait_function_ready(c: Clients, name: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        cfg = c.lambda_.get_function_configuration(FunctionName=name)
        if cfg.get("State", "Active") != "Pending" \
                and cfg.get("LastUpdateStatus", "Successful") != "InProgress":
            return
        if time.monotonic() > deadline:
            raise DeployError("function", name, f"still {cfg.get('State')}/{cfg.get('LastUpdateStatus')} "
                              f"after {timeout:.0f} s", "re-run deploy later")
        time.sleep(1.0)


def _apply_function(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    """Create or update a Lambda function, publish a version; V1 points the alias ``live`` at it,
    V2 (spec ``alias: False``) references the versioned ARN (component imports refuse aliases)."""
    c, fname = ctx.clients, spec["function_name"]
    pkg = ctx.packages[cloud_package_key(d.name) if d.kind == "cloud-function" else d.name]
    config: Dict[str, Any] = dict(Role=spec["role"], Handler=spec["handler"], Runtime=spec["runtime"],
                                  MemorySize=spec["memory"], Timeout=spec["timeout"],
                                  Description=f"Greengrass group {ctx.group_name}: {d.name}")
    if "environment" in spec:  # core functions get theirs from the function definition
        config["Environment"] = {"Variables": spec["environment"]}
    use_alias = spec.get("alias", True)
    if rec is None:
        try:
            found = c.lambda_.get_function(FunctionName=fname)["Configuration"]
        except ClientError as err:
            if not is_not_found(err):
                raise
            found = None
        if found is not None:
            adopted(ctx, key, d, d.kind, fname, "Lambda function", function_name=fname,
                    arn=found["FunctionArn"], code_sha256=found.get("CodeSha256"), config=None)
            rec = ctx.state.get(key)
    if rec is None:
        deadline = time.monotonic() + _IAM_PROPAGATION_S
        while True:
            try:
                resp = c.lambda_.create_function(FunctionName=fname, Code={"ZipFile": pkg.data},
                                                 Publish=False, **config)
                break
            except ClientError as err:  # a new IAM role takes a few seconds to be assumable on AWS
                if error_code(err) == "InvalidParameterValueException" and "assumed" in str(err) \
                        and time.monotonic() < deadline:
                    time.sleep(2.0)
                    continue
                raise
        rec = ctx.state.put(key, {"hash": d.hash, "applied": None, "id": fname, "function_name": fname,
                                  "arn": resp["FunctionArn"], "code_sha256": resp.get("CodeSha256"),
                                  "config": spec_hash(config)})
    else:
        if rec.get("code_sha256") != pkg.code_sha256:
            wait_function_ready(c, fname)
            resp = c.lambda_.update_function_code(FunctionName=fname, ZipFile=pkg.data)
            ctx.state.update(key, code_sha256=resp.get("CodeSha256"))
        if rec.get("config") != spec_hash(config):
            wait_function_ready(c, fname)
            c.lambda_.update_function_configuration(FunctionName=fname, **config)
            ctx.state.update(key, config=spec_hash(config))
    wait_function_ready(c, fname)
    published = c.lambda_.publish_version(FunctionName=fname)
    version = published["Version"]
    if not use_alias:
        ctx.state.update(key, version=version, ref=published["FunctionArn"], alias=False)
        return
    try:  # an adopted function may already have the alias
        alias = c.lambda_.update_alias(FunctionName=fname, Name="live", FunctionVersion=version)
    except ClientError as err:
        if not is_not_found(err):
            raise
        alias = c.lambda_.create_alias(FunctionName=fname, Name="live", FunctionVersion=version)
    ctx.state.update(key, version=version, ref=alias["AliasArn"])



def access_policy(c: Clients, access: Mapping[str, List[str]]) -> Dict[str, Any]:
    part, region, account = c.partition, c.region, c.account_id()
    statements: List[Dict[str, Any]] = []
    if access["tables"]:
        statements.append({"Effect": "Allow", "Action": [
            "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
            "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable", "dynamodb:BatchWriteItem"],
            "Resource": [f"arn:{part}:dynamodb:{region}:{account}:table/{t}" for t in access["tables"]]})
    if access["buckets"]:
        statements.append({"Effect": "Allow", "Action": [
            "s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
            "s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": [f"arn:{part}:s3:::{b}" for b in access["buckets"]]
            + [f"arn:{part}:s3:::{b}/*" for b in access["buckets"]]})
    if access["kinesis_streams"]:
        statements.append({"Effect": "Allow", "Action": [
            "kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream"],
            "Resource": [f"arn:{part}:kinesis:{region}:{account}:stream/{s}"
                         for s in access["kinesis_streams"]]})
    if access["video_streams"]:
        statements.append({"Effect": "Allow", "Action": [
            "kinesisvideo:PutMedia", "kinesisvideo:GetDataEndpoint", "kinesisvideo:DescribeStream"],
            "Resource": [f"arn:{part}:kinesisvideo:{region}:{account}:stream/{s}/*"
                         for s in access["video_streams"]]})
    if access["iotanalytics_channels"]:
        statements.append({"Effect": "Allow", "Action": ["iotanalytics:BatchPutMessage"],
                           "Resource": [f"arn:{part}:iotanalytics:{region}:{account}:channel/{ch}"
                                        for ch in access["iotanalytics_channels"]]})
    if not statements:
        statements.append({"Effect": "Allow", "Action": ["iot:GetThingShadow"], "Resource": ["*"]})
    return {"Version": "2012-10-17", "Statement": statements}



def delete_role(c: Clients, name: str) -> None:
    try:
        for pol in c.iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            c.iam.delete_role_policy(RoleName=name, PolicyName=pol)
        for pol in c.iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            c.iam.detach_role_policy(RoleName=name, PolicyArn=pol["PolicyArn"])
    except ClientError as err:
        if is_not_found(err):
            return
        raise
    ignore_not_found(c.iam.delete_role, RoleName=name)



def _delete_certificate(ctx: Ctx, rec: Dict[str, Any]) -> None:
    c, arn, cid, thing = ctx.clients, rec["arn"], rec["id"], rec.get("thing", rec["name"])
    for name in rec.get("policies") or ([rec["policy"]] if rec.get("policy") else []):
        ignore_not_found(c.iot.detach_policy, policyName=name, target=arn)
    if rec.get("owned") is False:
        return  # adopted: the device keeps its certificate; only our policy came off
    ignore_not_found(c.iot.detach_thing_principal, thingName=thing, principal=arn)
    ignore_not_found(c.iot.update_certificate, certificateId=cid, newStatus="INACTIVE")
    ignore_not_found(c.iot.delete_certificate, certificateId=cid, forceDelete=True)
    if ctx.certs_dir is not None:
        cdir = ctx.certs_dir / thing
        for fn in ("cert.pem", "private.key"):
            try:
                (cdir / fn).unlink()
            except FileNotFoundError:
                pass
        try:
            cdir.rmdir()
        except OSError:
            pass  # not empty (files someone else put there) or already gone


def _delete_policy(ctx: Ctx, rec: Dict[str, Any]) -> None:
    c, name = ctx.clients, rec["name"]
    try:
        for target in c.iot.list_targets_for_policy(policyName=name).get("targets", []):
            c.iot.detach_policy(policyName=name, target=target)
        for v in c.iot.list_policy_versions(policyName=name).get("policyVersions", []):
            if not v.get("isDefaultVersion"):
                c.iot.delete_policy_version(policyName=name, policyVersionId=v["versionId"])
    except ClientError as err:
        if not is_not_found(err):
            raise
    ignore_not_found(c.iot.delete_policy, policyName=name)



IOT_EXISTS: Dict[str, Exists] = {
    "thing": checking(lambda c, r: c.iot.describe_thing(thingName=r["name"])),
    "policy": checking(lambda c, r: c.iot.get_policy(policyName=r["name"])),
    "certificate": _exists_certificate,
    "role": checking(lambda c, r: c.iam.get_role(RoleName=r["name"])),
    "function": _exists_function,
    "cloud-function": _exists_function,
}
IOT_APPLY: Dict[str, Step] = {
    "thing": _apply_thing, "policy": _apply_policy, "certificate": _apply_certificate, "role": _apply_role,
    "function": _apply_function, "cloud-function": _apply_function,
}
IOT_DELETE: Dict[str, Delete] = {
    "certificate": _delete_certificate,
    "thing": deleting(lambda c, r: c.iot.delete_thing(thingName=r["name"])),
    "policy": _delete_policy,
    "function": deleting(lambda c, r: c.lambda_.delete_function(FunctionName=r["function_name"])),
    "cloud-function": deleting(lambda c, r: c.lambda_.delete_function(FunctionName=r["function_name"])),
    "role": lambda ctx, r: delete_role(ctx.clients, r["name"]),
}
