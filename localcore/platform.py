"""What the local core runs besides the group model: the platform profile a configuration reader gives.

One core, two ways to configure it. A reader turns a deployment into a ``CoreSetup``: the group model
(functions, routes as a subscription table, devices, shadows and their sync, stream manager, loggers,
connectors — the same ``group.model.Group`` for both platforms) plus a :class:`PlatformProfile` with
what differs by platform: where each function's code comes from, who may connect / publish / subscribe
(V1: the group's devices by certificate; V2: the ``clientdevices.Auth`` policy, evaluated per
operation), what discovery calls the group, whether greengrasssdk local-shadow calls are served (V1 yes;
a V2 core does not serve them to unmodified V1 code), and the V2 components for status.

Pure data: no sockets, no AWS calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Tuple

from group.model import Group
from localcore.interfaces import ClientPolicy


@dataclass(frozen=True)
class ComponentInfo:
    """A component of the V2 deployment as the core installed it (for status and the dashboard)."""

    name: str
    version: str
    kind: str  # lambda | generic | public
    root: bool = True


@dataclass(frozen=True)
class PlatformProfile:
    name: str = "v1"  # v1 | v2
    # function name → folder of its code (V2: the published Lambda version's package, unzipped);
    # absent → the group file's own code folder (V1)
    code_dirs: Mapping[str, Path] = field(default_factory=dict)
    # V2: the Auth component's policy; None → V1 (any group device may publish and subscribe; the
    # subscription table decides what reaches whom)
    client_policy: Optional[ClientPolicy] = None
    # V2: the thing names associated with the core device (who may discover it); None → the group's devices
    client_devices: Optional[Tuple[str, ...]] = None
    # what discovery calls the group ("greengrassV2-coreDevice-<core>" on V2); None → the V1 group id
    discovery_group_id: Optional[str] = None
    # greengrasssdk local-shadow calls (GGShadowService invocations) answered by the core
    serves_sdk_shadow_calls: bool = True
    # V2: the deployment this configuration comes from, and its components
    deployment_id: Optional[str] = None
    components: Tuple[ComponentInfo, ...] = ()

    @property
    def is_v2(self) -> bool:
        return self.name == "v2"


V1 = PlatformProfile()


@dataclass(frozen=True)
class CoreSetup:
    """A reader's result: what the core runs."""

    group: Group
    profile: PlatformProfile = V1
