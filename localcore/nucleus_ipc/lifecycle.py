"""IPC ``UpdateState``: a component reports its own state to the core (a thin adapter over the component host).

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/lifecycle/LifecycleIPCEventStreamAgent``
(``UpdateStateOperationHandler``: the caller's service ``reportState``; an unknown caller is
``ResourceNotFoundError("Component with given name not found")``, resource type ``Component``) and
``lifecyclemanager/Lifecycle.reportState`` (what a report may change is the host's rule: RUNNING while starting,
ERRORED while starting or running; other reports are ignored and logged). No authorization.
"""
from __future__ import annotations

import logging
from typing import Protocol

from .errors import InvalidArgumentsError, ResourceNotFoundError
from .service import Call, IpcService

log = logging.getLogger(__name__)

REPORTABLE = ("RUNNING", "ERRORED")   # awsiotsdk ReportedLifecycleState


class ComponentStates(Protocol):
    """What runs the components (``localcore.generic_components.service.ComponentService``)."""

    def report_state(self, component: str, state: str) -> bool | None:
        """``component`` reports ``state``: True taken, False ignored (not allowed now), None: no such component."""
        ...


class LifecycleOperations:
    def __init__(self, host: ComponentStates) -> None:
        self.host = host
        self.reports = {"taken": 0, "ignored": 0}

    def wire(self, service: IpcService) -> None:
        service.wire("UpdateState", self.update_state)

    def update_state(self, call: Call, body: dict) -> None:
        state = body.get("state")
        if state not in REPORTABLE:
            raise InvalidArgumentsError(f"state must be one of {', '.join(REPORTABLE)}, got {state!r}")
        taken = self.host.report_state(call.component, state)
        if taken is None:
            log.warning("[%s] UpdateState %s: no such component", call.component, state)
            raise ResourceNotFoundError("Component with given name not found", resource_type="Component",
                                        resource_name=call.component)
        self.reports["taken" if taken else "ignored"] += 1
        if not taken:
            log.info("[%s] UpdateState %s ignored: not a state it may report now", call.component, state)
        call.respond({})

    def status(self) -> dict:
        return dict(self.reports)
