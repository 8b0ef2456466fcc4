"""A client device made the AWS way against the local cloud — CreateThing, CreateKeysAndCertificate,
AttachThingPrincipal, BatchAssociateClientDeviceWithCoreDevice, all with boto3 — discovers the V2 core device and
connects to its broker with the unmodified AWSIoTPythonSDK DiscoveryInfoProvider and MQTT client: its certificate
comes from the local IoT root CA (as AWS's from a CA that AWS IoT trusts) and the discovery server and the broker
know it from the cloud (localcore/discovery/registry.py). Discovery answers the SDK's error codes with a JSON body
for a device that is not associated (404) and for a certificate not attached to the thing asked about (401); a
certificate that is neither registered nor from the root CA is refused in the TLS handshake."""
import ssl

import boto3
import pytest
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import (
    DiscoveryDataNotFoundException,
    DiscoveryInvalidRequestException,
    DiscoveryUnauthorizedException,
)
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient
from cryptography import x509
from corekit import CORE, Core

from localcore.broker import server_ssl_context
from localcore.cloud import LocalCloud
from localcore.discovery import Connectivity, DiscoveryGroup, DiscoveryServer, v2_group_id
from localcore.discovery.registry import certificate_members
from localcore.pki import CertificateAuthority

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class AwsMade:
    """A thing and its certificate, as the IoT console / CLI make them."""

    def __init__(self, iot, tmp, thing, attach=True, active=True):
        iot.create_thing(thingName=thing)
        made = iot.create_keys_and_certificate(setAsActive=active)
        if attach:
            iot.attach_thing_principal(thingName=thing, principal=made["certificateArn"])
        self.thing, self.pem = thing, made["certificatePem"]
        self.cert, self.key = tmp / f"{thing}.cert.pem", tmp / f"{thing}.private.key"
        self.cert.write_text(made["certificatePem"])
        self.key.write_text(made["keyPair"]["PrivateKey"])


@pytest.fixture
def world(tmp_path):
    cloud = LocalCloud(tmp_path / "cloud", region=REGION, pki_dir=tmp_path / "pki")   # the core's PKI folder
    cloud.start()
    core = None
    try:
        iot = boto3.client("iot", endpoint_url=cloud.url, region_name=REGION, **KEYS)
        gg = boto3.client("greengrassv2", endpoint_url=cloud.url, region_name=REGION, **KEYS)
        iot.create_thing(thingName=CORE)
        devices = {"Associated": AwsMade(iot, tmp_path, "Associated"), "Elsewhere": AwsMade(iot, tmp_path, "Elsewhere"),
                   "Inactive": AwsMade(iot, tmp_path, "Inactive", active=False)}
        gg.batch_associate_client_device_with_core_device(
            coreDeviceThingName=CORE, entries=[{"thingName": "Associated"}, {"thingName": "Inactive"}])
        associated = {d["thingName"] for d in gg.list_client_devices_associated_with_core_device(
            coreDeviceThingName=CORE)["associatedClientDevices"]}
        core = Core(tmp_path, [], []).start()
        core.ids.update({t: set(ids) for t, ids in certificate_members(iot, associated).items()})
        group = DiscoveryGroup(v2_group_id(CORE), f"arn:aws:iot:{REGION}:123456789012:thing/{CORE}",
                               [Connectivity("lan", "127.0.0.1", core.broker.port, "")],
                               core.group_ca.cert_pem.decode())
        web = core.pki.root.issue_server("localhost", ["127.0.0.1", "localhost"])
        core.discovery = DiscoveryServer(group, is_member=associated.__contains__, authorize=core.auth,
                                         ssl_context=server_ssl_context(web.cert_pem, web.key_pem,
                                                                        core.pki.root.cert_pem), port=0)
        core.run(core.discovery.start())
        yield core, devices
    finally:
        if core is not None:
            core.stop()
        cloud.stop()


def provider(core, device):
    p = DiscoveryInfoProvider()
    p.configureEndpoint("127.0.0.1", core.discovery.port)
    p.configureCredentials(str(core.root_ca_path), str(device.cert), str(device.key))
    p.configureTimeout(10)
    return p


def test_the_certificate_comes_from_the_local_iot_root_ca(world):
    core, devices = world
    cert = x509.load_pem_x509_certificate(devices["Associated"].pem.encode())
    cert.verify_directly_issued_by(core.pki.root.cert)
    assert cert.subject.rfc4514_string() == "CN=AWS IoT Certificate"


def test_an_associated_device_made_the_aws_way_discovers_and_connects(world, tmp_path):
    core, devices = world
    device = devices["Associated"]
    info = provider(core, device).discover("Associated")
    group_id, ca = info.getAllCas()[0]
    assert group_id == "greengrassV2-coreDevice-GG_Core"
    conn = info.getAllCores()[0].connectivityInfoList[0]
    ca_path = tmp_path / "discovered-ca.pem"
    ca_path.write_text(ca)
    client = AWSIoTMQTTClient("Associated")
    client.configureEndpoint(conn.host, conn.port)
    client.configureCredentials(str(ca_path), str(device.key), str(device.cert))
    client.configureConnectDisconnectTimeout(5)
    try:
        assert client.connect()
    finally:
        client.disconnect()


def test_discovery_answers_json_errors_the_sdk_maps(world):
    core, devices = world
    with pytest.raises(DiscoveryDataNotFoundException):            # not associated with the core device: 404
        provider(core, devices["Elsewhere"]).discover("Elsewhere")
    with pytest.raises(DiscoveryUnauthorizedException):            # asks about a thing its certificate is not of: 401
        provider(core, devices["Elsewhere"]).discover("Associated")
    with pytest.raises(DiscoveryUnauthorizedException):            # its certificate is INACTIVE: 401
        provider(core, devices["Inactive"]).discover("Inactive")
    assert core.call(core.discovery.status)["responses"] == {"404": 1, "401": 2}


def test_a_certificate_from_no_trusted_ca_fails_the_devices_tls_handshake(world, tmp_path):
    core, _ = world
    foreign = CertificateAuthority.create("Somebody else's CA").issue_client("Associated")
    foreign.write(tmp_path / "foreign.pem", tmp_path / "foreign.key")
    p = DiscoveryInfoProvider()
    p.configureEndpoint("127.0.0.1", core.discovery.port)
    p.configureCredentials(str(core.root_ca_path), str(tmp_path / "foreign.pem"), str(tmp_path / "foreign.key"))
    p.configureTimeout(10)
    with pytest.raises(ssl.SSLError):          # raised by the SDK's handshake, not a TypeError from its read loop
        p.discover("Associated")
    assert core.call(core.discovery.status)["responses"] == {}      # no HTTP answer was made


def test_a_name_that_is_no_thing_name_is_a_400_the_sdk_maps(world):
    core, devices = world
    with pytest.raises(DiscoveryInvalidRequestException):
        provider(core, devices["Associated"]).discover("Associated.v2")
    assert core.call(core.discovery.status)["responses"] == {"400": 1}
