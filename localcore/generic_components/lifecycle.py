"""The generic-component lifecycle state machine, as the Greengrass nucleus runs it (pure, no processes).

States and their moves follow ``Lifecycle.java`` / ``State.java`` of aws-greengrass-nucleus:

* NEW --installed--> INSTALLED --start--> STARTING --running--> RUNNING
* RUNNING --finished (Run exited 0)--> STOPPING --stopped--> FINISHED
* NEW/STARTING/RUNNING --error--> ERRORED; ERRORED --recover--> NEW (install failed: install again),
  STOPPING (it was starting or running: shut down, then ``restart`` → INSTALLED → start again) or
  FINISHED (shutdown itself failed).
* The third ERRORED *in a row from the same state* (NEW, STARTING or RUNNING) is BROKEN instead; a
  successful move out of that state clears its count, as does an hour without errors (``errorResetTime``).
* BROKEN stays until a deployment reinstalls it (``reinstall`` → NEW; ``requestReinstall``).
* A requested restart (``Lifecycle.requestRestart``: a configuration change that the lifecycle uses) is
  RUNNING --stop--> STOPPING --restart--> INSTALLED --start--> ...: Install does not run again; from FINISHED
  it is ``start`` → INSTALLED.

Every transition is recorded with the event, the status code (the nucleus' ``ComponentStatusCode``
names: INSTALL_ERROR, RUN_ERROR, STARTUP_TIMEOUT, ...) and the reason that moved it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

from .errors import TransitionError

MAXIMUM_CONTINUAL_ERROR = 3
DEFAULT_ERROR_RESET_S = 3600.0


class State(str, enum.Enum):
    NEW = "NEW"
    INSTALLED = "INSTALLED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FINISHED = "FINISHED"
    ERRORED = "ERRORED"
    BROKEN = "BROKEN"


S = State
# (state, event) -> next state; for ERRORED --recover--> the next state depends on the state that errored.
TRANSITIONS: Mapping[tuple[State, str], State | Mapping[State, State]] = {
    (S.NEW, "installed"): S.INSTALLED,
    (S.NEW, "error"): S.ERRORED,
    (S.NEW, "stop"): S.FINISHED,
    (S.INSTALLED, "start"): S.STARTING,
    (S.INSTALLED, "stop"): S.FINISHED,
    (S.STARTING, "running"): S.RUNNING,
    (S.STARTING, "finished"): S.FINISHED,   # neither Startup nor Run: nothing to do
    (S.STARTING, "error"): S.ERRORED,
    (S.STARTING, "stop"): S.STOPPING,
    (S.RUNNING, "finished"): S.STOPPING,    # Run exited 0: the nucleus requests a stop, then FINISHED
    (S.RUNNING, "error"): S.ERRORED,
    (S.RUNNING, "stop"): S.STOPPING,
    (S.STOPPING, "stopped"): S.FINISHED,
    (S.STOPPING, "restart"): S.INSTALLED,   # stopped after an error or a requested restart: start again
    (S.STOPPING, "error"): S.ERRORED,
    (S.ERRORED, "recover"): {S.NEW: S.NEW, S.STARTING: S.STOPPING, S.RUNNING: S.STOPPING, S.STOPPING: S.FINISHED},
    (S.ERRORED, "stop"): S.FINISHED,
    (S.FINISHED, "start"): S.INSTALLED,
    (S.FINISHED, "reinstall"): S.NEW,
    (S.BROKEN, "reinstall"): S.NEW,
    (S.BROKEN, "stop"): S.BROKEN,
}
STATES_TO_ERRORED = (S.NEW, S.STARTING, S.RUNNING)


@dataclass(frozen=True)
class Transition:
    old: State
    new: State
    event: str
    status_code: str | None
    reason: str | None
    at: float


@dataclass
class LifecycleMachine:
    """One component's state. ``fire`` applies an event; illegal events raise :class:`TransitionError`."""

    component: str
    error_reset_s: float = DEFAULT_ERROR_RESET_S
    state: State = State.NEW
    status_code: str | None = None
    reason: str | None = None
    errored_from: State | None = None
    history: list[Transition] = field(default_factory=list)
    _errors: dict[State, list[float]] = field(default_factory=dict)

    def allowed(self, event: str) -> bool:
        return (self.state, event) in TRANSITIONS

    def fire(self, event: str, *, reason: str | None = None, status_code: str | None = None,
             at: float = 0.0) -> State:
        """Apply ``event`` (at time ``at``, seconds) and return the new state."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            allowed = sorted(e for (s, e) in TRANSITIONS if s == self.state)
            raise TransitionError(
                f"{self.component}: event {event!r} is not allowed in state {self.state.value} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
        old = self.state
        if isinstance(target, Mapping):
            target = target.get(self.errored_from or S.NEW, S.FINISHED)
        if event == "error":
            times = self._errors.setdefault(old, [])
            if times and at - times[-1] >= self.error_reset_s:
                times.clear()
            times.append(at)
            if len(times) >= MAXIMUM_CONTINUAL_ERROR:
                target = S.BROKEN
            self.errored_from = old
        else:
            self._errors.pop(old, None)  # a non-error move out of a state clears that state's count
        if event == "reinstall":
            self._errors.clear()
        self.state = target
        if event == "error" or target == S.BROKEN:
            self.status_code, self.reason = status_code, reason
        elif target in (S.NEW, S.RUNNING, S.FINISHED) and event != "recover":
            # a healthy move clears the last error (the nucleus' status code follows each transition)
            self.status_code, self.reason = status_code, reason
        self.history.append(Transition(old, target, event, status_code, reason, at))
        return target

    def error_count(self, state: State) -> int:
        return len(self._errors.get(state, ()))

    def status(self) -> dict:
        return {"state": self.state.value, "statusCode": self.status_code, "reason": self.reason,
                "erroredFrom": self.errored_from.value if self.errored_from else None}
