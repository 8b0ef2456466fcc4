"""Test helper: router + shadow + broker + discovery of the local core on an event loop in a
background thread, with real certificates from the local PKI. Clients (AWSIoTPythonSDK, paho,
raw sockets) then run in the test's own thread like separate devices would.

Imported by path from the broker, discovery and shadow functional tests.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from localcore.broker import Broker, CertificateAuthorizer, server_ssl_context
from localcore.broker import codec
from localcore.discovery import Connectivity, DiscoveryGroup, DiscoveryServer
from localcore.pki import CertificateAuthority, LocalPKI
from localcore.router import Router
from localcore.shadow import ShadowService

GROUP_ID = "group-1"
CORE = "GG_Core"


@dataclass
class DeviceFiles:
    thing: str
    ca: str      # group CA (verifies the core's server certificate)
    cert: str
    key: str
    cert_der: bytes


class Core:
    def __init__(self, tmp: Path, routes, members: list[str]) -> None:
        self.tmp = Path(tmp)
        self.pki = LocalPKI(self.tmp / "pki")
        self.group_ca = self.pki.group_ca(GROUP_ID)
        server = self.group_ca.issue_server("core", ["127.0.0.1", "localhost"])
        self.group_ca_path = self.tmp / "group-ca.pem"
        self.group_ca_path.write_bytes(self.group_ca.cert_pem)
        self.root_ca_path = self.tmp / "root-ca.pem"
        self.root_ca_path.write_bytes(self.pki.root.cert_pem)
        self.devices: dict[str, DeviceFiles] = {}
        self.ids: dict[str, set[str]] = {}
        for thing in members:
            files = self.issue(thing)
            self.ids[thing] = {hashlib.sha256(files.cert_der).hexdigest()}
        self.auth = CertificateAuthorizer(lambda: self.ids)
        ctx = server_ssl_context(server.cert_pem, server.key_pem, self.pki.root.cert_pem)
        self.router = Router(routes)
        self.shadows = ShadowService(self.tmp / "shadows")
        self.broker = Broker(self.router, ssl_context=ctx, authorize=self.auth, port=0)
        self.discovery: DiscoveryServer | None = None
        self._ctx = ctx
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="core-loop", daemon=True)

    def issue(self, thing: str, ca: CertificateAuthority | None = None) -> DeviceFiles:
        issued = (ca or self.pki.root).issue_client(thing)
        base = self.tmp / "certs" / f"{thing}-{len(self.devices)}"
        issued.write(base / "cert.pem", base / "private.key")
        der = x509.load_pem_x509_certificate(issued.cert_pem).public_bytes(Encoding.DER)
        files = DeviceFiles(thing, str(self.group_ca_path), str(base / "cert.pem"), str(base / "private.key"), der)
        if ca is None and thing not in self.devices:
            self.devices[thing] = files
        return files

    def run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func, *args):
        async def wrapper():
            return func(*args)
        return self.run(wrapper())

    def start(self, discovery: bool = False) -> "Core":
        self._thread.start()
        self.run(self.shadows.start())
        self.shadows.attach(self.router)
        self.run(self.broker.start())
        if discovery:
            group = DiscoveryGroup(GROUP_ID, f"arn:aws:iot:us-east-1:123456789012:thing/{CORE}",
                                   [Connectivity("local", "127.0.0.1", self.broker.port, "")],
                                   self.group_ca.cert_pem.decode())
            # the discovery endpoint stands for AWS IoT's: its certificate chains to the IoT root CA
            web = self.pki.root.issue_server("localhost", ["127.0.0.1", "localhost"])
            web_ctx = server_ssl_context(web.cert_pem, web.key_pem, self.pki.root.cert_pem)
            self.discovery = DiscoveryServer(group, is_member=self.auth.is_member, authorize=self.auth,
                                             ssl_context=web_ctx, port=0)
            self.run(self.discovery.start())
        return self

    def stop(self) -> None:
        try:
            if self.discovery is not None:
                self.run(self.discovery.stop())
            self.run(self.broker.stop())
            self.run(self.shadows.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()

    # -- raw MQTT client helpers -------------------------------------------------------------
    def client_context(self, files: DeviceFiles) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=files.ca)
        ctx.load_cert_chain(files.cert, files.key)
        return ctx

    def raw(self, files: DeviceFiles, timeout: float = 5) -> ssl.SSLSocket:
        sock = socket.create_connection(("127.0.0.1", self.broker.port), timeout=timeout)
        return self.client_context(files).wrap_socket(sock, server_hostname="127.0.0.1")


def read_packet(sock: ssl.SSLSocket) -> codec.Packet | None:
    """Read one MQTT packet (None when the server closed the connection)."""
    reader = codec.PacketReader(1 << 20)
    while True:
        try:
            data = sock.recv(1)
        except (ConnectionError, ssl.SSLError):
            return None
        if not data:
            return None
        packets = reader.feed(data)
        if packets:
            return packets[0]


def read_until_closed(sock: ssl.SSLSocket) -> list[codec.Packet]:
    """Every packet until the server closes (bounded by the socket timeout)."""
    reader = codec.PacketReader(1 << 20)
    packets = []
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionError, ssl.SSLError):
            return packets
        if not data:
            return packets
        packets += reader.feed(data)


def mqtt_connect(sock: ssl.SSLSocket, client_id: str, **kw) -> int:
    sock.sendall(codec.encode_connect(client_id, **kw))
    packet = read_packet(sock)
    assert packet is not None and packet.type == codec.CONNACK, packet
    return packet.body[1]


def json_payload(packet: codec.Packet) -> dict:
    return json.loads(codec.decode_publish(packet).payload)
