"""Pure state of the Greengrass V2 stand-in (moto has no ``greengrassv2``): no sockets, no boto3.

What it keeps, per the botocore ``greengrassv2`` 2020-11-30 model:

* **component versions** made from an inline recipe (JSON or YAML) or imported from a Lambda
  version (the wire module looks the Lambda up in moto and passes a :class:`LambdaInfo`);
  immutable once created, ``DEPLOYABLE`` at once;
* **deployments**, one latest revision per target (``thing/<t>`` or ``thinggroup/<g>``): a new
  one makes the previous revision ``INACTIVE``; ``clientToken`` makes a retry return the first
  answer (8 h, as AWS);
* **core devices**, which exist only once the core reports (``report_*``), and per device the
  **executions** of deployments (``QUEUED`` until the core says otherwise), installed components
  and client-device associations;
* tags by ARN.

The wire module does what needs the rest of the cloud (Lambda versions, S3 objects, IoT thing and
thing-group membership, all in moto) and hands the answers in as plain values, so everything here
is table-testable. Errors are :class:`~.errors.ApiError` with the model's codes.

With ``auto_complete_deployments=True`` (a test convenience of the stand-in, shared with the V1
flag) a deployment completes at once as if its core had applied it — for a **thing** target that
core, for a **thing group** the member things at creation time (``members``): the core device appears
``HEALTHY`` with the deployment's components ``RUNNING``; a component version that does not resolve
fails it the way the nucleus does (``NO_AVAILABLE_COMPONENT_VERSION``). A thing target's deployment
then reads ``COMPLETED`` (or ``FAILED``); a thing group's stays ``ACTIVE`` (continuous) with its
members' executions ``SUCCEEDED`` (or ``FAILED``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from group.v2 import catalog
from group.v2.catalog import PublicComponentInfo
from group.v2.deployments import effective_deployments
from group.v2.lambda_recipe import recipe_for_lambda
from group.v2.recipe import RECIPE_FORMAT_VERSION, Recipe, RecipeError, parse_recipe
from group.v2.versions import VersionRequirement, sort_key, version_problem

from .errors import ApiError

CLIENT_TOKEN_TTL_S = 8 * 3600
DEFAULT_MAX_RESULTS = 50
DEFAULT_POLICIES: dict[str, Any] = {
    "failureHandlingPolicy": "ROLLBACK",
    "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
    "configurationValidationPolicy": {"timeoutInSeconds": 30},
}
DEPLOYMENT_STATUSES = ("ACTIVE", "COMPLETED", "CANCELED", "FAILED", "INACTIVE")
LIFECYCLE_STATES = ("NEW", "INSTALLED", "STARTING", "RUNNING", "STOPPING", "ERRORED", "BROKEN", "FINISHED")
# what a core may report for one deployment (the nucleus' job statuses)
REPORTABLE = ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED")
_LAMBDA_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[^:]+))?$"
)
_TARGET = re.compile(
    r"^arn:[^:]*:iot:(?P<region>[^:]*):(?P<account>\d+):(?P<kind>thing|thinggroup)/(?P<name>.+)$"
)
_V2_ARN = re.compile(
    r"^arn:[^:]*:greengrass:(?P<region>[^:]*):(?P<account>aws|\d+):(?P<kind>components|deployments|coreDevices):"
    r"(?P<rest>.+)$"
)


# ----------------------------------------------------------------------------------- errors
def validation(message: str, fields: Sequence[tuple[str, str]] = ()) -> ApiError:
    details = [{"name": n, "message": m} for n, m in fields]
    err = ApiError(message, code="ValidationException", status=400)
    if details:
        err.details = details
    return err


def not_found(message: str) -> ApiError:
    return ApiError(message, code="ResourceNotFoundException", status=404)


def conflict(message: str) -> ApiError:
    return ApiError(message, code="ConflictException", status=409)


# ----------------------------------------------------------------------------------- helpers
def now_s() -> float:
    return round(time.time(), 3)


def _requirement(text: str) -> VersionRequirement:
    try:
        return VersionRequirement.parse(text)
    except ValueError as exc:
        raise validation(
            f"version requirement {text!r} is not an npm-style range such as ^2.0.0 or >=2.0.0 <3.0.0: {exc}"
        ) from None


def page(items: Sequence[Any], max_results: Any, next_token: Any) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token of the next (an opaque offset), as the list ops use."""
    size = DEFAULT_MAX_RESULTS
    if max_results not in (None, ""):
        try:
            size = int(max_results)
        except (TypeError, ValueError):
            raise validation(f"maxResults {max_results!r} is not a number") from None
        if not 1 <= size <= 100:
            raise validation("maxResults must be 1..100")
    start = 0
    if next_token not in (None, ""):
        try:
            start = int(base64.urlsafe_b64decode(str(next_token).encode()).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise validation(f"nextToken {next_token!r} is not a token this service gave out") from None
    chunk = list(items[start : start + size])
    nxt = start + size
    token = base64.urlsafe_b64encode(f"v2page:{nxt}".encode()).decode() if nxt < len(items) else None
    return chunk, token


def parse_target(arn: str) -> tuple[str, str, str, str]:
    """``(kind, name, region, account)`` of a deployment target ARN (``thing`` / ``thinggroup``)."""
    m = _TARGET.match(arn or "")
    if m is None:
        raise validation(
            f"targetArn {arn!r} is not an IoT thing or thing group ARN "
            "(arn:aws:iot:<region>:<account>:thing/<name> or ...:thinggroup/<name>)",
            [("targetArn", "invalid ARN")],
        )
    return m.group("kind"), m.group("name"), m.group("region"), m.group("account")


# ----------------------------------------------------------------------------------- recipes
def parse_inline_recipe(blob: bytes) -> Recipe:
    """The recipe of an ``inlineRecipe`` (JSON or YAML, keys in any case as the service takes them), read by
    the one recipe model (:mod:`group.v2.recipe`); every problem in one ``ValidationException``."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise validation(f"inlineRecipe is not UTF-8 text: {exc}") from exc
    try:
        return parse_recipe(text, source="inlineRecipe")
    except RecipeError as exc:
        errs = [(i.path or "(recipe)", i.message) for i in exc.issues]
        raise validation("Invalid recipe: " + "; ".join(f"{n}: {m}" for n, m in errs), errs) from None


def stored_artifact_uris(recipe: Mapping[str, Any]) -> list[str]:
    """Every artifact URI of a stored recipe (inline, generated for a Lambda, or public), in order."""
    return parse_recipe(json.dumps(recipe), source="stored recipe").artifact_uris()


def render_recipe(recipe: Mapping[str, Any], fmt: str) -> bytes:
    if fmt == "YAML":
        return yaml.safe_dump(dict(recipe), sort_keys=False, default_flow_style=False).encode()
    return json.dumps(recipe, indent=2).encode()


@dataclass(frozen=True)
class LambdaInfo:
    """What the wire module found in the cloud's Lambda for one published version."""

    arn: str  # the versioned ARN
    function_name: str
    version: str
    runtime: str | None
    handler: str | None
    code_sha256: str  # base64 SHA-256 of the code zip, as Lambda reports it
    code_size: int


def split_lambda_arn(arn: Any) -> tuple[str, str, str, str]:
    """``(region, account, function name, version)``; ``$LATEST``, aliases and bare ARNs refused."""
    m = _LAMBDA_ARN.match(arn if isinstance(arn, str) else "")
    if m is None:
        raise validation(
            f"lambdaArn {arn!r} is not a Lambda function ARN "
            "(arn:aws:lambda:<region>:<account>:function:<name>:<version>)",
            [("lambdaFunction.lambdaArn", "invalid ARN")],
        )
    q = m.group("qualifier")
    if q is None or q == "$LATEST" or not q.isdigit():
        raise validation(
            f"lambdaArn {arn!r} must name a published version (…:function:<name>:<number>); "
            "$LATEST, aliases and unqualified ARNs cannot be imported — publish a version first",
            [("lambdaFunction.lambdaArn", "needs a version number")],
        )
    return m.group("region"), m.group("account"), m.group("name"), q


# ----------------------------------------------------------------------------------- records
@dataclass
class ComponentRecord:
    name: str
    version: str
    arn: str
    created: float
    recipe: dict[str, Any]
    description: str = ""
    publisher: str = ""
    platforms: list[dict[str, Any]] = field(default_factory=list)
    lambda_arn: str | None = None

    def status_json(self) -> dict[str, Any]:
        return {
            "componentState": "DEPLOYABLE",
            "message": "NONE",
            "errors": {},
            "vendorGuidance": "ACTIVE",
            "vendorGuidanceMessage": "NONE",
        }


@dataclass
class DeploymentRecord:
    deployment_id: str
    target_arn: str
    revision_id: str
    deployment_name: str
    components: dict[str, Any]
    policies: dict[str, Any]
    job_config: dict[str, Any]
    parent_target_arn: str | None
    created: float
    iot_job_id: str
    iot_job_arn: str
    status: str = "ACTIVE"
    is_latest: bool = True
    modified: float = 0.0

    @property
    def target_kind(self) -> str:
        return "thinggroup" if ":thinggroup/" in self.target_arn else "thing"

    def summary_json(self) -> dict[str, Any]:
        out = {
            "targetArn": self.target_arn,
            "revisionId": self.revision_id,
            "deploymentId": self.deployment_id,
            "deploymentName": self.deployment_name,
            "creationTimestamp": self.created,
            "deploymentStatus": self.status,
            "isLatestForTarget": self.is_latest,
        }
        if self.parent_target_arn:
            out["parentTargetArn"] = self.parent_target_arn
        return out

    def document(self) -> dict[str, Any]:
        """The full deployment (``GetDeployment`` without tags): what a core applies."""
        out = {
            **self.summary_json(),
            "iotJobId": self.iot_job_id,
            "iotJobArn": self.iot_job_arn,
            "components": copy.deepcopy(self.components),
            "deploymentPolicies": copy.deepcopy(self.policies),
            "iotJobConfiguration": copy.deepcopy(self.job_config),
        }
        return out


@dataclass
class Execution:
    """One core device's execution of one deployment (``ListEffectiveDeployments``)."""

    status: str
    created: float
    modified: float
    reason: str | None = None
    error_stack: list[str] = field(default_factory=list)
    error_types: list[str] = field(default_factory=list)


@dataclass
class CoreDeviceRecord:
    thing: str
    core_version: str = catalog.version(catalog.NUCLEUS)  # until the core reports its own
    platform: str = "linux"
    architecture: str = "amd64"
    runtime: str = "aws_nucleus_classic"
    status: str = "HEALTHY"
    last_status_update: float = 0.0
    installed: list[dict[str, Any]] = field(default_factory=list)

    def summary_json(self) -> dict[str, Any]:
        return {
            "coreDeviceThingName": self.thing,
            "status": self.status,
            "lastStatusUpdateTimestamp": self.last_status_update,
            "platform": self.platform,
            "architecture": self.architecture,
            "runtime": self.runtime,
        }


# ----------------------------------------------------------------------------------- state
class GreengrassV2State:
    """All state of the stand-in; thread-safe; ``on_change`` fires after every mutation.

    ``public_components``: the catalog of public components it serves as account ``aws``
    (default: :data:`group.v2.catalog.PUBLIC_COMPONENTS`, the set the converter deploys).
    """

    def __init__(
        self,
        region: str,
        account_id: str,
        *,
        auto_complete_deployments: bool = False,
        public_components: Mapping[str, PublicComponentInfo] = catalog.PUBLIC_COMPONENTS,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.auto_complete = auto_complete_deployments
        self._public = dict(public_components)
        self._lock = threading.RLock()
        self._components: dict[str, dict[str, ComponentRecord]] = {}  # name -> version -> record
        self._deployments: dict[str, DeploymentRecord] = {}
        self._revisions: dict[str, int] = {}  # target -> last revision number
        self._executions: dict[str, dict[str, Execution]] = {}  # thing -> deployment id -> execution
        self._cores: dict[str, CoreDeviceRecord] = {}
        self._clients: dict[str, dict[str, float]] = {}  # core thing -> client thing -> associated at
        self._tags: dict[str, dict[str, str]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}  # "<op>:<token>" -> {at, fingerprint, result}
        self.on_change: Callable[[], None] | None = None
        # thing name -> ARNs of its thing groups; the wire module sets it (moto's IoT knows them)
        self.thing_groups: Callable[[str], list[str]] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # arns ------------------------------------------------------------------------------
    def component_arn(self, name: str, version: str | None = None, account: str | None = None) -> str:
        base = f"arn:aws:greengrass:{self.region}:{account or self.account_id}:components:{name}"
        return base if version is None else f"{base}:versions:{version}"

    def deployment_arn(self, deployment_id: str) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account_id}:deployments:{deployment_id}"

    def core_device_arn(self, thing: str) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account_id}:coreDevices:{thing}"

    def thing_arn(self, thing: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:thing/{thing}"

    def split_component_arn(self, arn: str, *, versioned: bool) -> tuple[str, str, str | None]:
        """``(account, name, version or None)`` of a component (version) ARN of this region."""
        m = _V2_ARN.match(arn or "")
        if m is None or m.group("kind") != "components":
            raise validation(f"{arn!r} is not a component ARN", [("arn", "invalid ARN")])
        account, rest = m.group("account"), m.group("rest")
        name, sep, version = rest.partition(":versions:")
        if versioned and not (sep and version):
            raise validation(
                f"{arn!r} names no version (…:components:<name>:versions:<version>)",
                [("arn", "needs a version")],
            )
        if not versioned and sep:
            raise validation(
                f"{arn!r} is a component version ARN; give the component ARN", [("arn", "no version")]
            )
        if m.group("region") != self.region or account not in ("aws", self.account_id):
            raise not_found(f"Component {arn} not found (this is {self.region}, account {self.account_id})")
        return account, name, (version or None)

    # idempotency -----------------------------------------------------------------------
    def _idempotent(self, op: str, token: Any, fingerprint: Any, make: Callable[[], Any]) -> Any:
        if not token:
            return make()
        key = f"{op}:{token}"
        fp = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
        now = time.time()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if now - v["at"] < CLIENT_TOKEN_TTL_S}
            seen = self._tokens.get(key)
            if seen is not None:
                if seen["fingerprint"] != fp:
                    raise conflict(
                        f"clientToken {token!r} was already used for a different {op} request; "
                        "use a new token for a new request"
                    )
                return copy.deepcopy(seen["result"])
            result = make()
            self._tokens[key] = {"at": now, "fingerprint": fp, "result": copy.deepcopy(result)}
        self._changed()
        return result

    # public catalog --------------------------------------------------------------------
    def public_components(self) -> dict[str, PublicComponentInfo]:
        return dict(self._public)

    def _public_record(self, name: str, version: str | None) -> ComponentRecord | None:
        info = self._public.get(name)
        if info is None or (version is not None and version != info.version):
            return None
        pv = info.version
        dep_map = {dep: req.recipe() for dep, req in info.dependencies.items()}
        recipe = {
            "RecipeFormatVersion": RECIPE_FORMAT_VERSION,
            "ComponentName": name,
            "ComponentVersion": pv,
            "ComponentType": info.component_type,
            "ComponentDescription": f"AWS-provided component {name}",
            "ComponentPublisher": "AWS",
            "ComponentDependencies": dep_map,
            "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {}}],
        }
        return ComponentRecord(
            name=name,
            version=pv,
            arn=self.component_arn(name, pv, account="aws"),
            created=0.0,
            recipe=recipe,
            description=recipe["ComponentDescription"],
            publisher="AWS",
            platforms=[{"name": "linux", "attributes": {"os": "linux"}}],
        )

    # components ------------------------------------------------------------------------
    def _add_component(self, rec: ComponentRecord) -> dict[str, Any]:
        with self._lock:
            versions = self._components.setdefault(rec.name, {})
            if rec.version in versions:
                raise conflict(
                    f"Component {rec.name} version {rec.version} already exists "
                    "(component versions are immutable: create a new version)"
                )
            versions[rec.version] = rec
        self._changed()
        return {
            "arn": rec.arn,
            "componentName": rec.name,
            "componentVersion": rec.version,
            "creationTimestamp": rec.created,
            "status": rec.status_json(),
        }

    def create_component_from_recipe(
        self,
        blob: bytes,
        *,
        tags: Mapping[str, str] | None = None,
        client_token: str | None = None,
        artifact_digests: Mapping[str, str] | None = None,
        recipe: Recipe | None = None,
    ) -> dict[str, Any]:
        """``CreateComponentVersion{inlineRecipe}``; ``recipe``: ``blob`` already parsed
        (:func:`parse_inline_recipe`). The stored recipe spells its keys as the reference does;
        ``artifact_digests`` (URI → base64 SHA-256) are written into it as the service does."""
        if recipe is None:
            recipe = parse_inline_recipe(blob)
        doc = recipe.canonical

        def make() -> dict[str, Any]:
            stored = copy.deepcopy(doc)
            stored.setdefault("ComponentType", "aws.greengrass.generic")
            for man in stored.get("Manifests") or []:
                for art in man.get("Artifacts") or []:
                    if artifact_digests and art.get("URI") in artifact_digests:
                        art.setdefault("Digest", artifact_digests[art["URI"]])
                        art.setdefault("Algorithm", "SHA-256")
            platforms = [
                {
                    "name": str(m.get("Name") or (m.get("Platform") or {}).get("os", "all")),
                    "attributes": {str(k): str(v) for k, v in (m.get("Platform") or {}).items()},
                }
                for m in stored.get("Manifests") or []
            ]
            rec = ComponentRecord(
                name=recipe.name,
                version=recipe.version,
                arn=self.component_arn(recipe.name, recipe.version),
                created=now_s(),
                recipe=stored,
                description=recipe.description or "",
                publisher=recipe.publisher or "",
                platforms=platforms,
            )
            out = self._add_component(rec)
            self._set_tags(rec.arn, tags)
            return out

        return self._idempotent("CreateComponentVersion", client_token, {"recipe": doc, "tags": tags}, make)

    def create_lambda_component(
        self,
        source: Mapping[str, Any],
        info: LambdaInfo,
        *,
        tags: Mapping[str, str] | None = None,
        client_token: str | None = None,
    ) -> dict[str, Any]:
        """``CreateComponentVersion{lambdaFunction}`` for a Lambda version the caller found: the recipe is
        :func:`group.v2.lambda_recipe.recipe_for_lambda` with the function's handler, runtime and code digest."""

        def make() -> dict[str, Any]:
            recipe = recipe_for_lambda(
                source, self.region, self.account_id,
                handler=info.handler, runtime=info.runtime, artifact_sha256=info.code_sha256 or None,
            )
            if version_problem(recipe["ComponentVersion"]) is not None:
                raise validation(
                    f"componentVersion {recipe['ComponentVersion']!r} is not a semantic version such as 1.0.0",
                    [("lambdaFunction.componentVersion", "not semver")],
                )
            platforms = [
                {"name": p.get("name") or "Linux", "attributes": dict(p.get("attributes") or {})}
                for p in (
                    source.get("componentPlatforms") or [{"name": "Linux", "attributes": {"os": "linux"}}]
                )
            ]
            rec = ComponentRecord(
                name=recipe["ComponentName"],
                version=recipe["ComponentVersion"],
                arn=self.component_arn(recipe["ComponentName"], recipe["ComponentVersion"]),
                created=now_s(),
                recipe=recipe,
                description="",
                publisher="AWS Lambda",
                platforms=platforms,
                lambda_arn=info.arn,
            )
            out = self._add_component(rec)
            self._set_tags(rec.arn, tags)
            return out

        return self._idempotent(
            "CreateComponentVersion", client_token, {"lambda": dict(source), "tags": tags}, make
        )

    def component(self, arn: str) -> ComponentRecord:
        """The component version named by a version ARN (private, or public from the catalog)."""
        account, name, version = self.split_component_arn(arn, versioned=True)
        assert version is not None
        if account == "aws":
            rec = self._public_record(name, version)
        else:
            with self._lock:
                rec = self._components.get(name, {}).get(version)
        if rec is None:
            raise not_found(f"Component {name} version {version} not found ({arn})")
        return rec

    def describe_component(self, arn: str) -> dict[str, Any]:
        rec = self.component(arn)
        return {
            "arn": rec.arn,
            "componentName": rec.name,
            "componentVersion": rec.version,
            "creationTimestamp": rec.created,
            "publisher": rec.publisher or "NONE",
            "description": rec.description or "NONE",
            "status": rec.status_json(),
            "platforms": copy.deepcopy(rec.platforms),
            "tags": self.tags(rec.arn, missing_ok=True),
        }

    def get_component(self, arn: str, fmt: str | None) -> dict[str, Any]:
        fmt = fmt or "JSON"
        if fmt not in ("JSON", "YAML"):
            raise validation(f"recipeOutputFormat must be JSON or YAML, got {fmt!r}")
        rec = self.component(arn)
        return {
            "recipeOutputFormat": fmt,
            "recipe": base64.b64encode(render_recipe(rec.recipe, fmt)).decode(),
            "tags": self.tags(rec.arn, missing_ok=True),
        }

    def artifact_uri(self, arn: str, artifact_name: str) -> tuple[ComponentRecord, str]:
        """``(component, artifact URI)`` for ``GetComponentVersionArtifact``: ``artifact_name`` is the
        URI's part after the scheme (``lambda-artifact.zip`` for ``greengrass:lambda-artifact.zip``,
        ``bucket/key`` for ``s3://bucket/key``), the whole URI, or its file name."""
        rec = self.component(arn)
        for uri in stored_artifact_uris(rec.recipe):
            scheme, _, rest = uri.partition(":")
            tail = rest[2:] if rest.startswith("//") else rest
            if artifact_name in (uri, tail, tail.rsplit("/", 1)[-1]):
                return rec, uri
        raise not_found(f"Component {rec.name} {rec.version} has no artifact {artifact_name!r}")

    def list_components(self, scope: str | None, max_results: Any, next_token: Any) -> dict[str, Any]:
        scope = scope or "PRIVATE"
        recs: list[ComponentRecord] = []
        if scope == "PUBLIC":
            for name in sorted(self.public_components()):
                rec = self._public_record(name, None)
                if rec is not None:
                    recs.append(rec)
        else:
            with self._lock:
                for name in sorted(self._components):
                    versions = self._components[name]
                    if versions:
                        recs.append(versions[max(versions, key=sort_key)])
        items, token = page(recs, max_results, next_token)
        out: dict[str, Any] = {
            "components": [
                {
                    "arn": self.component_arn(
                        r.name, account="aws" if r.publisher == "AWS" and scope == "PUBLIC" else None
                    ),
                    "componentName": r.name,
                    "latestVersion": {
                        "arn": r.arn,
                        "componentVersion": r.version,
                        "creationTimestamp": r.created,
                        "description": r.description or "NONE",
                        "publisher": r.publisher or "NONE",
                        "platforms": copy.deepcopy(r.platforms),
                    },
                }
                for r in items
            ]
        }
        if token:
            out["nextToken"] = token
        return out

    def list_component_versions(self, arn: str, max_results: Any, next_token: Any) -> dict[str, Any]:
        account, name, _ = self.split_component_arn(arn, versioned=False)
        if account == "aws":
            rec = self._public_record(name, None)
            recs = [rec] if rec is not None else []
        else:
            with self._lock:
                versions = self._components.get(name, {})
                recs = [versions[v] for v in sorted(versions, key=sort_key, reverse=True)]
        if not recs:
            raise not_found(f"Component {name} not found ({arn})")
        items, token = page(recs, max_results, next_token)
        out: dict[str, Any] = {
            "componentVersions": [
                {"componentName": r.name, "componentVersion": r.version, "arn": r.arn} for r in items
            ]
        }
        if token:
            out["nextToken"] = token
        return out

    def delete_component(self, arn: str) -> None:
        account, name, version = self.split_component_arn(arn, versioned=True)
        if account == "aws":
            raise validation(f"{arn} is a public component: it cannot be deleted")
        with self._lock:
            versions = self._components.get(name, {})
            if version not in versions:
                raise not_found(f"Component {name} version {version} not found ({arn})")
            del versions[version]
            if not versions:
                del self._components[name]
            self._tags.pop(arn, None)
        self._changed()

    def resolve_candidates(self, candidates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``ResolveComponentCandidates``: per candidate, the newest version (private versions, else the
        public catalog's) that meets every ``versionRequirements`` range; none → ResourceNotFound."""
        out = []
        for cand in candidates:
            name = str(cand.get("componentName") or "")
            reqs = dict(cand.get("versionRequirements") or {})
            with self._lock:
                recs = list(self._components.get(name, {}).values())
            if not recs:
                pub = self._public_record(name, None)
                recs = [pub] if pub is not None else []
            ranges = [_requirement(str(q)) for q in reqs.values()]
            ok = [r for r in recs if all(q.satisfied_by(r.version) for q in ranges)]
            if not ok:
                raise not_found(
                    f"Component {name}: no valid versions were found for this component under current "
                    f"constraints {reqs} (known: {sorted((r.version for r in recs), key=sort_key) or 'none'})"
                )
            best = max(ok, key=lambda r: sort_key(r.version))
            out.append(
                {
                    "arn": best.arn,
                    "componentName": best.name,
                    "componentVersion": best.version,
                    "recipe": base64.b64encode(render_recipe(best.recipe, "JSON")).decode(),
                    "vendorGuidance": "ACTIVE",
                    "message": "NONE",
                }
            )
        return {"resolvedComponentVersions": out}

    def resolves(self, name: str, version: str) -> bool:
        """Whether a core could get ``name`` ``version`` (a private version, or the catalog's)."""
        with self._lock:
            if version in self._components.get(name, {}):
                return True
        return self._public_record(name, version) is not None

    # deployments -----------------------------------------------------------------------
    def create_deployment(
        self, body: Mapping[str, Any], *, client_token: str | None = None, members: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``CreateDeployment``. The caller has checked that the target exists (moto's IoT);
        ``members``: a thing group target's things (used only by auto-complete).

        Component versions are **not** checked here: the service accepts the deployment and the
        core fails it when a version does not resolve (the nucleus' ``NO_AVAILABLE_COMPONENT_VERSION``).
        """
        target = str(body.get("targetArn") or "")
        kind, tname, region, account = parse_target(target)
        if region != self.region or account != self.account_id:
            raise validation(
                f"targetArn {target} is not in this region/account ({self.region}, {self.account_id})",
                [("targetArn", "other region or account")],
            )
        parent = body.get("parentTargetArn")
        if parent and kind != "thinggroup":
            raise validation(
                "a subdeployment (parentTargetArn) must target a thing group",
                [("targetArn", "not a thinggroup")],
            )
        components = copy.deepcopy(dict(body.get("components") or {}))
        errs: list[tuple[str, str]] = []
        for cname, spec in components.items():
            upd = (spec or {}).get("configurationUpdate") or {}
            merge = upd.get("merge")
            if merge is not None:
                try:
                    if not isinstance(json.loads(merge), dict):
                        errs.append(
                            (f"components.{cname}.configurationUpdate.merge", "must be a JSON object")
                        )
                except ValueError as exc:
                    errs.append((f"components.{cname}.configurationUpdate.merge", f"is not JSON: {exc}"))
            for ptr in upd.get("reset") or []:
                if ptr != "" and not str(ptr).startswith("/"):
                    errs.append(
                        (f"components.{cname}.configurationUpdate.reset", f"{ptr!r} is not a JSON pointer")
                    )
        if errs:
            raise validation("Invalid deployment: " + "; ".join(f"{n} {m}" for n, m in errs), errs)
        policies = copy.deepcopy(DEFAULT_POLICIES)
        given = dict(body.get("deploymentPolicies") or {})
        if "failureHandlingPolicy" in given:
            policies["failureHandlingPolicy"] = given["failureHandlingPolicy"]
        for key in ("componentUpdatePolicy", "configurationValidationPolicy"):
            policies[key].update(given.get(key) or {})
        fingerprint = {k: v for k, v in body.items() if k != "clientToken"}

        def make() -> dict[str, Any]:
            now = now_s()
            dep_id = str(uuid.uuid4())
            job_id = str(uuid.uuid4())
            with self._lock:
                rev = self._revisions.get(target, 0) + 1
                self._revisions[target] = rev
                for old in self._deployments.values():
                    if old.target_arn == target and old.is_latest:
                        old.is_latest = False
                        if old.status != "CANCELED":
                            old.status = "INACTIVE"
                        old.modified = now
                dep = DeploymentRecord(
                    deployment_id=dep_id,
                    target_arn=target,
                    revision_id=str(rev),
                    deployment_name=str(body.get("deploymentName") or f"Deployment for {tname}"),
                    components=components,
                    policies=policies,
                    job_config=copy.deepcopy(dict(body.get("iotJobConfiguration") or {})),
                    parent_target_arn=parent or None,
                    created=now,
                    modified=now,
                    iot_job_id=job_id,
                    iot_job_arn=f"arn:aws:iot:{self.region}:{self.account_id}:job/{job_id}",
                )
                self._deployments[dep_id] = dep
                self._set_tags(self.deployment_arn(dep_id), body.get("tags"), notify=False)
            self._changed()
            if self.auto_complete:
                for member in [tname] if kind == "thing" else sorted(set(members)):
                    self._auto_complete(member, dep_id)
            return {
                "deploymentId": dep.deployment_id,
                "iotJobId": dep.iot_job_id,
                "iotJobArn": dep.iot_job_arn,
            }

        return self._idempotent("CreateDeployment", client_token, fingerprint, make)

    def _auto_complete(self, thing: str, dep_id: str) -> None:
        dep = self._deployment(dep_id)
        missing = [
            (n, s.get("componentVersion", ""))
            for n, s in dep.components.items()
            if not self.resolves(n, s.get("componentVersion", ""))
        ]
        if missing:
            name, version = missing[0]
            self.report_deployment(
                thing,
                dep_id,
                "FAILED",
                reason=(
                    f"NoAvailableComponentVersionException: Failed to negotiate component '{name}' version with "
                    f"cloud and no local applicable version satisfying requirement '{{{dep.target_arn.split(':', 5)[-1]}=={version}}}'."
                ),
                error_stack=[
                    "DEPLOYMENT_FAILURE",
                    "NO_AVAILABLE_COMPONENT_VERSION",
                    "COMPONENT_VERSION_REQUIREMENTS_NOT_MET",
                ],
                error_types=["REQUEST_ERROR"],
            )
            return
        nucleus = dep.components.get("aws.greengrass.Nucleus", {}).get("componentVersion")
        self.report_health(thing, core_version=nucleus or None)
        self.report_installed(
            thing,
            [
                {
                    "componentName": n,
                    "componentVersion": s.get("componentVersion"),
                    "lifecycleState": "RUNNING",
                    "isRoot": True,
                }
                for n, s in sorted(dep.components.items())
            ],
            deployment_id=dep_id,
        )
        self.report_deployment(thing, dep_id, "SUCCEEDED")

    def _deployment(self, dep_id: str) -> DeploymentRecord:
        with self._lock:
            dep = self._deployments.get(dep_id)
        if dep is None:
            raise not_found(f"Deployment {dep_id} not found")
        return dep

    def get_deployment(self, dep_id: str) -> dict[str, Any]:
        dep = self._deployment(dep_id)
        with self._lock:
            out = dep.document()
        out["tags"] = self.tags(self.deployment_arn(dep_id), missing_ok=True)
        return out

    def deployment(self, dep_id: str) -> dict[str, Any]:
        """The deployment document (as ``GetDeployment``), for in-process readers."""
        return self.get_deployment(dep_id)

    def list_deployments(
        self,
        *,
        target_arn: str | None = None,
        history_filter: str | None = None,
        parent_target_arn: str | None = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> dict[str, Any]:
        hist = history_filter or "LATEST_ONLY"
        if hist not in ("LATEST_ONLY", "ALL"):
            raise validation(f"historyFilter must be ALL or LATEST_ONLY, got {hist!r}")
        with self._lock:
            deps = [
                d
                for d in self._deployments.values()
                if (target_arn is None or d.target_arn == target_arn)
                and (parent_target_arn is None or d.parent_target_arn == parent_target_arn)
                and (hist == "ALL" or d.is_latest)
            ]
            deps.sort(key=lambda d: (d.created, int(d.revision_id)), reverse=True)
            summaries = [d.summary_json() for d in deps]
        items, token = page(summaries, max_results, next_token)
        out: dict[str, Any] = {"deployments": items}
        if token:
            out["nextToken"] = token
        return out

    def cancel_deployment(self, dep_id: str) -> dict[str, Any]:
        dep = self._deployment(dep_id)
        with self._lock:
            if dep.status != "ACTIVE":
                raise conflict(
                    f"Deployment {dep_id} is {dep.status}: only an ACTIVE deployment can be canceled"
                )
            dep.status = "CANCELED"
            dep.modified = now_s()
            for execs in self._executions.values():
                ex = execs.get(dep_id)
                if ex is not None and ex.status in ("QUEUED", "IN_PROGRESS"):
                    ex.status, ex.modified = "CANCELED", dep.modified
        self._changed()
        return {"message": f"Deployment {dep_id} was canceled."}

    def delete_deployment(self, dep_id: str) -> None:
        dep = self._deployment(dep_id)
        with self._lock:
            if dep.status == "ACTIVE":
                raise conflict(
                    f"Deployment {dep_id} is ACTIVE: cancel it (CancelDeployment) before deleting it"
                )
            del self._deployments[dep_id]
            for execs in self._executions.values():
                execs.pop(dep_id, None)
            self._tags.pop(self.deployment_arn(dep_id), None)
        self._changed()

    # effective deployments (device side) -------------------------------------------------
    def _applicable(self, thing: str, group_arns: Iterable[str] | None) -> list[DeploymentRecord]:
        """The effective deployment of each target ``thing`` has (itself + its thing groups; ``None``: ask
        ``thing_groups``), oldest first: :func:`group.v2.deployments.effective_deployments`."""
        if group_arns is None:
            group_arns = self.thing_groups(thing) if self.thing_groups is not None else []
        with self._lock:
            records = {d.deployment_id: d for d in self._deployments.values()}
            summaries = [d.summary_json() for d in records.values()]
        return [records[s["deploymentId"]] for s in effective_deployments(summaries, thing, group_arns)]

    def core_deployments(self, thing: str, group_arns: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """What core ``thing`` must apply: the latest, not canceled deployment of each of its
        targets (the thing and its thing groups: ``group_arns``, or by default what
        ``thing_groups(thing)`` says), oldest first, as full ``GetDeployment`` documents."""
        return [d.document() for d in self._applicable(thing, group_arns) if d.status != "CANCELED"]

    def list_effective_deployments(
        self,
        thing: str,
        group_arns: Iterable[str] | None = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> dict[str, Any]:
        applicable = self._applicable(thing, group_arns)
        with self._lock:
            execs = self._executions.get(thing, {})
            rows: list[tuple[DeploymentRecord, Execution]] = []
            shown = set()
            for d in applicable:
                ex = execs.get(d.deployment_id) or Execution(
                    status="CANCELED" if d.status == "CANCELED" else "QUEUED",
                    created=d.created,
                    modified=d.modified,
                )
                rows.append((d, ex))
                shown.add(d.deployment_id)
            for dep_id, ex in execs.items():
                d = self._deployments.get(dep_id)
                if d is not None and dep_id not in shown:
                    rows.append((d, ex))
            rows.sort(key=lambda r: r[0].created, reverse=True)
            items = [
                {
                    "deploymentId": d.deployment_id,
                    "deploymentName": d.deployment_name,
                    "iotJobId": d.iot_job_id,
                    "iotJobArn": d.iot_job_arn,
                    "targetArn": d.target_arn,
                    "coreDeviceExecutionStatus": ex.status,
                    "creationTimestamp": ex.created,
                    "modifiedTimestamp": ex.modified,
                    **({"reason": ex.reason} if ex.reason else {}),
                    "statusDetails": {"errorStack": list(ex.error_stack), "errorTypes": list(ex.error_types)},
                }
                for d, ex in rows
            ]
        chunk, token = page(items, max_results, next_token)
        out: dict[str, Any] = {"effectiveDeployments": chunk}
        if token:
            out["nextToken"] = token
        return out

    # core device reports ---------------------------------------------------------------
    def _core(self, thing: str, now: float) -> CoreDeviceRecord:
        core = self._cores.get(thing)
        if core is None:
            core = self._cores[thing] = CoreDeviceRecord(thing=thing, last_status_update=now)
        return core

    def report_deployment(
        self,
        thing: str,
        dep_id: str,
        status: str,
        *,
        reason: str | None = None,
        error_stack: Sequence[str] = (),
        error_types: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Core ``thing`` reports its execution of ``dep_id``: ``IN_PROGRESS``, ``SUCCEEDED``,
        ``FAILED`` (+ reason, errorStack, errorTypes), ``REJECTED``, ``TIMED_OUT`` or ``CANCELED``.

        ``SUCCEEDED`` reads ``COMPLETED`` for a thing target and ``SUCCEEDED`` for a thing group
        (``coreDeviceExecutionStatus``). A thing target's deployment then becomes ``COMPLETED`` or
        ``FAILED``; a thing group's stays ``ACTIVE`` (continuous). Returns the execution row.
        """
        if status not in REPORTABLE:
            raise validation(f"status must be one of {', '.join(REPORTABLE)}, got {status!r}")
        dep = self._deployment(dep_id)
        now = now_s()
        with self._lock:
            if dep.target_kind == "thing" and dep.target_arn != self.thing_arn(thing):
                raise validation(f"Deployment {dep_id} targets {dep.target_arn}, not core device {thing}")
            exec_status = status
            if status == "SUCCEEDED" and dep.target_kind == "thing":
                exec_status = "COMPLETED"
            execs = self._executions.setdefault(thing, {})
            ex = execs.get(dep_id)
            if ex is None:
                ex = execs[dep_id] = Execution(status=exec_status, created=dep.created, modified=now)
            ex.status, ex.modified, ex.reason = exec_status, now, reason
            ex.error_stack, ex.error_types = [str(x) for x in error_stack], [str(x) for x in error_types]
            if dep.target_kind == "thing" and dep.status == "ACTIVE":
                if status == "SUCCEEDED":
                    dep.status, dep.modified = "COMPLETED", now
                elif status in ("FAILED", "REJECTED", "TIMED_OUT"):
                    dep.status, dep.modified = "FAILED", now
            core = self._core(thing, now)
            core.last_status_update = now
            row = asdict(ex)
        self._changed()
        return row

    def report_installed(
        self, thing: str, components: Sequence[Mapping[str, Any]], *, deployment_id: str | None = None
    ) -> None:
        """Core ``thing`` reports its whole set of installed components (replaces the last report).

        Each: ``componentName``, ``componentVersion``, ``lifecycleState`` (NEW … FINISHED), ``isRoot``,
        optional ``lifecycleStateDetails``, ``lifecycleStatusCodes``, ``lastInstallationSource``.
        """
        now = now_s()
        rows: list[dict[str, Any]] = []
        errs: list[tuple[str, str]] = []
        with self._lock:
            old = {
                c["componentName"]: c for c in (self._cores[thing].installed if thing in self._cores else [])
            }
        for i, c in enumerate(components):
            if not isinstance(c, Mapping):
                errs.append((f"components[{i}]", "must be an object"))
                continue
            name, version, state = c.get("componentName"), c.get("componentVersion"), c.get("lifecycleState")
            if not isinstance(name, str) or not name:
                errs.append((f"components[{i}].componentName", "required"))
            if not isinstance(version, str) or not version:
                errs.append((f"components[{i}].componentVersion", "required"))
            if state not in LIFECYCLE_STATES:
                errs.append(
                    (f"components[{i}].lifecycleState", f"must be one of {', '.join(LIFECYCLE_STATES)}")
                )
            if errs:
                continue
            prev = old.get(name)
            changed = (
                prev is None or prev.get("lifecycleState") != state or prev.get("componentVersion") != version
            )
            row: dict[str, Any] = {
                "componentName": name,
                "componentVersion": version,
                "lifecycleState": state,
                "isRoot": bool(c.get("isRoot", False)),
                "lastStatusChangeTimestamp": now if changed else prev.get("lastStatusChangeTimestamp", now),
                "lastReportedTimestamp": now,
                "lastInstallationSource": str(c.get("lastInstallationSource") or deployment_id or "LOCAL"),
                "lifecycleStatusCodes": [str(x) for x in c.get("lifecycleStatusCodes") or []],
            }
            if c.get("lifecycleStateDetails"):
                row["lifecycleStateDetails"] = str(c["lifecycleStateDetails"])[:1000]
            rows.append(row)
        if errs:
            raise validation("Invalid installed components: " + "; ".join(f"{n} {m}" for n, m in errs), errs)
        with self._lock:
            core = self._core(thing, now)
            core.installed = rows
            core.last_status_update = now
            if any(r["lifecycleState"] in ("ERRORED", "BROKEN") for r in rows):
                core.status = "UNHEALTHY"
        self._changed()

    def report_health(
        self,
        thing: str,
        *,
        status: str = "HEALTHY",
        core_version: str | None = None,
        platform: str | None = None,
        architecture: str | None = None,
        runtime: str | None = None,
    ) -> dict[str, Any]:
        """Core ``thing`` reports its health (``HEALTHY`` / ``UNHEALTHY``) and nucleus facts."""
        if status not in ("HEALTHY", "UNHEALTHY"):
            raise validation(f"status must be HEALTHY or UNHEALTHY, got {status!r}")
        now = now_s()
        with self._lock:
            core = self._core(thing, now)
            core.status = status
            core.last_status_update = now
            for attr, value in (
                ("core_version", core_version),
                ("platform", platform),
                ("architecture", architecture),
                ("runtime", runtime),
            ):
                if value:
                    setattr(core, attr, str(value))
            out = self._core_json(core)
        self._changed()
        return out

    # core devices (cloud side) -----------------------------------------------------------
    def _core_json(self, core: CoreDeviceRecord) -> dict[str, Any]:
        return {
            "coreDeviceThingName": core.thing,
            "coreVersion": core.core_version,
            "platform": core.platform,
            "architecture": core.architecture,
            "runtime": core.runtime,
            "status": core.status,
            "lastStatusUpdateTimestamp": core.last_status_update,
            "tags": self.tags(self.core_device_arn(core.thing), missing_ok=True),
        }

    def _require_core(self, thing: str) -> CoreDeviceRecord:
        with self._lock:
            core = self._cores.get(thing)
        if core is None:
            raise not_found(
                f"Core device {thing} not found (a core device exists once its nucleus has reported)"
            )
        return core

    def has_core(self, thing: str) -> bool:
        with self._lock:
            return thing in self._cores

    def get_core_device(self, thing: str) -> dict[str, Any]:
        core = self._require_core(thing)
        with self._lock:
            return self._core_json(core)

    def list_core_devices(
        self,
        *,
        things: Iterable[str] | None = None,
        status: str | None = None,
        runtime: str | None = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> dict[str, Any]:
        """``things``: only these (the members of ``thingGroupArn``, looked up by the caller)."""
        only = None if things is None else set(things)
        with self._lock:
            rows = [
                c.summary_json()
                for name, c in sorted(self._cores.items())
                if (only is None or name in only)
                and (status is None or c.status == status)
                and (runtime is None or c.runtime == runtime)
            ]
        items, token = page(rows, max_results, next_token)
        out: dict[str, Any] = {"coreDevices": items}
        if token:
            out["nextToken"] = token
        return out

    def delete_core_device(self, thing: str) -> None:
        self._require_core(thing)
        with self._lock:
            del self._cores[thing]
            self._executions.pop(thing, None)
            self._tags.pop(self.core_device_arn(thing), None)
        self._changed()

    def list_installed_components(
        self, thing: str, topology: str | None = None, max_results: Any = None, next_token: Any = None
    ) -> dict[str, Any]:
        topology = topology or "ROOT"
        if topology not in ("ROOT", "ALL"):
            raise validation(f"topologyFilter must be ROOT or ALL, got {topology!r}")
        core = self._require_core(thing)
        with self._lock:
            rows = [copy.deepcopy(c) for c in core.installed if topology == "ALL" or c.get("isRoot")]
        rows.sort(key=lambda c: c["componentName"])
        items, token = page(rows, max_results, next_token)
        out: dict[str, Any] = {"installedComponents": items}
        if token:
            out["nextToken"] = token
        return out

    # client devices ---------------------------------------------------------------------
    def associate_client_devices(
        self, core_thing: str, names: Sequence[str], missing: Iterable[str] = ()
    ) -> list[dict[str, str]]:
        """Associate client things with ``core_thing``; ``missing`` (things IoT does not know) come
        back as error entries, the others are associated (again: the timestamp stays)."""
        gone = set(missing)
        errors = [
            {
                "thingName": n,
                "code": "ResourceNotFoundException",
                "message": f"Thing {n} does not exist in IoT",
            }
            for n in names
            if n in gone
        ]
        now = now_s()
        with self._lock:
            assoc = self._clients.setdefault(core_thing, {})
            for n in names:
                if n not in gone:
                    assoc.setdefault(n, now)
        self._changed()
        return errors

    def disassociate_client_devices(self, core_thing: str, names: Sequence[str]) -> list[dict[str, str]]:
        errors = []
        with self._lock:
            assoc = self._clients.get(core_thing, {})
            for n in names:
                if assoc.pop(n, None) is None:
                    errors.append(
                        {
                            "thingName": n,
                            "code": "ResourceNotFoundException",
                            "message": f"Thing {n} is not associated with core device {core_thing}",
                        }
                    )
            if not assoc:
                self._clients.pop(core_thing, None)
        self._changed()
        return errors

    def associated_client_devices(
        self, core_thing: str, max_results: Any = None, next_token: Any = None
    ) -> dict[str, Any]:
        with self._lock:
            rows = [
                {"thingName": n, "associationTimestamp": at}
                for n, at in sorted(self._clients.get(core_thing, {}).items())
            ]
        items, token = page(rows, max_results, next_token)
        out: dict[str, Any] = {"associatedClientDevices": items}
        if token:
            out["nextToken"] = token
        return out

    # tags -------------------------------------------------------------------------------
    def _resource_exists(self, arn: str) -> bool:
        m = _V2_ARN.match(arn)
        if m is None:
            return False
        kind, rest = m.group("kind"), m.group("rest")
        with self._lock:
            if kind == "deployments":
                return rest in self._deployments
            if kind == "coreDevices":
                return rest in self._cores
            name, sep, version = rest.partition(":versions:")
            if m.group("account") == "aws":
                return self._public_record(name, version or None) is not None
            versions = self._components.get(name, {})
            return version in versions if sep else bool(versions)

    def _set_tags(self, arn: str, tags: Mapping[str, str] | None, *, notify: bool = True) -> None:
        if not tags:
            return
        with self._lock:
            self._tags.setdefault(arn, {}).update({str(k): str(v) for k, v in tags.items()})
        if notify:
            self._changed()

    def tags(self, arn: str, *, missing_ok: bool = False) -> dict[str, str]:
        if not missing_ok and not self._resource_exists(arn):
            raise not_found(f"Resource {arn} not found")
        with self._lock:
            return dict(self._tags.get(arn, {}))

    def tag_resource(self, arn: str, tags: Mapping[str, str]) -> None:
        if not self._resource_exists(arn):
            raise not_found(f"Resource {arn} not found")
        self._set_tags(arn, tags)

    def untag_resource(self, arn: str, keys: Iterable[str]) -> None:
        if not self._resource_exists(arn):
            raise not_found(f"Resource {arn} not found")
        with self._lock:
            current = self._tags.get(arn, {})
            for k in keys:
                current.pop(k, None)
            if not current:
                self._tags.pop(arn, None)
        self._changed()

    # persistence ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            by_status: dict[str, int] = {}
            for d in self._deployments.values():
                by_status[d.status] = by_status.get(d.status, 0) + 1
            return {
                "components": sum(len(v) for v in self._components.values()),
                "deployments": by_status,
                "core_devices": {t: c.status for t, c in sorted(self._cores.items())},
            }

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(
                json.dumps(
                    {
                        "components": {
                            n: {v: asdict(r) for v, r in vs.items()} for n, vs in self._components.items()
                        },
                        "deployments": {i: asdict(d) for i, d in self._deployments.items()},
                        "revisions": self._revisions,
                        "executions": {
                            t: {i: asdict(e) for i, e in es.items()} for t, es in self._executions.items()
                        },
                        "cores": {t: asdict(c) for t, c in self._cores.items()},
                        "clients": self._clients,
                        "tags": self._tags,
                        "tokens": self._tokens,
                    }
                )
            )

    def load_json(self, data: Mapping[str, Any]) -> None:
        with self._lock:
            self._components = {
                n: {v: ComponentRecord(**r) for v, r in vs.items()}
                for n, vs in data.get("components", {}).items()
            }
            self._deployments = {i: DeploymentRecord(**d) for i, d in data.get("deployments", {}).items()}
            self._revisions = {k: int(v) for k, v in data.get("revisions", {}).items()}
            self._executions = {
                t: {i: Execution(**e) for i, e in es.items()} for t, es in data.get("executions", {}).items()
            }
            self._cores = {t: CoreDeviceRecord(**c) for t, c in data.get("cores", {}).items()}
            self._clients = {t: dict(v) for t, v in data.get("clients", {}).items()}
            self._tags = {a: dict(v) for a, v in data.get("tags", {}).items()}
            self._tokens = dict(data.get("tokens", {}))
