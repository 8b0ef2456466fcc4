"""What the core knows of deployments: the one it runs (:class:`AppliedDeployment`) and the objects
that follow later ones (:class:`Follower`).

The core never knows a reader. A platform's run (``localcore/run_v1.py``, ``localcore/run_v2.py``) reads a
deployment with its reader (``localcore/readers/``), hands the core the configuration, records here what
it applied, and registers its follower with ``LocalCore.add_follower`` so that the core stops it before
its runtime. Pure data: no sockets, no AWS calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple


class Follower(Protocol):
    """Something that applies later deployments while the core runs; stopped before the runtime."""

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class AppliedDeployment:
    """The deployment the core runs, as the dashboard and ``status`` show it.

    ``status`` is the platform's own word (V1 ``Success``/``Failure``; V2 ``SUCCEEDED``/``FAILED``).
    V1 also knows the group ``version`` and deployment ``type``; V2 the ``components`` as the core
    reported them (ListInstalledComponents shape). ``changes`` is what the last live application changed.
    """

    id: Optional[str] = None
    status: Optional[str] = None
    platform: str = "v1"
    message: str = ""
    version: Optional[str] = None
    type: Optional[str] = None
    changes: Optional[Mapping[str, Any]] = None
    components: Tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def with_components(self, components: Any) -> "AppliedDeployment":
        return replace(self, components=tuple(components))

    def as_dict(self) -> Dict[str, Any]:
        """JSON-able, the keys the dashboard reads (empty fields left out)."""
        out: Dict[str, Any] = {"id": self.id, "status": self.status, "platform": self.platform}
        if self.message:
            out["message"] = self.message
        if self.version is not None:
            out["version"] = self.version
        if self.type is not None:
            out["type"] = self.type
        if self.changes is not None:
            out["changes"] = dict(self.changes)
        if self.components:
            out["components"] = [dict(c) for c in self.components]
        return out


NONE = AppliedDeployment()
