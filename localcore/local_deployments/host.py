"""The core device's side of local deployments: the queue the CLI's IPC operations feed, the records they answer
from, the component store, and the core's report to the cloud after one.

``localcore/run_v2.py`` (``CoreDevice``) owns one :class:`LocalDeployments` and processes what it queues through the
same path as a cloud deployment, one deployment at a time (the nucleus' one ``DeploymentQueue`` for both kinds);
``localcore/nucleus_ipc/cli.py`` calls :meth:`create`, :meth:`status`, :meth:`listed` and :meth:`cancel`.

Cancelling (``CancelLocalDeployment``) follows aws-greengrass-cli ``CLIEventStreamAgent.CancelLocalDeploymentHandler``
and aws-greengrass-nucleus ``DeploymentService.cancelCurrentDeployment``, ``DefaultDeploymentTask`` and
``DeploymentConfigMerger``/``DeploymentActivator``: a queued deployment leaves the queue; the one in progress is
reported CANCELED at once and

* before its merge (copying its recipes and artifacts, resolving, downloading, validating the configuration) it is
  interrupted: nothing changes on the core (the nucleus' task is interrupted, the activator sees the cancelled
  future before its config snapshot and does not merge);
* once its merge began (:meth:`LocalDeployments.commit`, the nucleus' ``takeConfigSnapshot``) it runs to its end —
  "Cancelling deployment, changes may already have been applied. Make a new deployment to revert the update" — and
  its outcome is not reported over CANCELED;
* a finished one answers ``Cancellation request is not processed because deployment is already finished``.

The core device runs each local deployment through :meth:`LocalDeployments.run`, which makes the interruption an
asyncio cancellation of that deployment's processing.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Awaitable, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from .records import CANCELED, FAILED, IN_PROGRESS, QUEUED, LocalDeploymentRecords
from .request import LocalRequest, new_deployment_id
from .store import ComponentStore

log = logging.getLogger(__name__)

REPORT_TIMEOUT_S = 30.0


class LocalDeployments:
    """:param root: the core's root (the store is ``root/packages``); :param clock: epoch seconds."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.store = ComponentStore(root)
        self.records = LocalDeploymentRecords()
        self.clock = clock
        self._queue: Deque[Tuple[str, LocalRequest]] = collections.deque()
        self.arrived = asyncio.Event()      # set when a request is queued (the core's follower waits on it)
        self._running: Optional[Tuple[str, "asyncio.Task[Any]"]] = None   # the one being processed
        self._merging = False               # its merge began: a cancel no longer stops it
        self.cancelled_in_progress = 0

    # ------------------------------------------------------------------ what the IPC operations call
    def create(self, request: LocalRequest) -> str:
        """Queue ``request``; its id (a UUID), recorded QUEUED."""
        deployment_id = new_deployment_id()
        self.records.create(deployment_id, int(self.clock() * 1000))
        self._queue.append((deployment_id, request))
        self.arrived.set()
        log.info("local deployment %s queued (group %s)", deployment_id, request.group)
        return deployment_id

    def status(self, deployment_id: str) -> Optional[Dict[str, Any]]:
        rec = self.records.get(deployment_id)
        return rec.payload() if rec is not None else None

    def listed(self) -> List[Dict[str, Any]]:
        return self.records.listed()

    def cancel(self, deployment_id: str) -> Optional[str]:
        """``CancelLocalDeployment`` (see the module doc). None: no such deployment."""
        rec = self.records.get(deployment_id)
        if rec is None:
            return None
        submitted = f"Cancel request submitted. Deployment ID: {deployment_id}"
        running = self._running
        if running is not None and running[0] == deployment_id and rec.status in (QUEUED, IN_PROGRESS):
            self.records.update(deployment_id, CANCELED)
            self.cancelled_in_progress += 1
            if self._merging:
                log.warning("local deployment %s: Cancelling deployment, changes may already have been applied. Make "
                            "a new deployment to revert the update", deployment_id)
            else:
                running[1].cancel()
                log.warning("local deployment %s cancelled before its merge: nothing changed", deployment_id)
            return submitted
        if rec.status == QUEUED:
            self._queue = collections.deque((i, r) for i, r in self._queue if i != deployment_id)
            self.records.update(deployment_id, CANCELED)
            return submitted
        return "Cancellation request is not processed because deployment is already finished"

    # ------------------------------------------------------------------ what the core device calls
    def next(self) -> Optional[Tuple[str, LocalRequest]]:
        """The oldest queued request (removed from the queue, IN_PROGRESS from now on), or None."""
        if not self._queue:
            self.arrived.clear()
            return None
        deployment_id, request = self._queue.popleft()
        self.records.update(deployment_id, IN_PROGRESS)
        return deployment_id, request

    async def run(self, deployment_id: str, work: Awaitable[Any]) -> bool:
        """Process one local deployment (``work``: the core device's processing of it) so that :meth:`cancel`
        interrupts it until :meth:`commit`. Returns False when it was cancelled before its merge; a cancellation of
        the caller itself (the core stopping) propagates."""
        task = asyncio.ensure_future(work)
        self._running, self._merging = (deployment_id, task), False
        try:
            await task
            return True
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                return False
            raise
        finally:
            self._running, self._merging = None, False

    def commit(self, deployment_id: str) -> None:
        """The deployment's merge begins (the nucleus' config snapshot): from now on a cancel lets it finish. The
        core device calls it for every deployment; only the local one being run is concerned."""
        if self._running is not None and self._running[0] == deployment_id:
            self._merging = True

    def owns(self, deployment_id: Optional[str]) -> bool:
        return deployment_id is not None and deployment_id in self.records

    def failed(self, deployment_id: str, reason: str, codes: Iterable[str], types: Iterable[str]) -> None:
        """A local deployment that ended before the core could process it (its folders could not be copied)."""
        self.records.update(deployment_id, FAILED, detailed="FAILED_NO_STATE_CHANGE", error_stack=tuple(codes),
                            error_types=tuple(types), failure_cause=reason)

    def status_summary(self) -> Dict[str, Any]:
        return {"queued": len(self._queue), "by_status": self.records.counts(),
                "in_progress": self._running[0] if self._running is not None else None,
                "cancelled_in_progress": self.cancelled_in_progress}


