"""Devices made the AWS way join a running LocalCore: CreateThing, CreateKeysAndCertificate, AttachThingPrincipal and
(V2) BatchAssociateClientDeviceWithCoreDevice, all with boto3 against the local cloud; the device then runs the
unmodified AWSIoTPythonSDK — DiscoveryInfoProvider, then AWSIoTMQTTClient / AWSIoTMQTTShadowClient on the core it
found. Such a device has no file under certs/: the core knows its certificate from the cloud — at start for the
devices associated then, and for one associated or given its certificate after the core started, when discovery
would refuse it and asks the cloud again (AWS discovery checks the cloud on every request)."""
from __future__ import annotations

import asyncio
import json
import queue
import socket
import ssl
from pathlib import Path

import boto3
import pytest
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import DiscoveryDataNotFoundException
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient, AWSIoTMQTTShadowClient

from localcore.cloud import LocalCloud
from localcore.core import CoreConfig, LocalCore, Ports
from localcore.readers.v2 import setup_from_deployment
from localcore.readers.v2_fetch import core_facts
from tests.functional.broker.corekit import mqtt_connect
from tests.functional.core.conftest import REGION

KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CORE = "MyGreengrassCore"
# the developer guide's client-devices tutorial: every MyClientDevice* may do mqtt:* on *, the bridge carries the
# shadow topics between the local broker and local pub/sub, where the ShadowManager serves them
SHADOWS = "$aws/things/+/shadow/#"
AUTH = {"deviceGroups": {"formatVersion": "2021-03-05", "definitions": {
    "MyDeviceGroup": {"selectionRule": "thingName: MyClientDevice*", "policyName": "MyClientDevicePolicy"}},
    "policies": {"MyClientDevicePolicy": {"AllowAll": {"statementDescription": "Allow client devices.",
                                                       "operations": ["mqtt:*"], "resources": ["*"]}}}}}
BRIDGE = {"mqttTopicMapping": {
    "ShadowsLocalMqttToPubsub": {"topic": SHADOWS, "source": "LocalMqtt", "target": "Pubsub"},
    "ShadowsPubsubToLocalMqtt": {"topic": SHADOWS, "source": "Pubsub", "target": "LocalMqtt"}}}


class AwsMade:
    """A device's certificate as the IoT console / CLI make it (the thing made first when asked)."""

    def __init__(self, iot, folder: Path, thing: str, create_thing: bool = True) -> None:
        if create_thing:
            iot.create_thing(thingName=thing)
        made = iot.create_keys_and_certificate(setAsActive=True)
        iot.attach_thing_principal(thingName=thing, principal=made["certificateArn"])
        self.thing = thing
        self.cert, self.key = folder / f"{thing}.cert.pem", folder / f"{thing}.private.key"
        self.cert.write_text(made["certificatePem"])
        self.key.write_text(made["keyPair"]["PrivateKey"])


class Joined:
    """What DiscoveryInfoProvider found, ready for the SDK's MQTT clients."""

    def __init__(self, info, folder: Path, thing: str) -> None:
        self.group_id, ca = info.getAllCas()[0]
        self.ca = folder / f"{thing}.group-ca.pem"
        self.ca.write_text(ca)
        conn = info.getAllCores()[0].connectivityInfoList[0]
        self.host, self.port = conn.host, conn.port


def discover(core: LocalCore, root_ca: Path, device, folder: Path) -> Joined:
    """Blocking: the SDK's discovery of ``device`` at the core's discovery port, as basic_discovery.py does it."""
    p = DiscoveryInfoProvider()
    p.configureEndpoint("127.0.0.1", core.discovery.port)
    p.configureCredentials(str(root_ca), str(device.cert), str(device.key))
    p.configureTimeout(10)
    return Joined(p.discover(device.thing), folder, device.thing)


def mqtt(client_class, device, joined: Joined):
    client = client_class(device.thing)
    client.configureEndpoint(joined.host, joined.port)
    client.configureCredentials(str(joined.ca), str(device.key), str(device.cert))
    client.configureConnectDisconnectTimeout(10)
    client.configureMQTTOperationTimeout(5)
    return client


