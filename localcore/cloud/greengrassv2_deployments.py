"""Deployments of the Greengrass V2 stand-in: one latest revision per target, ``clientToken`` retries,
cancel/delete, auto-complete, and what each core device must apply (the rule of :mod:`group.v2.deployments`).

A part of :class:`~.greengrassv2_state.GreengrassV2State` (a mixin over its lock and tables); pure.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, Iterable, Mapping, Sequence

from group.v2.deployments import effective_deployments

from .greengrassv2_records import (DEFAULT_POLICIES, DeploymentRecord, Execution, conflict, not_found, now_s,
                                   paged, parse_target, validation)


class DeploymentsPart:
    """Deployments (cloud side) and the effective deployments of a core device (device side)."""

    # deployments -----------------------------------------------------------------------
    def create_deployment(
        self, body: Mapping[str, Any], *, client_token: str | None = None, members: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``CreateDeployment``. The caller has checked that the target exists (moto's IoT);
        ``members``: a thing group target's things (used only by auto-complete).

        Component versions are **not** checked here: the service accepts the deployment and the
        core fails it when a version does not resolve (the nucleus' ``NO_AVAILABLE_COMPONENT_VERSION``).
        """
        target = str(body.get("targetArn") or "")
        kind, tname, region, account = parse_target(target)
        if region != self.region or account != self.account_id:
            raise validation(
                f"targetArn {target} is not in this region/account ({self.region}, {self.account_id})",
                [("targetArn", "other region or account")],
            )
        parent = body.get("parentTargetArn")
        if parent and kind != "thinggroup":
            raise validation(
                "a subdeployment (parentTargetArn) must target a thing group",
                [("targetArn", "not a thinggroup")],
            )
        components = copy.deepcopy(dict(body.get("components") or {}))
        errs: list[tuple[str, str]] = []
        for cname, spec in components.items():
            upd = (spec or {}).get("configurationUpdate") or {}
            merge = upd.get("merge")
            if merge is not None:
                try:
                    if not isinstance(json.loads(merge), dict):
                        errs.append(
                            (f"components.{cname}.configurationUpdate.merge", "must be a JSON object")
                        )
                except ValueError as exc:
                    errs.append((f"components.{cname}.configurationUpdate.merge", f"is not JSON: {exc}"))
            for ptr in upd.get("reset") or []:
                if ptr != "" and not str(ptr).startswith("/"):
                    errs.append(
                        (f"components.{cname}.configurationUpdate.reset", f"{ptr!r} is not a JSON pointer")
                    )
        if errs:
            raise validation("Invalid deployment: " + "; ".join(f"{n} {m}" for n, m in errs), errs)
        policies = copy.deepcopy(DEFAULT_POLICIES)
        given = dict(body.get("deploymentPolicies") or {})
        if "failureHandlingPolicy" in given:
            policies["failureHandlingPolicy"] = given["failureHandlingPolicy"]
        for key in ("componentUpdatePolicy", "configurationValidationPolicy"):
            policies[key].update(given.get(key) or {})
        fingerprint = {k: v for k, v in body.items() if k != "clientToken"}

        def make() -> dict[str, Any]:
            now = now_s()
            dep_id = str(uuid.uuid4())
            job_id = str(uuid.uuid4())
            with self._lock:
                rev = self._revisions.get(target, 0) + 1
                self._revisions[target] = rev
                for old in self._deployments.values():
                    if old.target_arn == target and old.is_latest:
                        old.is_latest = False
                        if old.status != "CANCELED":
                            old.status = "INACTIVE"
                        old.modified = now
                dep = DeploymentRecord(
                    deployment_id=dep_id,
                    target_arn=target,
                    revision_id=str(rev),
                    deployment_name=str(body.get("deploymentName") or f"Deployment for {tname}"),
                    components=components,
                    policies=policies,
                    job_config=copy.deepcopy(dict(body.get("iotJobConfiguration") or {})),
                    parent_target_arn=parent or None,
                    created=now,
                    modified=now,
                    iot_job_id=job_id,
                    iot_job_arn=f"arn:aws:iot:{self.region}:{self.account_id}:job/{job_id}",
                )
                self._deployments[dep_id] = dep
                self._set_tags(self.deployment_arn(dep_id), body.get("tags"), notify=False)
            self._changed()
            self._deployment_changed(target)
            if self.auto_complete:
                for member in [tname] if kind == "thing" else sorted(set(members)):
                    self._auto_complete(member, dep_id)
            return {
                "deploymentId": dep.deployment_id,
                "iotJobId": dep.iot_job_id,
                "iotJobArn": dep.iot_job_arn,
            }

        return self._idempotent("CreateDeployment", client_token, fingerprint, make)

    def _auto_complete(self, thing: str, dep_id: str) -> None:
        dep = self._deployment(dep_id)
        missing = [
            (n, s.get("componentVersion", ""))
            for n, s in dep.components.items()
            if not self.resolves(n, s.get("componentVersion", ""))
        ]
        if missing:
            name, version = missing[0]
            self.report_deployment(
                thing,
                dep_id,
                "FAILED",
                reason=(
                    f"NoAvailableComponentVersionException: Failed to negotiate component '{name}' version with "
                    f"cloud and no local applicable version satisfying requirement '{{{dep.target_arn.split(':', 5)[-1]}=={version}}}'."
                ),
                error_stack=[
                    "DEPLOYMENT_FAILURE",
                    "NO_AVAILABLE_COMPONENT_VERSION",
                    "COMPONENT_VERSION_REQUIREMENTS_NOT_MET",
                ],
                error_types=["REQUEST_ERROR"],
            )
            return
        nucleus = dep.components.get("aws.greengrass.Nucleus", {}).get("componentVersion")
        self.report_health(thing, core_version=nucleus or None)
        self.report_installed(
            thing,
            [
                {
                    "componentName": n,
                    "componentVersion": s.get("componentVersion"),
                    "lifecycleState": "RUNNING",
                    "isRoot": True,
                }
                for n, s in sorted(dep.components.items())
            ],
            deployment_id=dep_id,
        )
        self.report_deployment(thing, dep_id, "SUCCEEDED")

    def _deployment(self, dep_id: str) -> DeploymentRecord:
        with self._lock:
            dep = self._deployments.get(dep_id)
        if dep is None:
            raise not_found(f"Deployment {dep_id} not found")
        return dep

    def get_deployment(self, dep_id: str) -> dict[str, Any]:
        dep = self._deployment(dep_id)
        with self._lock:
            out = dep.document()
        out["tags"] = self.tags(self.deployment_arn(dep_id), missing_ok=True)
        return out

    def deployment(self, dep_id: str) -> dict[str, Any]:
        """The deployment document (as ``GetDeployment``), for in-process readers."""
        return self.get_deployment(dep_id)

    def list_deployments(
        self,
        *,
        target_arn: str | None = None,
        history_filter: str | None = None,
        parent_target_arn: str | None = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> dict[str, Any]:
        hist = history_filter or "LATEST_ONLY"
        if hist not in ("LATEST_ONLY", "ALL"):
            raise validation(f"historyFilter must be ALL or LATEST_ONLY, got {hist!r}")
        with self._lock:
            deps = [
                d
                for d in self._deployments.values()
                if (target_arn is None or d.target_arn == target_arn)
                and (parent_target_arn is None or d.parent_target_arn == parent_target_arn)
                and (hist == "ALL" or d.is_latest)
            ]
            deps.sort(key=lambda d: (d.created, int(d.revision_id)), reverse=True)
            summaries = [d.summary_json() for d in deps]
        return paged("deployments", summaries, max_results, next_token)

    def cancel_deployment(self, dep_id: str) -> dict[str, Any]:
        dep = self._deployment(dep_id)
        with self._lock:
            if dep.status != "ACTIVE":
                raise conflict(
                    f"Deployment {dep_id} is {dep.status}: only an ACTIVE deployment can be canceled"
                )
            dep.status = "CANCELED"
            dep.modified = now_s()
            for execs in self._executions.values():
                ex = execs.get(dep_id)
                if ex is not None and ex.status in ("QUEUED", "IN_PROGRESS"):
                    ex.status, ex.modified = "CANCELED", dep.modified
        self._changed()
        self._deployment_changed(dep.target_arn)
        return {"message": f"Deployment {dep_id} was canceled."}

    def delete_deployment(self, dep_id: str) -> None:
        dep = self._deployment(dep_id)
        with self._lock:
            if dep.status == "ACTIVE":
                raise conflict(
                    f"Deployment {dep_id} is ACTIVE: cancel it (CancelDeployment) before deleting it"
                )
            del self._deployments[dep_id]
            for execs in self._executions.values():
                execs.pop(dep_id, None)
            self._tags.pop(self.deployment_arn(dep_id), None)
        self._changed()
        self._deployment_changed(dep.target_arn)

    # effective deployments (device side) -------------------------------------------------
    def _applicable(self, thing: str, group_arns: Iterable[str] | None) -> list[DeploymentRecord]:
        """The effective deployment of each target ``thing`` has (itself + its thing groups; ``None``: ask
        ``thing_groups``), oldest first: :func:`group.v2.deployments.effective_deployments`."""
        if group_arns is None:
            group_arns = self.thing_groups(thing) if self.thing_groups is not None else []
        with self._lock:
            records = {d.deployment_id: d for d in self._deployments.values()}
            summaries = [d.summary_json() for d in records.values()]
        return [records[s["deploymentId"]] for s in effective_deployments(summaries, thing, group_arns)]

    def core_deployments(self, thing: str, group_arns: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """What core ``thing`` must apply: the latest, not canceled deployment of each of its
        targets (the thing and its thing groups: ``group_arns``, or by default what
        ``thing_groups(thing)`` says), oldest first, as full ``GetDeployment`` documents."""
        return [d.document() for d in self._applicable(thing, group_arns) if d.status != "CANCELED"]

    def list_effective_deployments(
        self,
        thing: str,
        group_arns: Iterable[str] | None = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> dict[str, Any]:
        applicable = self._applicable(thing, group_arns)
        with self._lock:
            execs = self._executions.get(thing, {})
            rows: list[tuple[DeploymentRecord, Execution]] = []
            shown = set()
            for d in applicable:
                ex = execs.get(d.deployment_id) or Execution(
                    status="CANCELED" if d.status == "CANCELED" else "QUEUED",
                    created=d.created,
                    modified=d.modified,
                )
                rows.append((d, ex))
                shown.add(d.deployment_id)
            for dep_id, ex in execs.items():
                d = self._deployments.get(dep_id)
                if d is not None and dep_id not in shown:
                    rows.append((d, ex))
            rows.sort(key=lambda r: r[0].created, reverse=True)
            items = [
                {
                    "deploymentId": d.deployment_id,
                    "deploymentName": d.deployment_name,
                    "iotJobId": d.iot_job_id,
                    "iotJobArn": d.iot_job_arn,
                    "targetArn": d.target_arn,
                    "coreDeviceExecutionStatus": ex.status,
                    "creationTimestamp": ex.created,
                    "modifiedTimestamp": ex.modified,
                    **({"reason": ex.reason} if ex.reason else {}),
                    "statusDetails": {"errorStack": list(ex.error_stack), "errorTypes": list(ex.error_types)},
                }
                for d, ex in rows
            ]
        return paged("effectiveDeployments", items, max_results, next_token)
