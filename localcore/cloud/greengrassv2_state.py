"""Pure state of the Greengrass V2 stand-in (moto has no ``greengrassv2``): no sockets, no boto3.

What it keeps, per the botocore ``greengrassv2`` 2020-11-30 model:

* **component versions** made from an inline recipe (JSON or YAML) or imported from a Lambda
  version (the wire module looks the Lambda up in moto and passes a :class:`LambdaInfo`);
  immutable once created, ``DEPLOYABLE`` at once;
* **deployments**, one latest revision per target (``thing/<t>`` or ``thinggroup/<g>``): a new
  one makes the previous revision ``INACTIVE``; ``clientToken`` makes a retry return the first
  answer (8 h, as AWS);
* **core devices**, which exist only once the core reports (``report_*``), and per device the
  **executions** of deployments (``QUEUED`` until the core says otherwise), installed components
  and client-device associations;
* tags by ARN.

The wire module does what needs the rest of the cloud (Lambda versions, S3 objects, IoT thing and
thing-group membership, all in moto) and hands the answers in as plain values, so everything here
is table-testable. Errors are :class:`~.errors.ApiError` with the model's codes.

With ``auto_complete_deployments=True`` (a test convenience of the stand-in, shared with the V1
flag) a deployment completes at once as if its core had applied it — for a **thing** target that
core, for a **thing group** the member things at creation time (``members``): the core device appears
``HEALTHY`` with the deployment's components ``RUNNING``; a component version that does not resolve
fails it the way the nucleus does (``NO_AVAILABLE_COMPONENT_VERSION``). A thing target's deployment
then reads ``COMPLETED`` (or ``FAILED``); a thing group's stays ``ACTIVE`` (continuous) with its
members' executions ``SUCCEEDED`` (or ``FAILED``).

The state is one class made of three parts, one module each: :mod:`.greengrassv2_components`,
:mod:`.greengrassv2_deployments` and :mod:`.greengrassv2_devices`; the records, errors, ARNs and paging are
:mod:`.greengrassv2_records`. This module holds what they share (lock, tables, ARNs, idempotency, tags,
persistence) and keeps the names the wire module and the tests import.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict
from typing import Any, Callable, Iterable, Mapping

from group.v2 import catalog
from group.v2.catalog import PublicComponentInfo

from .greengrassv2_components import (ComponentsPart, LambdaInfo, parse_inline_recipe, render_recipe,
                                      split_lambda_arn, stored_artifact_uris)
from .greengrassv2_deployments import DeploymentsPart
from .greengrassv2_devices import CoreDevicesPart
from .greengrassv2_records import (CLIENT_TOKEN_TTL_S, V2_ARN_RE, ComponentRecord, CoreDeviceRecord,
                                   DeploymentRecord, Execution, conflict, not_found, page, paged, parse_target,
                                   validation)


log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------- state
class GreengrassV2State(ComponentsPart, DeploymentsPart, CoreDevicesPart):
    """All state of the stand-in; thread-safe; ``on_change`` fires after every mutation.

    ``public_components``: the catalog of public components it serves as account ``aws``
    (default: :data:`group.v2.catalog.PUBLIC_COMPONENTS`, the set the converter deploys).
    """

    def __init__(
        self,
        region: str,
        account_id: str,
        *,
        auto_complete_deployments: bool = False,
        public_components: Mapping[str, PublicComponentInfo] = catalog.PUBLIC_COMPONENTS,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.auto_complete = auto_complete_deployments
        self._public = dict(public_components)
        self._lock = threading.RLock()
        self._components: dict[str, dict[str, ComponentRecord]] = {}  # name -> version -> record
        self._deployments: dict[str, DeploymentRecord] = {}
        self._revisions: dict[str, int] = {}  # target -> last revision number
        self._executions: dict[str, dict[str, Execution]] = {}  # thing -> deployment id -> execution
        self._cores: dict[str, CoreDeviceRecord] = {}
        self._clients: dict[str, dict[str, float]] = {}  # core thing -> client thing -> associated at
        self._tags: dict[str, dict[str, str]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}  # "<op>:<token>" -> {at, fingerprint, result}
        self.on_change: Callable[[], None] | None = None
        # thing name -> ARNs of its thing groups; the wire module sets it (moto's IoT knows them)
        self.thing_groups: Callable[[str], list[str]] | None = None
        self._deployment_listeners: list[Callable[[str], None]] = []

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # deployment notifications (the IoT jobs notification a core device subscribes to) ---------
    def add_deployment_listener(self, callback: Callable[[str], None]) -> None:
        """``callback(target_arn)`` after a deployment of ``target_arn`` is created, canceled or deleted (on
        the thread that changed it): a core device learns of its jobs by notification, not by polling."""
        with self._lock:
            self._deployment_listeners.append(callback)

    def remove_deployment_listener(self, callback: Callable[[str], None]) -> None:
        with self._lock:
            if callback in self._deployment_listeners:
                self._deployment_listeners.remove(callback)

    def _deployment_changed(self, target_arn: str) -> None:
        with self._lock:
            listeners = list(self._deployment_listeners)
        for cb in listeners:
            try:
                cb(target_arn)
            except Exception:  # a listener's bug must not fail the client's call
                log.exception("deployment listener %r failed on %s", cb, target_arn)

    # arns ------------------------------------------------------------------------------
    def component_arn(self, name: str, version: str | None = None, account: str | None = None) -> str:
        base = f"arn:aws:greengrass:{self.region}:{account or self.account_id}:components:{name}"
        return base if version is None else f"{base}:versions:{version}"

    def deployment_arn(self, deployment_id: str) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account_id}:deployments:{deployment_id}"

    def core_device_arn(self, thing: str) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account_id}:coreDevices:{thing}"

    def thing_arn(self, thing: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:thing/{thing}"

    def split_component_arn(self, arn: str, *, versioned: bool) -> tuple[str, str, str | None]:
        """``(account, name, version or None)`` of a component (version) ARN of this region."""
        m = V2_ARN_RE.match(arn or "")
        if m is None or m.group("kind") != "components":
            raise validation(f"{arn!r} is not a component ARN", [("arn", "invalid ARN")])
        account, rest = m.group("account"), m.group("rest")
        name, sep, version = rest.partition(":versions:")
        if versioned and not (sep and version):
            raise validation(
                f"{arn!r} names no version (…:components:<name>:versions:<version>)",
                [("arn", "needs a version")],
            )
        if not versioned and sep:
            raise validation(
                f"{arn!r} is a component version ARN; give the component ARN", [("arn", "no version")]
            )
        if m.group("region") != self.region or account not in ("aws", self.account_id):
            raise not_found(f"Component {arn} not found (this is {self.region}, account {self.account_id})")
        return account, name, (version or None)

    # idempotency -----------------------------------------------------------------------
    def _idempotent(self, op: str, token: Any, fingerprint: Any, make: Callable[[], Any]) -> Any:
        if not token:
            return make()
        key = f"{op}:{token}"
        fp = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
        now = time.time()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if now - v["at"] < CLIENT_TOKEN_TTL_S}
            seen = self._tokens.get(key)
            if seen is not None:
                if seen["fingerprint"] != fp:
                    raise conflict(
                        f"clientToken {token!r} was already used for a different {op} request; "
                        "use a new token for a new request"
                    )
                return copy.deepcopy(seen["result"])
            result = make()
            self._tokens[key] = {"at": now, "fingerprint": fp, "result": copy.deepcopy(result)}
        self._changed()
        return result

    # tags -------------------------------------------------------------------------------
    def _resource_exists(self, arn: str) -> bool:
        m = V2_ARN_RE.match(arn)
        if m is None:
            return False
        kind, rest = m.group("kind"), m.group("rest")
        with self._lock:
            if kind == "deployments":
                return rest in self._deployments
            if kind == "coreDevices":
                return rest in self._cores
            name, sep, version = rest.partition(":versions:")
            if m.group("account") == "aws":
                return self._public_record(name, version or None) is not None
            versions = self._components.get(name, {})
            return version in versions if sep else bool(versions)

    def _set_tags(self, arn: str, tags: Mapping[str, str] | None, *, notify: bool = True) -> None:
        if not tags:
            return
        with self._lock:
            self._tags.setdefault(arn, {}).update({str(k): str(v) for k, v in tags.items()})
        if notify:
            self._changed()

    def tags(self, arn: str, *, missing_ok: bool = False) -> dict[str, str]:
        if not missing_ok and not self._resource_exists(arn):
            raise not_found(f"Resource {arn} not found")
        with self._lock:
            return dict(self._tags.get(arn, {}))

    def tag_resource(self, arn: str, tags: Mapping[str, str]) -> None:
        if not self._resource_exists(arn):
            raise not_found(f"Resource {arn} not found")
        self._set_tags(arn, tags)

    def untag_resource(self, arn: str, keys: Iterable[str]) -> None:
        if not self._resource_exists(arn):
            raise not_found(f"Resource {arn} not found")
        with self._lock:
            current = self._tags.get(arn, {})
            for k in keys:
                current.pop(k, None)
            if not current:
                self._tags.pop(arn, None)
        self._changed()

    # persistence ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            by_status: dict[str, int] = {}
            for d in self._deployments.values():
                by_status[d.status] = by_status.get(d.status, 0) + 1
            return {
                "components": sum(len(v) for v in self._components.values()),
                "deployments": by_status,
                "core_devices": {t: c.status for t, c in sorted(self._cores.items())},
            }

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(
                json.dumps(
                    {
                        "components": {
                            n: {v: asdict(r) for v, r in vs.items()} for n, vs in self._components.items()
                        },
                        "deployments": {i: asdict(d) for i, d in self._deployments.items()},
                        "revisions": self._revisions,
                        "executions": {
                            t: {i: asdict(e) for i, e in es.items()} for t, es in self._executions.items()
                        },
                        "cores": {t: asdict(c) for t, c in self._cores.items()},
                        "clients": self._clients,
                        "tags": self._tags,
                        "tokens": self._tokens,
                    }
                )
            )

    def load_json(self, data: Mapping[str, Any]) -> None:
        with self._lock:
            self._components = {
                n: {v: ComponentRecord(**r) for v, r in vs.items()}
                for n, vs in data.get("components", {}).items()
            }
            self._deployments = {i: DeploymentRecord(**d) for i, d in data.get("deployments", {}).items()}
            self._revisions = {k: int(v) for k, v in data.get("revisions", {}).items()}
            self._executions = {
                t: {i: Execution(**e) for i, e in es.items()} for t, es in data.get("executions", {}).items()
            }
            self._cores = {t: CoreDeviceRecord(**c) for t, c in data.get("cores", {}).items()}
            self._clients = {t: dict(v) for t, v in data.get("clients", {}).items()}
            self._tags = {a: dict(v) for a, v in data.get("tags", {}).items()}
            self._tokens = dict(data.get("tokens", {}))


__all__ = [
    "GreengrassV2State", "LambdaInfo", "conflict", "not_found", "page", "paged", "parse_inline_recipe",
    "parse_target", "render_recipe", "split_lambda_arn", "stored_artifact_uris", "validation",
]
