"""What the core remembers of its local deployments, for ``GetLocalDeploymentStatus`` and
``ListLocalDeployments`` (pure).

Follows aws-greengrass/aws-greengrass-cli ``CLIEventStreamAgent`` (``persistLocalDeployment``, the
``LocalDeployment`` shape it answers) and the statuses aws-greengrass-nucleus ``DeploymentStatusKeeper`` reports
for a local deployment: **QUEUED** when it is created, **IN_PROGRESS** once the core takes it, then **SUCCEEDED**
or **FAILED** (with the detailed status — SUCCESSFUL, FAILED_NO_STATE_CHANGE, FAILED_ROLLBACK_NOT_REQUESTED,
FAILED_ROLLBACK_COMPLETE, REJECTED —, the error stack and types and the failure cause), or **CANCELED** when it
was cancelled (queued or in progress; final). ``createdOn`` is the creation time in UTC as the CLI formats it
(``dd-MM-uuuu HH:mm:ss z``, e.g. ``07-12-2026 10:11:12 UTC``). Records last as long as ``deploy.py run``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, CANCELED = "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELED"
STATUSES = (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, CANCELED)
DETAILED = ("SUCCESSFUL", "FAILED_NO_STATE_CHANGE", "FAILED_ROLLBACK_NOT_REQUESTED", "FAILED_ROLLBACK_COMPLETE",
            "REJECTED")


def created_on(epoch_ms: int) -> str:
    """``LOCAL_DEPLOYMENT_CREATED_ON_FORMATTER`` in UTC."""
    return time.strftime("%d-%m-%Y %H:%M:%S UTC", time.gmtime(epoch_ms / 1000.0))


@dataclass
class LocalDeploymentRecord:
    deployment_id: str
    created_ms: int
    status: str = QUEUED
    detailed: Optional[str] = None
    error_stack: Tuple[str, ...] = ()
    error_types: Tuple[str, ...] = ()
    failure_cause: Optional[str] = None

    def payload(self, details: bool = True) -> Dict[str, Any]:
        """The IPC ``LocalDeployment`` shape (``details``: with ``deploymentStatusDetails`` when there are any)."""
        out: Dict[str, Any] = {"deploymentId": self.deployment_id, "status": self.status,
                               "createdOn": created_on(self.created_ms)}
        if details and (self.detailed or self.error_stack or self.failure_cause):
            d: Dict[str, Any] = {}
            if self.detailed:
                d["detailedDeploymentStatus"] = self.detailed
            if self.error_stack:
                d["deploymentErrorStack"] = list(self.error_stack)
            if self.error_types:
                d["deploymentErrorTypes"] = list(self.error_types)
            if self.failure_cause:
                d["deploymentFailureCause"] = self.failure_cause
            out["deploymentStatusDetails"] = d
        return out


@dataclass
class LocalDeploymentRecords:
    """Every local deployment of this run, in creation order."""

    records: Dict[str, LocalDeploymentRecord] = field(default_factory=dict)

    def create(self, deployment_id: str, created_ms: int) -> LocalDeploymentRecord:
        rec = self.records[deployment_id] = LocalDeploymentRecord(deployment_id, created_ms)
        return rec

    def get(self, deployment_id: str) -> Optional[LocalDeploymentRecord]:
        return self.records.get(deployment_id)

    def __contains__(self, deployment_id: object) -> bool:
        return deployment_id in self.records

    def update(self, deployment_id: str, status: str, *, detailed: Optional[str] = None,
               error_stack: Sequence[str] = (), error_types: Sequence[str] = (),
               failure_cause: Optional[str] = None) -> LocalDeploymentRecord:
        """A status the core reports; a terminal one (SUCCEEDED, FAILED, CANCELED) replaces the details. A cancelled
        deployment stays CANCELED: what its merge, if it had begun, ends with is not reported (the nucleus' task future
        was cancelled, so no later status is published)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if detailed not in DETAILED:   # detailedDeploymentStatusFromString: an unknown one is left out
            detailed = None
        rec = self.records[deployment_id]
        if rec.status == CANCELED:
            return rec
        rec.status = status
        if status in (SUCCEEDED, FAILED, CANCELED):
            rec.detailed = detailed
            rec.error_stack = tuple(error_stack)
            rec.error_types = tuple(error_types)
            rec.failure_cause = failure_cause or None
        return rec

    def listed(self) -> List[Dict[str, Any]]:
        """``ListLocalDeployments``: id, status and creation time of each (no details)."""
        return [r.payload(details=False) for r in self.records.values()]

    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for r in self.records.values():
            out[r.status] = out.get(r.status, 0) + 1
        return out
