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


async def _end(procs) -> None:
    """Kill the component processes a test started and reap them (bounded)."""
    for p in procs:
        p.kill()
        try:
            await asyncio.wait_for(p.proc.wait(), 10)
        except asyncio.TimeoutError:
            pass


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
        await _end(c.procs)
        await server.stop()


async def until(pred, timeout: float = 10.0) -> None:
    """Bounded wait for a state no event announces (e.g. the server noticing a vanished client)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -- the whole nucleus IPC of a V2 core: NucleusIpc + the real component service, router and console tap --------
@dataclass
class V2Core:
    ipc: "object"
    service: "object"
    router: "object"
    facade: "object"
    tokens: ComponentTokens
    root: Path
    out: Path
    secrets: dict = field(default_factory=dict)   # {"url": the Secrets Manager endpoint} when a test sets it
    procs: list = field(default_factory=list)

    def configure(self, configs: dict):
        """What run_v2 does at each deployment, before the components (re)start."""
        return self.ipc.configure(configs)

    def env(self, name: str) -> dict:
        """The environment of a component process started outside the component service."""
        token = self.tokens.issue(name)
        env = dict(os.environ)
        env.update({"SVCUID": token, "AWS_CONTAINER_AUTHORIZATION_TOKEN": token, "PYTHONUNBUFFERED": "1",
                    "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": str(self.ipc.socket_path)})
        return env

    async def run(self, name: str, script: str, timeout: float = 30.0) -> list[dict]:
        """A component process (its token, the socket) run to its end; what it reported."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PRELUDE + textwrap.dedent(script), env=self.env(name),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        p = Proc(name, proc)
        self.procs.append(p)
        return await p.finish(timeout)

    async def start(self, name: str, script: str) -> "Proc":
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PRELUDE + textwrap.dedent(script), env=self.env(name),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        p = Proc(name, proc)
        self.procs.append(p)
        return p

    def spec(self, name: str, script: str, configuration: dict | None = None):
        """A generic component whose Run step is ``script`` (the prelude first; it writes its reports to
        ``<out>/<name>.jsonl``), with ``configuration`` as its DefaultConfiguration."""
        from group.v2.recipe import parse_recipe
        from localcore.generic_components.service import ComponentSpec

        path = self.out / f"{name}.py"
        path.write_text(COMPONENT_PRELUDE.format(out=str(self.out / f"{name}.jsonl")) + textwrap.dedent(script))
        doc = {"RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": "1.0.0",
               "ComponentConfiguration": {"DefaultConfiguration": configuration or {}},
               "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": f"python3 -u {path}"}}]}
        return ComponentSpec(parse_recipe(json.dumps(doc), source=name), configuration or {})

    async def deploy(self, specs: dict, others: dict | None = None) -> None:
        """A deployment of ``specs`` (name → ComponentSpec) and ``others`` (name → configuration of components
        the service does not run): the IPC sees every configuration first, then the components start."""
        await self.configure({**(others or {}), **{n: s.config for n, s in specs.items()}})
        await self.service.activate(specs)

    def reports(self, name: str) -> list[dict]:
        path = self.out / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    async def reported(self, name: str, pred, timeout: float = 20.0) -> list[dict]:
        """Bounded wait until ``pred(reports)`` holds (the component writes them from its own process)."""
        try:
            await until(lambda: pred(self.reports(name)), timeout)
        except AssertionError:
            log = self.root / "logs" / f"{name}.log"
            text = log.read_text()[-3000:] if log.exists() else "(no log)"
            raise AssertionError(f"{name} reported {self.reports(name)}; its log:\n{text}") from None
        return self.reports(name)


# a component under the component service appends its reports to a file (its stdout goes to its log)
COMPONENT_PRELUDE = textwrap.dedent("""
    import json, os, sys, threading, time
    def report(**kw):
        with open({out!r}, "a") as f:
            f.write(json.dumps(kw) + "\\n")
    def wait_for(pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True
""")


@pytest.fixture
async def v2(tmp_path):
    from localcore.generic_components.service import ComponentService
    from localcore.nucleus_ipc import NucleusIpc
    from localcore.router.router import Router
    from web.facade import CoreFacade
    from web.tap import MessageTap

    root = tmp_path / "gg"
    out = tmp_path / "out"
    out.mkdir()
    tokens = ComponentTokens()
    router = Router([])
    tap = MessageTap()                     # the dashboard console's tap on the cloud connection
    router.attach("cloud", tap)
    facade = CoreFacade(router=router, tap=tap)
    secrets: dict = {}                     # a test that needs Secrets Manager sets "url" (a moto server)
    service = ComponentService(root=root, tokens=tokens, thing_name="GG_Core", region="us-east-1",
                               cloud_url="http://127.0.0.1:9", ipc_socket=root / "ipc.socket", kill_grace_s=2.0)
    await service.start()

    def secrets_client():
        import boto3
        return boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=secrets["url"],
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    ipc = NucleusIpc(root / "ipc.socket", tokens, router, host=service, installed=service.installed,
                     secrets_client=secrets_client)
    await ipc.start()
    v2_core = V2Core(ipc, service, router, facade, tokens, root, out, secrets)
    try:
        yield v2_core
    finally:
        await _end(v2_core.procs)
        await service.stop()
        await ipc.stop()
