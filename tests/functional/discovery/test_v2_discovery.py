"""Discovery of a V2 core device with the unmodified DiscoveryInfoProvider: the group is
``greengrassV2-coreDevice-<core>``, the CA is the one that signed the broker's certificate, and
only client devices associated with the core device get an answer (association replaces group
membership); then the device connects to the broker with what discovery gave it."""
import pytest
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import (
    DiscoveryDataNotFoundException,
    DiscoveryUnauthorizedException,
)
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient
from corekit import CORE, Core

from localcore.broker import server_ssl_context
from localcore.discovery import (
    Connectivity,
    DiscoveryConfigError,
    DiscoveryGroup,
    DiscoveryServer,
    v2_group_id,
)
from localcore.discovery.state import answer

THINGS = ["Associated", "GroupOnly"]


@pytest.fixture
def core(tmp_path):
    c = Core(tmp_path, [], THINGS).start()
    associated = {"Associated"}
    group = DiscoveryGroup(v2_group_id(CORE), f"arn:aws:iot:us-east-1:123456789012:thing/{CORE}",
                           [Connectivity("lan", "127.0.0.1", c.broker.port, "")],
                           c.group_ca.cert_pem.decode())
    web = c.pki.root.issue_server("localhost", ["127.0.0.1", "localhost"])
    web_ctx = server_ssl_context(web.cert_pem, web.key_pem, c.pki.root.cert_pem)
    c.discovery = DiscoveryServer(group, is_member=associated.__contains__, authorize=c.auth,
                                  ssl_context=web_ctx, port=0)
    c.run(c.discovery.start())
    yield c
    c.stop()


def provider(core, thing):
    files = core.devices[thing]
    p = DiscoveryInfoProvider()
    p.configureEndpoint("127.0.0.1", core.discovery.port)
    p.configureCredentials(str(core.root_ca_path), files.cert, files.key)
    p.configureTimeout(10)
    return p


def test_associated_device_discovers_the_core_device_and_connects(core, tmp_path):
    info = provider(core, "Associated").discover("Associated")
    group = info.getAllGroups()[0]
    assert group.groupId == "greengrassV2-coreDevice-GG_Core"
    core_info = info.getAllCores()[0]
    assert core_info.coreThingArn == "arn:aws:iot:us-east-1:123456789012:thing/GG_Core"
    conn = core_info.connectivityInfoList[0]
    assert (conn.id, conn.host, conn.port) == ("lan", "127.0.0.1", core.broker.port)
    group_id, ca = info.getAllCas()[0]
    assert group_id == "greengrassV2-coreDevice-GG_Core"
    # as basicDiscovery.py does: the CA from discovery verifies the broker
    ca_path = tmp_path / "discovered-ca.pem"
    ca_path.write_text(ca)
    files = core.devices["Associated"]
    client = AWSIoTMQTTClient("Associated")
    client.configureEndpoint(conn.host, conn.port)
    client.configureCredentials(str(ca_path), files.key, files.cert)
    client.configureConnectDisconnectTimeout(5)
    try:
        assert client.connect()
    finally:
        client.disconnect()


def test_a_device_that_is_not_associated_gets_404(core):
    with pytest.raises(DiscoveryDataNotFoundException):
        provider(core, "GroupOnly").discover("GroupOnly")
    status, body = answer(core.discovery.group, "GroupOnly", False, False)
    assert status == 404
    assert body["errorMessage"] == "Thing 'GroupOnly' is not associated with core device GG_Core"
    assert core.call(core.discovery.status)["responses"] == {"404": 1}


def test_associated_thing_asked_with_another_certificate_is_401(core):
    with pytest.raises(DiscoveryUnauthorizedException):
        provider(core, "GroupOnly").discover("Associated")


def test_group_id_needs_a_core_name():
    assert v2_group_id("Core-1") == "greengrassV2-coreDevice-Core-1"
    with pytest.raises(DiscoveryConfigError):
        v2_group_id("")


def test_v1_group_keeps_its_wording():
    group = DiscoveryGroup("group-1", "arn:aws:iot:us-east-1:1:thing/C", [Connectivity("a", "h", 8883)],
                           "-----BEGIN CERTIFICATE-----x")
    assert answer(group, "T", False, False)[1]["errorMessage"] == "Thing 'T' is not a device of group group-1"
