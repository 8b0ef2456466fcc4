"""Greengrass V1 state that moto lacks (pure: no sockets, no moto).

* logger, connector and subscription definitions with their versions (``DefinitionStore``);
  subscriptions live here entirely because moto refuses thing names with ``_``;
* the definition-version ARNs moto drops from group versions (``GreengrassState.group_extras``)
  and the ``DefaultConfig`` it drops from function definition versions;
* connectivity info per thing, the account's service role, group certificate configuration;
* deployments and their status, acknowledged by a local core (``DeploymentBook``);
* bulk deployments (``BulkBook``) and the parsing of their input file.

Everything is thread-safe (the front calls in from worker threads) and round-trips through
JSON (``to_json`` / ``load_json``) for persistence under the cloud's ``state_dir``. The definitions live in
``greengrass_definitions.py``, the deployments in ``greengrass_deployments.py``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable

from .errors import NotFound
from .greengrass_definitions import KINDS, DefinitionStore, _bad, iso_now, new_id
from .greengrass_deployments import BulkBook, DeploymentBook

log = logging.getLogger(__name__)

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
