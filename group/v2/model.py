"""What the V1 → V2 converter produces: frozen, JSON-able descriptions; no AWS calls here.

``V2Plan`` is the single contract between ``convert`` (this package), ``apply`` (boto3 steps), the local
greengrassv2 stand-in and the local core's V2 reader. Dicts inside are exactly the botocore request
shapes (``LambdaFunctionRecipeSource``, ``CreateDeploymentRequest``) or IAM/IoT policy documents.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import Issue
from . import catalog

SEVERITIES = ("error", "warning", "info")


def canonical_json(value: Any) -> str:
    """The one JSON spelling used for merges, hashes and files: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def configuration_update(merge: Optional[Mapping[str, Any]], reset: Sequence[str] = ()) -> Dict[str, Any]:
    """A deployment entry's ``configurationUpdate`` ({} when it changes nothing): ``merge`` as canonical JSON
    (the API takes a JSON string), ``reset`` as JSON pointers."""
    update: Dict[str, Any] = {}
    if merge:
        update["merge"] = canonical_json(merge)
    if reset:
        update["reset"] = list(reset)
    return update


def deployment_entry(version: str, update: Mapping[str, Any], run_with: Optional[Mapping[str, Any]] = None
                     ) -> Dict[str, Any]:
    """One ``components`` entry of CreateDeployment: the exact version, its configuration update and runWith."""
    entry: Dict[str, Any] = {"componentVersion": version}
    if update:
        entry["configurationUpdate"] = dict(update)
    if run_with:
        entry["runWith"] = dict(run_with)
    return entry


@dataclass(frozen=True)
class Finding:
    """Something V2 carries differently or not at all. ``path`` is the group.yaml path it concerns."""

    path: str
    severity: str  # error | warning | info
    message: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_issue(self, file: str) -> Issue:
        return Issue(file, self.path, self.message, self.fix, self.severity)

    def __str__(self) -> str:
        text = f"{self.path or '(group)'}: {self.severity}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


@dataclass(frozen=True)
class Artifact:
    """A file a generic component needs on the device. Exactly one of ``source_path`` (relative to the
    bundle root) or ``data`` holds the bytes; ``uri`` is where apply uploads it (``s3://bucket/key``)."""

    name: str
    sha256: str
    uri: str
    source_path: Optional[str] = None
    data: Optional[bytes] = None


@dataclass(frozen=True)
class LambdaComponent:
    """One imported V1 Lambda. ``request`` is the ``lambdaFunction`` member of CreateComponentVersion."""

    function: str                 # name in group.yaml
    component_name: str
    component_version: str
    lambda_function_name: str     # the AWS Lambda function name
    lambda_version: str           # the published version imported
    request: Dict[str, Any]
    handler: Optional[str] = None   # the Lambda function's configuration (not part of the request):
    runtime: Optional[str] = None   # the generated recipe's launcher environment carries them

    @property
    def lambda_arn(self) -> str:
        return str(self.request["lambdaArn"])

    def create_request(self) -> Dict[str, Any]:
        """Keyword arguments of ``greengrassv2.create_component_version`` (without clientToken/tags)."""
        return {"lambdaFunction": self.request}

    @property
    def parameters(self) -> Dict[str, Any]:
        return dict(self.request.get("componentLambdaParameters", {}))


@dataclass(frozen=True)
class ComponentVersion:
    """A component version the deployment names: its name and exact version."""

    name: str
    version: str


@dataclass(frozen=True)
class PublicComponent(ComponentVersion):
    """An AWS public component in the deployment with its configuration update."""

    merge: Dict[str, Any]
    reset: Tuple[str, ...] = ()

    def deployment_entry(self) -> Dict[str, Any]:
        return deployment_entry(self.version, configuration_update(self.merge, self.reset))


@dataclass(frozen=True)
class GenericComponent(ComponentVersion):
    """A recipe component of the bundle (the compose runner today; the user's own components later)."""

    recipe: Dict[str, Any]
    artifacts: Tuple[Artifact, ...] = ()

    def create_request(self) -> Dict[str, Any]:
        """Keyword arguments of ``create_component_version``: the recipe as JSON bytes (botocore base64s it)."""
        return {"inlineRecipe": canonical_json(self.recipe).encode("utf-8")}


@dataclass(frozen=True)
class V2Plan:
    group: str
    region: str
    account_id: str
    core_thing: str
    thing_group: str
    target_arn: str
    deployment_name: str
    lambdas: Tuple[LambdaComponent, ...]
    public: Tuple[PublicComponent, ...]
    generic: Tuple[GenericComponent, ...]
    deployment: Dict[str, Any]                 # CreateDeployment input without clientToken
    client_devices: Tuple[str, ...]            # thing names to associate with the core device
    connectivity_info: Tuple[Dict[str, Any], ...]  # UpdateConnectivityInfo entries; empty = IPDetector
    core_policy_name: str
    core_policy: Dict[str, Any]
    device_policy_name: str
    device_policy: Dict[str, Any]
    token_exchange_role_name: str
    role_alias_name: str
    token_exchange_role_trust: Dict[str, Any]
    token_exchange_role_policy: Dict[str, Any]
    findings: Tuple[Finding, ...] = ()
    # every IoT policy the core certificate needs, each within IoT's 2048-character limit; the first is
    # (core_policy_name, core_policy)
    core_policies: Tuple[Tuple[str, Dict[str, Any]], ...] = ()
    artifact_bucket: Optional[str] = None
    nucleus_config: Dict[str, Any] = field(default_factory=dict)  # config.yaml template (manual provisioning)

    # -- lookups ---------------------------------------------------------------------------------
    def component_versions(self) -> Dict[str, str]:
        """Every component of the deployment → its exact version."""
        return {name: spec["componentVersion"] for name, spec in self.deployment["components"].items()}

    def custom_components(self) -> Dict[str, str]:
        """The components this account owns (Lambda + generic) → version: what apply creates."""
        out = {lc.component_name: lc.component_version for lc in self.lambdas}
        out.update({gc.name: gc.version for gc in self.generic})
        return out

    def lambda_component(self, function: str) -> LambdaComponent:
        for lc in self.lambdas:
            if lc.function == function:
                return lc
        raise KeyError(f"no Lambda component for function {function!r}")

    def public_component(self, name: str) -> Optional[PublicComponent]:
        return next((p for p in self.public if p.name == name), None)

    def component_arn(self, name: str, version: Optional[str] = None) -> str:
        """Version ARN (or the component ARN without ``version``) as greengrassv2 spells it."""
        account = catalog.PUBLIC_ACCOUNT if name in catalog.PUBLIC_COMPONENTS else self.account_id
        arn = f"arn:aws:greengrass:{self.region}:{account}:components:{name}"
        return f"{arn}:versions:{version}" if version else arn

    @property
    def thing_group_arn(self) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:thinggroup/{self.thing_group}"

    @property
    def role_alias_arn(self) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:rolealias/{self.role_alias_name}"

    def deployment_client_token(self) -> str:
        """Idempotency token of CreateDeployment: a hash of the canonical document (retries within 8 h)."""
        return content_hash(self.deployment)[:64]

    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def findings_at(self, path: str) -> List[Finding]:
        return [f for f in self.findings if f.path == path or f.path.startswith(path + ".")
                or f.path.startswith(path + "[")]
