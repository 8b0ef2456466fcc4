"""``SubscribeToComponentUpdates`` / ``DeferComponentUpdate``: components hear a deployment coming and may put it
off, as the nucleus' update system policy does.

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/lifecycle/LifecycleIPCEventStreamAgent``,
``lifecyclemanager/UpdateSystemPolicyService`` and ``deployment/DeploymentConfigMerger``:

* a subscriber must be a component of the core (``ResourceNotFoundError("Component with given name not found
  currently in Greengrass")``, resource type ``Component``); a closed stream unsubscribes;
* before a deployment's merge — after it was resolved, prepared and its configurations validated — and when its
  ``deploymentPolicies.componentUpdatePolicy.action`` is ``NOTIFY_COMPONENTS`` (the default;
  ``SKIP_NOTIFY_COMPONENTS`` goes straight on), **every** subscriber gets ``preUpdateEvent {deploymentId,
  isGgcRestarting: false}``; the core then waits up to ``timeoutInSeconds`` (default 60) for their answers. The
  largest ``recheckAfterMs`` of the ``DeferComponentUpdate`` calls for this deployment puts it off that long, after
  which the subscribers are asked again; no deferral (or the time limit) lets it go on;
* after the merge (whatever its outcome) every subscriber gets ``postUpdateEvent {deploymentId}``;
* ``DeferComponentUpdate`` errors: ``Component is not subscribed to component update events``,
  ``Cannot defer the update, the deployment ID provided was null`` (InvalidArgumentsError) and, when no answer is
  awaited for that deployment any more, ``ServiceError("Time limit to respond to PreComponentUpdateEvent
  exceeded")``. A deferral without ``recheckAfterMs`` is ignored.

The core drives it (``localcore/run_v2.py`` through :class:`.nucleus.NucleusIpc`): ``await before(id, document)``
then ``after(id)``.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, Callable, Mapping, Optional

from .errors import InvalidArgumentsError, ResourceNotFoundError, ServiceError
from .service import Call, IpcService

log = logging.getLogger(__name__)

NOTIFY = "NOTIFY_COMPONENTS"
SKIP = "SKIP_NOTIFY_COMPONENTS"
DEFAULT_TIMEOUT_S = 60   # ComponentUpdatePolicy.timeout


def update_policy(document: Optional[Mapping[str, Any]]) -> tuple[str, float]:
    """(action, timeout in seconds) of a deployment document's ``componentUpdatePolicy``."""
    policy = ((document or {}).get("deploymentPolicies") or {}).get("componentUpdatePolicy") or {}
    action = policy.get("action") or NOTIFY
    timeout = policy.get("timeoutInSeconds")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        timeout = DEFAULT_TIMEOUT_S
    return str(action), float(timeout)


