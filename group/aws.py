"""Apply a group to AWS (or to any endpoint that speaks the AWS APIs): plan, deploy, status, destroy.

Public surface::

    clients = Clients.create(region, endpoint_url=None, credentials=None)
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

Every object deploy makes is recorded in the state file (``group/state.py``) right after the call
that made it; a step that fails raises :class:`DeployError` naming the step and the object, and a
re-run converges. With nothing changed, deploy makes only read-only calls (Get/List/Describe).
Names deploy would create but that exist outside its state are a collision: an error, never an
overwrite. Nothing here knows which server answers: gaps of an endpoint surface as DeployErrors.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Mapping, Optional, Sequence, Tuple

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import package as packaging
from .errors import DeployError
from .model import Group
from .plan import (ADD, CHANGE, DESTROY_ORDER, REF_RE, Desired, Plan, cloud_package_key, desired_objects,
                   diff, spec_hash, target_warnings)
from .state import State, recorded_groups, state_path

log = logging.getLogger(__name__)

CertificateIssuer = Callable[[str], Tuple[bytes, bytes]]
Poller = Callable[["Clients", str, str, float], Tuple[str, str]]
FINAL_STATUSES = ("Success", "Failure")
NOT_FOUND_CODES = frozenset({
    "404", "ResourceNotFoundException", "NotFoundException", "NoSuchEntity", "NoSuchBucket",
    "IdNotFoundException", "ResourceNotFound", "EntityNotFound", "NotFound",
})
_POLL_INTERVAL_S = 1.0
_IAM_PROPAGATION_S = 30.0


# ---- clients -----------------------------------------------------------------------------------

_LOADER: Any = None


def _shared_loader(core: Any) -> Any:
    """One botocore data loader per process: its cache keeps the parsed service models, which
    are most of the cost of making a client (a fleet deploy makes many)."""
    global _LOADER
    if _LOADER is None:
        _LOADER = core.get_component("data_loader")
    return _LOADER


class Clients:
    """boto3 clients for one region and (optionally) one endpoint URL, made lazily."""

    def __init__(self, session: boto3.session.Session, region: str,
                 endpoint_url: Optional[str] = None) -> None:
        self.session = session
        self.region = region
        self.endpoint_url = endpoint_url
        self._clients: Dict[str, Any] = {}
        self._account: Optional[str] = None
        self._config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10,
                              read_timeout=60)

    @classmethod
    def create(cls, region: str, endpoint_url: Optional[str] = None,
               credentials: Optional[Tuple[str, str]] = None) -> "Clients":
        """``credentials=(key id, secret)``; ``None`` uses the usual boto3 chain."""
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader(core))
        if credentials is not None:
            session = boto3.session.Session(aws_access_key_id=credentials[0],
                                            aws_secret_access_key=credentials[1],
                                            region_name=region, botocore_session=core)
        else:
            session = boto3.session.Session(region_name=region, botocore_session=core)
        return cls(session, region, endpoint_url)

    def client(self, service: str) -> Any:
        c = self._clients.get(service)
        if c is None:
            c = self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                    config=self._config)
            self._clients[service] = c
        return c

    def __getattr__(self, name: str) -> Any:
        services = {"iot": "iot", "iam": "iam", "greengrass": "greengrass", "lambda_": "lambda",
                    "dynamodb": "dynamodb", "s3": "s3", "kinesis": "kinesis", "kinesisvideo": "kinesisvideo",
                    "sts": "sts"}
        if name in services:
            return self.client(services[name])
        raise AttributeError(name)

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region) if hasattr(
            self.session, "get_partition_for_region") else "aws"

    def account_id(self) -> str:
        if self._account is None:
            self._account = self.sts.get_caller_identity()["Account"]
        return self._account

    def signed_json(self, service: str, method: str, path: str, body: Optional[dict] = None,
                    timeout: float = 30.0) -> Tuple[int, Any]:
        """A SigV4-signed REST-JSON call, for services botocore has no client for (IoT Analytics)."""
        base = self.endpoint_url or f"https://{service}.{self.region}.amazonaws.com"
        url = base.rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        req = AWSRequest(method=method, url=url, data=data, headers=headers)
        creds = self.session.get_credentials()
        if creds is None:
            raise DeployError(service, path, "no AWS credentials found", "configure credentials for boto3")
        SigV4Auth(creds.get_frozen_credentials(), service, self.region).add_auth(req)
        prepared = urllib.request.Request(url, data=data, method=method, headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(prepared, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        except (urllib.error.URLError, OSError) as err:
            raise DeployError(service, f"{method} {path}",
                              f"{url} unreachable: {getattr(err, 'reason', err)}",
                              "check the endpoint (--endpoint-url / AWS_ENDPOINT_URL)") from None
        try:
            return status, (json.loads(raw) if raw else {})
        except ValueError:
            return status, {"message": raw[:200].decode(errors="replace")}


# ---- progress ----------------------------------------------------------------------------------


class Progress:
    """Silent progress; subclass (see RichProgress) to show one line per step and a spinner."""

    def step(self, action: str, kind: str, name: str, detail: str = "") -> None:
        log.info("%s %s %s %s", action, kind, name, detail)

    def note(self, text: str) -> None:
        log.warning("%s", text)

    def waiting(self, text: str) -> ContextManager[Any]:
        return nullcontext()


class RichProgress(Progress):
    """One line per step (rich), a spinner while waiting."""

    _STYLE = {ADD: "green", CHANGE: "yellow", "-": "red", "=": "dim"}

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=False, highlight=False)

    def step(self, action: str, kind: str, name: str, detail: str = "") -> None:
        from rich.markup import escape

        style = self._STYLE.get(action, "")
        tail = f"  [dim]{escape(detail)}[/dim]" if detail else ""
        self.console.print(f"  [{style}]{action}[/{style}] {kind} [bold]{escape(name)}[/bold]{tail}")

    def note(self, text: str) -> None:
        from rich.markup import escape

        self.console.print(f"  [yellow]![/yellow] {escape(text)}")

    def waiting(self, text: str) -> ContextManager[Any]:
        return self.console.status(text, spinner="dots")


# ---- errors ------------------------------------------------------------------------------------


def _code(err: Exception) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return type(err).__name__


def _status(err: Exception) -> int:
    if isinstance(err, ClientError):
        return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def is_not_found(err: Exception) -> bool:
    return isinstance(err, ClientError) and (_code(err) in NOT_FOUND_CODES or _status(err) == 404)


def _cause(err: Exception) -> str:
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        op = getattr(err, "operation_name", "")
        msg = str(e.get("Message") or "").strip()
        if msg.startswith("<"):  # an HTML error page instead of an AWS error
            msg = ("the endpoint has no route for this API" if _status(err) == 404
                   else "the endpoint answered with an HTML error page")
        return f"{op} → {e.get('Code', '?')} (HTTP {_status(err)}): {msg[:300]}"
    return f"{type(err).__name__}: {err}"


def _fix(err: Exception) -> str:
    code = _code(err)
    if _status(err) == 404 and code == "404":
        return "this endpoint does not implement the API; use the local cloud (deploy.py run) or real AWS, " \
               "or drop that part from the group file"
    if code in ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
                "InvalidClientTokenId", "ExpiredToken"):
        return "check the AWS credentials and their permissions"
    if isinstance(err, BotoCoreError):
        return "check that the endpoint is reachable (--endpoint-url / AWS_ENDPOINT_URL) and re-run"
    return "fix the cause and re-run deploy; it continues from the recorded state"


def _collision(kind: str, name: str, what: str) -> DeployError:
    return DeployError(kind, name, f"{what} '{name}' already exists but was not made by this deploy "
                       "(not in its state file)",
                       "delete or rename the existing one, or rename it in the group file; deploy never "
                       "takes over objects it did not make")


# ---- context -----------------------------------------------------------------------------------


@dataclass
class _Ctx:
    group_name: str
    clients: Clients
    state: State
    target: str
    certs_dir: Optional[Path] = None
    issuer: Optional[CertificateIssuer] = None
    packages: Mapping[str, packaging.Package] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    _buckets: Optional[List[str]] = None

    def buckets(self) -> List[str]:
        if self._buckets is None:
            self._buckets = [b["Name"] for b in self.clients.s3.list_buckets().get("Buckets", [])]
        return self._buckets


def resolve(spec: Any, state: State) -> Any:
    """Replace ``"@key"`` / ``"@key#id"`` by the recorded ref / id of that object."""
    if isinstance(spec, str):
        m = REF_RE.match(spec)
        if not m:
            return spec
        rec = state.get(m.group(1))
        field_ = "id" if m.group(2) else "ref"
        if rec is None or rec.get(field_) in (None, ""):
            raise DeployError("resolve", m.group(1), "referenced object is not deployed yet",
                              "re-run deploy")
        return rec[field_]
    if isinstance(spec, dict):
        return {k: resolve(v, state) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve(v, state) for v in spec]
    return spec


# ---- existence checks (read-only) --------------------------------------------------------------


def _exists(ctx: _Ctx, rec: Dict[str, Any]) -> bool:
    c, kind, name = ctx.clients, rec["kind"], rec["name"]
    if kind == "service-role":
        arn = c.greengrass.get_service_role_for_account().get("RoleArn")
        return bool(arn) and (not rec.get("owned") or arn == rec.get("arn"))
    if kind == "thing":
        c.iot.describe_thing(thingName=name)
    elif kind == "policy":
        c.iot.get_policy(policyName=name)
    elif kind == "certificate":
        desc = c.iot.describe_certificate(certificateId=rec["id"])["certificateDescription"]
        if desc.get("status") != "ACTIVE":
            return False
        if ctx.certs_dir is not None:
            d = ctx.certs_dir / rec.get("thing", name)
            if not (d / "cert.pem").exists() or not (d / "private.key").exists():
                return False
            # the files on disk must be this certificate (another target may have written its own)
            if rec.get("file_sha256") and _sha256_file(d / "cert.pem") != rec["file_sha256"]:
                return False
    elif kind == "connectivity":
        c.greengrass.get_connectivity_info(ThingName=name)
    elif kind in ("role", "group-role"):
        c.iam.get_role(RoleName=name)
    elif kind in ("function", "cloud-function"):
        if rec.get("ref"):
            c.lambda_.get_alias(FunctionName=rec["function_name"], Name="live")
        else:
            c.lambda_.get_function(FunctionName=rec["function_name"])
    elif kind.endswith("-definition"):
        k = kind[: -len("-definition")].capitalize()
        getattr(c.greengrass, f"get_{k.lower()}_definition")(**{f"{k}DefinitionId": rec["id"]})
    elif kind == "group":
        c.greengrass.get_group(GroupId=rec["id"])
    elif kind == "group-version":
        c.greengrass.get_group_version(GroupId=rec["group_id"], GroupVersionId=rec["id"])
    elif kind == "table":
        c.dynamodb.describe_table(TableName=name)
    elif kind == "bucket":
        return name in ctx.buckets()
    elif kind == "bucket-object":
        c.s3.head_object(Bucket=rec["bucket"], Key=rec["key"])
    elif kind == "kinesis-stream":
        c.kinesis.describe_stream_summary(StreamName=name)
    elif kind == "video-stream":
        c.kinesisvideo.describe_stream(StreamName=name)
    elif kind == "iotanalytics-channel":
        status, _ = c.signed_json("iotanalytics", "GET", f"/channels/{name}")
        return status == 200
    elif kind == "deployment":
        return bool(_deployment_status(c, rec))
    return True


def verify(ctx: _Ctx) -> Tuple[List[str], bool]:
    """Read-only: which recorded objects are gone, and whether the last deployment failed."""
    missing: List[str] = []
    failed = False
    for key in ctx.state:
        rec = ctx.state.get(key)
        assert rec is not None
        try:
            if not _exists(ctx, rec):
                missing.append(key)
        except (ClientError, BotoCoreError) as err:
            if is_not_found(err):
                missing.append(key)
            else:
                raise DeployError("verify", key, _cause(err), _fix(err)) from None
        if rec["kind"] == "deployment" and key not in missing:
            failed = failed or _deployment_status(ctx.clients, rec) == "Failure"
    return missing, failed


def _deployment_status(clients: Clients, rec: Mapping[str, Any]) -> str:
    try:
        return clients.greengrass.get_deployment_status(
            GroupId=rec["group_id"], DeploymentId=rec["id"]).get("DeploymentStatus", "")
    except ClientError as err:
        if is_not_found(err):
            return ""
        raise


# ---- create / update ---------------------------------------------------------------------------


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _role_exists(c: Clients, name: str) -> bool:
    try:
        c.iam.get_role(RoleName=name)
        return True
    except ClientError as err:
        if is_not_found(err):
            return False
        raise


def _ensure_role(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[Dict[str, Any]],
                 policy: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    c, name = ctx.clients, spec["role_name"]
    if rec is None:
        if _role_exists(c, name):
            raise _collision(d.kind, name, "IAM role")
        arn = c.iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(spec["trust"]),
                                Description=f"made by deploy.py for Greengrass group {ctx.group_name}",
                                )["Role"]["Arn"]
        rec = ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn,
                                  "owned": True})
    else:
        c.iam.update_assume_role_policy(RoleName=name, PolicyDocument=_trust(spec["trust"]))
    if policy is not None:
        c.iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
    return rec


def _apply_service_role(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
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
    rec = _ensure_role(ctx, key, d, spec, rec, policy)
    c.greengrass.associate_service_role_to_account(RoleArn=rec["arn"])


def _apply_thing(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["thing"]
    if rec is not None:
        return  # made by a previous run that stopped before recording it as done
    if rec is None:
        try:
            c.iot.describe_thing(thingName=name)
            raise _collision("thing", name, "IoT thing")
        except ClientError as err:
            if not is_not_found(err):
                raise
    resp = c.iot.create_thing(thingName=name)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp.get("thingId"), "arn": resp["thingArn"],
                        "ref": resp["thingArn"]})


def _apply_policy(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["policy_name"]
    doc = json.dumps(spec["document"])
    if rec is None:
        try:
            c.iot.get_policy(policyName=name)
            raise _collision("policy", name, "IoT policy")
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


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _apply_certificate(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, thing = ctx.clients, d.name
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
                                  "thing": thing, "policy": spec["policy"]})
        if ctx.certs_dir is not None:
            cdir = ctx.certs_dir / thing
            cdir.mkdir(parents=True, exist_ok=True)
            (cdir / "cert.pem").write_text(cert_text)
            _write_private(cdir / "private.key", key_pem if isinstance(key_pem, bytes) else key_pem.encode())
            ctx.state.update(key, file_sha256=_sha256_file(cdir / "cert.pem"))
    c.iot.attach_policy(policyName=spec["policy"], target=rec["arn"])
    c.iot.attach_thing_principal(thingName=thing, principal=rec["arn"])
    ctx.state.update(key, policy=spec["policy"])


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _apply_connectivity(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    ctx.clients.greengrass.update_connectivity_info(ThingName=d.name,
                                                    ConnectivityInfo=spec["ConnectivityInfo"])
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": d.name, "ref": d.name})


def _apply_role(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    logs = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [logs]}
    if "access" in spec:  # cloud functions reach the group's cloud resources
        policy["Statement"] += _access_policy(ctx.clients, spec["access"])["Statement"]
    if "policy" in spec:  # a role with a fixed job (bulk deployments)
        policy = spec["policy"]
    _ensure_role(ctx, key, d, spec, rec, policy)


def _wait_function_ready(c: Clients, name: str, timeout: float = 120.0) -> None:
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


def _apply_function(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, fname = ctx.clients, spec["function_name"]
    pkg = ctx.packages[cloud_package_key(d.name) if d.kind == "cloud-function" else d.name]
    config: Dict[str, Any] = dict(Role=spec["role"], Handler=spec["handler"], Runtime=spec["runtime"],
                                  MemorySize=spec["memory"], Timeout=spec["timeout"],
                                  Description=f"Greengrass group {ctx.group_name}: {d.name}")
    if "environment" in spec:  # core functions get theirs from the function definition
        config["Environment"] = {"Variables": spec["environment"]}
    if rec is None:
        try:
            c.lambda_.get_function(FunctionName=fname)
            raise _collision(d.kind, fname, "Lambda function")
        except ClientError as err:
            if not is_not_found(err):
                raise
        deadline = time.monotonic() + _IAM_PROPAGATION_S
        while True:
            try:
                resp = c.lambda_.create_function(FunctionName=fname, Code={"ZipFile": pkg.data},
                                                 Publish=False, **config)
                break
            except ClientError as err:  # a new IAM role takes a few seconds to be assumable on AWS
                if _code(err) == "InvalidParameterValueException" and "assumed" in str(err) \
                        and time.monotonic() < deadline:
                    time.sleep(2.0)
                    continue
                raise
        rec = ctx.state.put(key, {"hash": d.hash, "applied": None, "id": fname, "function_name": fname,
                                  "arn": resp["FunctionArn"], "code_sha256": resp.get("CodeSha256"),
                                  "config": spec_hash(config)})
    else:
        if rec.get("code_sha256") != pkg.code_sha256:
            _wait_function_ready(c, fname)
            resp = c.lambda_.update_function_code(FunctionName=fname, ZipFile=pkg.data)
            ctx.state.update(key, code_sha256=resp.get("CodeSha256"))
        if rec.get("config") != spec_hash(config):
            _wait_function_ready(c, fname)
            c.lambda_.update_function_configuration(FunctionName=fname, **config)
            ctx.state.update(key, config=spec_hash(config))
    _wait_function_ready(c, fname)
    version = c.lambda_.publish_version(FunctionName=fname)["Version"]
    if rec.get("ref"):
        alias = c.lambda_.update_alias(FunctionName=fname, Name="live", FunctionVersion=version)
    else:
        alias = c.lambda_.create_alias(FunctionName=fname, Name="live", FunctionVersion=version)
    ctx.state.update(key, version=version, ref=alias["AliasArn"])


def _apply_definition(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
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


def _apply_group(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    if rec is not None:
        return  # the name is the whole spec; nothing to update
    resp = ctx.clients.greengrass.create_group(Name=spec["name"])
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp["Id"], "arn": resp["Arn"],
                        "ref": resp["Arn"]})


def _apply_group_version(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    resp = ctx.clients.greengrass.create_group_version(**spec)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": resp["Version"], "arn": resp["Arn"],
                        "ref": resp["Version"], "group_id": spec["GroupId"]})


def _access_policy(c: Clients, access: Mapping[str, List[str]]) -> Dict[str, Any]:
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


def _apply_group_role(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    rec = _ensure_role(ctx, key, d, spec, rec, _access_policy(ctx.clients, spec["access"]))
    ctx.clients.greengrass.associate_role_to_group(GroupId=spec["group"], RoleArn=rec["arn"])
    ctx.state.update(key, group_id=spec["group"])


def _apply_table(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None and rec.get("hash_key") == [spec["hash_key"], spec["hash_key_type"]]:
        return
    if rec is not None:
        raise DeployError("table", name, "the key schema of an existing table cannot change",
                          "rename the table in the group file "
                          "(or destroy and deploy again: its items are lost)")
    try:
        c.dynamodb.describe_table(TableName=name)
        raise _collision("table", name, "DynamoDB table")
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


def _apply_bucket(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    if name in ctx.buckets():
        raise _collision("bucket", name, "S3 bucket")
    kwargs: Dict[str, Any] = {"Bucket": name}
    if c.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": c.region}
    try:
        c.s3.create_bucket(**kwargs)
    except ClientError as err:
        if _code(err) == "BucketAlreadyExists":
            raise _collision("bucket", name, "S3 bucket (in another account)") from None
        raise
    arn = f"arn:{c.partition}:s3:::{name}"
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn})
    if ctx._buckets is not None:
        ctx._buckets.append(name)


def _apply_bucket_object(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    """Upload a file (the Docker connector's compose file) to its bucket and key."""
    c = ctx.clients
    try:
        data = Path(spec["path"]).read_bytes()
    except OSError as exc:
        raise DeployError("bucket-object", d.name, f"cannot read {spec['path']}: {exc.strerror}",
                          "fix compose_file in group.yaml") from None
    c.s3.put_object(Bucket=spec["bucket"], Key=spec["key"], Body=data)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": d.name, "bucket": spec["bucket"],
                        "key": spec["key"], "arn": f"arn:{c.partition}:s3:::{d.name}",
                        "ref": f"arn:{c.partition}:s3:::{d.name}"})


