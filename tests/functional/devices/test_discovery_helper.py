"""discovery_helper against the real DiscoveryInfoProvider and AWSIoTMQTTClient (real TLS, port 0)."""
import json
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from AWSIoTPythonSDK.core.greengrass.discovery.models import DiscoveryInfo
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

import basic_discovery
from discovery_helper import (
    CoreEndpoint, Discovered, DiscoveryError, backoff_delays, connect_first_reachable, discover, endpoints_of,
    write_group_ca,
)
from localcore.pki import LocalPKI

GROUP_CA = "-----BEGIN CERTIFICATE-----\nZ3JvdXA=\n-----END CERTIFICATE-----\n"


def discovery_json(*cores, group="group-1", cas=(GROUP_CA,)):
    return json.dumps({"GGGroups": [{
        "GGGroupId": group,
        "Cores": [{"thingArn": arn, "Connectivity": [
            {"Id": "c{}".format(i), "HostAddress": host, "PortNumber": port, "Metadata": ""}
            for i, (host, port) in enumerate(entries)]} for arn, entries in cores],
        "CAs": list(cas)}]})


def test_backoff_schedule():
    assert backoff_delays(1) == []
    assert backoff_delays(10) == [1, 2, 4, 8, 16, 32, 32, 32, 32]
    assert backoff_delays(4, base=0.5, cap=1.5) == [0.5, 1.0, 1.5]


def test_every_connectivity_entry_in_order():
    info = DiscoveryInfo(discovery_json(("arn:core1", [("10.0.0.9", 8883), ("127.0.0.1", 8883)]),
                                        ("arn:core2", [("localhost", 9883)])))
    found = endpoints_of(info)
    assert found.group_id == "group-1" and found.ca_pem == GROUP_CA
    assert [(e.core_arn, e.connectivity_id, e.host, e.port) for e in found.endpoints] == [
        ("arn:core1", "c0", "10.0.0.9", 8883), ("arn:core1", "c1", "127.0.0.1", 8883),
        ("arn:core2", "c0", "localhost", 9883)]


def test_group_without_ca_or_core_is_an_error():
    with pytest.raises(DiscoveryError, match="no group has both a CA and a core endpoint"):
        endpoints_of(DiscoveryInfo(discovery_json(("arn:core1", [("h", 1)]), cas=())))
    with pytest.raises(DiscoveryError):
        endpoints_of(DiscoveryInfo(discovery_json()))


def test_group_ca_file_is_cached_and_replaced(tmp_path):
    path = write_group_ca(str(tmp_path / "groupCA"), "ab/cd 1", GROUP_CA)
    assert path == str(tmp_path / "groupCA" / "ab_cd_1_CA.crt")
    assert open(path).read() == GROUP_CA
    write_group_ca(str(tmp_path / "groupCA"), "ab/cd 1", GROUP_CA + "x")
    assert open(path).read() == GROUP_CA + "x"
    assert len(list((tmp_path / "groupCA").iterdir())) == 1


