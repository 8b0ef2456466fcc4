"""Deploy steps every platform shares: the context, the per-kind apply / exists / delete steps of the
IAM, IoT, Lambda, S3, DynamoDB, Kinesis, Kinesis Video and IoT Analytics objects, the generic apply
loop over desired objects (``apply_desired``), verification (``verify``) and removal
(``remove_objects``).

A platform (``group/v1``, ``group/v2``) adds its own kinds with a :class:`Kinds` table and calls
these. Every object made is recorded in the state file (``group/state.py``) right after the call
that made it; a step that fails raises :class:`DeployError` naming the step and the object, and a
re-run converges. Names that exist outside the state are a collision (an error), unless the
context *adopts* them (``Ctx.adopt``, the V2 migration: an account's existing things, certificates,
functions and cloud resources are used as they are, recorded ``owned: False``, and never deleted).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from . import package as packaging
from .clients import (Clients, Progress, collision, error_cause, error_code, error_fix, is_not_found)
from .errors import DeployError
from .model import Group
from .plan import ADD, CHANGE, REF_RE, Desired, cloud_package_key, spec_hash
from .state import State, state_path

log = logging.getLogger(__name__)

CertificateIssuer = Callable[[str], Tuple[bytes, bytes]]
_IAM_PROPAGATION_S = 30.0

Step = Callable[["Ctx", str, Desired, Dict[str, Any], Optional[dict]], None]
Exists = Callable[["Ctx", Dict[str, Any]], bool]
Delete = Callable[["Ctx", Dict[str, Any]], None]


@dataclass(frozen=True)
class Kinds:
    """A platform's kinds of object: how to make, check and delete each (see ``SHARED``)."""

    apply: Mapping[str, Step]
    exists: Mapping[str, Exists]
    delete: Mapping[str, Delete]
    destroy_order: Sequence[str]

    def extend(self, *, apply: Mapping[str, Step] = {}, exists: Mapping[str, Exists] = {},
               delete: Mapping[str, Delete] = {}, destroy_order: Sequence[str] = ()) -> "Kinds":
        return Kinds({**self.apply, **apply}, {**self.exists, **exists}, {**self.delete, **delete},
                     tuple(destroy_order) or tuple(self.destroy_order))


# ---- context -----------------------------------------------------------------------------------


@dataclass
class Ctx:
    group_name: str
    clients: Clients
    state: State
    target: str
    certs_dir: Optional[Path] = None
    issuer: Optional[CertificateIssuer] = None
    packages: Mapping[str, packaging.Package] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    kinds: Optional[Kinds] = None
    # take over objects that exist outside the state (recorded owned: False): True for any (the V2
    # migration adopts the account's things, certificates, functions, cloud resources), or a
    # predicate on the state key (V1 adopts what the group's V2 deployment made)
    adopt: Any = False
    _buckets: Optional[List[str]] = None

    def adopts(self, key: str) -> bool:
        return bool(self.adopt(key)) if callable(self.adopt) else bool(self.adopt)

    def buckets(self) -> List[str]:
        if self._buckets is None:
            self._buckets = [b["Name"] for b in self.clients.s3.list_buckets().get("Buckets", [])]
        return self._buckets

    def table(self) -> Kinds:
        return self.kinds if self.kinds is not None else SHARED


def context(group_name: str, clients: Clients, state_dir: Path | str, target: str,
            certs_dir: Optional[Path], **kw: Any) -> Ctx:
    state = State.load(state_dir, target, group_name)
    return Ctx(group_name, clients, state, target, Path(certs_dir) if certs_dir else None, **kw)


def resolve(spec: Any, state: State) -> Any:
    """Replace ``"@key"`` / ``"@key#id"`` by the recorded ref / id of that object."""
    if isinstance(spec, str):
        m = REF_RE.match(spec)
        if not m:
            return spec
        rec = state.get(m.group(1))
        field_ = (m.group(2) or "#ref")[1:]
        if rec is None or rec.get(field_) in (None, ""):
            raise DeployError("resolve", m.group(1), "referenced object is not deployed yet",
                              "re-run deploy")
        return rec[field_]
    if isinstance(spec, dict):
        return {k: resolve(v, state) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve(v, state) for v in spec]
    return spec


