"""Greengrass V1 deployments moto lacks (pure): deployments and their status, acknowledged by a local core
(``DeploymentBook``), bulk deployments (``BulkBook``) and the parsing of their input file. Part of
``greengrass_state.GreengrassState``.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .errors import BadRequest, CloudError, NotFound
from .greengrass_definitions import _bad, iso_now, new_id

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ deployments

IN_PROGRESS, SUCCESS, FAILURE = "InProgress", "Success", "Failure"
_FINAL = (SUCCESS, FAILURE)


class DeploymentError(CloudError):
    """A core reported on a deployment that does not exist or is already final."""


@dataclass
class Deployment:
    """One deployment as the cloud tracks it. ``taken``: a core has picked it up."""

    deployment_id: str
    deployment_arn: str
    group_id: str
    group_arn: str
    group_version_id: str | None
    deployment_type: str
    created_at: str
    status: str = IN_PROGRESS
    updated_at: str = ""
    error_message: str | None = None
    taken: bool = False
    local_only: bool = False  # made by the adapter (reset), unknown to moto's list_deployments

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DeploymentStatus": self.status,
            "DeploymentType": self.deployment_type,
            "UpdatedAt": self.updated_at or self.created_at,
        }
        if self.error_message:
            out["ErrorMessage"] = self.error_message
            out["ErrorDetails"] = [
                {"DetailedErrorCode": "GG-LOCAL", "DetailedErrorMessage": self.error_message}
            ]
        return out

    def list_json(self) -> dict[str, Any]:
        return {
            "CreatedAt": self.created_at,
            "DeploymentArn": self.deployment_arn,
            "DeploymentId": self.deployment_id,
            "DeploymentType": self.deployment_type,
            "GroupArn": self.group_arn,
        }


class DeploymentBook:
    """Deployments and their status; the in-process API through which a local core acknowledges.

    A core (or anything acting for one) calls ``take_next(group_id)`` to receive the oldest
    deployment it has not taken yet, applies it, then ``report(deployment_id, "Success" | "Failure",
    message)``. ``add_listener(cb)`` calls ``cb(deployment)`` (on the thread that created it) for
    every new deployment, so an asyncio core can ``loop.call_soon_threadsafe`` instead of polling;
    ``wait_next(group_id, timeout)`` blocks a thread until one is there.

    With no core, deployments stay ``InProgress``. ``auto_complete=True`` marks each one
    ``Success`` as it is created (for deploy.py's functional tests without a core).
    ``ForceResetDeployment`` is final at once: the cloud does not wait for the core.
    """

    def __init__(self, auto_complete: bool = False) -> None:
        self.auto_complete = auto_complete
        self._cond = threading.Condition()
        self._deps: dict[str, Deployment] = {}
        self._listeners: list[Callable[[Deployment], None]] = []
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def add(self, dep: Deployment) -> Deployment:
        dep.updated_at = dep.updated_at or dep.created_at
        if dep.deployment_type == "ForceResetDeployment" or self.auto_complete:
            dep.status, dep.taken = SUCCESS, True
        with self._cond:
            self._deps[dep.deployment_id] = dep
            self._cond.notify_all()
            listeners = list(self._listeners)
        self._changed()
        if dep.status == IN_PROGRESS:
            for cb in listeners:
                try:
                    cb(dep)
                except Exception:  # a listener's bug must not fail the client's create_deployment
                    log.exception("deployment listener %r failed on %s", cb, dep.deployment_id)
        return dep

    def add_listener(self, callback: Callable[[Deployment], None]) -> None:
        with self._cond:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Deployment], None]) -> None:
        with self._cond:
            self._listeners.remove(callback)

    def get(self, deployment_id: str) -> Deployment | None:
        with self._cond:
            return self._deps.get(deployment_id)

    def all(self) -> list[Deployment]:
        with self._cond:
            return list(self._deps.values())

    def for_group(self, group_id: str) -> list[Deployment]:
        with self._cond:
            return [d for d in self._deps.values() if d.group_id == group_id]

    def latest(self, group_id: str) -> Deployment | None:
        """The group's most recent deployment (any status), or None: after a restart with nothing
        to redeploy, this is what the core is already running."""
        deps = self.for_group(group_id)
        return deps[-1] if deps else None

    def _next(self, group_id: str) -> Deployment | None:
        for d in self._deps.values():
            if d.group_id == group_id and d.status == IN_PROGRESS and not d.taken:
                d.taken = True
                return d
        return None

    def take_next(self, group_id: str) -> Deployment | None:
        """The oldest InProgress deployment of ``group_id`` not yet taken (marked taken), or None."""
        with self._cond:
            dep = self._next(group_id)
        if dep is not None:
            self._changed()
        return dep

    def wait_next(self, group_id: str, timeout: float) -> Deployment | None:
        """Like ``take_next`` but waits up to ``timeout`` seconds for one to arrive."""
        with self._cond:
            dep = None
            if self._cond.wait_for(
                lambda: any(
                    d.group_id == group_id and d.status == IN_PROGRESS and not d.taken
                    for d in self._deps.values()
                ),
                timeout=timeout,
            ):
                dep = self._next(group_id)
        if dep is not None:
            self._changed()
        return dep

    def report(self, deployment_id: str, status: str, message: str = "") -> Deployment:
        """Finish a deployment: ``status`` is ``"Success"`` or ``"Failure"`` (with a message)."""
        if status not in _FINAL:
            raise DeploymentError(f"report status must be Success or Failure, not {status!r}")
        with self._cond:
            dep = self._deps.get(deployment_id)
            if dep is None:
                raise DeploymentError(f"no deployment {deployment_id!r} in the local cloud")
            if dep.status in _FINAL:
                raise DeploymentError(f"deployment {deployment_id} is already {dep.status}")
            dep.status, dep.taken = status, True
            dep.updated_at = iso_now()
            dep.error_message = message or None if status == FAILURE else None
            self._cond.notify_all()
        self._changed()
        return dep

    def status(self) -> dict[str, Any]:
        with self._cond:
            counts: dict[str, int] = {}
            for d in self._deps.values():
                counts[d.status] = counts.get(d.status, 0) + 1
            return counts

    def to_json(self) -> list[dict[str, Any]]:
        with self._cond:
            return [asdict(d) for d in self._deps.values()]

    def load_json(self, data: list[dict[str, Any]]) -> None:
        """Load saved deployments. One a core had taken but not reported when the cloud stopped
        is offered again: that core is gone, the next one must apply it."""
        with self._cond:
            self._deps = {d["deployment_id"]: Deployment(**d) for d in data}
            for d in self._deps.values():
                if d.status == IN_PROGRESS:
                    d.taken = False


# ------------------------------------------------------------------------------ bulk deployments

BULK_ACTIVE = ("Initializing", "Running")


@dataclass
class BulkRecord:
    """One line of a bulk deployment input file, or the reason it is invalid."""

    line: int
    group_id: str | None = None
    group_version_id: str | None = None
    deployment_type: str = "NewDeployment"
    error: str | None = None


def parse_bulk_input(text: str) -> list[BulkRecord]:
    """Parse the JSON-lines input file (``{"GroupId", "GroupVersionId", "DeploymentType"}`` per line)."""
    out: list[BulkRecord] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            out.append(BulkRecord(n, error=f"line {n} is not JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            out.append(BulkRecord(n, error=f"line {n} is not a JSON object"))
            continue
        gid, gvid = obj.get("GroupId"), obj.get("GroupVersionId")
        dtype = obj.get("DeploymentType", "NewDeployment")
        if not isinstance(gid, str) or not gid or not isinstance(gvid, str) or not gvid:
            out.append(BulkRecord(n, error=f"line {n} needs GroupId and GroupVersionId"))
        elif dtype not in ("NewDeployment", "Redeployment"):
            out.append(
                BulkRecord(
                    n,
                    gid,
                    gvid,
                    str(dtype),
                    error=f"line {n}: DeploymentType must be NewDeployment or Redeployment",
                )
            )
        else:
            out.append(BulkRecord(n, gid, gvid, dtype))
    return out


@dataclass
class BulkDeployment:
    bulk_id: str
    arn: str
    created_at: str
    input_uri: str
    role_arn: str
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "Initializing"
    records_processed: int = 0
    invalid_input_records: int = 0
    retry_attempts: int = 0
    error_message: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    stop_requested: bool = False

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "BulkDeploymentMetrics": {
                "InvalidInputRecords": self.invalid_input_records,
                "RecordsProcessed": self.records_processed,
                "RetryAttempts": self.retry_attempts,
            },
            "BulkDeploymentStatus": self.status,
            "CreatedAt": self.created_at,
        }
        if self.error_message:
            out["ErrorMessage"] = self.error_message
        if self.tags:
            out["tags"] = dict(self.tags)
        return out


class BulkBook:
    """Bulk deployments; the API module runs them (one deployment per input record)."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self._lock = threading.Lock()
        self._bulk: dict[str, BulkDeployment] = {}
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def start(self, input_uri: Any, role_arn: Any, tags: Any = None) -> BulkDeployment:
        if not isinstance(input_uri, str) or not input_uri:
            raise _bad("InputFileUri is required")
        if not isinstance(role_arn, str) or not role_arn.startswith("arn:"):
            raise _bad("ExecutionRoleArn must be an IAM role ARN")
        bid = new_id()
        b = BulkDeployment(
            bid,
            f"arn:aws:greengrass:{self.region}:{self.account_id}:/greengrass/bulk/deployments/{bid}",
            iso_now(),
            input_uri,
            role_arn,
            dict(tags or {}),
        )
        with self._lock:
            self._bulk[bid] = b
        self._changed()
        return b

    def get(self, bulk_id: str) -> BulkDeployment:
        with self._lock:
            if bulk_id not in self._bulk:
                raise NotFound(f"Bulk deployment {bulk_id} does not exist.")
            return self._bulk[bulk_id]

    def list(self) -> list[BulkDeployment]:
        with self._lock:
            return list(self._bulk.values())

    def update(self, bulk_id: str, **changes: Any) -> None:
        with self._lock:
            b = self._bulk[bulk_id]
            for k, v in changes.items():
                setattr(b, k, v)
        self._changed()

    def add_result(self, bulk_id: str, result: dict[str, Any], *, invalid: bool) -> None:
        with self._lock:
            b = self._bulk[bulk_id]
            b.results.append(result)
            b.records_processed += 1
            b.invalid_input_records += int(invalid)
        self._changed()

    def request_stop(self, bulk_id: str) -> None:
        with self._lock:
            if bulk_id not in self._bulk:
                raise NotFound(f"Bulk deployment {bulk_id} does not exist.")
            b = self._bulk[bulk_id]
            if b.status not in BULK_ACTIVE:
                raise _bad(
                    f"Bulk deployment {bulk_id} is {b.status}; only an Initializing or Running "
                    "bulk deployment can be stopped"
                )
            b.stop_requested = True
            b.status = "Stopping"
        self._changed()

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(b) for b in self._bulk.values()]

    def load_json(self, data: list[dict[str, Any]]) -> None:
        with self._lock:
            self._bulk = {}
            for d in data:
                b = BulkDeployment(**d)
                if b.status in BULK_ACTIVE or b.status == "Stopping":  # its runner died with the last run
                    b.status, b.error_message = "Failed", "the local cloud stopped while it ran"
                self._bulk[b.bulk_id] = b


