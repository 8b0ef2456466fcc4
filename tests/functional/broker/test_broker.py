"""The broker with real clients: paho-mqtt and raw TLS sockets, real certificates, port 0."""
import queue
import random
import socket
import ssl
import time

import paho.mqtt.client as mqtt
import pytest

from corekit import json_payload, mqtt_connect, read_packet, read_until_closed  # noqa: F401
from localcore.broker import codec
from localcore.interfaces import Route
from localcore.pki import CertificateAuthority

ROUTES = [
    Route("device:Pub", "device:Sub", "data/#"),
    Route("device:Pub", "device:Other", "data/#"),
    Route("device:Pub", "device:Sub", "will/pub"),
    Route("device:Sub", "device:Pub", "back/+"),
]
MEMBERS = ["Pub", "Sub", "Other"]


class Paho:
    """A paho-mqtt client over mutual TLS that collects what it receives."""

    def __init__(self, core, thing, files=None, client_id=None):
        files = files or core.devices[thing]
        self.inbox = queue.Queue()
        self.connacks = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or thing)
        self.client.tls_set(ca_certs=files.ca, certfile=files.cert, keyfile=files.key)
        self.client.on_message = lambda c, u, m: self.inbox.put((m.topic, m.payload, m.qos))
        self.client.on_connect = lambda c, u, f, rc, p: self.connacks.put(rc)
        self.client.reconnect_delay_set(30, 60)
        self.client.connect("127.0.0.1", core.broker.port, keepalive=60)
        self.client.loop_start()

    def wait_connected(self):
        rc = self.connacks.get(timeout=5)
        assert rc == 0, rc
        return self

    def subscribe(self, topic, qos=0):
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, codes, p: done.put(codes)
        self.client.subscribe(topic, qos)
        return done.get(timeout=5)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def core(make_core):
    return make_core(ROUTES, MEMBERS)


def test_publish_routed_by_table_and_own_subscriptions(core):
    sub = Paho(core, "Sub").wait_connected()
    other = Paho(core, "Other").wait_connected()
    pub = Paho(core, "Pub").wait_connected()
    try:
        assert [c.value for c in sub.subscribe("data/+", 1)] == [1]
        assert [c.value for c in other.subscribe("unrelated/#", 0)] == [0]
        pub.subscribe("back/#", 1)
        info = pub.client.publish("data/x", b"q1", qos=1)
        info.wait_for_publish(5)
        assert info.is_published()                           # PUBACK came back
        pub.client.publish("data/y", b"q0", qos=0)
        assert sub.inbox.get(timeout=5) == ("data/x", b"q1", 1)
        assert sub.inbox.get(timeout=5) == ("data/y", b"q0", 0)
        pub.client.publish("nowhere/1", b"dropped", qos=1).wait_for_publish(5)
        sub.client.publish("data/z", b"one-way", qos=1).wait_for_publish(5)   # no row Sub -> Sub/Pub
        sub.client.publish("back/1", b"reply", qos=0)
        assert pub.inbox.get(timeout=5) == ("back/1", b"reply", 0)
        assert sub.inbox.empty() and other.inbox.empty()    # Other has a route but no matching subscription
        status = core.call(core.broker.status)
        assert status["connected"] == ["Other", "Pub", "Sub"]
        assert core.call(core.router.status)["dropped"] >= 2
    finally:
        for c in (sub, other, pub):
            c.close()


def test_unsubscribe_stops_delivery(core):
    sub = Paho(core, "Sub").wait_connected()
    pub = Paho(core, "Pub").wait_connected()
    try:
        sub.subscribe("data/#", 1)
        pub.client.publish("data/1", b"a", qos=1).wait_for_publish(5)
        assert sub.inbox.get(timeout=5)[1] == b"a"
        done = queue.Queue()
        sub.client.on_unsubscribe = lambda *a: done.put(True)
        sub.client.unsubscribe("data/#")
        done.get(timeout=5)
        pub.client.publish("data/2", b"b", qos=1).wait_for_publish(5)
        pub.client.publish("data/3", b"c", qos=1).wait_for_publish(5)
        sub.subscribe("data/3", 0)
        pub.client.publish("data/3", b"d", qos=1).wait_for_publish(5)
        assert sub.inbox.get(timeout=5) == ("data/3", b"d", 0)
    finally:
        sub.close()
        pub.close()