def adopted(ctx: Ctx, key: str, d: Desired, kind: str, name: str, what: str, **fields: Any) -> None:
    """Record an object that exists outside the state: adopt it (V2) or refuse (collision)."""
    if not ctx.adopts(key):
        raise collision(kind, name, what)
    ctx.progress.note(f"{what} '{name}' exists already: adopted as it is (destroy leaves it)")
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "owned": False, **fields})


# ---- existence checks (read-only) --------------------------------------------------------------


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


def _exists_channel(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    status, _ = ctx.clients.signed_json("iotanalytics", "GET", f"/channels/{rec['name']}")
    return status == 200


def _call(fn: Callable[[Clients, Dict[str, Any]], Any]) -> Exists:
    def check(ctx: Ctx, rec: Dict[str, Any]) -> bool:
        fn(ctx.clients, rec)
        return True
    return check


SHARED_EXISTS: Dict[str, Exists] = {
    "thing": _call(lambda c, r: c.iot.describe_thing(thingName=r["name"])),
    "policy": _call(lambda c, r: c.iot.get_policy(policyName=r["name"])),
    "certificate": _exists_certificate,
    "role": _call(lambda c, r: c.iam.get_role(RoleName=r["name"])),
    "function": _exists_function,
    "cloud-function": _exists_function,
    "table": _call(lambda c, r: c.dynamodb.describe_table(TableName=r["name"])),
    "bucket": lambda ctx, r: r["name"] in ctx.buckets(),
    "bucket-object": _call(lambda c, r: c.s3.head_object(Bucket=r["bucket"], Key=r["key"])),
    "kinesis-stream": _call(lambda c, r: c.kinesis.describe_stream_summary(StreamName=r["name"])),
    "video-stream": _call(lambda c, r: c.kinesisvideo.describe_stream(StreamName=r["name"])),
    "iotanalytics-channel": _exists_channel,
}


def exists(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    check = ctx.table().exists.get(rec["kind"])
    return True if check is None else bool(check(ctx, rec))


def exists_quietly(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    try:
        return exists(ctx, rec)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise DeployError("verify", f"{rec['kind']}:{rec['name']}", error_cause(err), error_fix(err)) from None


def missing_objects(ctx: Ctx) -> List[str]:
    """Read-only: the recorded objects that are gone."""
    missing: List[str] = []
    for key in ctx.state:
        rec = ctx.state.get(key)
        assert rec is not None
        try:
            if not exists(ctx, rec):
                missing.append(key)
        except (ClientError, BotoCoreError) as err:
            if is_not_found(err):
                missing.append(key)
            else:
                raise DeployError("verify", key, error_cause(err), error_fix(err)) from None
    return missing


# ---- create / update ---------------------------------------------------------------------------


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


def _apply_table(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None and rec.get("hash_key") == [spec["hash_key"], spec["hash_key_type"]]:
        return
    if rec is not None:
        raise DeployError("table", name, "the key schema of an existing table cannot change",
                          "rename the table in the group file "
                          "(or destroy and deploy again: its items are lost)")
    try:
        found = c.dynamodb.describe_table(TableName=name)["Table"]
        arn = found.get("TableArn")
        adopted(ctx, key, d, "table", name, "DynamoDB table", arn=arn, ref=arn,
                hash_key=[spec["hash_key"], spec["hash_key_type"]])
        return
    except ClientError as err:
        if not is_not_found(err):
            raise
    resp = c.dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": spec["hash_key"], "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": spec["hash_key"], "AttributeType": spec["hash_key_type"]}],
        BillingMode="PAY_PER_REQUEST")
    arn = resp["TableDescription"]["TableArn"]
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn,
                        "hash_key": [spec["hash_key"], spec["hash_key_type"]]})


def _apply_bucket(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    if name in ctx.buckets():
        arn = f"arn:{c.partition}:s3:::{name}"
        adopted(ctx, key, d, "bucket", name, "S3 bucket", arn=arn, ref=arn)
        return
    kwargs: Dict[str, Any] = {"Bucket": name}
    if c.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": c.region}
    try:
        c.s3.create_bucket(**kwargs)
    except ClientError as err:
        if error_code(err) == "BucketAlreadyExists":
            raise collision("bucket", name, "S3 bucket (in another account)") from None
        raise
    arn = f"arn:{c.partition}:s3:::{name}"
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn})
    if ctx._buckets is not None:
        ctx._buckets.append(name)


