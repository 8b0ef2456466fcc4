"""The catalog against what the target cloud publishes: AWS's public components in the deploy's region.

``group/v2/catalog.py`` pins each AWS public component the converter deploys to an exact version, with the
dependency ranges of that version's recipe, read in AWS's documentation (``verified``) or inferred. This module
asks the cloud the deploy goes to — AWS in the group's region with ``--target aws``, the local greengrassv2
stand-in otherwise (it serves the catalog, so there the check passes) — and says where they disagree:

* **error** — the pinned version is not published in the region (the core device could not download it), or
  the published recipe of the pinned version declares other dependency ranges than the catalog (the device
  would resolve the set differently than the catalog assumes); ``deploy`` refuses both before changing anything;
* **warning** — another component type or only another dependency type (HARD/SOFT); what was published could not
  be read (permissions, an endpoint without the API);
* **info** — newer published versions, within every range the catalog and the bundle's own recipes put on the
  component, or outside one of them (named).

Calls: per component one ``ListComponentVersions`` (paginated) on ``arn:<partition>:greengrass:<region>:aws:
components:<name>`` and, when the pinned version is listed, one ``GetComponent`` (JSON recipe) of it; what was
read is kept per client for the run. :func:`compare` is pure (table-tested); :func:`fetch` makes the calls;
:func:`check_plan` is what ``plan`` and ``deploy`` call.
"""
from __future__ import annotations

import json
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import Issue
from . import catalog
from .catalog import Dependency, PublicComponentInfo
from .versions import VersionRequirement, is_version, sort_key

log = logging.getLogger(__name__)

CATALOG_FILE = "group/v2/catalog.py"
FIX_CATALOG = (f"update {CATALOG_FILE} to a version this region publishes, with the dependency ranges of its "
               "published recipe (then `deploy.py plan --platform v2` shows the check again)")
FIX_REFUSED = (f"update {CATALOG_FILE}: each pinned version to one this region publishes, with the dependency "
               "ranges of its published recipe (`deploy.py plan --platform v2` lists every difference)")
SEVERITIES = ("error", "warning", "info")
_SHOWN_VERSIONS = 4  # published versions named in a message
FETCH_THREADS = 4  # components asked at once


@dataclass(frozen=True)
class Published:
    """What a cloud publishes of one public component in one region.

    ``versions``: every published version, newest first (``()``: the component is not published there);
    ``recipe``: the recipe document of the pinned version (None when that version is not listed or was not
    read); ``problem``: why the cloud could not be asked (the rest is then empty)."""

    name: str
    versions: Tuple[str, ...] = ()
    recipe: Optional[Mapping[str, Any]] = None
    problem: str = ""


@dataclass(frozen=True)
class Finding:
    """One disagreement between the catalog and the cloud (or a newer version), about ``component``."""

    component: str
    severity: str  # error | warning | info
    message: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_issue(self) -> Issue:
        return Issue(CATALOG_FILE, "", self.message, self.fix, self.severity)

    def __str__(self) -> str:
        text = f"{self.severity}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


# ---- what to check -------------------------------------------------------------------------------


def component_arn(name: str, region: str, partition: str = "aws") -> str:
    """The ARN of a public component (no version): the one ``ListComponentVersions`` takes."""
    return f"arn:{partition}:greengrass:{region}:{catalog.PUBLIC_ACCOUNT}:components:{name}"


def checked_names(plan: Any, table: Mapping[str, PublicComponentInfo] = catalog.PUBLIC_COMPONENTS) -> Tuple[str, ...]:
    """The public components a V2 plan needs: those its deployment names, those its own components (Lambda and
    generic) depend on, and the table's dependencies of those, transitively — the names the table pins."""
    names = {p.name for p in plan.public}
    names.update(name for name, _, _ in own_requirements(plan))
    todo = [n for n in names if n in table]
    seen = set(todo)
    while todo:
        for dep in table[todo.pop()].dependencies:
            if dep in table and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return tuple(sorted(seen))


def own_requirements(plan: Any) -> List[Tuple[str, str, str]]:
    """``(dependency, range, who)`` of every dependency the plan's own components declare (the generated Lambda
    recipes' service dependencies included)."""
    from .lambda_recipe import SERVICE_DEPENDENCIES

    out: List[Tuple[str, str, str]] = []
    for lc in plan.lambdas:
        deps = {n: d.version_requirement for n, d in SERVICE_DEPENDENCIES.items()}
        for n, d in (lc.request.get("componentDependencies") or {}).items():
            deps[n] = str((d or {}).get("versionRequirement") or "*")
        out += [(n, r, f"{lc.component_name} {lc.component_version}") for n, r in sorted(deps.items())]
    for gc in plan.generic:
        for n, dep in recipe_dependencies(gc.recipe).items():
            out.append((n, dep.version_requirement, f"{gc.name} {gc.version}"))
    return out


