"""The core device's deployments: which one it applies next, what its other deployments add, how each ends,
and the device's health (pure; the one place these rules live — ``localcore/run_v2.py`` drives them).

* **Which deployments** target the core — the effective one of each target (its thing and each of its thing
  groups) — and their group names (``thing/<thing>``, ``thinggroup/<group>``) are :mod:`group.v2.deployments`'
  rule; this module adds what the core *remembers* of them.
* **One at a time, in the order they arrive** (``DeploymentService``: one deployment task at a time, jobs in
  creation order): :meth:`CoreDeployments.next` is the oldest effective deployment not processed yet (the
  newest one of several is processed last). The core reports every deployment under its own id, and the
  component states it reports afterwards under the one it applied last (:attr:`CoreDeployments.current`).
* **Deployments combine** (``DefaultDeploymentTask.getNonTargetGroupToRootPackagesMap``): the root components of
  the core's other groups stay, with their version as requirement — what each group's last *applied*
  deployment left (``GroupToRootComponents``, so a deployment that was rolled back adds nothing); a thing group
  the core no longer belongs to drops out; its thing's group always stays.
* **Outcomes** (``DeploymentResult.DeploymentStatus``): SUCCESSFUL, FAILED_NO_STATE_CHANGE (resolution,
  download or configuration failed before anything changed), FAILED_ROLLBACK_NOT_REQUESTED (policy
  DO_NOTHING: it stays as it is), FAILED_ROLLBACK_COMPLETE (policy ROLLBACK: the previous setup is back),
  FAILED_UNABLE_TO_ROLLBACK. The job status is SUCCEEDED or FAILED. The groups' root components are recorded
  on SUCCESSFUL and FAILED_ROLLBACK_NOT_REQUESTED only (``DeploymentService.persistGroupToRootComponents``).
* **Health** (``FleetStatusService``): UNHEALTHY exactly while a component is BROKEN.
* **A restart** (``KernelLifecycle.launch``): the nucleus keeps what it applied in its config store and, started
  again, launches those services without processing the deployment again — a job already SUCCEEDED is not
  offered again. :meth:`CoreDeployments.to_json` / :meth:`CoreDeployments.from_json` are that memory (the core
  keeps it under its V2 root), :meth:`CoreDeployments.resume` the deployment whose setup a restart launches.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from group.v2.deployments import THING_PREFIX, group_of

ROLLBACK, DO_NOTHING = "ROLLBACK", "DO_NOTHING"


class Outcome(str, enum.Enum):
    SUCCESSFUL = "SUCCESSFUL"
    FAILED_NO_STATE_CHANGE = "FAILED_NO_STATE_CHANGE"
    FAILED_ROLLBACK_NOT_REQUESTED = "FAILED_ROLLBACK_NOT_REQUESTED"
    FAILED_ROLLBACK_COMPLETE = "FAILED_ROLLBACK_COMPLETE"
    FAILED_UNABLE_TO_ROLLBACK = "FAILED_UNABLE_TO_ROLLBACK"

    @property
    def job_status(self) -> str:
        return "SUCCEEDED" if self is Outcome.SUCCESSFUL else "FAILED"

    @property
    def keeps_roots(self) -> bool:
        """Whether the deployment's root components become its group's (persistGroupToRootComponents)."""
        return self in (Outcome.SUCCESSFUL, Outcome.FAILED_ROLLBACK_NOT_REQUESTED)


@dataclass(frozen=True)
class Deployment:
    """One GetDeployment document as the core reads it."""

    id: str
    group: str
    name: str
    components: Mapping[str, Mapping[str, Any]]
    failure_policy: str = ROLLBACK
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> "Deployment":
        policies = doc.get("deploymentPolicies") or {}
        policy = str(policies.get("failureHandlingPolicy") or ROLLBACK)
        return cls(id=str(doc.get("deploymentId")), group=group_of(str(doc.get("targetArn", ""))),
                   name=str(doc.get("deploymentName") or ""),
                   components={str(k): dict(v or {}) for k, v in (doc.get("components") or {}).items()},
                   failure_policy=policy if policy in (ROLLBACK, DO_NOTHING) else ROLLBACK, document=dict(doc))

    @property
    def roots(self) -> dict[str, str]:
        """Root component → the exact version the deployment names."""
        return {n: str(e.get("componentVersion")) for n, e in self.components.items()}


@dataclass
class CoreDeployments:
    """What the core remembers of its deployments (the nucleus keeps it in its config store; ours lives as long
    as ``deploy.py run``)."""

    thing: str
    processed: dict[str, str] = field(default_factory=dict)                 # deployment id -> job status
    group_roots: dict[str, dict[str, str]] = field(default_factory=dict)    # group -> root -> version
    current: str | None = None                                              # the last deployment applied

    def next(self, listed: Sequence[Mapping[str, Any]]) -> Deployment | None:
        """The deployment to process now: the oldest listed one not processed yet (None: nothing new)."""
        for doc in listed:
            if str(doc.get("deploymentId")) not in self.processed:
                return Deployment.of(doc)
        return None

    def pending(self, listed: Sequence[Mapping[str, Any]]) -> list[Deployment]:
        return [Deployment.of(d) for d in listed if str(d.get("deploymentId")) not in self.processed]

    def other_roots(self, deployment: Deployment, listed: Iterable[Mapping[str, Any]],
                    thing_groups: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
        """The root components of the core's other groups: group → {component → version requirement}.
        ``thing_groups``: the ARNs of the thing groups the core is in (default: the targets of ``listed``)."""
        member_of = {group_of(str(d.get("targetArn", ""))) for d in listed}
        member_of |= {group_of(str(g)) for g in thing_groups or ()}
        out: dict[str, dict[str, str]] = {}
        for group, roots in self.group_roots.items():
            if group == deployment.group:
                continue
            if group.startswith(THING_PREFIX) or group in member_of:
                out[group] = dict(roots)
        return out

    def resume(self, listed: Sequence[Mapping[str, Any]]) -> Deployment | None:
        """After a restart with nothing new listed: the newest listed deployment this core applied (SUCCEEDED, its
        group's roots still its own), whose setup — with the other groups' roots — is what the core ran; None when
        there is none (then the core processes what is listed as a core that remembers nothing)."""
        if self.next(listed) is not None:
            return None
        for doc in reversed(list(listed)):
            deployment = Deployment.of(doc)
            if (self.processed.get(deployment.id) == Outcome.SUCCESSFUL.job_status
                    and self.group_roots.get(deployment.group) == deployment.roots):
                return deployment
        return None

    def forget(self) -> None:
        """Back to a core that processed nothing (what it remembered does not match what the cloud lists)."""
        self.processed.clear()
        self.group_roots.clear()
        self.current = None

    def to_json(self) -> dict[str, Any]:
        return {"thing": self.thing, "processed": dict(self.processed),
                "groupRoots": {g: dict(r) for g, r in self.group_roots.items()}, "current": self.current}

    @classmethod
    def from_json(cls, thing: str, doc: Any) -> "CoreDeployments":
        """The memory of ``thing`` kept by an earlier run; an empty one when ``doc`` is another core's or not one."""
        core = cls(thing)
        if not isinstance(doc, Mapping) or doc.get("thing") != thing:
            return core
        processed, roots = doc.get("processed"), doc.get("groupRoots")
        if isinstance(processed, Mapping):
            core.processed = {str(k): str(v) for k, v in processed.items()}
        if isinstance(roots, Mapping):
            core.group_roots = {str(g): {str(n): str(v) for n, v in r.items()}
                                for g, r in roots.items() if isinstance(r, Mapping)}
        current = doc.get("current")
        core.current = str(current) if isinstance(current, str) else None
        return core

    def finished(self, deployment: Deployment, outcome: Outcome) -> None:
        """Record how ``deployment`` ended (the core reports it; see :class:`Outcome`)."""
        self.processed[deployment.id] = outcome.job_status
        self.current = deployment.id
        if outcome.keeps_roots:
            self.group_roots[deployment.group] = deployment.roots


def health(states: Iterable[str]) -> str:
    """``FleetStatusService``: UNHEALTHY exactly while a component is BROKEN (ERRORED is a retry, not ill health)."""
    return "UNHEALTHY" if any(s == "BROKEN" for s in states) else "HEALTHY"


def failure_policy(deployment: Deployment) -> str:
    return deployment.failure_policy
