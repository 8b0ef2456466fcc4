"""Core devices of the Greengrass V2 stand-in: what a core reports (deployment status, installed components,
health), the core devices as the cloud lists them, and client-device associations.

A part of :class:`~.greengrassv2_state.GreengrassV2State` (a mixin over its lock and tables); pure.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any, Iterable, Mapping, Sequence

from .greengrassv2_records import (LIFECYCLE_STATES, REPORTABLE, CoreDeviceRecord, Execution, not_found, now_s,
                                   paged, validation)


class CoreDevicesPart:
    """Core device reports (device side), core devices (cloud side), client devices."""

    # core device reports ---------------------------------------------------------------
    def _core(self, thing: str, now: float) -> CoreDeviceRecord:
        core = self._cores.get(thing)
        if core is None:
            core = self._cores[thing] = CoreDeviceRecord(thing=thing, last_status_update=now)
        return core

    def report_deployment(
        self,
        thing: str,
        dep_id: str,
        status: str,
        *,
        reason: str | None = None,
        error_stack: Sequence[str] = (),
        error_types: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Core ``thing`` reports its execution of ``dep_id``: ``IN_PROGRESS``, ``SUCCEEDED``,
        ``FAILED`` (+ reason, errorStack, errorTypes), ``REJECTED``, ``TIMED_OUT`` or ``CANCELED``.

        ``SUCCEEDED`` reads ``COMPLETED`` for a thing target and ``SUCCEEDED`` for a thing group
        (``coreDeviceExecutionStatus``). A thing target's deployment then becomes ``COMPLETED`` or
        ``FAILED``; a thing group's stays ``ACTIVE`` (continuous). Returns the execution row.
        """
        if status not in REPORTABLE:
            raise validation(f"status must be one of {', '.join(REPORTABLE)}, got {status!r}")
        dep = self._deployment(dep_id)
        now = now_s()
        with self._lock:
            if dep.target_kind == "thing" and dep.target_arn != self.thing_arn(thing):
                raise validation(f"Deployment {dep_id} targets {dep.target_arn}, not core device {thing}")
            exec_status = status
            if status == "SUCCEEDED" and dep.target_kind == "thing":
                exec_status = "COMPLETED"
            execs = self._executions.setdefault(thing, {})
            ex = execs.get(dep_id)
            if ex is None:
                ex = execs[dep_id] = Execution(status=exec_status, created=dep.created, modified=now)
            ex.status, ex.modified, ex.reason = exec_status, now, reason
            ex.error_stack, ex.error_types = [str(x) for x in error_stack], [str(x) for x in error_types]
            if dep.target_kind == "thing" and dep.status == "ACTIVE":
                if status == "SUCCEEDED":
                    dep.status, dep.modified = "COMPLETED", now
                elif status in ("FAILED", "REJECTED", "TIMED_OUT"):
                    dep.status, dep.modified = "FAILED", now
            core = self._core(thing, now)
            core.last_status_update = now
            row = asdict(ex)
        self._changed()
        return row

    def report_installed(
        self, thing: str, components: Sequence[Mapping[str, Any]], *, deployment_id: str | None = None
    ) -> None:
        """Core ``thing`` reports its whole set of installed components (replaces the last report).

        Each: ``componentName``, ``componentVersion``, ``lifecycleState`` (NEW … FINISHED), ``isRoot``,
        optional ``lifecycleStateDetails``, ``lifecycleStatusCodes``, ``lastInstallationSource``.
        """
        now = now_s()
        rows: list[dict[str, Any]] = []
        errs: list[tuple[str, str]] = []
        with self._lock:
            old = {
                c["componentName"]: c for c in (self._cores[thing].installed if thing in self._cores else [])
            }
        for i, c in enumerate(components):
            if not isinstance(c, Mapping):
                errs.append((f"components[{i}]", "must be an object"))
                continue
            name, version, state = c.get("componentName"), c.get("componentVersion"), c.get("lifecycleState")
            if not isinstance(name, str) or not name:
                errs.append((f"components[{i}].componentName", "required"))
            if not isinstance(version, str) or not version:
                errs.append((f"components[{i}].componentVersion", "required"))
            if state not in LIFECYCLE_STATES:
                errs.append(
                    (f"components[{i}].lifecycleState", f"must be one of {', '.join(LIFECYCLE_STATES)}")
                )
            if errs:
                continue
            prev = old.get(name)
            changed = (
                prev is None or prev.get("lifecycleState") != state or prev.get("componentVersion") != version
            )
            row: dict[str, Any] = {
                "componentName": name,
                "componentVersion": version,
                "lifecycleState": state,
                "isRoot": bool(c.get("isRoot", False)),
                "lastStatusChangeTimestamp": now if changed else prev.get("lastStatusChangeTimestamp", now),
                "lastReportedTimestamp": now,
                "lastInstallationSource": str(c.get("lastInstallationSource") or deployment_id or "LOCAL"),
                "lifecycleStatusCodes": [str(x) for x in c.get("lifecycleStatusCodes") or []],
            }
            if c.get("lifecycleStateDetails"):
                row["lifecycleStateDetails"] = str(c["lifecycleStateDetails"])[:1000]
            rows.append(row)
        if errs:
            raise validation("Invalid installed components: " + "; ".join(f"{n} {m}" for n, m in errs), errs)
        with self._lock:
            core = self._core(thing, now)
            core.installed = rows
            core.last_status_update = now
            if any(r["lifecycleState"] in ("ERRORED", "BROKEN") for r in rows):
                core.status = "UNHEALTHY"
        self._changed()

    def report_health(
        self,
        thing: str,
        *,
        status: str = "HEALTHY",
        core_version: str | None = None,
        platform: str | None = None,
        architecture: str | None = None,
        runtime: str | None = None,
    ) -> dict[str, Any]:
        """Core ``thing`` reports its health (``HEALTHY`` / ``UNHEALTHY``) and nucleus facts."""
        if status not in ("HEALTHY", "UNHEALTHY"):
            raise validation(f"status must be HEALTHY or UNHEALTHY, got {status!r}")
        now = now_s()
        with self._lock:
            core = self._core(thing, now)
            core.status = status
            core.last_status_update = now
            for attr, value in (
                ("core_version", core_version),
                ("platform", platform),
                ("architecture", architecture),
                ("runtime", runtime),
            ):
                if value:
                    setattr(core, attr, str(value))
            out = self._core_json(core)
        self._changed()
        return out

    # core devices (cloud side) -----------------------------------------------------------
    def _core_json(self, core: CoreDeviceRecord) -> dict[str, Any]:
        return {
            "coreDeviceThingName": core.thing,
            "coreVersion": core.core_version,
            "platform": core.platform,
            "architecture": core.architecture,
            "runtime": core.runtime,
            "status": core.status,
            "lastStatusUpdateTimestamp": core.last_status_update,
            "tags": self.tags(self.core_device_arn(core.thing), missing_ok=True),
        }

    def _require_core(self, thing: str) -> CoreDeviceRecord:
        with self._lock:
            core = self._cores.get(thing)
        if core is None:
            raise not_found(
                f"Core device {thing} not found (a core device exists once its nucleus has reported)"
            )
        return core

    def has_core(self, thing: str) -> bool:
        with self._lock:
            return thing in self._cores

    def get_core_device(self, thing: str) -> dict[str, Any]:
        core = self._require_core(thing)
        with self._lock:
            return self._core_json(core)

    def list_core_devices(
        self,
        *,
        things: Iterable[str] | None = None,
        status: str | None = None,
        runtime: str | None = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> dict[str, Any]:
        """``things``: only these (the members of ``thingGroupArn``, looked up by the caller)."""
        only = None if things is None else set(things)
        with self._lock:
            rows = [
                c.summary_json()
                for name, c in sorted(self._cores.items())
                if (only is None or name in only)
                and (status is None or c.status == status)
                and (runtime is None or c.runtime == runtime)
            ]
        return paged("coreDevices", rows, max_results, next_token)

    def delete_core_device(self, thing: str) -> None:
        self._require_core(thing)
        with self._lock:
            del self._cores[thing]
            self._executions.pop(thing, None)
            self._tags.pop(self.core_device_arn(thing), None)
        self._changed()

    def list_installed_components(
        self, thing: str, topology: str | None = None, max_results: Any = None, next_token: Any = None
    ) -> dict[str, Any]:
        topology = topology or "ROOT"
        if topology not in ("ROOT", "ALL"):
            raise validation(f"topologyFilter must be ROOT or ALL, got {topology!r}")
        core = self._require_core(thing)
        with self._lock:
            rows = [copy.deepcopy(c) for c in core.installed if topology == "ALL" or c.get("isRoot")]
        rows.sort(key=lambda c: c["componentName"])
        return paged("installedComponents", rows, max_results, next_token)

    # client devices ---------------------------------------------------------------------
    def associate_client_devices(
        self, core_thing: str, names: Sequence[str], missing: Iterable[str] = ()
    ) -> list[dict[str, str]]:
        """Associate client things with ``core_thing``; ``missing`` (things IoT does not know) come
        back as error entries, the others are associated (again: the timestamp stays)."""
        gone = set(missing)
        errors = [
            {
                "thingName": n,
                "code": "ResourceNotFoundException",
                "message": f"Thing {n} does not exist in IoT",
            }
            for n in names
            if n in gone
        ]
        now = now_s()
        with self._lock:
            assoc = self._clients.setdefault(core_thing, {})
            for n in names:
                if n not in gone:
                    assoc.setdefault(n, now)
        self._changed()
        return errors

    def disassociate_client_devices(self, core_thing: str, names: Sequence[str]) -> list[dict[str, str]]:
        errors = []
        with self._lock:
            assoc = self._clients.get(core_thing, {})
            for n in names:
                if assoc.pop(n, None) is None:
                    errors.append(
                        {
                            "thingName": n,
                            "code": "ResourceNotFoundException",
                            "message": f"Thing {n} is not associated with core device {core_thing}",
                        }
                    )
            if not assoc:
                self._clients.pop(core_thing, None)
        self._changed()
        return errors

    def associated_client_devices(
        self, core_thing: str, max_results: Any = None, next_token: Any = None
    ) -> dict[str, Any]:
        with self._lock:
            rows = [
                {"thingName": n, "associationTimestamp": at}
                for n, at in sorted(self._clients.get(core_thing, {}).items())
            ]
        return paged("associatedClientDevices", rows, max_results, next_token)