def _apply_bucket_object(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    """Upload a file (the Docker connector's compose file) to its bucket and key."""
    c = ctx.clients
    if spec.get("path") is None and spec.get("data") is not None:
        data = str(spec["data"]).encode("utf-8")
    else:
        try:
            data = Path(spec["path"]).read_bytes()
        except OSError as exc:
            raise DeployError("bucket-object", d.name, f"cannot read {spec['path']}: {exc.strerror}",
                              "fix the file's path in group.yaml") from None
    c.s3.put_object(Bucket=spec["bucket"], Key=spec["key"], Body=data)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": d.name, "bucket": spec["bucket"],
                        "key": spec["key"], "arn": f"arn:{c.partition}:s3:::{d.name}",
                        "ref": f"arn:{c.partition}:s3:::{d.name}"})


def _apply_kinesis(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is None:
        try:
            arn = c.kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
            adopted(ctx, key, d, "kinesis-stream", name, "Kinesis stream", arn=arn, ref=arn)
            return
        except ClientError as err:
            if not is_not_found(err):
                raise
        c.kinesis.create_stream(StreamName=name, ShardCount=spec["shards"])
        ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name})
        c.kinesis.get_waiter("stream_exists").wait(StreamName=name,
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    else:
        c.kinesis.update_shard_count(StreamName=name, TargetShardCount=spec["shards"],
                                     ScalingType="UNIFORM_SCALING")
    arn = c.kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    ctx.state.update(key, arn=arn, ref=arn)


def _apply_video(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    try:
        arn = c.kinesisvideo.describe_stream(StreamName=name)["StreamInfo"]["StreamARN"]
        adopted(ctx, key, d, "video-stream", name, "Kinesis Video stream", arn=arn, ref=arn)
        return
    except ClientError as err:
        if not is_not_found(err):
            raise
    arn = c.kinesisvideo.create_stream(StreamName=name, DataRetentionInHours=24)["StreamARN"]
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn})


def _apply_channel(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    status, _ = c.signed_json("iotanalytics", "GET", f"/channels/{name}")
    if status == 200:
        adopted(ctx, key, d, "iotanalytics-channel", name, "IoT Analytics channel", ref=name)
        return
    status, body = c.signed_json("iotanalytics", "POST", "/channels", {"channelName": name})
    if status not in (200, 201):
        raise DeployError("iotanalytics-channel", name, f"POST /channels → HTTP {status}: "
                          f"{body.get('message') or body.get('Message') or body}",
                          "IoT Analytics channels exist only on the local cloud (AWS retired the service)")
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": body.get("channelArn"),
                        "ref": body.get("channelArn") or name})


SHARED_APPLY: Dict[str, Step] = {
    "thing": _apply_thing, "policy": _apply_policy, "certificate": _apply_certificate, "role": _apply_role,
    "function": _apply_function, "cloud-function": _apply_function, "table": _apply_table,
    "bucket": _apply_bucket, "bucket-object": _apply_bucket_object, "kinesis-stream": _apply_kinesis,
    "video-stream": _apply_video, "iotanalytics-channel": _apply_channel,
}


# ---- delete ------------------------------------------------------------------------------------


