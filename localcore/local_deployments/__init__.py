"""The core's side of the Greengrass CLI's local iteration loop: local deployments (group ``LOCAL_DEPLOYMENT``).

* :mod:`.request` (pure) — a ``CreateLocalDeployment`` request and the deployment it makes; :mod:`.records`
  (pure) — the statuses ``GetLocalDeploymentStatus`` answers;
* :mod:`.store` — the component store: recipes and artifacts copied in, artifacts already in place not
  downloaded again (:class:`~.store.StoreComponentService`); :mod:`.gdk` — GDK project and build folders;
* :mod:`.host` — :class:`~.host.LocalDeployments`, the queue the IPC operations (``localcore/nucleus_ipc/cli.py``)
  feed and ``CoreDevice`` (``localcore/run_v2.py``) processes with the cloud's deployments;
* :mod:`.errors` — the package's errors.

The client (``greengrass-cli``) is ``localcore/greengrass_cli``: it talks to the core over the nucleus IPC only.

Wiring (``localcore/run_v2.py``)::

    local = LocalDeployments(root)
    ipc.cli.attach_local(local, tokens, root / "ipc.socket")   # served while aws.greengrass.Cli is deployed
    ... local.next() -> (id, request); local.store.stage(...); to_deployment(id, request, running_roots)
"""
from __future__ import annotations

from .request import LOCAL_GROUP, LocalDeployment, LocalRequest, parse_request, to_deployment

# the component store (.store, .host) is imported where it is used
__all__ = ["LOCAL_GROUP", "LocalDeployment", "LocalRequest", "parse_request", "to_deployment"]
