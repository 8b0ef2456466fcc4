"""What discovery answers, pure: the group's connectivity and CA, and who may ask.

V1 and V2 answer in the same layout. A V2 core device is its own group, ``GGGroupId`` =
``greengrassV2-coreDevice-<core thing>`` (:func:`v2_group_id`), and who may discover it are the
client devices *associated* with the core device (BatchAssociateClientDeviceWithCoreDevice), not
the members of a group: the server's ``is_member`` is then "is associated".
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

from localcore.discovery.errors import DiscoveryConfigError

V2_GROUP_PREFIX = "greengrassV2-coreDevice-"
THING_NAME_RE = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


def v2_group_id(core_thing: str) -> str:
    """The ``GGGroupId`` a V2 core device is discovered under."""
    if not core_thing:
        raise DiscoveryConfigError("v2_group_id: the core device's thing name is empty")
    return V2_GROUP_PREFIX + core_thing


@dataclass(frozen=True)
class Connectivity:
    """One core endpoint as AWS returns it (``Id``, ``HostAddress``, ``PortNumber``, ``Metadata``)."""

    id: str
    host: str
    port: int
    metadata: str = ""


@dataclass(frozen=True)
class DiscoveryGroup:
    group_id: str
    core_thing_arn: str
    connectivity: Sequence[Connectivity]
    ca_pem: str  # the group CA that signed the core's server certificate

    def __post_init__(self) -> None:
        if not self.group_id:
            raise DiscoveryConfigError("DiscoveryGroup.group_id is empty")
        if not self.core_thing_arn:
            raise DiscoveryConfigError("DiscoveryGroup.core_thing_arn is empty")
        if not self.connectivity:
            raise DiscoveryConfigError("DiscoveryGroup.connectivity is empty: devices would have no host")
        for index, entry in enumerate(self.connectivity):
            if not isinstance(entry.port, int) or not 0 < entry.port < 65536:
                raise DiscoveryConfigError(
                    f"DiscoveryGroup.connectivity[{index}].port {entry.port!r} is not a port number")
        if "BEGIN CERTIFICATE" not in self.ca_pem:
            raise DiscoveryConfigError("DiscoveryGroup.ca_pem is not a PEM certificate")

    def document(self) -> dict:
        return {"GGGroups": [{
            "GGGroupId": self.group_id,
            "Cores": [{
                "thingArn": self.core_thing_arn,
                "Connectivity": [
                    {"Id": c.id, "HostAddress": c.host, "PortNumber": c.port, "Metadata": c.metadata}
                    for c in self.connectivity
                ],
            }],
            "CAs": [self.ca_pem],
        }]}


def thing_name_problem(thing: str) -> str | None:
    """Why ``thing`` cannot be an AWS IoT thing name (1-128 of ``[a-zA-Z0-9:_-]``), else None."""
    if not THING_NAME_RE.fullmatch(thing or ""):
        return f"Thing name {thing[:140]!r} is not valid: use 1-128 letters, digits, ':', '_' and '-'"
    return None


def answer(group: DiscoveryGroup, thing: str, is_member: bool, cert_matches: bool) -> tuple[int, dict]:
    """The HTTP status and JSON body for ``GET /greengrass/discover/thing/<thing>``."""
    problem = thing_name_problem(thing)
    if problem is not None:
        return 400, {"errorMessage": problem, "errorCode": "InvalidRequestException"}
    if not is_member:
        if group.group_id.startswith(V2_GROUP_PREFIX):
            core = group.group_id[len(V2_GROUP_PREFIX):]
            message = f"Thing {thing!r} is not associated with core device {core}"
        else:
            message = f"Thing {thing!r} is not a device of group {group.group_id}"
        return 404, {"errorMessage": message, "errorCode": "ResourceNotFoundException"}
    if not cert_matches:
        return 401, {"errorMessage": f"The client certificate is not attached to thing {thing!r}",
                     "errorCode": "UnauthorizedException"}
    return 200, group.document()


def encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