def test_certificate_from_another_ca_fails_tls(core):
    evil = CertificateAuthority.create("Evil CA")
    files = core.issue("Pub", ca=evil)
    try:
        sock = core.raw(files)
        sock.sendall(codec.encode_connect("Pub"))
        # TLS 1.3 finishes the client side first; the server's refusal shows on the first read
        assert read_until_closed(sock) == []
    except (ssl.SSLError, ConnectionError):
        pass
    assert "refused" not in core.call(core.broker.status)["counts"]   # never got to MQTT
    assert core.call(core.broker.status)["connected"] == []


def test_thing_outside_the_group_gets_connack_5_and_nothing_through(core):
    outsider = core.issue("Outsider")          # chains to the root CA, not a member
    sub = Paho(core, "Sub").wait_connected()
    try:
        sub.subscribe("#", 1)
        sock = core.raw(outsider)
        assert mqtt_connect(sock, "Outsider") == 5
        sock.sendall(codec.encode_publish("data/x", b"sneaky", 0))
        assert read_until_closed(sock) == []
        # the SDK-style client retries: still refused, and nothing reaches the subscriber
        client = Paho(core, "Outsider", files=outsider)
        assert client.connacks.get(timeout=5).getName() == "Not authorized"   # CONNACK 5
        client.client.publish("data/x", b"sneaky2")
        client.close()
        pub = Paho(core, "Pub").wait_connected()
        pub.client.publish("data/ok", b"fine", qos=1).wait_for_publish(5)
        assert sub.inbox.get(timeout=5) == ("data/ok", b"fine", 1)   # the first thing that arrives
        pub.close()
        assert core.call(core.broker.status)["counts"]["refused"] == 2
    finally:
        sub.close()


def test_client_id_other_than_the_certificates_thing_is_refused(core):
    sock = core.raw(core.devices["Pub"])
    assert mqtt_connect(sock, "Sub") == 5            # Pub's certificate, Sub's name
    assert read_until_closed(sock) == []
    sock = core.raw(core.devices["Pub"])
    assert mqtt_connect(sock, "") == 5
    sock = core.raw(core.devices["Pub"])
    assert mqtt_connect(sock, "Pub", level=3, username="?SDK=Python&Version=1.6.2") == 0   # MQTT 3.1 works
    sock.close()


def test_last_will_routed_on_abrupt_close_only(core):
    sub = Paho(core, "Sub").wait_connected()
    try:
        sub.subscribe("will/#", 0)
        sock = core.raw(core.devices["Pub"])
        assert mqtt_connect(sock, "Pub", will=("will/pub", b"clean", 0)) == 0
        sock.sendall(b"\xe0\x00")                   # DISCONNECT: no will
        assert read_until_closed(sock) == []
        sock = core.raw(core.devices["Pub"])
        assert mqtt_connect(sock, "Pub", will=("will/pub", b"died", 1)) == 0
        sock.close()                                # no DISCONNECT
        assert sub.inbox.get(timeout=5) == ("will/pub", b"died", 0)
        assert sub.inbox.empty()
    finally:
        sub.close()


def test_second_connection_with_same_id_takes_over(core):
    first = core.raw(core.devices["Sub"])
    assert mqtt_connect(first, "Sub") == 0
    second = core.raw(core.devices["Sub"])
    assert mqtt_connect(second, "Sub") == 0
    assert read_until_closed(first) == []
    second.sendall(b"\xc0\x00")
    assert read_packet(second).type == codec.PINGRESP
    assert core.call(core.broker.status)["connected"] == ["Sub"]


def test_keep_alive_expiry_closes_silent_client(core):
    sock = core.raw(core.devices["Sub"])
    assert mqtt_connect(sock, "Sub", keep_alive=1) == 0
    start = time.monotonic()
    assert read_until_closed(sock) == []
    assert 1.4 < time.monotonic() - start < 4


