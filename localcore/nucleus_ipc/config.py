"""IPC configuration operations: a thin adapter over :class:`~.config_store.ConfigStore` and the component host.

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/configstore/ConfigStoreIPCEventStreamAgent`` and
``deployment/DynamicComponentConfigurationValidator``:

* ``GetConfiguration``: ``componentName`` defaults to the caller and may name any component (no authorization);
  the map at ``keyPath`` (all of ``configuration`` when empty), or ``{leaf: value}``; ``Key not found`` otherwise;
* ``UpdateConfiguration``: the caller's own configuration (see the store for the merge and its errors); the new
  configuration goes to the component host (:class:`ConfigurationHost`), which keeps it for the next deployment;
* ``SubscribeToConfigurationUpdate``: events ``{configurationUpdateEvent: {componentName, keyPath}}`` for changes at
  or below the watched node, only after the response;
* ``SubscribeToValidateConfigurationUpdates`` (one listener per component: a second subscription does not replace
  the first) and ``SendConfigurationValidityReport``: before a deployment changes the configuration of a component
  whose version stays, :meth:`ConfigurationOperations.validate` sends ``{validateConfigurationUpdateEvent:
  {configuration, deploymentId}}`` and waits (20 s by default) for the reports; a REJECTED one fails the
  deployment with the nucleus' text.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping, Optional, Protocol

from .config_store import ConfigStore
from .errors import InvalidArgumentsError
from .service import Call, IpcService

log = logging.getLogger(__name__)

DEFAULT_VALIDATION_TIMEOUT_S = 20.0
REPORT_STATUSES = ("ACCEPTED", "REJECTED")


class ConfigurationHost(Protocol):
    """What runs the components (``localcore.generic_components.service.ComponentService``)."""

    def update_configuration(self, component: str, configuration: Mapping[str, Any]) -> None:
        """The component changed its own configuration (IPC ``UpdateConfiguration``): keep it."""
        ...


class ConfigurationOperations:
    """The configuration operations, wired into an :class:`IpcService` by :meth:`wire`."""

    def __init__(self, store: ConfigStore, host: Optional[ConfigurationHost] = None) -> None:
        self.store = store
        self.host = host
        self._validators: dict[str, Call] = {}                          # component -> its validation stream
        self._reports: dict[tuple[str, str], asyncio.Future] = {}        # (component, deployment id) -> report

    def wire(self, service: IpcService) -> None:
        service.wire("GetConfiguration", self.get_configuration)
        service.wire("UpdateConfiguration", self.update_configuration)
        service.wire("SubscribeToConfigurationUpdate", self.subscribe_to_configuration_update)
        service.wire("SubscribeToValidateConfigurationUpdates", self.subscribe_to_validate_configuration_updates)
        service.wire("SendConfigurationValidityReport", self.send_configuration_validity_report)

    # -- operations ------------------------------------------------------------------------------
    def get_configuration(self, call: Call, body: dict) -> None:
        component = call.component if body.get("componentName") is None else body["componentName"]
        call.respond({"componentName": component, "value": self.store.get(component, body.get("keyPath"))})

    def update_configuration(self, call: Call, body: dict) -> None:
        before = self.store.value(call.component)
        try:
            self.store.update(call.component, body.get("keyPath"), body.get("timestamp"), body.get("valueToMerge"))
        finally:
            after = self.store.value(call.component)
            if after != before and self.host is not None:   # also when the timestamp check failed after the merge
                self.host.update_configuration(call.component, after or {})
        call.respond({})

    def subscribe_to_configuration_update(self, call: Call, body: dict) -> None:
        component = call.component if body.get("componentName") is None else body["componentName"]

        def send(name: str, key_path: list) -> None:
            call.event({"configurationUpdateEvent": {"componentName": name, "keyPath": key_path}})

        watch = self.store.watch(component, body.get("keyPath"), send)
        call.on_close(lambda: self.store.unwatch(watch))
        call.respond({})
        self.store.activate(watch)

    def subscribe_to_validate_configuration_updates(self, call: Call, body: dict) -> None:
        component = call.component
        if component not in self._validators:
            self._validators[component] = call

            def closed() -> None:
                if self._validators.get(component) is call:
                    del self._validators[component]

            call.on_close(closed)
        call.respond({})

    def send_configuration_validity_report(self, call: Call, body: dict) -> None:
        report = body.get("configurationValidityReport")
        if not isinstance(report, dict):
            raise InvalidArgumentsError("configurationValidityReport is required")
        deployment_id = report.get("deploymentId")
        if deployment_id is None:
            raise InvalidArgumentsError(
                "Cannot accept configuration validity report, the deployment ID provided was null")
        status = report.get("status")
        if status not in REPORT_STATUSES:
            raise InvalidArgumentsError(f"configurationValidityReport.status must be one of "
                                        f"{', '.join(REPORT_STATUSES)}, got {status!r}")
        future = self._reports.pop((call.component, deployment_id), None)
        if future is None:
            raise InvalidArgumentsError("Validation request either timed out or was never made")
        if not future.done():
            future.set_result((status, report.get("message")))
        call.respond({})

    # -- the deployment side ---------------------------------------------------------------------
    def wants_validation(self, component: str) -> bool:
        return component in self._validators

    async def validate(self, deployment_id: str, proposed: Mapping[str, Mapping[str, Any]],
                       timeout_s: float = DEFAULT_VALIDATION_TIMEOUT_S) -> Optional[str]:
        """Ask the components of ``proposed`` (name → the configuration a deployment would give them; only those
        whose version stays) that subscribed to validation and whose configuration would change. Returns None
        when none rejects it, else the reason the deployment fails (``COMPONENT_CONFIGURATION_NOT_VALID``)."""
        asked: dict[str, asyncio.Future] = {}
        loop = asyncio.get_running_loop()
        for component, configuration in proposed.items():
            call = self._validators.get(component)
            if call is None or self.store.value(component) == dict(configuration):
                continue
            future = loop.create_future()
            self._reports[(component, deployment_id)] = future
            if not call.event({"validateConfigurationUpdateEvent": {"configuration": dict(configuration),
                                                                    "deploymentId": deployment_id}}):
                self._forget(deployment_id, asked)
                self._reports.pop((component, deployment_id), None)
                return f"Error requesting validation from component {component}"
            asked[component] = future
        if not asked:
            return None
        try:
            done, pending = await asyncio.wait(asked.values(), timeout=timeout_s)
            if pending:
                late = sorted(c for c, f in asked.items() if f in pending)
                return (f"Error while waiting for validation report for one or more components: no report from "
                        f"{', '.join(late)} within {timeout_s:g} s")
            failure = "Components reported that their to-be-deployed configuration is invalid"
            rejected = False
            for component, future in sorted(asked.items()):
                status, message = future.result()
                if status == "REJECTED":
                    rejected = True
                    failure += f" {{ name = {component}, message = {message} }}"
            return failure if rejected else None
        finally:
            self._forget(deployment_id, asked)

    def _forget(self, deployment_id: str, asked: Mapping[str, asyncio.Future]) -> None:
        for component, future in asked.items():
            self._reports.pop((component, deployment_id), None)
            future.cancel()

    def status(self) -> dict:
        return {**self.store.status(), "validators": sorted(self._validators)}
