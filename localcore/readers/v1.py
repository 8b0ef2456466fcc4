"""The V1 reader: the group file a V1 deployment was made from → the core's configuration, and the
follower that applies each new V1 deployment of the group while the core runs.

The local V1 deployment (``group/v1``) is made from the group file; the cloud's group version holds the
same definitions (core, devices, functions, subscriptions, resources, loggers, connectors) and the
Lambda aliases of the code in the bundle, so the reader takes the validated group file itself: the
same ``group.model.Group`` the V2 reader rebuilds from a V2 deployment (``readers/v2.py``), with the
V1 profile (``localcore/platform.py``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional

from group.errors import GroupValidationError
from group.model import load as load_group
from localcore.platform import V1, CoreSetup

log = logging.getLogger(__name__)


def read_group_file(group_file: Path, root: Path) -> CoreSetup:
    """The V1 core configuration: the validated group file (GroupValidationError when it is invalid)."""
    group, _ = load_group(group_file, root)
    return CoreSetup(group, V1)


class V1DeploymentFollower:
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
        from localcore.cloud.errors import CloudError
        from localcore.core import DeploymentRejected
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
        core.deployment = {"id": dep.deployment_id, "status": status, "version": dep.group_version_id,
                           "type": dep.deployment_type, "message": message, "changes": changes}
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


