"""Component versions of the Greengrass V2 stand-in: inline recipes (read by the one recipe model,
:mod:`group.v2.recipe`), Lambda imports (the one generator, :mod:`group.v2.lambda_recipe`), the public catalog
(:mod:`group.v2.catalog`) and ``ResolveComponentCandidates`` (the ranges of :mod:`group.v2.versions`).

Public components: the deploy catalog (what the converter deploys, pinned) and, beside it, the public components
a user adds for what the local core emulates (:data:`EMULATED_PUBLIC_COMPONENTS`: the secret manager for
``GetSecretValue``, the Greengrass CLI for local deployments and the CLI's operations). A state serving the whole
deploy catalog (the stand-in's default) serves both; a state given its own table serves exactly that table. A
table maps a component name to one :class:`~group.v2.catalog.PublicComponentInfo` (one published version) or to a
sequence of them (several published versions: :func:`public_table` builds one), as AWS publishes several
versions of a component in a region. ``ListComponentVersions`` lists them newest first, ``GetComponent`` /
``DescribeComponent`` serve each, ``ListComponents`` shows the newest, ``ResolveComponentCandidates`` picks the
newest that meets every range.

A part of :class:`~.greengrassv2_state.GreengrassV2State` (a mixin over its lock and tables); pure.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from group.v2 import catalog
from group.v2.catalog import Dependency, PublicComponentInfo
from group.v2.lambda_recipe import recipe_for_lambda
from group.v2.recipe import RECIPE_FORMAT_VERSION, Recipe, RecipeError, parse_recipe
from group.v2.versions import VersionRequirement, sort_key, version_problem

from .greengrassv2_records import ComponentRecord, conflict, not_found, now_s, paged, validation

_LAMBDA_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[^:]+))?$"
)


def _emulated(name: str, version: str, nucleus_range: str, source: str) -> PublicComponentInfo:
    return PublicComponentInfo(name, version, catalog.PLUGIN, {catalog.NUCLEUS: Dependency(nucleus_range, "SOFT")},
                               False, source)


#: public components outside the deploy catalog that the local core emulates (newest release tags of their
#: repositories; the nucleus ranges are the usual ones of plugins, not verified)
EMULATED_PUBLIC_COMPONENTS: Mapping[str, PublicComponentInfo] = {
    c.name: c for c in (
        _emulated("aws.greengrass.SecretManager", "2.2.6", ">=2.0.0 <3.0.0",
                  "aws-greengrass/aws-greengrass-secret-manager tag v2.2.6 (line 2.2.x)"),
        _emulated("aws.greengrass.Cli", "2.16.1", ">=2.0.0 <3.0.0",
                  "aws-greengrass/aws-greengrass-cli tag v2.16.1 (the CLI follows the nucleus' line)"),
    )
}


def public_table(*infos: PublicComponentInfo) -> dict[str, tuple[PublicComponentInfo, ...]]:
    """A public table with several published versions per component (``GreengrassV2State(public_components=…)``):
    ``infos`` grouped by name, each group newest first."""
    out: dict[str, list[PublicComponentInfo]] = {}
    for info in infos:
        out.setdefault(info.name, []).append(info)
    return {name: _versions_of(name, group) for name, group in out.items()}


def _versions_of(name: str, entry: PublicComponentInfo | Sequence[PublicComponentInfo]
                 ) -> tuple[PublicComponentInfo, ...]:
    """One entry of a public table (one version, or several) as its versions, newest first; each must be a
    :class:`PublicComponentInfo` of ``name`` with a semantic version, each version once."""
    infos = (entry,) if isinstance(entry, PublicComponentInfo) else tuple(entry)
    seen: set[str] = set()
    for info in infos:
        if not isinstance(info, PublicComponentInfo) or info.name != name:
            raise ValueError(f"public table entry {name!r}: {info!r} is not a PublicComponentInfo of {name}")
        problem = version_problem(info.version)
        if problem is not None or info.version in seen:
            raise ValueError(f"public table entry {name!r}: {problem or f'version {info.version} is given twice'}")
        seen.add(info.version)
    return tuple(sorted(infos, key=lambda i: sort_key(i.version), reverse=True))


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


def _requirement(text: str) -> VersionRequirement:
    try:
        return VersionRequirement.parse(text)
    except ValueError as exc:
        raise validation(
            f"version requirement {text!r} is not an npm-style range such as ^2.0.0 or >=2.0.0 <3.0.0: {exc}"
        ) from None


class ComponentsPart:
    """Component versions: create (recipe or Lambda), describe, get, list, delete, resolve."""

    # public catalog --------------------------------------------------------------------
    def public_components(self) -> dict[str, PublicComponentInfo]:
        """What the stand-in serves as account ``aws``: each name → its newest published version (module doc)."""
        names = list(self._public)
        if self._serves_catalog():
            names += [n for n in EMULATED_PUBLIC_COMPONENTS if n not in self._public]
        return {name: self.public_versions(name)[0] for name in names}

    def public_versions(self, name: str) -> list[PublicComponentInfo]:
        """Every published version of the public component ``name``, newest first (``[]``: not published)."""
        entry = self._public.get(name)
        if entry is not None:
            return list(_versions_of(name, entry))
        if name in EMULATED_PUBLIC_COMPONENTS and self._serves_catalog():
            return [EMULATED_PUBLIC_COMPONENTS[name]]
        return []

    def _serves_catalog(self) -> bool:
        """Whether the table is the whole deploy catalog, one version each (then the emulated ones are served too)."""
        return all(self._public.get(n) == i for n, i in catalog.PUBLIC_COMPONENTS.items())

    def _public_record(self, name: str, version: str | None) -> ComponentRecord | None:
        """The public component version ``name`` ``version`` (``None``: the newest), or None if not published."""
        infos = self.public_versions(name)
        info = infos[0] if version is None and infos else next((i for i in infos if i.version == version), None)
        return None if info is None else self._public_record_of(info)

    def _public_record_of(self, info: PublicComponentInfo) -> ComponentRecord:
        name, pv = info.name, info.version
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

    def _public_records(self, name: str) -> list[ComponentRecord]:
        """Every published version of ``name`` as a record, newest first."""
        return [self._public_record_of(i) for i in self.public_versions(name)]

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
        rows = [
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
            for r in recs
        ]
        return paged("components", rows, max_results, next_token)

    def list_component_versions(self, arn: str, max_results: Any, next_token: Any) -> dict[str, Any]:
        account, name, _ = self.split_component_arn(arn, versioned=False)
        if account == "aws":
            recs = self._public_records(name)
        else:
            with self._lock:
                versions = self._components.get(name, {})
                recs = [versions[v] for v in sorted(versions, key=sort_key, reverse=True)]
        if not recs:
            raise not_found(f"Component {name} not found ({arn})")
        rows = [{"componentName": r.name, "componentVersion": r.version, "arn": r.arn} for r in recs]
        return paged("componentVersions", rows, max_results, next_token)

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
        published public ones) that meets every ``versionRequirements`` range; none → ResourceNotFound."""
        out = []
        for cand in candidates:
            name = str(cand.get("componentName") or "")
            reqs = dict(cand.get("versionRequirements") or {})
            with self._lock:
                recs = list(self._components.get(name, {}).values())
            if not recs:
                recs = self._public_records(name)
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
        """Whether a core could get ``name`` ``version`` (a private version, or a published public one)."""
        with self._lock:
            if version in self._components.get(name, {}):
                return True
        return self._public_record(name, version) is not None