def broker_connack(core: LocalCore, joined: Joined, device) -> int:
    """Blocking: the CONNACK code the broker answers ``device``'s MQTT CONNECT with (raw MQTT over TLS: the SDK's
    connect() returns True on any CONNACK and keeps reconnecting)."""
    ctx = ssl.create_default_context(cafile=str(joined.ca))
    ctx.load_cert_chain(str(device.cert), str(device.key))
    with socket.create_connection(("127.0.0.1", core.broker.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        return mqtt_connect(sock, device.thing)


def tutorial_setup(client_devices):
    merge = {"aws.greengrass.clientdevices.Auth": AUTH, "aws.greengrass.clientdevices.mqtt.Bridge": BRIDGE,
             "aws.greengrass.ShadowManager": {}}
    components = {name: {"componentVersion": "2.0.0", "configurationUpdate": {"merge": json.dumps(config)}}
                  for name, config in merge.items()}
    return setup_from_deployment({"deploymentId": "d-1", "components": components}, {}, core_thing=CORE,
                                 region=REGION, account="123456789012", code_dirs={},
                                 connectivity=[{"id": "local", "hostAddress": "127.0.0.1", "portNumber": 8883}],
                                 client_devices=client_devices)


@pytest.fixture
async def v2_core(tmp_path, monkeypatch):
    """A LocalCloud, a core device thing and one device made the AWS way and associated with it; a LocalCore
    configured by the V2 reader from the tutorial's deployment and the cloud's associations, as run_v2.py does."""
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / ".gg"
    cloud = LocalCloud(state / "cloud", port=0, pki_dir=state / "ca")   # the core's PKI folder: one root CA
    await cloud.astart()
    core = None
    try:
        iot = boto3.client("iot", endpoint_url=cloud.url, region_name=REGION, **KEYS)
        gg = boto3.client("greengrassv2", endpoint_url=cloud.url, region_name=REGION, **KEYS)
        await asyncio.to_thread(iot.create_thing, thingName=CORE)
        first = await asyncio.to_thread(AwsMade, iot, tmp_path, "MyClientDevice1")
        await asyncio.to_thread(gg.batch_associate_client_device_with_core_device, coreDeviceThingName=CORE,
                                entries=[{"thingName": first.thing}])
        associated, _ = await asyncio.to_thread(core_facts, gg, CORE)
        setup = tutorial_setup(associated)
        cfg = CoreConfig(group=setup.group, root=tmp_path, state_dir=state, group_id="unused-on-v2", region=REGION,
                         cloud_url=cloud.url, account=cloud.account_id, ports=Ports(0, 0, 0, 0, 0),
                         certs_dir=tmp_path / "certs", profile=setup.profile)
        core = LocalCore(cfg)
        await core.start()
        root_ca = tmp_path / "AmazonRootCA1.pem"   # what verifies the discovery endpoint: the local IoT root CA
        root_ca.write_bytes(core.pki.root.cert_pem)
        yield core, iot, gg, first, root_ca
    finally:
        if core is not None:
            await core.stop()
        await cloud.astop()


async def test_an_associated_device_made_with_boto3_discovers_connects_and_uses_its_shadow(v2_core, tmp_path):
    core, _, _, device, root_ca = v2_core
    assert not (tmp_path / "certs").exists()          # nothing of it on disk but what the cloud handed the device
    joined = await asyncio.to_thread(discover, core, root_ca, device, tmp_path)
    assert joined.group_id == f"greengrassV2-coreDevice-{CORE}" and joined.port == core.broker.port
    client = mqtt(AWSIoTMQTTShadowClient, device, joined)
    assert await asyncio.to_thread(client.connect)
    try:
        shadow = client.createShadowHandlerWithName(device.thing, True)
        replies: queue.Queue = queue.Queue()
        await asyncio.to_thread(   # blocking: it subscribes to the reply topics first (the broker runs on this loop)
            shadow.shadowUpdate, json.dumps({"state": {"reported": {"color": "white"}}}),
            lambda payload, status, token: replies.put((status, payload)), 5)
        status, payload = await asyncio.to_thread(replies.get, timeout=10)
        assert status == "accepted" and json.loads(payload)["state"]["reported"] == {"color": "white"}
    finally:
        await asyncio.to_thread(client.disconnect)
    assert core.discovery.status()["responses"] == {"200": 1}


async def test_a_device_associated_after_the_core_started_is_accepted_at_its_first_discovery(v2_core, tmp_path):
    core, iot, gg, _, root_ca = v2_core
    late = await asyncio.to_thread(AwsMade, iot, tmp_path, "MyClientDevice2")
    stranger = await asyncio.to_thread(AwsMade, iot, tmp_path, "MyClientDevice3")   # made, never associated
    await asyncio.to_thread(gg.batch_associate_client_device_with_core_device, coreDeviceThingName=CORE,
                            entries=[{"thingName": late.thing}])
    joined = await asyncio.to_thread(discover, core, root_ca, late, tmp_path)
    client = mqtt(AWSIoTMQTTClient, late, joined)
    await asyncio.to_thread(client.connect)   # True on any CONNACK: what the broker says is checked below
    try:
        assert core.broker.connected() == [late.thing]
        assert await asyncio.to_thread(client.publish, f"clients/{late.thing}/hello", "hi", 1)   # PUBACK in time
    finally:
        await asyncio.to_thread(client.disconnect)

    for _ in range(2):   # not associated: 404, as the cloud says (the core asks it once, not per request)
        with pytest.raises(DiscoveryDataNotFoundException):
            await asyncio.to_thread(discover, core, root_ca, stranger, tmp_path)
    # straight to the broker with what another device found: CONNACK 4, as the broker refuses a stranger
    assert await asyncio.to_thread(broker_connack, core, joined, stranger) == 4
    assert core.discovery.status()["responses"] == {"404": 2, "200": 1}


def v1_group(name: str) -> dict:
    return {"group": {"name": name, "region": REGION}, "core": {"thing": f"{name}Core"},
            "devices": [{"thing": "Sensor"}, {"thing": "Observer"}],
            "subscriptions": [{"source": "Sensor", "target": "Observer", "topic": "sensor/readings"}],
            "stream_manager": {"enabled": False}}


async def test_a_v1_group_device_with_a_certificate_made_with_boto3_discovers_and_publishes(deployed, tmp_path):
    env = await deployed(v1_group("AwsMadeV1"))
    core = env.core
    iot = boto3.client("iot", endpoint_url=env.cloud.url, region_name=REGION, **KEYS)
    # the device of the group gets a certificate from the console after the core started: not the one under certs/
    sensor = await asyncio.to_thread(AwsMade, iot, tmp_path, "Sensor", create_thing=False)
    root_ca = env.bundle / "certs" / "root-ca.pem"
    joined = await asyncio.to_thread(discover, core, root_ca, sensor, tmp_path)
    assert joined.group_id == env.group_id

    class Deployed:   # the Observer as deploy wrote it
        thing, cert, key = "Observer", env.bundle / "certs" / "Observer" / "cert.pem", \
            env.bundle / "certs" / "Observer" / "private.key"

    observer, publisher = mqtt(AWSIoTMQTTClient, Deployed, joined), mqtt(AWSIoTMQTTClient, sensor, joined)
    got: queue.Queue = queue.Queue()
    assert await asyncio.to_thread(observer.connect)
    try:
        assert await asyncio.to_thread(observer.subscribe, "sensor/readings", 1,
                                       lambda client, userdata, message: got.put(message.payload))
        assert await asyncio.to_thread(publisher.connect)
        try:
            assert await asyncio.to_thread(publisher.publish, "sensor/readings", json.dumps({"t": 21.5}), 1)
            assert json.loads(await asyncio.to_thread(got.get, timeout=10)) == {"t": 21.5}
        finally:
            await asyncio.to_thread(publisher.disconnect)
    finally:
        await asyncio.to_thread(observer.disconnect)
