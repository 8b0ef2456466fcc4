"""A V2 core's nucleus IPC with the core services the plugin operations reach: the shadow store (attached to a
real router), the local PKI's CAs and a certificate authorizer, the real component service. Used by the tests of
the shadow, client device auth, component update, pause and metric operations."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional, Sequence

from localcore.broker.auth import CertificateAuthorizer
from localcore.generic_components.service import ComponentService
from localcore.generic_components.tokens import ComponentTokens
from localcore.interfaces import Route
from localcore.nucleus_ipc import NucleusIpc
from localcore.nucleus_ipc.clientdevices import ClientDeviceTrust
from localcore.pki import LocalPKI
from localcore.router.router import Router
from localcore.shadow import ShadowService
from tests.functional.nucleus_ipc.conftest import V2Core


@dataclass
class PluginCore(V2Core):
    shadow_store: Any = None
    pki: Any = None
    group_ca: Any = None


class Collect:
    """A router sink (a device, a Lambda) that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list = []

    def deliver(self, message) -> None:
        self.messages.append(message)


@contextlib.asynccontextmanager
async def plugin_core(tmp_path, routes: Sequence[Route] = (), members: Optional[dict] = None,
                      kill_grace_s: float = 2.0) -> AsyncIterator[PluginCore]:
    """``members``: thing → certificate ids attached to it (the broker's authorizer); the PKI lives under tmp_path."""
    root, out = tmp_path / "gg", tmp_path / "out"
    out.mkdir()
    tokens = ComponentTokens()
    router = Router(list(routes))
    shadows = ShadowService(tmp_path / "shadows")
    await shadows.start()
    shadows.attach(router)
    pki = LocalPKI(tmp_path / "ca")
    group_ca = pki.group_ca("test-group")
    trust = ClientDeviceTrust(pki.root.cert_pem, group_ca, CertificateAuthorizer(members or {}),
                              hosts=("127.0.0.1", "localhost"), server_name="GG_Core")
    service = ComponentService(root=root, tokens=tokens, thing_name="GG_Core", region="us-east-1",
                               cloud_url="http://127.0.0.1:9", ipc_socket=root / "ipc.socket",
                               kill_grace_s=kill_grace_s)
    await service.start()
    ipc = NucleusIpc(root / "ipc.socket", tokens, router, host=service, installed=service.installed,
                     secrets_client=lambda: None, shadows=shadows, client_devices=trust)
    await ipc.start()
    core = PluginCore(ipc, service, router, None, tokens, root, out, shadow_store=shadows, pki=pki,
                      group_ca=group_ca)
    try:
        yield core
    finally:
        for p in core.procs:
            p.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(p.proc.wait(), 10)
        await service.stop()
        await ipc.stop()
        await shadows.stop()