def ignore_not_found(fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


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


def _empty_bucket(c: Clients, name: str) -> None:
    try:
        pages = c.s3.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            objs = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                    for o in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for i in range(0, len(objs), 1000):
                c.s3.delete_objects(Bucket=name, Delete={"Objects": objs[i:i + 1000], "Quiet": True})
    except ClientError as err:
        if not is_not_found(err):
            raise


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


def _delete_channel(ctx: Ctx, rec: Dict[str, Any]) -> None:
    status, body = ctx.clients.signed_json("iotanalytics", "DELETE", f"/channels/{rec['name']}")
    if status not in (200, 204, 404):
        raise DeployError("iotanalytics-channel", rec["name"], f"DELETE /channels → HTTP {status}: {body}")


def _delete_bucket(ctx: Ctx, rec: Dict[str, Any]) -> None:
    """Empty, then delete; a writer still running (a core exporting to it) may add objects in between:
    empty again, a bounded number of times."""
    for attempt in range(_BUCKET_DELETE_ATTEMPTS):
        _empty_bucket(ctx.clients, rec["name"])
        try:
            ignore_not_found(ctx.clients.s3.delete_bucket, Bucket=rec["name"])
            return
        except ClientError as err:
            if error_code(err) != "BucketNotEmpty" or attempt == _BUCKET_DELETE_ATTEMPTS - 1:
                raise
            ctx.progress.note(f"bucket {rec['name']}: objects arrived while it was emptied; emptying again")


_BUCKET_DELETE_ATTEMPTS = 5


def _delete_video(ctx: Ctx, rec: Dict[str, Any]) -> None:
    if rec.get("arn"):
        ignore_not_found(ctx.clients.kinesisvideo.delete_stream, StreamARN=rec["arn"])


def _deleting(fn: Callable[[Clients, Dict[str, Any]], Any]) -> Delete:
    def delete(ctx: Ctx, rec: Dict[str, Any]) -> None:
        try:
            fn(ctx.clients, rec)
        except ClientError as err:
            if not is_not_found(err):
                raise
    return delete


SHARED_DELETE: Dict[str, Delete] = {
    "certificate": _delete_certificate,
    "thing": _deleting(lambda c, r: c.iot.delete_thing(thingName=r["name"])),
    "policy": _delete_policy,
    "function": _deleting(lambda c, r: c.lambda_.delete_function(FunctionName=r["function_name"])),
    "cloud-function": _deleting(lambda c, r: c.lambda_.delete_function(FunctionName=r["function_name"])),
    "role": lambda ctx, r: delete_role(ctx.clients, r["name"]),
    "table": _deleting(lambda c, r: c.dynamodb.delete_table(TableName=r["name"])),
    "bucket-object": _deleting(lambda c, r: c.s3.delete_object(Bucket=r["bucket"], Key=r["key"])),
    "bucket": _delete_bucket,
    "kinesis-stream": _deleting(lambda c, r: c.kinesis.delete_stream(StreamName=r["name"],
                                                                      EnforceConsumerDeletion=True)),
    "video-stream": _delete_video,
    "iotanalytics-channel": _delete_channel,
}


def remove_objects(ctx: Ctx, keys: Sequence[str]) -> List[str]:
    """Delete the recorded objects ``keys`` in destroy order; each leaves the state once gone.
    Adopted objects (``owned: False``) are only forgotten (a certificate loses our policy)."""
    order = {k: i for i, k in enumerate(ctx.table().destroy_order)}
    removed = []
    for key in sorted(keys, key=lambda k: (order.get(k.split(":", 1)[0], len(order)), keys.index(k))):
        rec = ctx.state.get(key)
        if rec is None:
            continue
        adopted_ = rec.get("owned") is False and rec["kind"] not in ("certificate", "service-role")
        ctx.progress.step("-", rec["kind"], rec["name"], "adopted: left as it is" if adopted_ else "")
        try:
            delete = ctx.table().delete.get(rec["kind"])
            if delete is not None and not adopted_:
                delete(ctx, rec)
        except (ClientError, BotoCoreError) as err:
            raise DeployError(f"delete {rec['kind']}", rec["name"], error_cause(err), error_fix(err)) from None
        ctx.state.remove(key)
        removed.append(key)
    return removed


# ---- the apply loop ----------------------------------------------------------------------------


def apply_one(ctx: Ctx, key: str, d: Desired, missing: Iterable[str], action: Optional[str] = None) -> bool:
    """Apply one desired object when its resolved spec differs from what the state applied.
    Returns whether a step ran."""
    rec = ctx.state.get(key)
    gone = key in set(missing)
    spec = resolve(d.spec, ctx.state)
    applied = spec_hash(spec)
    if rec is not None and not gone and rec.get("applied") == applied:
        if rec.get("hash") != d.hash:
            ctx.state.update(key, hash=d.hash)
        return False
    ctx.progress.step(action or (ADD if rec is None or gone else CHANGE), d.kind, d.name)
    try:
        if gone and rec is not None and d.kind == "certificate" and rec.get("owned") is not False:
            delete = ctx.table().delete["certificate"]
            delete(ctx, rec)  # ours, but unusable (key files lost or inactive): replace it
            ctx.state.remove(key)
        handler = ctx.table().apply.get(d.kind)
        if handler is None:
            raise DeployError(d.kind, d.name, f"no deploy step for kind '{d.kind}'", "report this as a bug")
        handler(ctx, key, d, spec, None if gone else rec)
    except (ClientError, BotoCoreError) as err:
        raise DeployError(d.kind, d.name, error_cause(err), error_fix(err)) from None
    ctx.state.update(key, hash=d.hash, applied=applied)
    return True


SHARED = Kinds(SHARED_APPLY, SHARED_EXISTS, SHARED_DELETE, (
    "certificate", "thing", "policy", "cloud-function", "function", "role", "table", "bucket-object", "bucket",
    "kinesis-stream", "video-stream", "iotanalytics-channel"))


# ---- packages, files -----------------------------------------------------------------------------


def build_packages(group: Group, root: Path) -> Dict[str, packaging.Package]:
    """Core functions with greengrasssdk vendored; cloud functions (``cloud:<name>``) as they are
    (their runtime brings boto3; anything heavier belongs in a layer)."""
    out = {}
    jobs = [(f.name, f.name, f.code_dir(root), packaging.DEFAULT_VENDOR, f.library_dirs(root))
            for f in group.functions]
    jobs += [(cloud_package_key(cf.name), cf.name, cf.code_dir(root), (), []) for cf in group.cloud.functions]
    for key, name, code_dir, vendor, libraries in jobs:
        try:
            # the group's shared libraries go into the package (at its root): the function needs them
            # wherever it runs (a V1 or V2 core), not only on the local core's sys.path
            out[key] = packaging.build(name, code_dir, vendor, libraries=libraries)
        except packaging.PackageError as err:
            raise DeployError("package", name, str(err)) from None
    return out


def connector_files(group: Group, root: Path) -> Dict[str, Tuple[str, str]]:
    """connector name → (absolute path, sha256) of the compose file deploy uploads for it."""
    out = {}
    for c in group.connectors:
        if c.compose_file is not None:
            path = (root / c.compose_file).resolve()
            out[c.name] = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def write_root_ca(certs_dir: Path, pem: Optional[bytes]) -> None:
    if not pem:
        return
    path = certs_dir / "root-ca.pem"
    if path.exists() and path.read_bytes() == pem:
        return
    certs_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pem.tmp")
    tmp.write_bytes(pem)
    os.replace(tmp, path)


def amazon_root_ca() -> Optional[bytes]:
    """Amazon Root CA 1 (what AWS IoT's ATS endpoints chain to), from certifi's bundle."""
    try:
        import certifi
    except ImportError:
        return None
    text = Path(certifi.where()).read_text(encoding="ascii", errors="replace")
    marker = '# Label: "Amazon Root CA 1"'
    start = text.find(marker)
    if start < 0:
        return None
    begin = text.find("-----BEGIN CERTIFICATE-----", start)
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        return None
    return (text[begin:end] + "-----END CERTIFICATE-----\n").encode()


def state_file(state_dir: Path | str, target: str, group_name: str) -> Path:
    return state_path(state_dir, target, group_name)
