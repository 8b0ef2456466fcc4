"""What a deployment does to each generic component already on the core (pure).

The nucleus merges the resolved service configuration into its configuration store; what a component does
then follows from what changed under ``services.<name>``:

* ``GenericExternalService`` (its config listener): a new ``version``, a changed ``Install`` step (after
  interpolation) or a changed ``runWith`` → **reinstall** (``requestReinstall``: stop, Install again, start);
  any other change of the interpolated lifecycle (a step, its Setenv, the lifecycle Setenv), except
  ``Shutdown`` → **restart** (``Lifecycle.requestRestart``: stop, start; Install does not run again), or a
  reinstall when the component is BROKEN; a change of the ``configuration`` alone (a key no lifecycle script
  interpolates) → nothing restarts, the new values are there for the component to read;
* ``DeploymentConfigMerger.AggregateServicesChangeManager``: a component not running yet → **add** (start);
  one the deployment no longer has → **remove**, only once the others reached their desired state
  (``removeObsoleteServices``); a BROKEN component the deployment keeps, even unchanged → **reinstall**
  (``reinstallBrokenServices``);
* a rollback (``createRollbackManager``) is the same rule applied from the failed set back to the snapshot.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from group.v2.recipe import Lifecycle

_NOT_WATCHED = ("Shutdown",)   # GenericExternalService ignores changes under lifecycle.shutdown


class Change(str, enum.Enum):
    ADD = "add"
    REINSTALL = "reinstall"
    RESTART = "restart"
    UPDATE = "update"        # configuration (or dependencies) changed in place, nothing restarts
    KEEP = "keep"
    REMOVE = "remove"


@dataclass(frozen=True)
class ServiceConfig:
    """The parts of ``services.<name>`` the nucleus watches, after interpolation (JSON-able values)."""

    version: str
    lifecycle: Mapping[str, Any]                  # step name (and "Setenv") -> normalised step
    run_with: Mapping[str, Any] = field(default_factory=dict)
    configuration: Mapping[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()

    @classmethod
    def of(cls, version: str, lifecycle: Lifecycle, run_with: Mapping[str, Any] | None = None,
           configuration: Mapping[str, Any] | None = None, dependencies: tuple[str, ...] = ()) -> "ServiceConfig":
        steps: dict[str, Any] = {"Setenv": dict(lifecycle.setenv)}
        for name, step in lifecycle.steps().items():
            steps[name] = step.to_dict()
        return cls(version, steps, dict(run_with or {}), dict(configuration or {}), tuple(dependencies))


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def service_change(old: ServiceConfig | None, new: ServiceConfig | None, state: str | None = None) -> Change:
    """The change of one component from ``old`` (None: not on the core) to ``new`` (None: not in the
    deployment); ``state``: its lifecycle state now."""
    if new is None:
        return Change.REMOVE
    if old is None:
        return Change.ADD
    broken = state == "BROKEN"
    if (old.version != new.version or _canon(old.lifecycle.get("Install")) != _canon(new.lifecycle.get("Install"))
            or _canon(old.run_with) != _canon(new.run_with)):
        return Change.REINSTALL
    watched_old = {k: v for k, v in old.lifecycle.items() if k not in _NOT_WATCHED and k != "Install"}
    watched_new = {k: v for k, v in new.lifecycle.items() if k not in _NOT_WATCHED and k != "Install"}
    if _canon(watched_old) != _canon(watched_new):
        return Change.REINSTALL if broken else Change.RESTART
    if broken:
        return Change.REINSTALL   # reinstallBrokenServices: a deployment gives a BROKEN component a new chance
    if (_canon(old.configuration) != _canon(new.configuration) or old.dependencies != new.dependencies
            or _canon(old.lifecycle) != _canon(new.lifecycle)):
        return Change.UPDATE
    return Change.KEEP


def plan_changes(current: Mapping[str, tuple[ServiceConfig, str]],
                 wanted: Mapping[str, ServiceConfig]) -> dict[str, Change]:
    """Every component's change: ``current`` name → (config, state) on the core, ``wanted`` name → config."""
    out: dict[str, Change] = {}
    for name, config in wanted.items():
        old, state = current.get(name, (None, None))
        out[name] = service_change(old, config, state)
    for name in current:
        if name not in wanted:
            out[name] = Change.REMOVE
    return out
