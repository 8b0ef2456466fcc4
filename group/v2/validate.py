"""``validate --platform v2``: everything about a group that Greengrass V2 cannot carry, before any AWS call.

``issues_for_v2(group, file)`` returns ``group.errors.Issue`` objects (errors and warnings, each with the
group.yaml path and a fix): the converter's findings (what V2 cannot reproduce, IoT policy sizes, names)
plus the runtime rules of AWS Lambda as of 2026-12 (a runtime Lambda no longer creates functions on warns;
a non-Python runtime is an error, the bundle's Lambdas are Python), what containerised Lambdas need on the
device, and every problem of every generic component (:func:`component_issues`: the recipe's own errors, all of
them, its name, its artifacts, and its dependencies resolved against the bundle's components and the public
components of the catalog). :func:`recipe_issues_of_file` gives the components' problems of a group file that
does not load, so that ``validate`` shows the group file's errors and the recipes' errors at once.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from .. import yaml_io
from ..errors import Issue
from ..model import Group, bundle_root, parse_partial
from . import catalog, versions
from .convert import convert
from .names import component_name, compose_component_name
from .recipe import RecipeError, load_recipe

RECIPE_REFERENCE = "docs.aws.amazon.com/greengrass/v2/developerguide/component-recipe-reference.html"
ARTIFACT_SCHEMES = ("s3", "docker")  # what a core device downloads (greengrass-v2 recipe reference: Artifacts.URI)

# AWS Lambda runtime deprecation (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html, 2026):
# python3.12 is deprecated on 2028-10-31, 3.13 on 2029-06-30, 3.14 on 2029-06-30 (standard support).
CREATABLE_RUNTIMES = ("python3.12", "python3.13", "python3.14")
V2_DEFAULT_RUNTIME = "python3.12"  # oldest runtime Lambda still creates; greengrasssdk stays 3.7-compatible code
DEPRECATED_RUNTIMES = {
    "python3.7": "2023-12-04", "python3.8": "2024-10-14", "python3.9": "2025-12-15",
    "python3.10": "2026-06-30", "python3.11": "2026-06-30",
}
# only to place issues somewhere concrete; the account does not change what V2 can carry
_PLACEHOLDER_ACCOUNT = "123456789012"


def issues_for_v2(group: Group, file: str, *, root: Optional[Path] = None,
                  include_info: bool = False) -> List[Issue]:
    """What V2 cannot carry in ``group`` (read from ``file``), as issues with path and fix."""
    root = Path(root) if root is not None else bundle_root(file)
    issues: List[Issue] = []
    for i, f in enumerate(group.functions):
        p = f"functions[{i}].runtime"
        if f.runtime in DEPRECATED_RUNTIMES:
            issues.append(Issue(file, p, f"AWS Lambda deprecated {f.runtime} on {DEPRECATED_RUNTIMES[f.runtime]} and "
                                "no longer creates functions on it; versions published earlier stay importable",
                                f"set runtime: {V2_DEFAULT_RUNTIME} (Lambda creates it and the V2 Lambda launcher runs "
                                "any Python the core device has on PATH)", "warning"))
        elif f.runtime not in CREATABLE_RUNTIMES:
            issues.append(Issue(file, p, f"runtime '{f.runtime}' is not a Python runtime AWS Lambda creates",
                                f"use one of {', '.join(CREATABLE_RUNTIMES)}"))
        full = f"{group.name}-{f.name}"
        if len(full) > 64:
            issues.append(Issue(file, f"functions[{i}].name", f"Lambda/component name '{full}' is {len(full)} "
                                "characters; it is shortened with a hash suffix to fit Lambda's 64",
                                "use a shorter group or function name for a readable component name", "warning"))
    if ":" in group.core.thing:
        issues.append(Issue(file, "core.thing", f"core thing name '{group.core.thing}' contains ':'; a V2 core "
                            "device's thing name cannot", "use letters, digits, '_' and '-' only"))
    contained = [(i, f.name) for i, f in enumerate(group.functions) if f.isolation == "GreengrassContainer"]
    if contained:  # one warning for all of them (the device either has cgroups v1 or not)
        where = f"functions[{contained[0][0]}].isolation" if len(contained) == 1 else "functions"
        issues.append(Issue(file, where, f"{len(contained)} Lambda(s) run in a Greengrass container "
                            f"({', '.join(n for _, n in contained)}): the V2 Lambda launcher builds the container with "
                            "cgroups v1 (memory and devices controllers); a core device that boots with cgroups v2 "
                            "(most current Linux distributions) cannot start them",
                            "boot the device with cgroups v1 (kernel parameter systemd.unified_cgroup_hierarchy=0), "
                            "or set isolation: NoContainer on those functions", "warning"))
    plan = convert(group, root=root, account_id=_PLACEHOLDER_ACCOUNT, region=group.group.region)
    for finding in plan.findings:
        if finding.path.startswith("components[") and finding.severity != "info":
            continue  # component_issues below reports every one of them, and what the converter stops before
        if finding.severity != "info" or include_info:
            issues.append(finding.to_issue(file))
    issues += component_issues(group, file, root)
    return issues


# ---- the bundle's generic components ------------------------------------------------------------------------


def recipe_issues_of_file(path: Path | str) -> List[Issue]:
    """The generic components' problems of a group file that does not load (its schema-valid components, with
    the functions and connectors that are valid), so that they show beside the group file's own errors."""
    file = str(path)
    try:
        data = yaml_io.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []  # the group file's own error says it
    group, parsed = parse_partial(data, file)
    if group is None or not group.components:
        return []
    at = lambda i: parsed.at("components", i)  # noqa: E731 - items that failed the schema are left out
    try:
        return component_issues(group, file, bundle_root(file), at=at)
    except (AttributeError, TypeError):  # a stand-in group (group: or core: failed) without the names needed
        return component_issues(group, file, bundle_root(file), names_known=False, at=at)


