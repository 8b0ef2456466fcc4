"""The deployments of one core device: which deployments target it, and what they add up to.

One rule for the greengrassv2 stand-in (what it lists to a core, ``ListEffectiveDeployments``), the deploy
steps and the local core's V2 reader, following aws-greengrass/aws-greengrass-nucleus
``DefaultDeploymentTask.getNonTargetGroupToRootPackagesMap`` and ``DeploymentDocumentConverter``:

* A deployment belongs to a **group**: ``thing/<thing>`` when it targets the core's thing, ``thinggroup/<group>``
  when it targets a thing group (:func:`group_of`).
* A core's **targets** are its thing and the thing groups it belongs to; each target has one effective
  deployment, its newest revision (the service marks older ones ``isLatestForTarget: false``)
  (:func:`effective_deployments`).
* The targets' deployments **combine**: the core applies the newest one, and the root components of its other
  targets stay, each with its version as an exact requirement (:func:`core_deployment`). Two targets that name
  different versions of one component cannot both be met: the nucleus fails the deployment
  (``NO_AVAILABLE_COMPONENT_VERSION``), :attr:`CoreDeployment.conflicts` says which.

Pure: deployments are ``GetDeployment`` / ``ListDeployments`` documents (``targetArn``, ``deploymentId``,
``revisionId``, ``creationTimestamp`` as epoch seconds or a datetime, ``isLatestForTarget``, ``components``).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

THING_PREFIX = "thing/"
THING_GROUP_PREFIX = "thinggroup/"

Document = Mapping[str, Any]


def group_of(target_arn: str) -> str:
    """The nucleus' group name of a deployment target: ``thing/<name>`` or ``thinggroup/<name>``."""
    return str(target_arn).rsplit(":", 1)[-1]


def core_groups(thing: str, thing_groups: Iterable[str]) -> List[str]:
    """The groups of a core device: its thing's, then its thing groups' (names or ARNs) in the order given."""
    out = [THING_PREFIX + thing]
    for g in thing_groups:
        group = group_of(g) if str(g).startswith("arn:") else THING_GROUP_PREFIX + str(g)
        if group not in out:
            out.append(group)
    return out


def _newness(doc: Document) -> Tuple[float, int]:
    created = doc.get("creationTimestamp") or 0
    if isinstance(created, _dt.datetime):
        created = created.timestamp()
    try:
        revision = int(doc.get("revisionId") or 0)
    except (TypeError, ValueError):
        revision = 0
    return float(created), revision


def effective_deployments(deployments: Iterable[Document], thing: str,
                          thing_groups: Iterable[str]) -> List[Document]:
    """The newest deployment of each target of the core (its thing, its thing groups), oldest first.

    A deployment the service no longer marks latest for its target (``isLatestForTarget: false``) is never
    effective; deployments to other things or thing groups are left out.
    """
    groups = set(core_groups(thing, thing_groups))
    newest: Dict[str, Document] = {}
    for doc in deployments:
        group = group_of(str(doc.get("targetArn", "")))
        if group not in groups or doc.get("isLatestForTarget", True) is False:
            continue
        if group not in newest or _newness(doc) > _newness(newest[group]):
            newest[group] = doc
    return sorted(newest.values(), key=_newness)


@dataclass(frozen=True)
class CoreDeployment:
    """What a core device runs: ``current`` (the newest effective deployment: the one it applies and reports
    on) combined with the root components of its ``others`` (the other targets' effective deployments)."""

    current: Document
    others: Tuple[Document, ...] = ()

    @property
    def deployment_id(self) -> str:
        return str(self.current.get("deploymentId"))

    @property
    def group(self) -> str:
        return group_of(str(self.current.get("targetArn", "")))

    def other_roots(self) -> Dict[str, Dict[str, str]]:
        """Group → {root component → version} of the other targets (``getNonTargetGroupToRootPackagesMap``)."""
        return {group_of(str(d.get("targetArn", ""))): {str(n): str((e or {}).get("componentVersion"))
                                                       for n, e in (d.get("components") or {}).items()}
                for d in self.others}

    def components(self) -> Dict[str, Dict[str, Any]]:
        """Every root component → its deployment entry: the current deployment's, then each other target's
        (newest first) for the components the current one does not name."""
        out: Dict[str, Dict[str, Any]] = {str(n): dict(e or {})
                                          for n, e in (self.current.get("components") or {}).items()}
        for doc in sorted(self.others, key=_newness, reverse=True):
            for name, entry in (doc.get("components") or {}).items():
                out.setdefault(str(name), dict(entry or {}))
        return out

    @property
    def conflicts(self) -> Dict[str, Dict[str, str]]:
        """Component → {group → version} where the core's targets name different versions of it."""
        versions: Dict[str, Dict[str, str]] = {}
        for doc in (self.current,) + tuple(self.others):
            group = group_of(str(doc.get("targetArn", "")))
            for name, entry in (doc.get("components") or {}).items():
                versions.setdefault(str(name), {})[group] = str((entry or {}).get("componentVersion"))
        return {n: v for n, v in versions.items() if len(set(v.values())) > 1}

    def document(self) -> Dict[str, Any]:
        """The current deployment document with the combined root components."""
        return dict(self.current, components=self.components())


def core_deployment(deployments: Sequence[Document], thing: str,
                    thing_groups: Iterable[str]) -> Optional[CoreDeployment]:
    """What the core device ``thing`` in ``thing_groups`` runs (None: no deployment targets it)."""
    effective = effective_deployments(deployments, thing, thing_groups)
    if not effective:
        return None
    return CoreDeployment(effective[-1], tuple(effective[:-1]))


__all__ = ["THING_GROUP_PREFIX", "THING_PREFIX", "CoreDeployment", "core_deployment", "core_groups",
           "effective_deployments", "group_of"]
