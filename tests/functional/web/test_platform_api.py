"""The ``platform`` section through the dashboard's API: a real broker with the clientdevices.Auth policy
decides raw MQTT operations over mutual TLS, and ``/api/status`` shows the platform, the deployment per
core device, the components and those decisions (V2), or the platform alone (V1)."""
from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest

from localcore.broker import Broker, CertificateAuthorizer, codec, server_ssl_context
from localcore.clientauth import policy_from_config
from localcore.pki import LocalPKI
from localcore.platform import V1, ComponentInfo, PlatformProfile
from localcore.router import Router
from web.app import Dashboard
from web.facade import CoreFacade, platform_section
from web.tap import MessageTap

WAIT_S = 5.0
LIGHT, INTRUDER = "GG_TrafficLight", "Intruder"
TN = "${iot:Connection.Thing.ThingName}"
AUTH = {"deviceGroups": {
    "formatVersion": "2021-03-05",
    "definitions": {"lights": {"selectionRule": f"thingName: {LIGHT}", "policyName": "light"}},
    "policies": {"light": {
        "connect": {"operations": ["mqtt:connect"], "resources": [f"mqtt:clientId:{TN}"]},
        "publish": {"operations": ["mqtt:publish"], "resources": [f"mqtt:topic:lights/{TN}"]}}}}}
PROFILE = PlatformProfile(name="v2", deployment_id="dep-9", components=(
    ComponentInfo("gg-bundle-reader", "1.0.1", "lambda"), ComponentInfo("gg-bundle-compose", "1.0.0", "generic"),
    ComponentInfo("aws.greengrass.clientdevices.Auth", "2.5.4", "public")))
DEPLOYMENT = {"id": "dep-9", "status": "FAILED", "platform": "v2",
              "message": "component gg-bundle-compose: install script exited 1",
              "components": [
                  {"componentName": "gg-bundle-reader", "componentVersion": "1.0.1", "lifecycleState": "RUNNING",
                   "lifecycleStateDetails": "", "isRoot": True},
                  {"componentName": "gg-bundle-compose", "componentVersion": "1.0.0", "lifecycleState": "BROKEN",
                   "lifecycleStateDetails": "install script exited 1", "isRoot": True},
                  {"componentName": "aws.greengrass.clientdevices.Auth", "componentVersion": "2.5.4",
                   "lifecycleState": "RUNNING", "lifecycleStateDetails": "", "isRoot": True}]}


