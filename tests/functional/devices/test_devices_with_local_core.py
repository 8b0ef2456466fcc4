"""The device scripts, unmodified and as separate processes, against the project's discovery server,
MQTT broker, router and local shadow (real TLS, port 0): the traffic-light tutorial and the
publisher / subscriber of the basic discovery sample."""
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

import pytest

from localcore.broker.auth import CertificateAuthorizer
from localcore.broker.server import Broker
from localcore.broker.tls import server_ssl_context
from localcore.discovery.server import DiscoveryServer
from localcore.discovery.state import Connectivity, DiscoveryGroup
from localcore.interfaces import Route, device, shadow
from localcore.pki import LocalPKI, certificate_id
from localcore.router.router import Router
from localcore.shadow.service import ShadowService

pytestmark = pytest.mark.slow

DEVICES = Path(__file__).resolve().parents[3] / "devices"
THINGS = ("GG_TrafficLight", "GG_Switch", "HelloWorld_Publisher", "HelloWorld_Subscriber")
LIGHT = "$aws/things/GG_TrafficLight/shadow"
ROUTES = [
    Route(device("GG_Switch"), shadow("GG_TrafficLight"), LIGHT + "/update"),
    Route(shadow("GG_TrafficLight"), device("GG_Switch"), LIGHT + "/update/#"),
    Route(device("GG_TrafficLight"), shadow("GG_TrafficLight"), LIGHT + "/#"),
    Route(shadow("GG_TrafficLight"), device("GG_TrafficLight"), LIGHT + "/#"),
    Route(device("HelloWorld_Publisher"), device("HelloWorld_Subscriber"), "hello/world/pubsub"),
]


@contextlib.asynccontextmanager
async def local_core(tmp_path):
    """Discovery + broker + router + shadow service, wired as LocalCore does, on ports 0."""
    pki = LocalPKI(tmp_path / "ca")
    members = {}
    for thing in THINGS:
        issued = pki.root.issue_client(thing)
        issued.write(tmp_path / thing / "cert.pem", tmp_path / thing / "private.key")
        members[thing] = [certificate_id(issued.cert_pem)]
    (tmp_path / "root-ca.pem").write_bytes(pki.root.cert_pem)
    group_ca = pki.group_ca("group-1")
    server = group_ca.issue_server("GG_Core", ["127.0.0.1", "localhost"])
    context = server_ssl_context(server.cert_pem, server.key_pem, pki.root.cert_pem)
    # Discovery stands in for the AWS IoT endpoint: devices check it with the root CA they are given
    # (-r), not with the group CA that discovery itself hands out.
    endpoint = pki.root.issue_server("discovery", ["127.0.0.1", "localhost"])
    discovery_context = server_ssl_context(endpoint.cert_pem, endpoint.key_pem, pki.root.cert_pem)
    authorizer = CertificateAuthorizer(members)
    router = Router(ROUTES)
    shadows = ShadowService(tmp_path / "shadows")
    shadows.attach(router)
    broker = Broker(router, ssl_context=context, authorize=authorizer, host="127.0.0.1", port=0)
    await shadows.start()
    await broker.start()
    group = DiscoveryGroup(group_id="group-1", core_thing_arn="arn:aws:iot:us-east-1:1:thing/GG_Core",
                           connectivity=[Connectivity("c0", "127.0.0.1", broker.port)],
                           ca_pem=group_ca.cert_pem.decode())
    discovery = DiscoveryServer(group, is_member=lambda t: t in members, authorize=authorizer,
                                ssl_context=discovery_context, host="127.0.0.1", port=0)
    await discovery.start()
    try:
        yield tmp_path, discovery.port, shadows
    finally:
        await discovery.stop()
        await broker.stop()
        await shadows.stop()


@pytest.fixture
async def core(tmp_path):
    async with local_core(tmp_path) as started:
        yield started


async def start_script(script, thing, workdir, discovery_port, *extra):
    return await asyncio.create_subprocess_exec(
        sys.executable, str(DEVICES / script), "-e", "127.0.0.1", "-p", str(discovery_port),
        "-r", str(workdir / "root-ca.pem"), "-c", str(workdir / thing / "cert.pem"),
        "-k", str(workdir / thing / "private.key"), "--group-ca-dir", str(workdir / "groupCA"), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(workdir))


async def finish(process, timeout=60):
    """Wait for the script to exit; a script still running after ``timeout`` is killed (test fails)."""
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("{} did not exit within {} s".format(process.pid, timeout)) from None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_switch_cycles_the_light_through_the_local_shadow(core):
    workdir, port, shadows = core
    light = await start_script("traffic_light.py", "GG_TrafficLight", workdir, port, "--max-changes", "3",
                               "--duration", "60")
    # Whichever starts first: a change made before the light subscribed reaches it through shadowGet.
    switch = await start_script("light_controller.py", "GG_Switch", workdir, port, "--cycles", "1",
                                "--interval", "3")
    code, out, err = await finish(switch)
    assert code == 0, err
    assert [line for line in out.splitlines() if line.startswith("Switch set light")] == [
        "Switch set light to G (accepted)", "Switch set light to Y (accepted)", "Switch set light to R (accepted)"]
    code, out, err = await finish(light)
    assert code == 0, err
    changes = [line for line in out.splitlines() if line.startswith("Light changed to")]
    assert changes[-1] == "Light changed to: R" and len(changes) == 3
    state = shadows.document("GG_TrafficLight")["state"]
    assert state["desired"] == {"property": "R"} and state["reported"] == {"property": "R"}
    assert list((workdir / "groupCA").iterdir()) == [workdir / "groupCA" / "group-1_CA.crt"]


async def test_publisher_reaches_subscriber_and_sigterm_ends_it_cleanly(core):
    workdir, port, _ = core
    subscriber = await start_script("basic_discovery.py", "HelloWorld_Subscriber", workdir, port,
                                    "-n", "HelloWorld_Subscriber", "-m", "subscribe", "-t", "hello/world/pubsub",
                                    "--count", "3", "--duration", "60")
    publisher = await start_script("basic_discovery.py", "HelloWorld_Publisher", workdir, port,
                                   "-n", "HelloWorld_Publisher", "-m", "publish", "-t", "hello/world/pubsub",
                                   "-M", "Hello from the test", "--interval", "0.2", "--duration", "60")
    code, out, err = await finish(subscriber)
    assert code == 0, err
    received = [json.loads(line.split(": ", 1)[1]) for line in out.splitlines() if line.startswith("Received")]
    assert len(received) == 3 and all(m["message"] == "Hello from the test" for m in received)
    assert [m["sequence"] for m in received] == sorted(m["sequence"] for m in received)
    publisher.send_signal(signal.SIGTERM)
    code, out, err = await finish(publisher, timeout=20)
    assert code == 0, err
    assert "Published topic hello/world/pubsub" in out
