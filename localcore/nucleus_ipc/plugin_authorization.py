"""Authorization for the destinations that plugins (and the telemetry agent) register with the nucleus beyond
:data:`.authorization.REGISTERED`: ``aws.greengrass.clientdevices.Auth`` (its four IPC operations, resource
``*``: aws-greengrass/aws-greengrass-client-device-auth ``ClientDevicesAuthService`` and ``ipc/*OperationHandler``)
and ``aws.greengrass.ipc.componentmetric`` (``PutComponentMetric``, resource the metric name:
aws-greengrass/aws-greengrass-nucleus ``ipc/modules/ComponentMetricIPCService``).

:class:`.nucleus.NucleusIpc` builds its ``AccessControl`` with :data:`REGISTERED` added, so policies naming these
destinations load; :func:`check` is the nucleus' ``AuthorizationHandler.isAuthorized`` for them (the four-step
lookup, the same refusal text).
"""
from __future__ import annotations

from typing import Any, Mapping

from .authorization import ANY, STANDARD
from .errors import UnauthorizedError
from .operations import PREFIX

CLIENT_DEVICES_AUTH = "aws.greengrass.clientdevices.Auth"
COMPONENT_METRIC = "aws.greengrass.ipc.componentmetric"
CLIENT_DEVICES_OPERATIONS = ("VerifyClientDeviceIdentity", "GetClientDeviceAuthToken", "AuthorizeClientDeviceAction",
                             "SubscribeToCertificateUpdates")

#: destination → the operations it registers (added to ``authorization.REGISTERED``)
REGISTERED: Mapping[str, frozenset] = {
    CLIENT_DEVICES_AUTH: frozenset({PREFIX + o for o in CLIENT_DEVICES_OPERATIONS} | {ANY}),
    COMPONENT_METRIC: frozenset({PREFIX + "PutComponentMetric", ANY}),
}


def check(access: Any, principal: str, destination: str, operation: str, resource: str) -> None:
    """Raise :class:`UnauthorizedError` with the nucleus' text unless a policy allows it (``access``: the core's
    ``AccessControl``)."""
    if operation not in REGISTERED.get(destination, ()):
        raise UnauthorizedError(f"Component {destination} not registered for operation {operation}")
    if not access.is_authorized(principal, destination, operation, resource, STANDARD):
        raise UnauthorizedError(f"Principal {principal} is not authorized to perform {destination}:{operation} "
                                f"on resource {resource}")