def requirements_on(table: Mapping[str, PublicComponentInfo], own: Iterable[Tuple[str, str, str]] = ()
                    ) -> Dict[str, List[Tuple[str, str]]]:
    """Component → ``[(who, range)]``: every range the table's pinned versions and the bundle's own components put
    on it — what a newer published version must meet to take the pinned one's place."""
    out: Dict[str, List[Tuple[str, str]]] = {}
    for info in table.values():
        for dep, req in info.dependencies.items():
            out.setdefault(dep, []).append((f"{info.name} {info.version}", req.version_requirement))
    for dep, rng, who in own:
        out.setdefault(dep, []).append((who, rng))
    return out


# ---- recipes ---------------------------------------------------------------------------------------


def _get_ci(doc: Mapping[str, Any], key: str) -> Any:
    """``doc[key]`` with the key in any case (the service takes recipe keys in any case)."""
    for k, v in doc.items():
        if str(k).lower() == key.lower():
            return v
    return None


def recipe_dependencies(recipe: Mapping[str, Any]) -> Dict[str, Dependency]:
    """The ``ComponentDependencies`` of a recipe document as the catalog spells them (type HARD when not given).

    Only this and ``ComponentType`` are read of a published recipe: the rest is AWS's business."""
    deps = _get_ci(recipe, "ComponentDependencies") or {}
    out: Dict[str, Dependency] = {}
    if not isinstance(deps, Mapping):
        return out
    for name, spec in deps.items():
        spec = spec if isinstance(spec, Mapping) else {}
        rng = _get_ci(spec, "VersionRequirement")
        dtype = _get_ci(spec, "DependencyType")
        out[str(name)] = Dependency(str(rng) if rng is not None else "*", str(dtype or "HARD").upper())
    return out


def same_range(a: str, b: str) -> bool:
    """Whether two npm-style ranges accept the same versions as written (``^2.0.0`` = ``>=2.0.0 <3.0.0``);
    text equality when either does not parse."""
    try:
        return VersionRequirement.parse(a).alternatives == VersionRequirement.parse(b).alternatives
    except ValueError:
        return " ".join(a.split()) == " ".join(b.split())


def _newest(versions: Sequence[str]) -> str:
    shown = ", ".join(versions[:_SHOWN_VERSIONS])
    return shown + (f" and {len(versions) - _SHOWN_VERSIONS} older" if len(versions) > _SHOWN_VERSIONS else "")


# ---- comparison (pure) -----------------------------------------------------------------------------


def compare(table: Mapping[str, PublicComponentInfo], published: Mapping[str, Published], region: str,
            names: Optional[Iterable[str]] = None,
            requirements: Optional[Mapping[str, Sequence[Tuple[str, str]]]] = None,
            deployed: Optional[Iterable[str]] = None) -> List[Finding]:
    """What differs between ``table`` (the catalog) and ``published`` (what ``region`` publishes) for ``names``
    (default: the whole table), errors first. ``requirements``: :func:`requirements_on` (default: the table's
    own ranges), for telling newer versions within the ranges from those outside. ``deployed``: the components
    the deployment lists at their pinned version (default: all); one it does not list is resolved by the core
    device to the newest published version within the ranges, which is a warning when that is not the pin."""
    reqs = requirements if requirements is not None else requirements_on(table)
    listed = set(deployed) if deployed is not None else None
    out: List[Finding] = []
    for name in sorted(names if names is not None else table):
        info = table[name]
        pub = published.get(name) or Published(name, problem="not asked")
        out += _compare_one(info, pub, region, reqs.get(name, ()), listed is None or name in listed)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(out, key=lambda f: order[f.severity])


