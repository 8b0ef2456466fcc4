"""The Greengrass CLI's IPC operations on components: ``GetComponentDetails``, ``ListComponents``,
``RestartComponent``, ``StopComponent`` (a thin adapter over the component host).

Follows aws-greengrass/aws-greengrass-cli ``server/.../CLIEventStreamAgent``: they are served only while
``aws.greengrass.Cli`` is deployed (otherwise the nucleus answers ``Operation … is not supported by Greengrass``);
the component name is checked first (``Component name cannot be empty``), then authorization (service
``aws.greengrass.Cli``, resource the component name, ``*`` for ``ListComponents``; callers named
``aws.greengrass.Cli`` or starting with ``greengrass-cli#`` pass), then the component is looked up
(``Component with name <n> not found in Greengrass``). Details are ``{componentName, version, state,
configuration}``; a restart answers ``SUCCEEDED`` when it was started, ``FAILED`` when the component cannot restart;
a stop ``SUCCEEDED`` once requested.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Optional, Protocol

from .config_store import ConfigStore
from .errors import InvalidArgumentsError, ResourceNotFoundError
from .service import Call, IpcService

log = logging.getLogger(__name__)

COMPONENT = "aws.greengrass.Cli"
CLIENT_PREFIX = "greengrass-cli#"
OPERATIONS = ("GetComponentDetails", "ListComponents", "RestartComponent", "StopComponent")


class ComponentControl(Protocol):
    """What runs the components (``localcore.generic_components.service.ComponentService``)."""

    async def restart_component(self, component: str) -> Optional[bool]:
        """``requestRestart``: True started, False cannot, None: not a component this host runs."""
        ...

    async def stop_component(self, component: str) -> Optional[bool]:
        """``requestStop``: True requested, None: not a component this host runs."""
        ...


class CliOperations:
    """:param installed: every component the core runs, as ListInstalledComponents entries (``componentName``,
        ``componentVersion``, ``lifecycleState``); :param host: restarts and stops them."""

    def __init__(self, access: Any, store: ConfigStore, installed: Callable[[], list], host: ComponentControl) -> None:
        self.access = access
        self.store = store
        self.installed = installed
        self.host = host
        self.counts = {"restarts": 0, "stops": 0}

    def wire(self, service: IpcService) -> None:
        service.wire("GetComponentDetails", self.get_component_details)
        service.wire("ListComponents", self.list_components)
        service.wire("RestartComponent", self.restart_component)
        service.wire("StopComponent", self.stop_component)

    @staticmethod
    def unwire(service: IpcService) -> None:
        for op in OPERATIONS:
            service.unwire(op)

    def _authorize(self, call: Call, resource: str) -> None:
        if call.component == COMPONENT or call.component.startswith(CLIENT_PREFIX):
            return
        self.access.check(call.component, call.operation.name, resource)

    @staticmethod
    def _name(body: dict) -> str:
        name = body.get("componentName")
        if not name:
            raise InvalidArgumentsError("Component name cannot be empty")
        if not isinstance(name, str):
            raise InvalidArgumentsError(f"componentName must be a string, got {type(name).__name__}")
        return name

    def _details(self, entry: dict) -> dict:
        name = entry.get("componentName")
        out = {"componentName": name, "version": entry.get("componentVersion"),
               "state": entry.get("lifecycleState") or "NEW", "configuration": self.store.value(name) or {}}
        return {k: v for k, v in out.items() if v is not None}

    def _entry(self, name: str) -> dict:
        for entry in self.installed():
            if entry.get("componentName") == name:
                return entry
        raise ResourceNotFoundError(f"Component with name {name} not found in Greengrass")

    def get_component_details(self, call: Call, body: dict) -> None:
        name = self._name(body)
        self._authorize(call, name)
        call.respond({"componentDetails": self._details(self._entry(name))})

    def list_components(self, call: Call, body: dict) -> None:
        self._authorize(call, "*")
        call.respond({"components": [self._details(e) for e in self.installed()]})

    async def restart_component(self, call: Call, body: dict) -> None:
        name = self._name(body)
        self._authorize(call, name)
        self._entry(name)
        done = await _maybe_await(self.host.restart_component(name))
        self.counts["restarts"] += 1
        if done:
            call.respond({"restartStatus": "SUCCEEDED"})
        else:
            call.respond({"restartStatus": "FAILED",
                          "message": f"{name} cannot be restarted now (a BROKEN component restarts only with a "
                                     "deployment; the local core restarts generic components only)"})

    async def stop_component(self, call: Call, body: dict) -> None:
        name = self._name(body)
        self._authorize(call, name)
        self._entry(name)
        done = await _maybe_await(self.host.stop_component(name))
        self.counts["stops"] += 1
        if done:
            call.respond({"stopStatus": "SUCCEEDED"})
        else:
            call.respond({"stopStatus": "FAILED", "message": f"the local core stops generic components only, not "
                                                             f"{name}"})

    def status(self) -> dict:
        return dict(self.counts)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
