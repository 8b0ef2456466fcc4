"""Fixture: a core's nucleus IPC with the real component service and local deployments, and ``greengrass-cli`` (the
real client module) run as a subprocess against it."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest

from localcore.generic_components.tokens import ComponentTokens
from localcore.local_deployments.host import LocalDeployments
from localcore.local_deployments.store import StoreComponentService

ID = re.compile(r"Local deployment submitted! Deployment Id: ([0-9a-f-]{36})")


class Core:
    def __init__(self, root, ipc, local, tokens, tap):
        self.root, self.ipc, self.local, self.tokens, self.tap = root, ipc, local, tokens, tap

    def argv(self, *argv: str) -> list:
        return [sys.executable, "-m", "localcore.greengrass_cli", "--ggcRootPath", str(self.root), *argv]

    async def cli(self, *argv: str, timeout: float = 30.0) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*self.argv(*argv), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return proc.returncode, out.decode(), err.decode()

    async def create(self, *argv: str) -> str:
        code, out, err = await self.cli("deployment", "create", *argv)
        assert code == 0, err
        return ID.search(out).group(1)

    async def start(self, *argv: str) -> "Running":
        proc = await asyncio.create_subprocess_exec(*self.argv(*argv), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE,
                                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
        return Running(proc)


class Running:
    """A long-running ``greengrass-cli`` (a subscription, ``logs get --follow``)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self, timeout: float = 20.0) -> str:
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            err = await self.proc.stderr.read()
            raise AssertionError(f"greengrass-cli ended: {err.decode()[-2000:]}")
        return raw.decode().rstrip("\n")

    async def interrupt(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Ctrl-C; its exit status and the rest of what it printed."""
        self.proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        return self.proc.returncode, out.decode(), err.decode()

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def core(tmp_path):
    from localcore.nucleus_ipc import NucleusIpc
    from localcore.router.router import Router
    from web.tap import MessageTap

    root = tmp_path / "gg"
    tokens = ComponentTokens()
    router = Router([])
    tap = MessageTap()                       # the core's cloud connection, as the dashboard console taps it
    router.attach("cloud", tap)
    service = StoreComponentService(root=root, tokens=tokens, thing_name="GG_Core", region="us-east-1",
                                    cloud_url="http://127.0.0.1:9", ipc_socket=root / "ipc.socket", kill_grace_s=2.0)
    await service.start()
    ipc = NucleusIpc(root / "ipc.socket", tokens, router, host=service, installed=service.installed,
                     secrets_client=lambda: None)
    local = LocalDeployments(root)
    ipc.cli.attach_local(local, tokens, root / "ipc.socket")
    await ipc.start()
    try:
        yield Core(root, ipc, local, tokens, tap)
    finally:
        ipc.cli.close_client_access()
        await service.stop()
        await ipc.stop()