def _compare_one(info: PublicComponentInfo, pub: Published, region: str,
                 reqs: Sequence[Tuple[str, str]], listed: bool = True) -> List[Finding]:
    name, pinned = info.name, info.version
    if pub.problem:
        return [Finding(name, "warning", f"{name}: could not read what {region} publishes ({pub.problem}); "
                        f"the pinned {pinned} is not checked",
                        "allow greengrass:ListComponentVersions and greengrass:GetComponent on "
                        f"{component_arn('*', region)}, then plan again")]
    if not pub.versions:
        return [Finding(name, "error", f"{name} is not published in {region} (ListComponentVersions: none); the "
                        f"catalog pins {pinned}",
                        "deploy the group to a region where AWS publishes it, or " + FIX_CATALOG)]
    out: List[Finding] = []
    if pinned not in pub.versions:
        out.append(Finding(name, "error", f"{name} {pinned} (pinned by the catalog) is not published in {region}; "
                           f"published: {_newest(pub.versions)}", FIX_CATALOG))
    elif pub.recipe is not None:
        out += _compare_recipe(info, pub.recipe, region)
    newer = [v for v in pub.versions if is_version(v) and sort_key(v) > sort_key(pinned)]
    within, outside = [], []
    for v in newer:
        missed = [(who, rng) for who, rng in reqs if not _satisfies(v, rng)]
        (outside if missed else within).append((v, missed))
    if within and not listed:
        v = max((v for v, _ in within), key=sort_key)
        out.append(Finding(name, "warning", f"the core device will resolve {name} to {v} (the newest published in "
                           f"{region} within the ranges on it), not the catalog's {pinned}: the deployment does not "
                           "list it, only the bundle's components depend on it",
                           f"narrow the bundle's VersionRequirement on {name}, or move the pin in {CATALOG_FILE}"))
    elif within:
        v = max((v for v, _ in within), key=sort_key)
        more = f" ({len(within)} newer versions within them)" if len(within) > 1 else ""
        out.append(Finding(name, "info", f"{name} {v} is published in {region}; the catalog pins {pinned} "
                           f"(within the catalog's ranges on it{more})"))
    if outside:
        v, missed = max(outside, key=lambda vm: sort_key(vm[0]))
        who, rng = missed[0]
        more = f"; {len(outside)} newer versions outside the ranges" if len(outside) > 1 else ""
        out.append(Finding(name, "info", f"{name} {v} is published in {region}; the catalog pins {pinned} "
                           f"({v} is outside {who}'s {rng}{more})"))
    return out


def _satisfies(version: str, rng: str) -> bool:
    try:
        return VersionRequirement.parse(rng).satisfied_by(version)
    except ValueError:
        return False


def _compare_recipe(info: PublicComponentInfo, recipe: Mapping[str, Any], region: str) -> List[Finding]:
    name, pinned = info.name, info.version
    where = f"the recipe of {name} {pinned} published in {region}"
    out: List[Finding] = []
    ctype = _get_ci(recipe, "ComponentType")
    if ctype is not None and str(ctype).lower() != info.component_type.lower():
        out.append(Finding(name, "warning", f"{where} is of type {ctype}; the catalog says {info.component_type}",
                           f"set the component type of {name} in {CATALOG_FILE} to {ctype}"))
    got = recipe_dependencies(recipe)
    ranges: List[str] = []
    types: List[str] = []
    for dep in sorted(set(got) | set(info.dependencies)):
        mine, theirs = info.dependencies.get(dep), got.get(dep)
        if theirs is None:
            ranges.append(f"no {dep} (catalog: {mine.version_requirement})")
        elif mine is None:
            ranges.append(f"{dep} {theirs.version_requirement} (not in the catalog)")
        elif not same_range(mine.version_requirement, theirs.version_requirement):
            ranges.append(f"{dep} {theirs.version_requirement} (catalog: {mine.version_requirement})")
        elif mine.dependency_type != theirs.dependency_type:
            types.append(f"{dep} {theirs.dependency_type} (catalog: {mine.dependency_type})")
    if ranges:
        out.append(Finding(name, "error", f"{where} declares other dependency ranges than the catalog: "
                           + "; ".join(ranges) + " — the core device would resolve the set differently",
                           f"copy the published ranges of {name} {pinned} into {CATALOG_FILE} and re-check the "
                           "set (catalog.inconsistencies())"))
    if types:
        out.append(Finding(name, "warning", f"{where} declares other dependency types: " + "; ".join(types),
                           f"copy them into {CATALOG_FILE}"))
    return out


def errors(findings: Iterable[Finding]) -> List[Finding]:
    return [f for f in findings if f.severity == "error"]


def summary(findings: Sequence[Finding], checked: int, region: str) -> Finding:
    """One line on the whole check (what ``plan`` shows when nothing differs)."""
    n_err = len(errors(findings))
    if not findings:
        text = f"{checked} public components checked against what {region} publishes: every pinned version " \
               "is published, with the catalog's dependency ranges"
    else:
        text = f"{checked} public components checked against what {region} publishes: {n_err} error(s), " \
               f"{len(findings) - n_err} other finding(s)"
    return Finding("", "info", text)


# ---- the calls ---------------------------------------------------------------------------------------


def _problem(err: Exception) -> str:
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        msg = str(e.get("Message") or "").strip()
        msg = "" if msg.startswith("<") else f": {msg[:200]}"  # an HTML page: an endpoint without the API
        return f"{getattr(err, 'operation_name', '')} → {e.get('Code', '?')} (HTTP {status}){msg}"
    return f"{type(err).__name__}: {err}"