def _apply_kinesis(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is None:
        try:
            c.kinesis.describe_stream_summary(StreamName=name)
            raise _collision("kinesis-stream", name, "Kinesis stream")
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


def _apply_video(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    try:
        c.kinesisvideo.describe_stream(StreamName=name)
        raise _collision("video-stream", name, "Kinesis Video stream")
    except ClientError as err:
        if not is_not_found(err):
            raise
    arn = c.kinesisvideo.create_stream(StreamName=name, DataRetentionInHours=24)["StreamARN"]
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn})


def _apply_channel(ctx: _Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    status, _ = c.signed_json("iotanalytics", "GET", f"/channels/{name}")
    if status == 200:
        raise _collision("iotanalytics-channel", name, "IoT Analytics channel")
    status, body = c.signed_json("iotanalytics", "POST", "/channels", {"channelName": name})
    if status not in (200, 201):
        raise DeployError("iotanalytics-channel", name, f"POST /channels → HTTP {status}: "
                          f"{body.get('message') or body.get('Message') or body}",
                          "IoT Analytics channels exist only on the local cloud (AWS retired the service)")
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": body.get("channelArn"),
                        "ref": body.get("channelArn") or name})


_APPLY: Dict[str, Callable[..., None]] = {
    "service-role": _apply_service_role, "thing": _apply_thing, "policy": _apply_policy,
    "certificate": _apply_certificate, "connectivity": _apply_connectivity, "role": _apply_role,
    "function": _apply_function, "cloud-function": _apply_function, "group": _apply_group,
    "group-version": _apply_group_version,
    "group-role": _apply_group_role, "table": _apply_table, "bucket": _apply_bucket,
    "bucket-object": _apply_bucket_object,
    "kinesis-stream": _apply_kinesis, "video-stream": _apply_video, "iotanalytics-channel": _apply_channel,
}