class DiscoveryServer:
    """Answers discovery requests over mutual TLS with the scripted (status, body) replies, in order."""

    def __init__(self, pki, replies):
        server = pki.root.issue_server("discovery", ["127.0.0.1"])
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_verify_locations(cadata=pki.root.cert_pem.decode())
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._server_cert = server
        self._replies = list(replies)
        self.requests = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def load(self, tmp_path):
        cert, key = tmp_path / "server.pem", tmp_path / "server.key"
        self._server_cert.write(cert, key)
        self._context.load_cert_chain(str(cert), str(key))
        self._thread.start()
        return self

    def _serve(self):
        for status, body in self._replies:
            conn, _ = self._sock.accept()
            with self._context.wrap_socket(conn, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = tls.recv(1024)
                    if not chunk:
                        break
                    request += chunk
                self.requests.append((request.decode(), tls.getpeercert()))
                data = body.encode()
                tls.sendall("HTTP/1.1 {} X\r\ncontent-length: {}\r\n\r\n".format(status, len(data)).encode() + data)

    def close(self):
        self._sock.close()
        self._thread.join(5)


@pytest.fixture
def device(tmp_path):
    pki = LocalPKI(tmp_path / "pki")
    issued = pki.root.issue_client("HelloWorld_Publisher")
    issued.write(tmp_path / "dev.pem", tmp_path / "dev.key")
    (tmp_path / "root.pem").write_bytes(pki.root.cert_pem)
    return pki, ["-e", "127.0.0.1", "-r", str(tmp_path / "root.pem"), "-c", str(tmp_path / "dev.pem"),
                 "-k", str(tmp_path / "dev.key"), "--group-ca-dir", str(tmp_path / "groupCA")]


def test_discovery_retries_with_backoff_until_it_answers(tmp_path, device):
    pki, flags = device
    body = discovery_json(("arn:core", [("127.0.0.1", 8883)]))
    server = DiscoveryServer(pki, [(500, "busy"), (404, "no group"), (200, body)]).load(tmp_path)
    slept = []
    try:
        args = basic_discovery.parse_args(flags + ["-p", str(server.port), "--discovery-attempts", "3"])
        found = discover(args, wait=slept.append)
    finally:
        server.close()
    assert found == Discovered("group-1", GROUP_CA, (CoreEndpoint("group-1", "arn:core", "c0", "127.0.0.1", 8883),))
    assert slept == [1.0, 2.0]
    request, peer = server.requests[0]
    assert request.startswith("GET /greengrass/discover/thing/HelloWorld_Publisher HTTP/1.1\r\n")
    assert dict(x[0] for x in peer["subject"])["commonName"] == "HelloWorld_Publisher"


def test_discovery_gives_up_with_the_last_problem(tmp_path, device):
    pki, flags = device
    server = DiscoveryServer(pki, [(503, "down"), (429, "slow")]).load(tmp_path)
    try:
        args = basic_discovery.parse_args(flags + ["-p", str(server.port), "--discovery-attempts", "2"])
        with pytest.raises(DiscoveryError, match=r"failed after 2 attempt\(s\); last: DiscoveryThrottlingException"):
            discover(args, wait=lambda s: None)
    finally:
        server.close()


def test_a_stop_during_backoff_ends_discovery(tmp_path, device):
    pki, flags = device
    server = DiscoveryServer(pki, [(500, "busy")]).load(tmp_path)
    stop = threading.Event()
    stop.set()
    try:
        args = basic_discovery.parse_args(flags + ["-p", str(server.port), "--discovery-attempts", "5"])
        with pytest.raises(DiscoveryError, match=r"failed after 1 attempt\(s\); last: DiscoveryFailure"):
            discover(args, wait=stop.wait)
    finally:
        server.close()


def test_invalid_request_is_not_retried(tmp_path, device):
    pki, flags = device
    server = DiscoveryServer(pki, [(400, "bad")]).load(tmp_path)
    slept = []
    try:
        args = basic_discovery.parse_args(flags + ["-p", str(server.port)])
        with pytest.raises(DiscoveryError, match="refused the request for HelloWorld_Publisher as invalid"):
            discover(args, wait=slept.append)
    finally:
        server.close()
    assert slept == []


def test_unreachable_cores_are_all_tried(tmp_path, device):
    _, flags = device
    closed = []
    for _ in range(2):
        sock = socket.create_server(("127.0.0.1", 0))
        closed.append(sock.getsockname()[1])
        sock.close()
    found = Discovered("g", GROUP_CA, tuple(CoreEndpoint("g", "arn:core", "c{}".format(i), "127.0.0.1", port)
                                            for i, port in enumerate(closed)))
    ca_path = write_group_ca(str(tmp_path / "groupCA"), "g", GROUP_CA)
    client = AWSIoTMQTTClient("HelloWorld_Publisher")
    client.configureConnectDisconnectTimeout(2)
    with pytest.raises(DiscoveryError) as error:
        connect_first_reachable(client, found, ca_path, str(tmp_path / "dev.pem"), str(tmp_path / "dev.key"))
    message = str(error.value)
    assert "no core endpoint of group g was reachable" in message
    assert all("127.0.0.1:{}".format(port) in message for port in closed)


def test_first_reachable_core_is_used_with_the_group_ca(tmp_path, device):
    """Endpoint 1 refuses TCP; endpoint 2 is a TLS listener with a group-CA certificate that CONNACKs."""
    pki, _ = device
    group_ca = pki.group_ca("g")
    server_cert = group_ca.issue_server("core", ["127.0.0.1"])
    server_cert.write(tmp_path / "core.pem", tmp_path / "core.key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "core.pem"), str(tmp_path / "core.key"))
    context.load_verify_locations(cadata=pki.root.cert_pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    refused = socket.create_server(("127.0.0.1", 0))
    refused_port = refused.getsockname()[1]
    refused.close()
    seen = []

    def serve():
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            seen.append(tls.recv(2)[0])                      # CONNECT packet type
            tls.sendall(b"\x20\x02\x00\x00")                 # CONNACK, accepted
            while tls.recv(1024):                            # until DISCONNECT closes it
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    found = Discovered("g", group_ca.cert_pem.decode(), (
        CoreEndpoint("g", "arn:core", "c0", "127.0.0.1", refused_port),
        CoreEndpoint("g", "arn:core", "c1", "127.0.0.1", listener.getsockname()[1])))
    ca_path = write_group_ca(str(tmp_path / "groupCA"), "g", found.ca_pem)
    client = AWSIoTMQTTClient("HelloWorld_Publisher")
    client.configureConnectDisconnectTimeout(5)
    try:
        used = connect_first_reachable(client, found, ca_path, str(tmp_path / "dev.pem"), str(tmp_path / "dev.key"))
        assert used.connectivity_id == "c1"
    finally:
        client.disconnect()
        thread.join(5)
        listener.close()
    assert seen == [0x10]


def run_script(name, flags, timeout=60):
    script = str(Path(__file__).resolve().parents[3] / "devices" / name)
    return subprocess.run([sys.executable, script] + flags, capture_output=True, text=True, timeout=timeout)


def test_cli_prints_discovered_endpoints(tmp_path, device):
    pki, flags = device
    body = discovery_json(("arn:core", [("127.0.0.1", 8883), ("localhost", 8883)]))
    server = DiscoveryServer(pki, [(200, body)]).load(tmp_path)
    try:
        result = run_script("basic_discovery.py", flags + ["-p", str(server.port), "--print-discover-resp-only"])
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["group group-1", "  core arn:core c0 -> 127.0.0.1:8883",
                                          "  core arn:core c1 -> localhost:8883"]


@pytest.mark.parametrize("script", ["basic_discovery.py", "traffic_light.py", "light_controller.py"])
def test_cli_exits_2_with_the_reason_when_discovery_refuses(tmp_path, device, script):
    pki, flags = device
    server = DiscoveryServer(pki, [(400, "bad")]).load(tmp_path)
    try:
        result = run_script(script, flags + ["-p", str(server.port)])
    finally:
        server.close()
    assert result.returncode == 2
    assert "error: discovery refused the request for" in result.stderr
    assert "as invalid" in result.stderr
