"""Which component versions a deployment installs (pure): the nucleus' dependency resolution.

Follows aws-greengrass-nucleus ``componentmanager/DependencyResolver.resolveDependencies`` and
``ComponentManager.resolveComponentVersion``:

* every root component of the deployment is required at exactly the version the deployment names, on behalf
  of the deployment's group (``thing/<name>`` or ``thinggroup/<name>``); the root components the core's other
  groups installed join with *their* requirements (``DefaultDeploymentTask.getNonTargetGroupToRootPackagesMap``);
* breadth first from each target, every component is resolved against **all** the requirements on it (the
  groups' and its dependers' ``VersionRequirement``, npm ranges as semver4j reads them,
  :mod:`group.v2.versions`), its dependencies join the queue with the new requirement; when a component's
  resolved version changes, the dependencies only the old version needed are dropped again;
* one version is chosen per component: the **active** one when it meets every requirement
  (``findBestCandidateLocally``), else the newest the cloud offers (``ResolveComponentCandidates``) — the
  caller's ``resolve`` does the asking; none → ``NoAvailableComponentVersionException``, whose message
  (``makeMessage``) lists each requirement;
* a circular dependency among the deployment's components fails it.

Nothing is installed before this succeeds: a failure here is a deployment that changed nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from group.v2.versions import VersionRequirement

from .errors import ComponentError

VERSION_NOT_FOUND = "No local or cloud component version satisfies the requirements."


class ResolutionError(ComponentError):
    """The deployment's components cannot be resolved; ``codes`` are the nucleus' DeploymentErrorCode names."""

    def __init__(self, message: str, codes: tuple[str, ...] = ("NO_AVAILABLE_COMPONENT_VERSION",)) -> None:
        super().__init__(message)
        self.codes = codes


@dataclass(frozen=True)
class Resolved:
    """A component version with the requirements it puts on its dependencies (the nucleus' ComponentMetadata)."""

    name: str
    version: str
    dependencies: Mapping[str, str] = field(default_factory=dict)   # name -> npm range


def no_version(name: str, requirements: Mapping[str, str], initial: str = VERSION_NOT_FOUND) -> ResolutionError:
    """The nucleus' ``NoAvailableComponentVersionException`` message for ``name`` and its requirements."""
    reqs = ", ".join(f"{who} requires {req}" for who, req in requirements.items())
    return ResolutionError(
        f"{initial.strip()} Check whether the version constraints conflict and that the component exists in your "
        f"AWS account with a version that matches the version constraints. If the version constraints conflict, "
        f"revise deployments to resolve the conflict. Component {name} version constraints: {reqs}.",
        ("NO_AVAILABLE_COMPONENT_VERSION", "COMPONENT_VERSION_REQUIREMENTS_NOT_MET"))


def satisfies_all(version: str, requirements: Mapping[str, str]) -> bool:
    """Whether ``version`` meets every requirement (the nucleus joins them into one npm range)."""
    try:
        return all(VersionRequirement.parse(r).satisfied_by(version) for r in requirements.values())
    except ValueError:
        return False


def keep_active(active: str | None, requirements: Mapping[str, str]) -> bool:
    """``findBestCandidateLocally``: the running version is used when it meets every requirement."""
    return active is not None and satisfies_all(active, requirements)


Resolver = Callable[[str, Mapping[str, str]], Resolved]


def resolve_dependencies(group: str, roots: Mapping[str, str], other_groups: Mapping[str, Mapping[str, str]],
                         resolve: Resolver) -> dict[str, Resolved]:
    """Every component the core runs after the deployment of ``group`` (name → :class:`Resolved`).

    ``roots``: the deployment's root components → their version; ``other_groups``: group → {root component →
    version requirement} of the core's other deployments; ``resolve(name, {requirer: range})`` returns the version
    to use or raises :class:`ResolutionError` (see the module doc)."""
    constraints: dict[str, dict[str, str]] = {}
    targets: list[str] = []
    for name, version in roots.items():
        try:
            VersionRequirement.parse(str(version))
        except ValueError:
            raise ResolutionError(f"Unsupported component version '{version}' for component '{name}'.",
                                  ("COMPONENT_VERSION_NOT_VALID",)) from None
        constraints.setdefault(name, {})[group] = str(version)
        targets.append(name)
    combined = list(dict.fromkeys(targets))
    for other, comps in other_groups.items():
        for name, requirement in comps.items():
            constraints.setdefault(name, {})[other] = str(requirement)
            if name not in combined:
                combined.append(name)

    resolved: dict[str, Resolved] = {}
    references: dict[str, int] = {}
    for target in combined:
        queue = [target]
        while queue:
            name = queue.pop(0)
            chosen = resolve(name, dict(constraints.get(name, {})))
            references[name] = references.get(name, 0) + 1
            previous = resolved.get(name)
            resolved[name] = chosen
            if previous is not None and previous != chosen:
                _drop(previous, resolved, references, constraints)
            if chosen == previous:
                continue
            for dep, requirement in chosen.dependencies.items():
                constraints.setdefault(dep, {})[name] = requirement
                queue.append(dep)
    for target in targets:
        _check_cycle(target, resolved)
    return resolved


def _drop(old: Resolved, resolved: dict[str, Resolved], references: dict[str, int],
          constraints: dict[str, dict[str, str]]) -> None:
    """``removeDependencies``: a version left the tree; so do the dependencies nothing else refers to."""
    todo = [old]
    while todo:
        gone = todo.pop(0)
        for dep in gone.dependencies:
            constraints.get(dep, {}).pop(gone.name, None)
            count = references.get(dep)
            if count is None:
                continue
            if count == 1:
                references.pop(dep)
                removed = resolved.pop(dep, None)
                if removed is not None:
                    todo.append(removed)
            else:
                references[dep] = count - 1


def _check_cycle(target: str, resolved: Mapping[str, Resolved]) -> None:
    graph: dict[str, set[str]] = {}
    todo = [target]
    while todo:
        name = todo.pop(0)
        deps = set(resolved[name].dependencies) if name in resolved else set()
        graph[name] = deps
        todo += [d for d in deps if d not in graph and d not in todo]
    done: set[str] = set()
    while True:
        ready = [n for n in graph if n not in done and graph[n] <= done | (set(graph[n]) - set(graph))]
        if not ready:
            break
        done.update(ready)
    if len(done) != len(graph):
        version = resolved[target].version if target in resolved else "?"
        raise ResolutionError(f"Circular dependency detected for component {target}-v{version}",
                              ("COMPONENT_CIRCULAR_DEPENDENCY_ERROR",))


def order(components: Mapping[str, Resolved]) -> list[str]:
    """Dependencies before dependents (then by name): the order the core starts and lists them."""
    out: list[str] = []
    done: set[str] = set()
    remaining = set(components)
    while remaining:
        ready = sorted(n for n in remaining
                       if all(d in done or d not in components for d in components[n].dependencies))
        if not ready:  # a cycle outside the deployment's own components: keep a stable order
            ready = sorted(remaining)
        for n in ready:
            out.append(n)
            done.add(n)
            remaining.discard(n)
    return out
