"""``deploy.py run`` (``--platform v1``): the group deployed as a Greengrass V1 group to the local cloud,
and the local core acting as the group's V1 core.

The same four steps as ``localcore/run_v2.py``, which ``localcore/run.py`` calls in the same order:
``deploy`` (the V1 path of ``deploy.py deploy``, without waiting), ``read`` (the V1 reader:
``localcore/readers/v1.py``), ``start`` (the core acknowledges the deployment it runs, then follows later
ones: each new deployment of the group is applied while running, only what changed restarts, and
reported ``Success`` or ``Failure`` with the reason).
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional

from localcore.deployment import AppliedDeployment
from localcore.platform import CoreSetup
from localcore.run_context import RunContext

log = logging.getLogger("localcore.run")

PLATFORM = "v1"


async def deploy(ctx: RunContext) -> Dict[str, Any]:
    """Deploy the group to the embedded cloud without waiting (the core acknowledges it)."""
    from group import v1 as aws

    t = time.monotonic()
    result = await asyncio.to_thread(
        aws.deploy_for_run, ctx.group, root=ctx.root, endpoint_url=ctx.cloud.url, region=ctx.group.group.region,
        state_dir=ctx.state_dir, certificate_issuer=ctx.issue, root_ca_pem=ctx.pki.root.cert_pem,
        file=str(ctx.group_file), certs_dir=ctx.certs_dir,
    )
    ctx.progress.step("deploy group", time.monotonic() - t, True,
                      f"{result['group_id']} ({result.get('changes', 0)} change(s))")
    return result


async def read(ctx: RunContext, result: Dict[str, Any]) -> CoreSetup:
    """The group's V1 deployment is made from the group file: the core runs the validated file."""
    from localcore.readers.v1 import read_group_file

    return await asyncio.to_thread(read_group_file, ctx.group_file, ctx.root)


async def start(ctx: RunContext, core: Any, result: Dict[str, Any], setup: CoreSetup) -> AppliedDeployment:
    """Acknowledge the deployment the core runs, then follow the group's later deployments."""
    dep = await asyncio.to_thread(_acknowledge, ctx.cloud, result["group_id"],
                                  10.0 if result.get("changes") else 0.0)
    core.deployment = AppliedDeployment(id=dep.get("id"), status=dep.get("status"), platform=PLATFORM,
                                        version=result.get("group_version"))
    follower = DeploymentFollower(core, ctx.cloud, ctx.group_file)
    follower.start()
    core.add_follower(follower)
    return core.deployment


def _acknowledge(cloud, group_id: str, timeout: float) -> Dict[str, Any]:
    """Take every pending deployment of the group (the core runs the deployed version) → Success."""
    dep = cloud.deployments.wait_next(group_id, timeout) if timeout > 0 else cloud.deployments.take_next(group_id)
    last = None
    while dep is not None:
        last = cloud.deployments.report(dep.deployment_id, "Success", "applied by the local core")
        dep = cloud.deployments.take_next(group_id)
    if last is None:  # nothing new to deploy: the core runs the group's latest deployment
        last = cloud.deployments.latest(group_id)
    if last is None:
        return {"id": None, "status": "NoDeployment"}
    return {"id": last.deployment_id, "status": last.status}


