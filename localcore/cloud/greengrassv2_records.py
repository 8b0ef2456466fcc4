"""The Greengrass V2 stand-in's vocabulary: its records (component versions, deployments, executions, core
devices) with their JSON shapes per the botocore ``greengrassv2`` 2020-11-30 model, the service's errors, ARNs
and paging. Pure; used by :mod:`.greengrassv2_state` and its parts.
"""

from __future__ import annotations

import base64
import copy
import re
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from group.v2 import catalog

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
_TARGET = re.compile(
    r"^arn:[^:]*:iot:(?P<region>[^:]*):(?P<account>\d+):(?P<kind>thing|thinggroup)/(?P<name>.+)$"
)
V2_ARN_RE = re.compile(
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


def paged(key: str, rows: Sequence[Any], max_results: Any, next_token: Any) -> dict[str, Any]:
    """A list operation's answer: ``{key: one page of rows}``, with ``nextToken`` when more follow."""
    items, token = page(rows, max_results, next_token)
    out: dict[str, Any] = {key: items}
    if token:
        out["nextToken"] = token
    return out


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
