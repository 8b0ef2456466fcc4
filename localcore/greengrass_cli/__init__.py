"""The Greengrass CLI's local iteration loop on the local V2 core: local deployments and the ``greengrass-cli``
client.

* :mod:`.client` — ``greengrass-cli`` (``python deploy.py cli ...`` or ``python -m localcore.greengrass_cli``):
  the real CLI's commands over the core's nucleus IPC, with awsiotsdk's client and the token file the core
  writes while ``aws.greengrass.Cli`` is deployed;
* :mod:`.request` (pure) — a ``CreateLocalDeployment`` request and the deployment it makes (group
  ``LOCAL_DEPLOYMENT``); :mod:`.records` (pure) — the statuses ``GetLocalDeploymentStatus`` answers;
* :mod:`.store` — the component store: recipes and artifacts copied in, artifacts already in place not
  downloaded again (:class:`~.store.StoreComponentService`); :mod:`.gdk` — GDK project and build folders;
* :mod:`.host` — :class:`~.host.LocalDeployments`, the queue the IPC operations feed and ``CoreDevice``
  (``localcore/run_v2.py``) processes with the cloud's deployments;
* :mod:`.errors` — the package's errors.

Wiring (``localcore/run_v2.py``)::

    local = LocalDeployments(root)
    ipc.cli.attach_local(local, tokens, root / "ipc.socket")   # served while aws.greengrass.Cli is deployed
    ... local.next() -> (id, request); local.store.stage(...); to_deployment(id, request, running_roots)
"""
from __future__ import annotations

from .request import LOCAL_GROUP, LocalDeployment, LocalRequest, parse_request, to_deployment

# the core's side (.host, .store) is imported where it is used: the client starts without the component service
__all__ = ["LOCAL_GROUP", "LocalDeployment", "LocalRequest", "parse_request", "to_deployment"]