class ComponentUpdates:
    """:param known: whether a name is a component of the core (the deployment's components)."""

    def __init__(self, known: Callable[[str], bool]) -> None:
        self.known = known
        self._listeners: dict[str, set] = {}
        self._pending: dict[tuple[str, str], asyncio.Future] = {}
        self._closing = asyncio.Event()
        self.deferrals: list[dict] = []        # the last ones, for status
        self.counts: Counter[str] = Counter()
        self.waiting_for: Optional[str] = None

    def wire(self, service: IpcService) -> None:
        service.wire("SubscribeToComponentUpdates", self.subscribe)
        service.wire("DeferComponentUpdate", self.defer)

    # -- IPC ----------------------------------------------------------------------------------
    def subscribe(self, call: Call, body: dict) -> None:
        name = call.component
        if not self.known(name):
            raise ResourceNotFoundError("Component with given name not found currently in Greengrass",
                                        resource_type="Component", resource_name=name)
        self._listeners.setdefault(name, set()).add(call)

        def closed() -> None:
            calls = self._listeners.get(name)
            if calls is not None:
                calls.discard(call)
                if not calls:
                    del self._listeners[name]

        call.on_close(closed)
        call.respond({})

    def defer(self, call: Call, body: dict) -> None:
        name = call.component
        if name not in self._listeners:
            raise InvalidArgumentsError("Component is not subscribed to component update events")
        deployment_id = body.get("deploymentId")
        if deployment_id is None:
            raise InvalidArgumentsError("Cannot defer the update, the deployment ID provided was null")
        future = self._pending.pop((name, str(deployment_id)), None)
        if future is None:
            raise ServiceError("Time limit to respond to PreComponentUpdateEvent exceeded")
        if not future.done():
            future.set_result(dict(body))
        call.respond({})

    # -- the deployment -----------------------------------------------------------------------
    async def before(self, deployment_id: str, document: Optional[Mapping[str, Any]] = None) -> None:
        """Tell every subscriber a deployment is coming; return once none defers it any more (bounded by the
        policy's timeout per round; a round's deferral is waited out, then the subscribers are asked again)."""
        action, timeout = update_policy(document)
        if action == SKIP:
            log.info("deployment %s skips the component update policy check", deployment_id)
            return
        self.waiting_for = deployment_id
        try:
            while not self._closing.is_set():
                recheck_ms = await self._ask(deployment_id, timeout)
                if recheck_ms <= 0:
                    return
                self.counts["deferred"] += 1
                log.info("deployment %s deferred by components for %d ms", deployment_id, recheck_ms)
                try:
                    await asyncio.wait_for(self._closing.wait(), recheck_ms / 1000)
                except asyncio.TimeoutError:
                    pass
        finally:
            self.waiting_for = None

    async def _ask(self, deployment_id: str, timeout: float) -> int:
        self._discard()
        futures = []
        event = {"preUpdateEvent": {"deploymentId": deployment_id, "isGgcRestarting": False}}
        loop = asyncio.get_running_loop()
        for name, calls in list(self._listeners.items()):
            for call in list(calls):
                future = loop.create_future()
                self._pending[(name, deployment_id)] = future   # the latest per component, before it can answer
                if call.event(event):
                    futures.append((name, future))
                else:
                    self._pending.pop((name, deployment_id), None)
        self.counts["pre_update_events"] += len(futures)
        if not futures:
            return 0
        closing = asyncio.ensure_future(self._closing.wait())
        deadline = loop.time() + timeout
        unanswered = {f for _, f in futures}
        try:
            while unanswered and not closing.done() and loop.time() < deadline:
                done, _ = await asyncio.wait(unanswered | {closing}, timeout=deadline - loop.time(),
                                             return_when=asyncio.FIRST_COMPLETED)
                unanswered -= done
        finally:
            closing.cancel()
        recheck = 0
        for name, future in futures:
            if not future.done() or future.cancelled():
                continue
            answer = future.result()
            ms = answer.get("recheckAfterMs")
            if ms is None:
                log.warning("%s: deferral of %s without recheckAfterMs ignored", name, deployment_id)
                continue
            self.deferrals = (self.deferrals + [{"component": name, "deploymentId": deployment_id,
                                                 "recheckAfterMs": ms, "message": answer.get("message")}])[-20:]
            recheck = max(recheck, int(ms))
        self._discard()
        return recheck

    def _discard(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()

    def after(self, deployment_id: str) -> None:
        """Tell every subscriber the deployment is over."""
        event = {"postUpdateEvent": {"deploymentId": deployment_id}}
        n = 0
        for calls in list(self._listeners.values()):
            for call in list(calls):
                n += bool(call.event(event))
        self.counts["post_update_events"] += n

    def close(self) -> None:
        """The core stops: a deployment waiting for answers or a deferral goes on at once."""
        self._closing.set()
        self._discard()

    def status(self) -> dict:
        return {"subscribers": sorted(self._listeners), "waiting_for": self.waiting_for,
                "deferrals": list(self.deferrals), "counts": dict(self.counts)}
