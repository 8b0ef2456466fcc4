"""Greengrass V1 state that moto lacks (pure: no sockets, no moto).

* logger, connector and subscription definitions with their versions (``DefinitionStore``);
  subscriptions live here entirely because moto refuses thing names with ``_``;
* the definition-version ARNs moto drops from group versions (``GreengrassState.group_extras``)
  and the ``DefaultConfig`` it drops from function definition versions;
* connectivity info per thing, the account's service role, group certificate configuration;
* deployments and their status, acknowledged by a local core (``DeploymentBook``);
* bulk deployments (``BulkBook``) and the parsing of their input file.

Everything is thread-safe (the front calls in from worker threads) and round-trips through
JSON (``to_json`` / ``load_json``) for persistence under the cloud's ``state_dir``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import threading
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from .errors import BadRequest, CloudError, IdNotFound, NotFound, VersionNotFound

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ helpers


def iso_now(now: _dt.datetime | None = None) -> str:
    """Greengrass' timestamp format (ISO 8601, milliseconds, ``Z``), as moto writes it."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def _bad(message: str, details: Iterable[str] = ()) -> BadRequest:
    det = [{"DetailedErrorCode": "GG-400", "DetailedErrorMessage": d} for d in details]
    if det:
        message = f"{message} (ErrorDetails: [{', '.join(details)}])"
    return BadRequest(message, details=det or None)


# ------------------------------------------------------------------------------ validation

_ID = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_THING_ARN = re.compile(r"^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:thing/[a-zA-Z0-9:_-]{1,128}$")
# Greengrass V1 needs a *qualified* Lambda ARN (alias or version), never $LATEST.
_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]*:\d{0,12}:function:[a-zA-Z0-9_-]{1,140}:(?!\$LATEST$)[a-zA-Z0-9_$-]{1,128}$"
)
_CONNECTOR_ARN = re.compile(
    r"^arn:aws[a-z-]*:greengrass:[a-z0-9-]+::/connectors/[a-zA-Z0-9_-]+/versions/\d+$"
)
_SPECIAL_ENDPOINTS = ("cloud", "GGShadowService")

LOGGER_COMPONENTS = ("GreengrassSystem", "Lambda")
LOGGER_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LOGGER_TYPES = ("FileSystem", "AWSCloudWatch")


def valid_endpoint(value: Any) -> bool:
    """A subscription source / target the real service accepts."""
    return isinstance(value, str) and (
        value in _SPECIAL_ENDPOINTS
        or bool(_THING_ARN.match(value))
        or bool(_LAMBDA_ARN.match(value))
        or bool(_CONNECTOR_ARN.match(value))
    )


def valid_topic_filter(topic: Any) -> bool:
    if not isinstance(topic, str) or not 1 <= len(topic.encode()) <= 256 or "\x00" in topic:
        return False
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def _check_ids(items: list[Any], member: str, errors: list[str]) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(f"{member}[{i}] must be an object")
            continue
        iid = item.get("Id")
        if not isinstance(iid, str) or not _ID.match(iid):
            errors.append(f"{member}[{i}].Id {iid!r} must be 1-128 of [a-zA-Z0-9:_-]")
        elif iid in seen:
            errors.append(f"{member}[{i}].Id {iid!r} is used twice")
        else:
            seen.add(iid)


def validate_loggers(items: list[Any]) -> list[str]:
    errors: list[str] = []
    _check_ids(items, "Loggers", errors)
    for i, lg in enumerate(x for x in items if isinstance(x, dict)):
        if lg.get("Component") not in LOGGER_COMPONENTS:
            errors.append(f"Loggers[{i}].Component must be one of {', '.join(LOGGER_COMPONENTS)}")
        if lg.get("Level") not in LOGGER_LEVELS:
            errors.append(f"Loggers[{i}].Level must be one of {', '.join(LOGGER_LEVELS)}")
        if lg.get("Type") not in LOGGER_TYPES:
            errors.append(f"Loggers[{i}].Type must be one of {', '.join(LOGGER_TYPES)}")
        space = lg.get("Space")
        if lg.get("Type") == "FileSystem" and (
            isinstance(space, bool) or not isinstance(space, int) or space < 1
        ):
            errors.append(f"Loggers[{i}].Space (KB) must be a positive integer for a FileSystem logger")
    return errors