def _not_found(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in ("ResourceNotFoundException", "ResourceNotFound")


def fetch_one(client: Any, region: str, name: str, pinned: str, partition: str = "aws") -> Published:
    """Ask ``client`` (a boto3 ``greengrassv2`` client of ``region``) what it publishes of ``name``."""
    arn = component_arn(name, region, partition)
    versions: List[str] = []
    try:
        for page in client.get_paginator("list_component_versions").paginate(arn=arn):
            versions += [str(v.get("componentVersion")) for v in page.get("componentVersions", [])]
    except ClientError as err:
        if _not_found(err):
            return Published(name)
        return Published(name, problem=_problem(err))
    except BotoCoreError as err:
        return Published(name, problem=_problem(err))
    versions = sorted(set(versions), key=sort_key, reverse=True)
    if pinned not in versions:
        return Published(name, tuple(versions))
    try:
        got = client.get_component(arn=f"{arn}:versions:{pinned}", recipeOutputFormat="JSON")
        doc = json.loads(got["recipe"])  # botocore hands the blob over decoded
    except ClientError as err:
        return Published(name, tuple(versions), problem=_problem(err))
    except BotoCoreError as err:
        return Published(name, tuple(versions), problem=_problem(err))
    except (ValueError, KeyError, TypeError) as err:
        return Published(name, tuple(versions), problem=f"GetComponent: the recipe is not a JSON document: {err}")
    if not isinstance(doc, Mapping):
        return Published(name, tuple(versions), problem="GetComponent: the recipe is not a JSON object")
    return Published(name, tuple(versions), doc)


class _RunCache:
    """What one client was told, per (region, component, pinned version): each component is asked once a run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_client: "weakref.WeakKeyDictionary[Any, Dict[Tuple[str, str, str], Published]]" = \
            weakref.WeakKeyDictionary()

    def get(self, client: Any, key: Tuple[str, str, str]) -> Optional[Published]:
        with self._lock:
            return self._by_client.get(client, {}).get(key)

    def put(self, client: Any, key: Tuple[str, str, str], value: Published) -> None:
        with self._lock:
            self._by_client.setdefault(client, {})[key] = value


_CACHE = _RunCache()


def fetch(client: Any, region: str, names: Iterable[str],
          table: Mapping[str, PublicComponentInfo] = catalog.PUBLIC_COMPONENTS,
          partition: str = "aws") -> Dict[str, Published]:
    """What ``client`` publishes of each of ``names`` (pinned as ``table`` says); asked once per client."""
    names = list(names)
    keys = {name: (region, name, table[name].version) for name in names}
    out: Dict[str, Published] = {}
    todo = []
    for name in names:
        got = _CACHE.get(client, keys[name])
        if got is None:
            todo.append(name)
        else:
            out[name] = got
    if todo:  # the calls of different components side by side (boto3 clients are thread-safe)
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(todo)), thread_name_prefix="published") as pool:
            answers = pool.map(lambda n: fetch_one(client, region, n, table[n].version, partition), todo)
            for name, got in zip(todo, answers):
                if got.problem:  # a passing problem (throttling, a network error) is asked again next time
                    log.warning("what %s publishes of %s could not be read: %s", region, name, got.problem)
                else:
                    _CACHE.put(client, keys[name], got)
                out[name] = got
    return {name: out[name] for name in names}


def check_plan(clients: Any, plan: Any, table: Mapping[str, PublicComponentInfo] = catalog.PUBLIC_COMPONENTS
               ) -> Tuple[List[Finding], Finding]:
    """``(findings, summary)`` of the public components ``plan`` (a :class:`~.model.V2Plan`) needs, against
    what the cloud of ``clients`` (a :class:`group.clients.Clients`) publishes in its region."""
    names = checked_names(plan, table)
    region = clients.region
    published = fetch(clients.greengrassv2, region, names, table, clients.partition or "aws")
    findings = compare(table, published, region, names, requirements_on(table, own_requirements(plan)),
                       deployed=plan.deployment.get("components", {}))
    return findings, summary(findings, len(names), region)


def refusal(findings: Sequence[Finding]) -> Tuple[str, str, str]:
    """``(object, cause, fix)`` of the DeployError a deploy raises for the errors among ``findings``."""
    errs = errors(findings)
    obj = ", ".join(sorted({f.component for f in errs}))
    cause = "the catalog does not match what the cloud publishes: " + "; ".join(f.message for f in errs)
    return obj, cause, FIX_REFUSED


__all__ = ["CATALOG_FILE", "FIX_CATALOG", "FIX_REFUSED", "Finding", "Published", "check_plan", "checked_names",
           "compare", "component_arn", "errors", "fetch", "fetch_one", "own_requirements", "recipe_dependencies", "refusal",
           "requirements_on", "same_range", "summary"]