def component_issues(group: Group, file: str, root: Path, *, names_known: bool = True,
                     at: Optional[Callable[[int], str]] = None) -> List[Issue]:
    """Every problem of every ``components[i]``, all at once: recipe file, every recipe error, name (``name:``
    and clashes), artifacts (scheme, files), dependencies (each must be a component of the bundle or a public
    component of the catalog, at a version its requirement accepts). Every error has a fix."""
    issues: List[Issue] = []
    others: Dict[str, str] = {}  # component names other parts of the plan take -> what they are
    if names_known:
        others.update({component_name(group, f.name): f"the Lambda component of functions[{i}]"
                       for i, f in enumerate(group.functions)})
        others.update({compose_component_name(group, c.name): "the Docker connector's compose component"
                       for c in group.connectors if c.compose_file is not None})
    facts = [_component_facts(c, root) for c in group.components]
    bundle: Dict[str, str] = {}  # the bundle's component names -> their versions
    for f in facts:
        if f["name"] and f["name"] not in bundle:
            bundle[f["name"]] = f["version"] or ""
    seen: Dict[str, str] = {}
    for i, (c, f) in enumerate(zip(group.components, facts)):
        p = at(i) if at is not None else f"components[{i}]"

        def err(path: str, message: str, fix: str, severity: str = "error") -> None:
            issues.append(Issue(file, path, message, fix or f"see the recipe reference ({RECIPE_REFERENCE})",
                                severity))

        if f["problem"]:
            err(f"{p}.recipe" if c.recipe else f"{p}.path", f["problem"],
                "create the folder with its recipe, or fix 'path'/'recipe' (relative to the bundle root)")
            continue
        rel = f["rel"]
        for issue in f["recipe_issues"]:
            where = f" at {issue.path}" if issue.path else ""
            err(f"{p}.recipe", f"recipe {rel}{where}: {issue.message}", issue.fix)
        name = f["name"]
        if name and c.name is not None and c.name != name:
            err(f"{p}.name", f"name '{c.name}' differs from the recipe's ComponentName '{name}' ({rel})",
                "remove 'name' or make the two equal")
        if name:
            if name in others or name in catalog.PUBLIC_COMPONENTS or name in seen:
                what = others.get(name) or seen.get(name) or "an AWS public component"
                err(f"{p}.recipe", f"component name '{name}' ({rel}) is already {what}", "rename the component in "
                    "its recipe")
            elif name.startswith("aws.greengrass."):
                err(f"{p}.recipe", f"component name '{name}' uses the aws.greengrass prefix AWS reserves for its own "
                    "components", "use your own prefix (e.g. com.example.)", "warning")
            seen.setdefault(name, f"the component of {p}")
        for uri in f["artifacts"]:
            scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
            if scheme not in ARTIFACT_SCHEMES:
                err(f"{p}.recipe", f"recipe {rel} names the artifact {uri!r}: a core device downloads only "
                    "s3:// and docker: artifacts", "put the file in the component folder and name it "
                    "s3://<any-bucket>/<file> (deploy uploads it), or use a docker: image URI")
            elif scheme == "s3":
                file_name = uri.rstrip("/").rsplit("/", 1)[-1]
                if not (c.folder(root) / file_name).is_file():
                    err(f"{p}.recipe", f"recipe {rel} names the artifact {uri} but {c.path.rstrip('/')}/{file_name} "
                        "does not exist", "put the file in the component folder or fix the URI")
        for dep, requirement in f["dependencies"]:
            issues += _dependency_issues(file, p, rel, name, dep, requirement, bundle, others)
    return issues