def validate_connectors(items: list[Any]) -> list[str]:
    errors: list[str] = []
    _check_ids(items, "Connectors", errors)
    for i, c in enumerate(x for x in items if isinstance(x, dict)):
        if not isinstance(c.get("ConnectorArn"), str) or not _CONNECTOR_ARN.match(c["ConnectorArn"]):
            errors.append(
                f"Connectors[{i}].ConnectorArn {c.get('ConnectorArn')!r} is not "
                "arn:aws:greengrass:<region>::/connectors/<Name>/versions/<n>"
            )
        params = c.get("Parameters", {})
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            errors.append(f"Connectors[{i}].Parameters must map names to strings")
    return errors


def validate_subscriptions(items: list[Any]) -> list[str]:
    errors: list[str] = []
    _check_ids(items, "Subscriptions", errors)
    for i, s in enumerate(x for x in items if isinstance(x, dict)):
        for key in ("Source", "Target"):
            if not valid_endpoint(s.get(key)):
                errors.append(
                    f"Subscription {key.lower()} is invalid. ID is '{s.get('Id')}' and "
                    f"{key} is '{s.get(key)}'"
                )
        if not valid_topic_filter(s.get("Subject")):
            errors.append(f"Subscriptions[{i}].Subject {s.get('Subject')!r} is not a valid topic filter")
    return errors


# ------------------------------------------------------------------------------ definitions


@dataclass(frozen=True)
class Kind:
    path: str  # "loggers": the URL segment and ARN segment
    member: str  # "Loggers": the list key inside Definition / InitialVersion
    group_key: str  # "LoggerDefinitionVersionArn": the key in a group version
    label: str  # for error messages, as moto words them
    validate: Callable[[list[Any]], list[str]]


LOGGERS = Kind("loggers", "Loggers", "LoggerDefinitionVersionArn", "Logger", validate_loggers)
CONNECTORS = Kind(
    "connectors", "Connectors", "ConnectorDefinitionVersionArn", "Connector", validate_connectors
)
SUBSCRIPTIONS = Kind(
    "subscriptions",
    "Subscriptions",
    "SubscriptionDefinitionVersionArn",
    "Subscription",
    validate_subscriptions,
)
KINDS = (LOGGERS, CONNECTORS, SUBSCRIPTIONS)