# ---- delete ------------------------------------------------------------------------------------


def _ignore_not_found(fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def _delete_role(c: Clients, name: str) -> None:
    try:
        for pol in c.iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            c.iam.delete_role_policy(RoleName=name, PolicyName=pol)
        for pol in c.iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            c.iam.detach_role_policy(RoleName=name, PolicyArn=pol["PolicyArn"])
    except ClientError as err:
        if is_not_found(err):
            return
        raise
    _ignore_not_found(c.iam.delete_role, RoleName=name)


def _delete(ctx: _Ctx, rec: Dict[str, Any]) -> None:
    c, kind, name = ctx.clients, rec["kind"], rec["name"]
    gg = c.greengrass
    if kind == "deployment":
        try:
            gg.reset_deployments(GroupId=rec["group_id"], Force=True)
        except ClientError as err:
            # Reset is the courtesy before delete_group; where the endpoint lacks it (or the group is
            # gone) delete_group still decides.
            if not is_not_found(err):
                raise
            ctx.progress.note(f"reset_deployments: {_cause(err)}; continuing with delete_group")
    elif kind == "group-role":
        if rec.get("group_id"):
            _ignore_not_found(gg.disassociate_role_from_group, GroupId=rec["group_id"])
        _delete_role(c, name)
    elif kind == "group":
        _ignore_not_found(gg.delete_group, GroupId=rec["id"])
    elif kind.endswith("-definition"):
        k = kind[: -len("-definition")]
        _ignore_not_found(getattr(gg, f"delete_{k}_definition"),
                          **{f"{k.capitalize()}DefinitionId": rec["id"]})
    elif kind == "certificate":
        arn, cid = rec["arn"], rec["id"]
        if rec.get("policy"):
            _ignore_not_found(c.iot.detach_policy, policyName=rec["policy"], target=arn)
        _ignore_not_found(c.iot.detach_thing_principal, thingName=rec.get("thing", name), principal=arn)
        _ignore_not_found(c.iot.update_certificate, certificateId=cid, newStatus="INACTIVE")
        _ignore_not_found(c.iot.delete_certificate, certificateId=cid, forceDelete=True)
        if ctx.certs_dir is not None:
            cdir = ctx.certs_dir / rec.get("thing", name)
            for fn in ("cert.pem", "private.key"):
                try:
                    (cdir / fn).unlink()
                except FileNotFoundError:
                    pass
            try:
                cdir.rmdir()
            except OSError:
                pass  # not empty (files someone else put there) or already gone
    elif kind == "thing":
        _ignore_not_found(c.iot.delete_thing, thingName=name)
    elif kind == "policy":
        try:
            for v in c.iot.list_policy_versions(policyName=name).get("policyVersions", []):
                if not v.get("isDefaultVersion"):
                    c.iot.delete_policy_version(policyName=name, policyVersionId=v["versionId"])
        except ClientError as err:
            if not is_not_found(err):
                raise
        _ignore_not_found(c.iot.delete_policy, policyName=name)
    elif kind in ("function", "cloud-function"):
        _ignore_not_found(c.lambda_.delete_function, FunctionName=rec["function_name"])
    elif kind == "role":
        _delete_role(c, name)
    elif kind == "service-role":
        if rec.get("owned"):
            current = None
            try:
                current = gg.get_service_role_for_account().get("RoleArn")
            except ClientError as err:
                if not is_not_found(err):
                    raise
            if current == rec.get("arn"):
                gg.disassociate_service_role_from_account()
            _delete_role(c, name)
    elif kind == "table":
        _ignore_not_found(c.dynamodb.delete_table, TableName=name)
    elif kind == "bucket-object":
        _ignore_not_found(c.s3.delete_object, Bucket=rec["bucket"], Key=rec["key"])
    elif kind == "bucket":
        _empty_bucket(c, name)
        _ignore_not_found(c.s3.delete_bucket, Bucket=name)
    elif kind == "kinesis-stream":
        _ignore_not_found(c.kinesis.delete_stream, StreamName=name, EnforceConsumerDeletion=True)
    elif kind == "video-stream":
        if rec.get("arn"):
            _ignore_not_found(c.kinesisvideo.delete_stream, StreamARN=rec["arn"])
    elif kind == "iotanalytics-channel":
        status, body = c.signed_json("iotanalytics", "DELETE", f"/channels/{name}")
        if status not in (200, 204, 404):
            raise DeployError("iotanalytics-channel", name, f"DELETE /channels → HTTP {status}: {body}")
    # group-version and connectivity live and die with their group / thing.


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


def _remove(ctx: _Ctx, keys: Sequence[str]) -> List[str]:
    """Delete the recorded objects ``keys`` in destroy order; each leaves the state once gone."""
    order = {k: i for i, k in enumerate(DESTROY_ORDER)}
    removed = []
    for key in sorted(keys, key=lambda k: (order.get(k.split(":", 1)[0], len(order)), keys.index(k))):
        rec = ctx.state.get(key)
        if rec is None:
            continue
        ctx.progress.step("-", rec["kind"], rec["name"])
        try:
            _delete(ctx, rec)
        except (ClientError, BotoCoreError) as err:
            raise DeployError(f"delete {rec['kind']}", rec["name"], _cause(err), _fix(err)) from None
        ctx.state.remove(key)
        removed.append(key)
    return removed


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


def _deploy(ctx: _Ctx, pending: "PendingDeployment", wait: bool, timeout: float,
            poller: Poller) -> Tuple[str, str]:
    spec = pending.spec
    resp = ctx.clients.greengrass.create_deployment(GroupId=spec["group"], DeploymentType="NewDeployment",
                                                    GroupVersionId=spec["group_version"])
    _record_deployment(ctx.state, pending, resp["DeploymentId"], resp.get("DeploymentArn"), "InProgress")
    if not wait:
        return resp["DeploymentId"], "InProgress"
    return resp["DeploymentId"], _wait_deployment(ctx, pending.key, resp["DeploymentId"], timeout, poller)


def _wait_deployment(ctx: _Ctx, key: str, deployment_id: str, timeout: float, poller: Poller) -> str:
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


def _build_packages(group: Group, root: Path) -> Dict[str, packaging.Package]:
    """Core functions with greengrasssdk vendored; cloud functions (``cloud:<name>``) as they are
    (their runtime brings boto3; anything heavier belongs in a layer)."""
    out = {}
    jobs = [(f.name, f.name, f.code_dir(root), packaging.DEFAULT_VENDOR) for f in group.functions]
    jobs += [(cloud_package_key(cf.name), cf.name, cf.code_dir(root), ()) for cf in group.cloud.functions]
    for key, name, code_dir, vendor in jobs:
        try:
            out[key] = packaging.build(name, code_dir, vendor)
        except packaging.PackageError as err:
            raise DeployError("package", name, str(err)) from None
    return out


def _context(group_name: str, clients: Clients, state_dir: Path | str, target: str,
             certs_dir: Optional[Path], **kw: Any) -> _Ctx:
    state = State.load(state_dir, target, group_name)
    return _Ctx(group_name, clients, state, target, Path(certs_dir) if certs_dir else None, **kw)


def _plan(ctx: _Ctx, group: Group, desired: Mapping[str, Desired]) -> Tuple[Plan, List[str], bool]:
    missing, failed = verify(ctx)
    plan = diff(group.name, ctx.target, desired, ctx.state.objects, missing, failed,
                target_warnings(group, ctx.target))
    return plan, missing, failed


def _connector_files(group: Group, root: Path) -> Dict[str, Tuple[str, str]]:
    """connector name → (absolute path, sha256) of the compose file deploy uploads for it."""
    out = {}
    for c in group.connectors:
        if c.compose_file is not None:
            path = (root / c.compose_file).resolve()
            out[c.name] = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def plan_group(group: Group, *, root: Path, clients: Clients, state_dir: Path | str, target: str,
               certs_dir: Optional[Path] = None, service_role: bool = True,
               packages: Optional[Mapping[str, packaging.Package]] = None) -> Plan:
    """Desired (group file) vs recorded state, checked with read-only calls. Makes no change."""
    packages = packages if packages is not None else _build_packages(group, Path(root))
    desired = desired_objects(group, target, {n: p.code_sha256 for n, p in packages.items()},
                              service_role=service_role, files=_connector_files(group, Path(root)))
    ctx = _context(group.name, clients, state_dir, target, certs_dir, packages=packages)
    plan, _, _ = _plan(ctx, group, desired)
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
    packages = packages if packages is not None else _build_packages(group, Path(root))
    desired = desired_objects(group, target, {n: p.code_sha256 for n, p in packages.items()},
                              service_role=service_role, files=_connector_files(group, Path(root)))
    ctx = _context(group.name, clients, state_dir, target, certs_dir, issuer=certificate_issuer,
                   packages=packages, progress=progress)
    with ctx.state.lock():
        return _deploy_locked(ctx, group, desired, root_ca_pem, wait, timeout, poller, redeploy, deploy)


def _deploy_locked(ctx: _Ctx, group: Group, desired: Mapping[str, Desired], root_ca_pem: Optional[bytes],
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
        _write_root_ca(ctx.certs_dir, root_ca_pem if root_ca_pem is not None else
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
                raise DeployError("deployment", group.name, _cause(err), _fix(err)) from None
            continue
        spec = resolve(d.spec, ctx.state)
        applied = spec_hash(spec)
        if rec is not None and not gone and rec.get("applied") == applied:
            if rec.get("hash") != d.hash:
                ctx.state.update(key, hash=d.hash)
            continue
        progress.step(ADD if rec is None or gone else CHANGE, d.kind, d.name)
        try:
            if gone and rec is not None and d.kind == "certificate":
                _delete(ctx, rec)  # ours, but unusable (key files lost or inactive): replace it
                ctx.state.remove(key)
            handler = _APPLY.get(d.kind, _apply_definition if d.kind.endswith("-definition") else None)
            assert handler is not None, d.kind
            handler(ctx, key, d, spec, None if gone else rec)
        except (ClientError, BotoCoreError) as err:
            raise DeployError(d.kind, d.name, _cause(err), _fix(err)) from None
        ctx.state.update(key, hash=d.hash, applied=applied)
    obsolete = [k for k in ctx.state if k not in desired]
    if obsolete:
        _remove(ctx, obsolete)
    grp, ver = ctx.state.get(f"group:{group.name}"), ctx.state.get(f"group-version:{group.name}")
    return DeployResult(group.name, grp and grp.get("id"), ver and ver.get("id"), deployment_id, status,
                        plan.lines(), ctx.state.path, pending)


BULK_STATE = "_bulk"  # state of the fleet-level objects of bulk deployments (input bucket, role)
BULK_FINAL = ("Completed", "Failed", "Stopped")


def _bulk_infra(ctx: _Ctx) -> Tuple[str, str]:
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
        gone = rec is not None and not _exists_quietly(ctx, rec)
        applied = spec_hash(d.spec)
        if rec is not None and not gone and rec.get("applied") == applied:
            continue
        ctx.progress.step(ADD if rec is None or gone else CHANGE, d.kind, d.name, "bulk deployments")
        try:
            _APPLY[d.kind](ctx, d.key, d, d.spec, None if gone else rec)
        except (ClientError, BotoCoreError) as err:
            raise DeployError(d.kind, d.name, _cause(err), _fix(err)) from None
        ctx.state.update(d.key, hash=d.hash, applied=applied)
    return bucket, ctx.state.objects[f"role:{role}"]["arn"]


def _exists_quietly(ctx: _Ctx, rec: Dict[str, Any]) -> bool:
    try:
        return _exists(ctx, rec)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise DeployError("verify", f"{rec['kind']}:{rec['name']}", _cause(err), _fix(err)) from None


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
            raise DeployError("bulk-deployment", names, _cause(err), _fix(err)) from None
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
            raise DeployError("status", group_name, _cause(err), _fix(err)) from None
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
    ctx = _context(group_name, clients, state_dir, target, certs_dir, progress=progress or Progress())
    with ctx.state.lock():
        ctx.state.reload()
        removed = _remove(ctx, list(ctx.state))
        ctx.state.delete_file()
    return removed


# ---- certificates on disk ----------------------------------------------------------------------


def _write_root_ca(certs_dir: Path, pem: Optional[bytes]) -> None:
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