@pytest.mark.parametrize("bad,expect_connack", [
    (codec.encode_publish("data/+", b"x"), None),                       # wildcard in PUBLISH
    (b"\x30\x05\x00\x03d\xff/" , None),                                  # invalid UTF-8 topic
    (codec.encode_publish("d/" + "x" * 300, b"x"), None),                # topic > 256 bytes
    (codec.encode_publish("data/big", b"x" * (128 * 1024 + 1)), None),  # payload > 128 KB
    (codec.encode_publish("data/q2", b"x", 2, 1), None),                # QoS 2 refused
    (b"\x20\x02\x00\x00", None),                                         # CONNACK from a client
    (b"\xf0\x00", None),                                                 # reserved type 15
    (codec.encode_connect("Pub"), None),                                 # second CONNECT
])
def test_protocol_violation_disconnects_only_that_client(core, bad, expect_connack):
    sub = Paho(core, "Sub").wait_connected()
    pub = Paho(core, "Pub").wait_connected()
    try:
        sub.subscribe("data/#", 1)
        sock = core.raw(core.devices["Other"])
        assert mqtt_connect(sock, "Other") == 0
        sock.sendall(bad)
        assert read_until_closed(sock) == []
        pub.client.publish("data/after", b"still", qos=1).wait_for_publish(5)
        assert sub.inbox.get(timeout=5) == ("data/after", b"still", 1)
        assert sub.inbox.empty()
    finally:
        sub.close()
        pub.close()


def test_wrong_protocol_level_gets_connack_1(core):
    sock = core.raw(core.devices["Pub"])
    raw = bytearray(codec.encode_connect("Pub"))
    raw[8] = 5                                                       # MQTT 5
    assert mqtt_connect_raw(sock, bytes(raw)) == 1


def mqtt_connect_raw(sock, raw):
    sock.sendall(raw)
    packet = read_packet(sock)
    return packet.body[1]


def test_bounded_fuzz_keeps_other_clients_working(core):
    rng = random.Random(1234)
    sub = Paho(core, "Sub").wait_connected()
    pub = Paho(core, "Pub").wait_connected()
    try:
        sub.subscribe("data/#", 1)
        for round_ in range(40):
            sock = core.raw(core.devices["Other"], timeout=3)
            if round_ % 2:
                assert mqtt_connect(sock, "Other") == 0
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            if round_ % 4 == 1:   # a plausible header with a lying length
                garbage = bytes((rng.choice([0x30, 0x32, 0x82, 0xa2, 0x10]),)) + garbage
            try:
                sock.sendall(garbage)
            except (OSError, ssl.SSLError):
                pass  # the broker may already have dropped us
            finally:
                sock.close()
            pub.client.publish("data/fuzz", str(round_).encode(), qos=1).wait_for_publish(5)
            assert sub.inbox.get(timeout=5) == ("data/fuzz", str(round_).encode(), 1)
        status = core.call(core.broker.status)
        assert status["connected"] in (["Pub", "Sub"], ["Other", "Pub", "Sub"])
        assert status["counts"]["protocol_errors"] >= 10
    finally:
        sub.close()
        pub.close()


def test_hundreds_of_clients(make_core):
    n = 150
    things = [f"Dev{i}" for i in range(n)]
    core = make_core([Route("device:Pub", f"device:{t}", "fan/#") for t in things], things + ["Pub"])
    socks = []
    try:
        for thing in things:
            sock = core.raw(core.devices[thing])
            sock.sendall(codec.encode_connect(thing) + codec.encode_subscribe(1, [("fan/+", 0)]))
            socks.append(sock)
        for sock in socks:
            assert read_packet(sock).type == codec.CONNACK
            assert read_packet(sock).type == codec.SUBACK
        pub = core.raw(core.devices["Pub"])
        assert mqtt_connect(pub, "Pub") == 0
        pub.sendall(codec.encode_publish("fan/out", b"hello", 1, 1))
        assert read_packet(pub).type == codec.PUBACK
        for sock in socks:
            assert codec.decode_publish(read_packet(sock)).payload == b"hello"
        assert len(core.call(core.broker.status)["connected"]) == n + 1
    finally:
        for sock in socks:
            sock.close()