class DefinitionStore:
    """Definitions of one kind and their versions, shaped as the Greengrass API returns them."""

    def __init__(self, kind: Kind, region: str, account_id: str) -> None:
        self.kind = kind
        self.region = region
        self.account_id = account_id
        self._lock = threading.RLock()
        self._defs: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, dict[str, dict[str, Any]]] = {}
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _arn(self, def_id: str) -> str:
        prefix = f"arn:aws:greengrass:{self.region}:{self.account_id}:greengrass/definition"
        return f"{prefix}/{self.kind.path}/{def_id}"

    def _items(self, container: Any, where: str) -> list[Any]:
        if not isinstance(container, dict):
            raise _bad(f"{where} must be an object")
        items = container.get(self.kind.member, [])
        if not isinstance(items, list):
            raise _bad(f"{where}.{self.kind.member} must be a list")
        errors = self.kind.validate(items)
        if errors:
            raise _bad(f"The {self.kind.path} definition is invalid or corrupted.", errors)
        return items

    def create(self, name: Any, initial_version: Any = None, tags: Any = None) -> dict[str, Any]:
        if name is not None and not isinstance(name, str):
            raise _bad("Name must be a string")
        items = self._items(initial_version, "InitialVersion") if initial_version is not None else None
        def_id = new_id()
        now = iso_now()
        d: dict[str, Any] = {
            "Arn": self._arn(def_id),
            "CreationTimestamp": now,
            "Id": def_id,
            "LastUpdatedTimestamp": now,
        }
        if name is not None:
            d["Name"] = name
        if tags:
            d["tags"] = dict(tags)
        with self._lock:
            self._defs[def_id] = d
            self._versions[def_id] = {}
            if items is not None:
                self._add_version(def_id, items)
            out = self._public(def_id)
        self._changed()
        return out

    def _public(self, def_id: str) -> dict[str, Any]:
        return {k: v for k, v in self._defs[def_id].items() if k != "tags"}

    def _require(self, def_id: str) -> None:
        if def_id not in self._defs:
            raise IdNotFound(f"That {self.kind.path} definition does not exist.")

    def get(self, def_id: str) -> dict[str, Any]:
        with self._lock:
            self._require(def_id)
            out = self._public(def_id)
            if "tags" in self._defs[def_id]:
                out["tags"] = dict(self._defs[def_id]["tags"])
            return out

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(i) for i in self._defs]

    def update(self, def_id: str, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise _bad("Input does not contain any attributes to be updated")
        with self._lock:
            self._require(def_id)
            self._defs[def_id]["Name"] = name
            self._defs[def_id]["LastUpdatedTimestamp"] = iso_now()
        self._changed()

    def delete(self, def_id: str) -> None:
        with self._lock:
            self._require(def_id)
            del self._defs[def_id]
            del self._versions[def_id]
        self._changed()

    def _add_version(self, def_id: str, items: list[Any]) -> dict[str, Any]:
        vid = new_id()
        v = {
            "Arn": f"{self._arn(def_id)}/versions/{vid}",
            "CreationTimestamp": iso_now(),
            "Id": def_id,
            "Version": vid,
            "Definition": {self.kind.member: items},
        }
        self._versions[def_id][vid] = v
        d = self._defs[def_id]
        d["LatestVersion"], d["LatestVersionArn"] = vid, v["Arn"]
        d["LastUpdatedTimestamp"] = v["CreationTimestamp"]
        return v

    def create_version(self, def_id: str, body: Any) -> dict[str, Any]:
        items = self._items(body, "request")
        with self._lock:
            self._require(def_id)
            v = self._add_version(def_id, items)
        self._changed()
        return {k: v[k] for k in ("Arn", "CreationTimestamp", "Id", "Version")}

    def list_versions(self, def_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._require(def_id)
            return [
                {k: v[k] for k in ("Arn", "CreationTimestamp", "Id", "Version")}
                for v in self._versions[def_id].values()
            ]

    def get_version(self, def_id: str, vid: str) -> dict[str, Any]:
        with self._lock:
            self._require(def_id)
            if vid not in self._versions[def_id]:
                raise VersionNotFound(
                    f"Version {vid} of {self.kind.label} Definition {def_id} does not exist."
                )
            return json.loads(json.dumps(self._versions[def_id][vid]))

    def has_version_arn(self, arn: str) -> bool:
        m = re.match(r"^.*:greengrass/definition/" + self.kind.path + r"/([^/]+)/versions/([^/]+)$", arn)
        if m is None:
            return False
        with self._lock:
            v = self._versions.get(m.group(1), {}).get(m.group(2))
            return v is not None and v["Arn"] == arn

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"definitions": self._defs, "versions": self._versions}

    def load_json(self, data: dict[str, Any]) -> None:
        with self._lock:
            self._defs = dict(data.get("definitions", {}))
            self._versions = {k: dict(v) for k, v in data.get("versions", {}).items()}


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


# ------------------------------------------------------------------------------ the whole state

DEFAULT_CERT_EXPIRY_MS = 7 * 24 * 3600 * 1000
MAX_CERT_EXPIRY_MS = 30 * 24 * 3600 * 1000
MAX_CONNECTIVITY = 10  # the real service's limit (its message is quoted above)


def validate_connectivity(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise _bad("ConnectivityInfo must be a list")
    if len(items) > MAX_CONNECTIVITY:
        raise _bad(
            f"Too many items in the Connectivity Information list. You can store a maximum of "
            f"{MAX_CONNECTIVITY} endpoints (got {len(items)})."
        )
    errors: list[str] = []
    seen: set[str] = set()
    out = []
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            errors.append(f"ConnectivityInfo[{i}] must be an object")
            continue
        if not isinstance(c.get("Id"), str) or not c["Id"]:
            errors.append(f"ConnectivityInfo[{i}].Id is required")
        elif c["Id"] in seen:
            errors.append(f"ConnectivityInfo[{i}].Id {c['Id']!r} is used twice")
        else:
            seen.add(c["Id"])
        if not isinstance(c.get("HostAddress"), str) or not c["HostAddress"]:
            errors.append(f"ConnectivityInfo[{i}].HostAddress is required")
        port = c.get("PortNumber")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            errors.append(f"ConnectivityInfo[{i}].PortNumber must be 1..65535")
        if "Metadata" in c and not isinstance(c["Metadata"], str):
            errors.append(f"ConnectivityInfo[{i}].Metadata must be a string")
        out.append({k: c[k] for k in ("Id", "HostAddress", "PortNumber", "Metadata") if k in c})
    if errors:
        raise _bad("The connectivity info is invalid.", errors)
    return out


class GreengrassState:
    """All Greengrass state the adapter owns. ``on_change`` fires after every mutation."""

    def __init__(self, region: str, account_id: str, *, auto_complete_deployments: bool = False) -> None:
        self.region = region
        self.account_id = account_id
        self.definitions = {k.path: DefinitionStore(k, region, account_id) for k in KINDS}
        self.deployments = DeploymentBook(auto_complete_deployments)
        self.bulk = BulkBook(region, account_id)
        self._lock = threading.Lock()
        self._extras: dict[str, dict[str, dict[str, str]]] = {}
        self._function_defaults: dict[str, dict[str, dict[str, Any]]] = {}
        self._connectivity: dict[str, dict[str, Any]] = {}
        self._service_role: dict[str, str] | None = None
        self._cert_config: dict[str, int] = {}
        self._on_change: Callable[[], None] | None = None

    @property
    def on_change(self) -> Callable[[], None] | None:
        return self._on_change

    @on_change.setter
    def on_change(self, cb: Callable[[], None] | None) -> None:
        self._on_change = cb
        self.deployments.on_change = cb
        self.bulk.on_change = cb
        for store in self.definitions.values():
            store.on_change = cb

    def changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def group_arn(self, group_id: str) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account_id}:greengrass/groups/{group_id}"

    # group versions ------------------------------------------------------------------------
    def split_group_version(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """``(what moto gets, what we keep)``: the logger / connector / subscription ARNs are ours.

        Each of ours must name an existing version, or the whole request is refused as the real
        service does ("The group is invalid or corrupted").
        """
        to_moto = dict(body)
        extras: dict[str, str] = {}
        errors: list[str] = []
        for kind in KINDS:
            arn = to_moto.pop(kind.group_key, None)
            if arn is None:
                continue
            if not isinstance(arn, str) or not self.definitions[kind.path].has_version_arn(arn):
                errors.append(f"{kind.label} definition reference does not exist")
            else:
                extras[kind.group_key] = arn
        if errors:
            raise _bad("The group is invalid or corrupted.", errors)
        return to_moto, extras

    def set_group_extras(self, group_id: str, version_id: str, extras: dict[str, str]) -> None:
        if not extras:
            return
        with self._lock:
            self._extras.setdefault(group_id, {})[version_id] = dict(extras)
        self.changed()

    def group_extras(self, group_id: str, version_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._extras.get(group_id, {}).get(version_id, {}))

    def forget_group(self, group_id: str) -> None:
        with self._lock:
            self._extras.pop(group_id, None)
            self._cert_config.pop(group_id, None)
        self.changed()

    # function definition DefaultConfig (moto drops it) ------------------------------------
    def set_function_default_config(self, def_id: str, version_id: str, config: Any) -> None:
        if config is None:
            return
        if not isinstance(config, dict):
            raise _bad("DefaultConfig must be an object")
        with self._lock:
            self._function_defaults.setdefault(def_id, {})[version_id] = json.loads(json.dumps(config))
        self.changed()

    def function_default_config(self, def_id: str, version_id: str) -> dict[str, Any] | None:
        with self._lock:
            config = self._function_defaults.get(def_id, {}).get(version_id)
            return json.loads(json.dumps(config)) if config is not None else None

    # connectivity ---------------------------------------------------------------------------
    def update_connectivity(self, thing: str, items: Any) -> str:
        info = validate_connectivity(items)
        version = new_id()
        with self._lock:
            self._connectivity[thing] = {"ConnectivityInfo": info, "Version": version}
        self.changed()
        return version

    def connectivity(self, thing: str) -> list[dict[str, Any]]:
        """The thing's connectivity info (``[]`` if never set)."""
        with self._lock:
            return [dict(c) for c in self._connectivity.get(thing, {}).get("ConnectivityInfo", [])]

    # service role ---------------------------------------------------------------------------
    def associate_service_role(self, role_arn: Any) -> str:
        if not isinstance(role_arn, str) or not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+", role_arn):
            raise _bad(f"RoleArn {role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        now = iso_now()
        with self._lock:
            self._service_role = {"RoleArn": role_arn, "AssociatedAt": now}
        self.changed()
        return now

    def service_role(self) -> dict[str, str]:
        with self._lock:
            if self._service_role is None:
                raise NotFound(
                    "You need to attach an IAM role to this account (no service role is associated)."
                )
            return dict(self._service_role)

    def disassociate_service_role(self) -> str:
        with self._lock:
            self._service_role = None
        self.changed()
        return iso_now()

    # certificate configuration --------------------------------------------------------------
    def cert_expiry_ms(self, group_id: str) -> int:
        with self._lock:
            return self._cert_config.get(group_id, DEFAULT_CERT_EXPIRY_MS)

    def set_cert_expiry_ms(self, group_id: str, value: Any) -> int:
        try:
            ms = int(value)
        except (TypeError, ValueError):
            raise _bad(f"CertificateExpiryInMilliseconds {value!r} is not a number") from None
        if not DEFAULT_CERT_EXPIRY_MS <= ms <= MAX_CERT_EXPIRY_MS:
            raise _bad(
                f"CertificateExpiryInMilliseconds must be {DEFAULT_CERT_EXPIRY_MS}..{MAX_CERT_EXPIRY_MS} "
                "(7 to 30 days)"
            )
        with self._lock:
            self._cert_config[group_id] = ms
        self.changed()
        return ms

    # persistence ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "deployments": self.deployments.status(),
            "bulk_deployments": len(self.bulk.list()),
            "definitions": {p: len(s.list()) for p, s in self.definitions.items()},
            "service_role": self._service_role is not None,
        }

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            own = {
                "extras": self._extras,
                "function_defaults": self._function_defaults,
                "connectivity": self._connectivity,
                "service_role": self._service_role,
                "cert_config": self._cert_config,
            }
            own = json.loads(json.dumps(own))
        own["definitions"] = {p: s.to_json() for p, s in self.definitions.items()}
        own["deployments"] = self.deployments.to_json()
        own["bulk"] = self.bulk.to_json()
        return own

    def load_json(self, data: dict[str, Any]) -> None:
        with self._lock:
            self._extras = data.get("extras", {})
            self._function_defaults = data.get("function_defaults", {})
            self._connectivity = data.get("connectivity", {})
            self._service_role = data.get("service_role")
            self._cert_config = data.get("cert_config", {})
        for p, s in self.definitions.items():
            s.load_json(data.get("definitions", {}).get(p, {}))
        self.deployments.load_json(data.get("deployments", []))
        self.bulk.load_json(data.get("bulk", []))