class Device:
    """A raw MQTT 3.1.1 client over mutual TLS (asyncio streams; every read bounded)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.packets = codec.PacketReader(1 << 20)
        self.pending: list[codec.Packet] = []

    async def packet(self) -> codec.Packet | None:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT_S)
            if not data:
                return None
            self.pending += self.packets.feed(data)
        return self.pending.pop(0)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), WAIT_S)
        except (ConnectionError, ssl.SSLError, asyncio.TimeoutError):
            pass  # the broker may have closed first


@pytest.fixture
async def broker(tmp_path):
    pki = LocalPKI(tmp_path / "pki")
    group_ca = pki.group_ca("group-1")
    server = group_ca.issue_server("GG_Core", ["127.0.0.1"])
    certs = {thing: pki.root.issue_client(thing) for thing in (LIGHT, INTRUDER)}
    members = {thing: {issued.certificate_id} for thing, issued in certs.items()}
    b = Broker(Router([]), ssl_context=server_ssl_context(server.cert_pem, server.key_pem, pki.root.cert_pem),
               authorize=CertificateAuthorizer(lambda: members), port=0, client_policy=policy_from_config(AUTH))
    await b.start()

    async def connect(thing: str) -> tuple[Device, int]:
        issued = certs[thing]
        for name, data in (("cert.pem", issued.cert_pem), ("key.pem", issued.key_pem)):
            (tmp_path / f"{thing}-{name}").write_bytes(data)
        ctx = ssl.create_default_context(cadata=group_ca.cert_pem.decode())
        ctx.load_cert_chain(tmp_path / f"{thing}-cert.pem", tmp_path / f"{thing}-key.pem")
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", b.port, ssl=ctx, server_hostname="127.0.0.1"), WAIT_S)
        device = Device(reader, writer)
        opened.append(device)
        await device.send(codec.encode_connect(thing))
        connack = await device.packet()
        assert connack is not None and connack.type == codec.CONNACK, connack
        return device, connack.body[1]

    opened: list[Device] = []
    try:
        yield b, connect
    finally:
        for device in opened:
            await device.close()
        await b.stop()


async def status_of(sections) -> dict:
    facade = CoreFacade(router=Router([]), tap=MessageTap(), sections=sections)
    dash = Dashboard(facade)
    await dash.start(port=0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
            async with http.get(f"http://127.0.0.1:{dash.port}/api/status",
                                headers={"X-Dashboard-Token": dash.token}) as resp:
                assert resp.status == 200
                return await resp.json()
    finally:
        await dash.stop()


async def test_v2_status_shows_deployment_components_and_the_auth_decisions_the_broker_made(broker):
    broker, connect = broker
    light, code = await connect(LIGHT)
    assert code == 0
    _, code = await connect(INTRUDER)  # in no device group: CONNACK 4, as Moquette refuses
    assert code == 4
    await light.send(codec.encode_publish("lights/Other", b"spoofed", qos=1, packet_id=1))  # refused: no PUBACK
    await light.send(codec.encode_publish(f"lights/{LIGHT}", b"GREEN", qos=1, packet_id=2))
    puback = await light.packet()  # in order: the refused one was decided before this one
    assert (puback.type, codec.decode_packet_id(puback)) == (codec.PUBACK, 2)

    status = await status_of({"platform": lambda: platform_section(
        PROFILE, DEPLOYMENT, broker.status(), core_thing="GG_Core",
        core_status={"state": "started", "services": [{"name": "MQTT broker", "state": "started"}]})})
    assert "errors" not in status, status
    platform = status["platform"]
    assert (platform["name"], platform["label"]) == ("v2", "Greengrass V2")
    assert platform["deployment"]["id"] == "dep-9"
    assert platform["deployment"]["core_devices"] == [{
        "thing": "GG_Core", "status": "FAILED", "reason": "component gg-bundle-compose: install script exited 1",
        "health": "UNHEALTHY",
        "health_reasons": ["the deployment FAILED", "component gg-bundle-compose is BROKEN"]}]
    assert [(c["name"], c["kind"], c["state"], c["problem"]) for c in platform["components"]] == [
        ("gg-bundle-reader", "lambda", "RUNNING", False), ("gg-bundle-compose", "generic", "BROKEN", True),
        ("aws.greengrass.clientdevices.Auth", "public", "RUNNING", False)]
    auth = platform["client_auth"]
    assert auth["decisions"] == {"connect": {"allowed": 1, "refused": 1}, "publish": {"allowed": 1, "refused": 1},
                                 "subscribe": {"allowed": 0, "refused": 0}}
    assert [(r["thing"], r["operation"], r["resource"]) for r in auth["recent_refusals"]] == [
        (LIGHT, "mqtt:publish", "mqtt:topic:lights/Other"), (INTRUDER, "mqtt:connect", f"mqtt:clientId:{INTRUDER}")]
    assert all(isinstance(r["time"], (int, float)) for r in auth["recent_refusals"])


async def test_v1_status_names_the_platform_only(broker):
    broker, _ = broker
    v1_broker = dict(broker.status())
    v1_broker.pop("client_policy")  # a V1 core's broker has no client policy
    status = await status_of({"platform": lambda: platform_section(
        V1, {"id": "d-1", "status": "Success", "version": "v-1"}, v1_broker, core_thing="GG_Core")})
    assert status["platform"] == {"name": "v1", "label": "Greengrass V1", "deployment": None, "components": [],
                                  "client_auth": None}
