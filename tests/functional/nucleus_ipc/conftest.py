"""Fixtures: a real NucleusIpcServer on a socket under tmp_path, and real component processes that use the
unmodified awsiotsdk (GreengrassCoreIPCClient / GreengrassCoreIPCClientV2) with the environment a component gets."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from localcore.generic_components.tokens import ComponentTokens
from localcore.nucleus_ipc import AccessControl, IpcService, LocalPubSub, NucleusIpcServer

PUBSUB_ALL = {"accessControl": {"aws.greengrass.ipc.pubsub": {
    "all": {"policyDescription": "every topic", "operations": ["*"], "resources": ["*"]}}}}

# prepended to every component script: results go to stdout as one JSON object per line
PRELUDE = textwrap.dedent("""
    import json, os, sys, threading, time
    def report(**kw):
        print(json.dumps(kw), flush=True)
    def wait_for(pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True
""")


@dataclass
class Core:
    server: NucleusIpcServer
    tokens: ComponentTokens
    access: AccessControl
    bus: LocalPubSub
    socket_path: Path
    procs: list = field(default_factory=list)

    def component(self, name: str, configuration: dict | None = None) -> dict:
        """Register a component (token + accessControl); returns the env a component process gets."""
        token = self.tokens.issue(name)
        self.access.update(name, configuration if configuration is not None else PUBSUB_ALL)
        env = dict(os.environ)
        env.update({"SVCUID": token, "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                    "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH": str(self.socket_path),
                    "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": str(self.socket_path),
                    "PYTHONUNBUFFERED": "1"})
        return env

    async def start(self, name: str, script: str, configuration: dict | None = None,
                    env: dict | None = None) -> "Proc":
        env = env if env is not None else self.component(name, configuration)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PRELUDE + textwrap.dedent(script), env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        p = Proc(name, proc)
        self.procs.append(p)
        return p

    async def run(self, name: str, script: str, configuration: dict | None = None, timeout: float = 30.0,
                  env: dict | None = None) -> list[dict]:
        """Run a component to its end; returns what it reported (fails on a non-zero exit)."""
        p = await self.start(name, script, configuration, env)
        return await p.finish(timeout)


class Proc:
    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc

    async def line(self, timeout: float = 20.0) -> dict:
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            err = await self.proc.stderr.read()
            raise AssertionError(f"{self.name} ended without reporting: {err.decode()[-2000:]}")
        return json.loads(raw)

    async def send(self, text: str) -> None:
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = 30.0) -> list[dict]:
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}: {err.decode()[-3000:]}"
        return [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def core(tmp_path):
    tokens = ComponentTokens()
    access = AccessControl()
    bus = LocalPubSub()
    sock = tmp_path / "ipc.socket"
    server = NucleusIpcServer(sock, tokens.component_of, IpcService(access, bus))
    await server.start()
    c = Core(server, tokens, access, bus, sock)
    try:
        yield c
    finally:
        for p in c.procs:
            p.kill()
            try:
                await asyncio.wait_for(p.proc.wait(), 10)
            except asyncio.TimeoutError:
                pass
        await server.stop()


async def until(pred, timeout: float = 10.0) -> None:
    """Bounded wait for a state no event announces (e.g. the server noticing a vanished client)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
