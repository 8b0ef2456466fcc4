"""``PauseComponent`` / ``ResumeComponent``: freeze and thaw a generic component's processes (Linux).

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/lifecycle/LifecycleIPCEventStreamAgent``
(``PauseComponentHandler``, ``ResumeComponentHandler``) and ``lifecyclemanager/GenericExternalService``
(``pause``, ``resume``; a paused component is resumed before it is stopped):

* other platforms: ``ServiceError("Pause/resume component not supported on this platform.")``;
* ``Component name is required.``, then authorization (service ``aws.greengrass.ipc.lifecycle``, resource the
  target's name), then the target: not a component of the core → ``ResourceNotFoundError`` (the nucleus sends no
  text; we say which), not a generic component → ``Only generic components can be paused.`` / ``… resumed.``,
  pause when not RUNNING → ``Component <n> is not running``, resume when not paused → ``Component <n> is not paused``;
* the lifecycle state stays RUNNING while paused (the nucleus keeps a separate flag).

The nucleus freezes the component's cgroup; the local core sends SIGSTOP / SIGCONT to the process group of the
component's running step (``localcore/processes.py``), which holds what that step started. Processes a component
moved to another session are not reached, nor the background processes of a ``Startup`` step that already exited
(the core no longer tracks them: ``Failed to pause component …``).
"""
from __future__ import annotations

import logging
import signal
import sys
import weakref
from typing import Any, Callable, Optional

from localcore import processes

from .errors import InvalidArgumentsError, ResourceNotFoundError, ServiceError
from .service import Call, IpcService

log = logging.getLogger(__name__)


class PauseOperations:
    """:param access: the core's ``AccessControl``; :param host: the component service (``runner(name)``: its
    ``state``, ``status()`` with the running step's pid, and ``on_change``, which a pause wraps to thaw the component
    when it leaves RUNNING); :param known: whether a name is a component of the core (generic or not);
    :param platform: ``sys.platform``."""

    def __init__(self, access: Any, host: Any, known: Callable[[str], bool], platform: str = sys.platform) -> None:
        self.access = access
        self.host = host
        self.known = known
        self.platform = platform
        self.paused: dict[str, tuple[int, Any]] = {}     # component → (the process group it froze, its runner)
        self._watched: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self.counts = {"pauses": 0, "resumes": 0}

    def wire(self, service: IpcService) -> None:
        service.wire("PauseComponent", self.pause_component)
        service.wire("ResumeComponent", self.resume_component)

    def _watch(self, runner: Any) -> None:
        """Hear the runner's state changes (before its own listener) from now on."""
        if runner in self._watched:
            return
        previous = runner.on_change

        def on_change(status: dict) -> None:
            self._state_changed(status, runner)
            if previous is not None:
                previous(status)

        runner.on_change = on_change
        self._watched.add(runner)

    def _target(self, call: Call, body: dict, verb: str) -> tuple[str, Any]:
        if not self.platform.startswith("linux"):
            raise ServiceError("Pause/resume component not supported on this platform.")
        name = body.get("componentName")
        if not name or not isinstance(name, str):
            raise InvalidArgumentsError("Component name is required.")
        self.access.check(call.component, call.operation.name, name)
        runner = self.host.runner(name) if hasattr(self.host, "runner") else None
        if runner is None:
            if self.known(name):
                raise InvalidArgumentsError(f"Only generic components can be {verb}.")
            raise ResourceNotFoundError(f"Component {name} not found", resource_type="Component", resource_name=name)
        return name, runner

    def pause_component(self, call: Call, body: dict) -> None:
        name, runner = self._target(call, body, "paused")
        if name in self.paused:
            call.respond({})     # GenericExternalService.pause: already paused, nothing to do
            return
        if runner.state.value != "RUNNING":
            raise InvalidArgumentsError(f"Component {name} is not running")
        pgid: Optional[int] = runner.status().get("pid")
        if not pgid or not processes.group_alive(pgid):
            raise ServiceError(f"Failed to pause component {name} due to : no process of it is known to the core")
        self._watch(runner)
        processes.signal_group(pgid, signal.SIGSTOP)
        self.paused[name] = (pgid, runner)
        self.counts["pauses"] += 1
        log.info("[%s] paused %s (SIGSTOP to process group %d)", call.component, name, pgid)
        call.respond({})

    def resume_component(self, call: Call, body: dict) -> None:
        name, _runner = self._target(call, body, "resumed")
        entry = self.paused.pop(name, None)
        if entry is None:
            raise InvalidArgumentsError(f"Component {name} is not paused")
        pgid = entry[0]
        processes.signal_group(pgid, signal.SIGCONT)
        self.counts["resumes"] += 1
        log.info("[%s] resumed %s (SIGCONT to process group %d)", call.component, name, pgid)
        call.respond({})

    def _state_changed(self, status: dict, runner: Any) -> None:
        """A paused component leaving RUNNING (a stop, a restart, a deployment) is thawed first, so it can end
        gracefully (``GenericExternalService.shutdown``)."""
        name = status.get("component")
        entry = self.paused.get(name)
        if entry is not None and entry[1] is runner and status.get("state") != "RUNNING":
            del self.paused[name]
            processes.signal_group(entry[0], signal.SIGCONT)
            log.info("resumed paused component %s: it is %s now", name, status.get("state"))

    def resume_all(self) -> None:
        """The core stops: every paused component runs again, so it ends gracefully."""
        for name, (pgid, _runner) in list(self.paused.items()):
            processes.signal_group(pgid, signal.SIGCONT)
            log.info("resumed paused component %s: the core stops", name)
        self.paused.clear()

    def status(self) -> dict:
        return {"paused": sorted(self.paused), **self.counts}