class DeploymentFollower:
    """Applies every new deployment of the core's group made in ``cloud`` (a ``LocalCloud``: its
    ``deployments`` book): the listener hops onto the core's event loop, the deployment is taken, the
    group file is read again (what the deployment was made from), applied with
    ``core.apply_deployment``, and reported ``Success`` or ``Failure`` with the reason. Also takes
    deployments made before ``start()`` and not taken yet."""

    def __init__(self, core: Any, cloud: Any, group_file: Path) -> None:
        self.core = core
        self.book = cloud.deployments
        self.group_file = Path(group_file)
        self._listener = None
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        group_id, wake = self.core.cfg.group_id, asyncio.Event()

        def listener(dep: Any) -> None:  # on the cloud's worker thread
            if dep.group_id == group_id:
                loop.call_soon_threadsafe(wake.set)

        self._listener = listener
        self.book.add_listener(listener)
        wake.set()
        self._task = loop.create_task(self._follow(wake), name="core-deployments")

    async def stop(self) -> None:
        if self._listener is not None:
            self.book.remove_listener(self._listener)
            self._listener = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=10.0)
            self._task = None

    async def _follow(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            while True:
                dep = self.book.take_next(self.core.cfg.group_id)
                if dep is None:
                    break
                await self._take(dep)

    async def _take(self, dep: Any) -> None:
        from group.errors import GroupValidationError
        from localcore.cloud.errors import CloudError
        from localcore.errors import DeploymentRejected
        from localcore.readers.v1 import read_group_file
        from localcore.runtime.errors import FunctionConfigError

        core = self.core
        t0 = time.monotonic()
        log.info("deployment %s (%s) of group %s: applying %s", dep.deployment_id, dep.deployment_type,
                 dep.group_id, self.group_file)
        changes: Optional[Dict[str, Any]] = None
        try:
            if dep.deployment_type == "ResetDeployment":  # the group leaves the core: nothing runs
                group = core.cfg.group.model_copy(update={"functions": (), "subscriptions": (), "devices": (),
                                                          "connectors": (), "resources": ()})
            else:
                group = (await asyncio.to_thread(read_group_file, self.group_file, core.cfg.root)).group
            changes = await core.apply_deployment(group)
        except GroupValidationError as e:
            status, message = "Failure", f"the group file is invalid: {e}"
        except (DeploymentRejected, FunctionConfigError) as e:
            status, message = "Failure", str(e)
        except asyncio.CancelledError:
            try:
                self.book.report(dep.deployment_id, "Failure", "the local core stopped while applying this deployment")
            except CloudError as e:
                log.warning("deployment %s: cannot report Failure: %s", dep.deployment_id, e)
            raise
        except Exception as e:  # a bug here must fail the deployment, not hang it InProgress
            log.exception("deployment %s: applying failed", dep.deployment_id)
            status, message = "Failure", f"the local core could not apply it: {type(e).__name__}: {e}"
        else:
            status, message = "Success", describe(changes)
        try:
            self.book.report(dep.deployment_id, status, message)
        except CloudError as e:  # e.g. force-reset meanwhile: it is final already
            log.warning("deployment %s: cannot report %s: %s", dep.deployment_id, status, e)
        core.deployment = AppliedDeployment(id=dep.deployment_id, status=status, platform=PLATFORM,
                                            version=dep.group_version_id, type=dep.deployment_type,
                                            message=message, changes=changes)
        seconds = time.monotonic() - t0
        (log.info if status == "Success" else log.error)("deployment %s: %s in %.2f s — %s",
                                                        dep.deployment_id, status, seconds, message)
        if core.lifecycle.progress is not None:
            core.lifecycle.progress(f"deployment {dep.deployment_id[:8]}", seconds, status == "Success", message)


def describe(changes: Optional[Dict[str, Any]]) -> str:
    """One line for a deployment's status message / the progress line."""
    if not changes:
        return ""
    fn = changes["functions"]
    parts = [f"{label} {', '.join(fn[key])}" for key, label in
             (("started", "started"), ("restarted", "restarted"), ("stopped", "stopped")) if fn[key]]
    subs = changes["subscriptions"]
    if subs["added"] or subs["removed"]:
        parts.append(f"subscriptions +{subs['added']} -{subs['removed']}")
    devices = changes["devices"]
    if devices["added"] or devices["removed"]:
        parts.append("devices " + " ".join([f"+{d}" for d in devices["added"]]
                                           + [f"-{d}" for d in devices["removed"]]))
    if changes["connectivity_changed"]:
        parts.append("connectivity")
    if changes["connectors_changed"]:
        parts.append("connectors")
    return "; ".join(parts) or "no change"
