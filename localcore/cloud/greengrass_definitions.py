"""Greengrass V1 definitions moto lacks (pure): logger, connector and subscription definitions with their
versions (``DefinitionStore``), and the checks the service makes of their entries. Part of
``greengrass_state.GreengrassState``.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .errors import BadRequest, IdNotFound, VersionNotFound

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
