"""The device scripts stop on SIGTERM and SIGINT even while an SDK call blocks: here the TLS handshake with a
discovery endpoint that accepts the connection and never answers (the AWS IoT SDK sets no timeout on that
handshake). They used to run on until a SIGKILL; now they exit within their grace period, and at once on a
second signal. (Connected, they disconnect and exit 0: tests/unit/devices/test_devices_with_local_core.py.)"""
from __future__ import annotations

import asyncio
import signal
import sys
import time

import pytest

from localcore.pki import LocalPKI
from tests.functional.processes.support import ROOT

DEVICES = ROOT / "devices"
GRACE_S = 2.0  # devices/discovery_helper.py STOP_GRACE_S
THINGS = {"basic_discovery.py": ("HelloWorld_Publisher", []),
          "traffic_light.py": ("GG_TrafficLight", []),
          "light_controller.py": ("GG_TrafficLight", ["--clientId", "GG_Switch"])}


class SilentEndpoint:
    """Accepts TCP connections on 127.0.0.1:0 and never says a word; counts them."""

    def __init__(self) -> None:
        self.connections = 0
        self.changed = asyncio.Event()
        self._writers = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader, writer):
        self._writers.append(writer)
        self.connections += 1
        self.changed.set()

    async def wait_connections(self, count: int, timeout: float) -> None:
        async def wait():
            while self.connections < count:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), timeout)

    async def __aexit__(self, *exc):
        for w in self._writers:
            w.close()
        self.server.close()
        await self.server.wait_closed()


async def start_script(tmp_path, script: str, port: int) -> asyncio.subprocess.Process:
    thing, extra = THINGS[script]
    client = extra[1] if extra else thing
    return await asyncio.create_subprocess_exec(
        sys.executable, "-u", str(DEVICES / script), "-e", "127.0.0.1", "-r", str(tmp_path / "root-ca.pem"),
        "-c", str(tmp_path / client / "cert.pem"), "-k", str(tmp_path / client / "private.key"),
        "--discovery-port", str(port), "--group-ca-dir", str(tmp_path / "groupCA" / client), "-n", thing, *extra,
        cwd=str(tmp_path), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


@pytest.fixture
def certs(tmp_path):
    pki = LocalPKI(tmp_path / "ca")
    for client in ("HelloWorld_Publisher", "GG_TrafficLight", "GG_Switch"):
        pki.root.issue_client(client).write(tmp_path / client / "cert.pem", tmp_path / client / "private.key")
    (tmp_path / "root-ca.pem").write_bytes(pki.root.cert_pem)
    return tmp_path


async def test_device_scripts_exit_on_sigterm_and_sigint_while_blocked(certs):
    cases = [(script, signal.SIGTERM) for script in THINGS] + [("basic_discovery.py", signal.SIGINT)]
    async with SilentEndpoint() as endpoint:
        procs = [await start_script(certs, script, endpoint.port) for script, _ in cases]
        try:
            # every script is inside the SDK's discovery call, blocked in the TLS handshake
            await endpoint.wait_connections(len(procs), 30)
            signalled = time.monotonic()
            for proc, (_, sig) in zip(procs, cases):
                proc.send_signal(sig)
            results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 15)
            elapsed = time.monotonic() - signalled
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    for proc, (script, sig), (_, err) in zip(procs, cases, results):
        assert proc.returncode == 128 + sig, (script, sig, proc.returncode, err.decode())
        assert b"still running 2 s after the signal; exiting now" in err, (script, err.decode())
    assert elapsed < GRACE_S + 8


async def test_a_second_signal_ends_a_blocked_device_script_at_once(certs):
    async with SilentEndpoint() as endpoint:
        proc = await start_script(certs, "traffic_light.py", endpoint.port)
        try:
            await endpoint.wait_connections(1, 30)
            # two different signals: two of the same could merge into one before the script sees them
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), GRACE_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM)  # whichever was handled second
    assert b"a second signal; exiting now" in err