def parse_s3_uri(uri: Any) -> tuple[str, str]:
    """``(bucket, key)`` from ``s3://b/k``, ``https://b.s3[.region].amazonaws.com/k`` or
    ``https://s3[.region].amazonaws.com/b/k``."""
    if not isinstance(uri, str) or not uri:
        raise BadRequest("InputFileUri is required (s3://bucket/key or an S3 https URL)")
    p = urllib.parse.urlparse(uri)
    path = urllib.parse.unquote(p.path.lstrip("/"))
    if p.scheme == "s3" and p.netloc and path:
        return p.netloc, path
    if p.scheme in ("http", "https"):
        m = re.match(
            r"^(?P<bucket>.+)\.s3[.-][a-z0-9.-]*amazonaws\.com$|^(?P<bucket2>.+)\.s3\.amazonaws\.com$",
            p.netloc,
        )
        if m and path:
            return m.group("bucket") or m.group("bucket2"), path
        if re.match(r"^s3[.-][a-z0-9.-]*amazonaws\.com$|^s3\.amazonaws\.com$", p.netloc) and "/" in path:
            bucket, _, key = path.partition("/")
            return bucket, key
    raise BadRequest(f"InputFileUri {uri!r} is not an S3 object URI (s3://bucket/key or an S3 https URL)")