#: ``DeploymentErrorCode`` types of the codes a store failure carries (the readers' table has no IO codes)
STORE_ERROR_TYPES = {"IO_WRITE_ERROR": "DEVICE_ERROR"}


def local_error_types(types: Iterable[str], codes: Iterable[str] = ()) -> Tuple[str, ...]:
    """``generateErrorReportFromExceptionStack(e, LOCAL)``: the types of ``codes`` beside ``types``; a component error
    of a local deployment is the user's."""
    more = [STORE_ERROR_TYPES[c] for c in codes if c in STORE_ERROR_TYPES]
    return tuple(dict.fromkeys("USER_COMPONENT_ERROR" if t == "COMPONENT_ERROR" else t for t in [*types, *more]))


def report_fleet(cloud_url: str, core_thing: str, components: Iterable[Mapping[str, Any]], health: str,
                 core_version: Optional[str] = None) -> None:
    """The core's fleet status after a local deployment (the nucleus' ``FleetStatusService`` update, trigger
    LOCAL_DEPLOYMENT): its installed components and health — no deployment status, the cloud has no job for it.
    The same device routes of the local cloud as ``localcore.readers.v2.report``."""
    base = f"{cloud_url.rstrip('/')}/_local/greengrassv2/coreDevices/{urllib.parse.quote(core_thing, safe='')}"
    comps = [dict(c) for c in components]
    for c in comps:
        c.setdefault("lastInstallationSource", "LOCAL_DEPLOYMENT")
    if comps:
        _put(base + "/installedComponents", {"deploymentId": "LOCAL_DEPLOYMENT", "components": comps})
    body: Dict[str, Any] = {"status": health, "platform": "linux", "architecture": "amd64",
                            "runtime": "aws_nucleus_classic"}
    if core_version:
        body["coreVersion"] = core_version
    _put(base + "/health", body)


def _put(url: str, body: Mapping[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=REPORT_TIMEOUT_S) as resp:  # noqa: S310 (the local cloud's URL)
        resp.read()
