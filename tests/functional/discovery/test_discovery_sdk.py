"""Discovery and device MQTT with the unmodified AWSIoTPythonSDK, as the device scripts use them."""
import json
import queue
import socket
import ssl

import pytest
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import (
    DiscoveryDataNotFoundException,
    DiscoveryUnauthorizedException,
)
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

from localcore.interfaces import Route

ROUTES = [Route("device:Pub", "device:Sub", "hello/world/#")]


def provider(core, files, timeout=10):
    p = DiscoveryInfoProvider()
    p.configureEndpoint("127.0.0.1", core.discovery.port)
    p.configureCredentials(str(core.root_ca_path), files.cert, files.key)
    p.configureTimeout(timeout)
    return p


@pytest.fixture
def core(make_core):
    return make_core(ROUTES, ["Pub", "Sub"], discovery=True)


def test_member_discovers_group_ca_and_connectivity(core):
    info = provider(core, core.devices["Pub"]).discover("Pub")
    group = info.getAllGroups()[0]
    assert group.groupId == "group-1"
    assert info.getAllCas()[0][1] == core.group_ca.cert_pem.decode()
    core_info = info.getAllCores()[0]
    assert core_info.coreThingArn.endswith(":thing/GG_Core")
    conn = core_info.connectivityInfoList[0]
    assert (conn.id, conn.host, conn.port, conn.metadata) == ("local", "127.0.0.1", core.broker.port, "")
    assert core.call(core.discovery.status)["responses"] == {"200": 1}


def test_unknown_thing_is_404(core):
    with pytest.raises(DiscoveryDataNotFoundException):
        provider(core, core.devices["Pub"]).discover("Nobody")


def test_certificate_of_another_thing_is_401(core):
    with pytest.raises(DiscoveryUnauthorizedException):
        provider(core, core.devices["Pub"]).discover("Sub")
    assert core.call(core.discovery.status)["responses"] == {"401": 1}


def test_wire_format_is_what_the_sdk_regexes_need(core):
    files = core.devices["Pub"]
    ctx = ssl.create_default_context(cafile=str(core.root_ca_path))
    ctx.load_cert_chain(files.cert, files.key)
    with socket.create_connection(("127.0.0.1", core.discovery.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(f"GET /greengrass/discover/thing/Pub HTTP/1.1\r\nHost: 127.0.0.1:{core.discovery.port}"
                         "\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += sock.recv(4096)
    assert json.loads(body)["GGGroups"][0]["CAs"] == [core.group_ca.cert_pem.decode()]


def test_discovered_core_carries_device_to_device_mqtt(core, tmp_path):
    """basicDiscovery.py end to end: discover, write the group CA, connect, subscribe, publish."""
    clients = {}
    try:
        for thing in ("Sub", "Pub"):
            files = core.devices[thing]
            info = provider(core, files).discover(thing)
            group_ca = tmp_path / f"{thing}-group-ca.pem"
            group_ca.write_text(info.getAllCas()[0][1])
            conn = info.getAllCores()[0].connectivityInfoList[0]
            client = AWSIoTMQTTClient(thing)
            client.configureEndpoint(conn.host, conn.port)
            client.configureCredentials(str(group_ca), files.key, files.cert)
            client.configureConnectDisconnectTimeout(10)
            client.configureMQTTOperationTimeout(5)
            assert client.connect()
            clients[thing] = client
        received = queue.Queue()
        assert clients["Sub"].subscribe("hello/world/#", 1, lambda c, u, m: received.put((m.topic, m.payload)))
        assert clients["Pub"].publish("hello/world/pubsub", json.dumps({"message": "hi"}), 1)
        assert received.get(timeout=5) == ("hello/world/pubsub", b'{"message": "hi"}')
        assert core.call(core.broker.status)["connected"] == ["Pub", "Sub"]
    finally:
        for client in clients.values():
            client.disconnect()