def _dependency_issues(file: str, p: str, rel: str, name: Optional[str], dep: str, requirement: Optional[str],
                       bundle: Mapping[str, str], others: Mapping[str, str]) -> List[Issue]:
    where = f"{p}.recipe"
    who = f"component '{name}'" if name else f"the recipe {rel}"
    if dep in bundle:
        version, what = bundle[dep], "the bundle has"
    elif dep in others:
        return []  # a Lambda or compose component: its version follows the Lambda version (any requirement)
    elif dep in catalog.PUBLIC_COMPONENTS:
        version, what = catalog.version(dep), "the deployment pins"
    else:
        return [Issue(file, where, f"{who} ({rel}) depends on '{dep}', which exists nowhere: it is no component of "
                      "this bundle (components:) and no AWS public component of the catalog (group/v2/catalog.py)",
                      f"add '{dep}' under components:, fix the name in ComponentDependencies, or remove the "
                      "dependency")]
    if not requirement or not version:
        return []
    try:
        ok = versions.satisfies(version, requirement)
    except ValueError:
        return []  # the recipe's own error (an invalid requirement) says it
    if ok:
        return []
    return [Issue(file, where, f"{who} ({rel}) needs {dep} {requirement}, but {what} {dep} {version}: the core "
                  "device cannot resolve it", f"accept {version} in the VersionRequirement (e.g. "
                  f"'^{version.split('.')[0]}.0.0'), or change the version of {dep}")]


def _component_facts(c: Any, root: Path) -> Dict[str, Any]:
    """What the checks need of one component: the recipe file problem, the recipe's errors, its name, version,
    artifact URIs and dependencies — read leniently from the document when the recipe does not parse."""
    out: Dict[str, Any] = {"problem": "", "rel": "", "recipe_issues": [], "name": None, "version": None,
                           "artifacts": [], "dependencies": []}
    rfile, problem = c.recipe_file(root)
    if rfile is None:
        out["problem"] = problem
        return out
    out["rel"] = _relpath(rfile, root)
    try:
        recipe = load_recipe(rfile)
    except RecipeError as exc:
        out["recipe_issues"] = list(exc.issues)
        out.update(_lenient_facts(rfile))
        return out
    out.update(name=recipe.name, version=recipe.version, artifacts=recipe.artifact_uris(),
               dependencies=[(d.name, d.version_requirement.text) for d in recipe.dependencies])
    return out


def _lenient_facts(path: Path) -> Dict[str, Any]:
    """Name, version, artifact URIs and dependencies of a recipe document that failed to parse (keys in any case,
    wrong shapes skipped: the recipe's own errors say what is wrong with them)."""
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml_io.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    if not isinstance(doc, dict):
        return {}

    def get(d: Any, key: str) -> Any:
        return next((v for k, v in d.items() if str(k).lower() == key.lower()), None) if isinstance(d, dict) else None

    name, version = get(doc, "ComponentName"), get(doc, "ComponentVersion")
    artifacts: List[str] = []
    manifests = get(doc, "Manifests")
    for m in manifests if isinstance(manifests, list) else []:
        arts = get(m, "Artifacts")
        for a in arts if isinstance(arts, list) else []:
            uri = get(a, "URI")
            if isinstance(uri, str) and uri not in artifacts:
                artifacts.append(uri)
    deps: List[Tuple[str, Optional[str]]] = []
    raw = get(doc, "ComponentDependencies")
    for dep, spec in (raw.items() if isinstance(raw, dict) else []):
        req = get(spec, "VersionRequirement")
        deps.append((str(dep), req if isinstance(req, str) else None))
    return {"name": name if isinstance(name, str) else None, "version": version if isinstance(version, str) else None,
            "artifacts": artifacts, "dependencies": deps}


def _relpath(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
