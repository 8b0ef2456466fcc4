"""Pipelined PUBLISHes over raw mutual-TLS sockets: many packets in one write, as a fast device sends
them. The broker routes PUBLISHes on one topic in a row together; what each client receives must be
exactly what one-by-one routing gives — order, payloads, QoS, PUBACKs, refusals, and the packets before
a protocol error."""
import json

import pytest
from corekit import Core, mqtt_connect, read_packet

from localcore.broker import Broker, codec
from localcore.clientauth import policy_from_config
from localcore.interfaces import Route

ROUTES = [
    Route("device:Pub", "device:Sub", "data/#"),
    Route("device:Pub", "device:Pub", "self/#"),
]


@pytest.fixture
def core(make_core):
    return make_core(ROUTES, ["Pub", "Sub"])


def connected(core, thing, subscribe=None):
    sock = core.raw(core.devices[thing])
    assert mqtt_connect(sock, thing) == 0
    if subscribe:
        sock.sendall(codec.encode_subscribe(1, subscribe))
        suback = read_packet(sock)
        assert suback.type == codec.SUBACK and 0x80 not in suback.body[2:]
    return sock


def read_n(sock, n):
    """The next ``n`` packets (bounded by the socket timeout)."""
    reader, packets = codec.PacketReader(1 << 20), []
    while len(packets) < n:
        data = sock.recv(65536)
        assert data, f"connection closed after {len(packets)} of {n} packets"
        packets += reader.feed(data)
    assert len(packets) == n, f"{len(packets) - n} packets more than expected"
    return packets


def test_a_pipelined_burst_arrives_whole_and_in_order_with_every_puback(core):
    sub = connected(core, "Sub", [("data/#", 1)])
    pub = connected(core, "Pub")
    # a run on data/a with payload sizes across the 1- and 2-byte remaining lengths, a QoS change,
    # another topic, and back
    sent = [("data/a", bytes([i]) * size, 1) for i, size in enumerate([0, 1, 100, 200, 20_000, 5, 5, 5])]
    sent += [("data/a", b"q0-%d" % i, 0) for i in range(3)]
    sent += [("data/b", b"b-%d" % i, 1) for i in range(4)] + [("data/a", b"last", 1)]
    ids = {}
    burst = b""
    for n, (topic, payload, qos) in enumerate(sent, start=1):
        burst += codec.encode_publish(topic, payload, qos, n if qos else 0)
        if qos:
            ids[n] = payload
    pub.sendall(burst)
    acks = [codec.decode_packet_id(p) for p in read_n(pub, len(ids))]
    assert acks == sorted(ids)                                  # one PUBACK each, in order
    got = [codec.decode_publish(p) for p in read_n(sub, len(sent))]
    assert [(m.topic, m.payload, m.qos) for m in got] == sent
    assert len({m.packet_id for m in got if m.qos}) == len(ids)  # the broker numbers its own
    status = core.call(core.broker.status)["counts"]
    assert (status["received"], status["sent"]) == (len(sent), len(sent))
    assert core.call(core.router.status)["per_target"] == {"device:Sub": len(sent)}


def test_a_subscribe_in_the_middle_takes_effect_between_the_publishes_around_it(core):
    pub = connected(core, "Pub")
    pub.sendall(codec.encode_publish("self/x", b"before-1", 0) + codec.encode_publish("self/x", b"before-2", 0)
                + codec.encode_subscribe(7, [("self/#", 0)])
                + codec.encode_publish("self/x", b"after-1", 0) + codec.encode_publish("self/x", b"after-2", 0))
    packets = read_n(pub, 3)
    assert packets[0].type == codec.SUBACK
    assert [codec.decode_publish(p).payload for p in packets[1:]] == [b"after-1", b"after-2"]


def test_packets_before_a_protocol_error_are_routed_and_acknowledged(core):
    sub = connected(core, "Sub", [("data/#", 0)])
    pub = connected(core, "Pub")
    good = b"".join(codec.encode_publish("data/a", b"%d" % i, 1, i) for i in range(1, 6))
    pub.sendall(good + codec.encode_publish("data/a", b"bad", 2, 6) + codec.encode_publish("data/a", b"never", 0))
    assert [codec.decode_packet_id(p) for p in read_n(pub, 5)] == [1, 2, 3, 4, 5]
    assert read_packet(pub) is None                             # then disconnected
    assert [codec.decode_publish(p).payload for p in read_n(sub, 5)] == [b"1", b"2", b"3", b"4", b"5"]
    assert core.call(core.broker.status)["counts"]["protocol_errors"] == 1


def test_refused_publishes_in_a_burst_are_dropped_without_puback(tmp_path):
    auth = {"deviceGroups": {
        "definitions": {"All": {"selectionRule": "thingName: *", "policyName": "P"}},
        "policies": {"P": {"Any": {"operations": ["mqtt:connect", "mqtt:subscribe"],
                                   "resources": ["mqtt:clientId:*", "mqtt:topicfilter:data/#"]},
                           "Pub": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:data/ok"]}}}}}
    core = Core(tmp_path, ROUTES, ["Pub", "Sub"])
    core.broker = Broker(core.router, ssl_context=core._ctx, authorize=core.auth, port=0,
                         client_policy=policy_from_config(auth))
    core.start()
    try:
        sub = connected(core, "Sub", [("data/#", 1)])
        pub = connected(core, "Pub")
        topics = ["data/ok", "data/ok", "data/no", "data/no", "data/ok", "data/no", "data/ok"]
        pub.sendall(b"".join(codec.encode_publish(t, b"%d" % i, 1, i) for i, t in enumerate(topics, start=1)))
        assert [codec.decode_packet_id(p) for p in read_n(pub, 4)] == [1, 2, 5, 7]
        assert [codec.decode_publish(p).payload for p in read_n(sub, 4)] == [b"1", b"2", b"5", b"7"]
        counts = core.call(core.broker.status)["counts"]
        assert counts["publish_refused"] == 3 and counts["received"] == 7
        pub.sendall(b"\xc0\x00")                                  # still connected: PINGRESP
        assert read_packet(pub).type == codec.PINGRESP
    finally:
        core.stop()


def test_a_puback_before_connect_is_still_a_protocol_error(core):
    sock = core.raw(core.devices["Pub"])
    sock.sendall(codec.encode_puback(1) + codec.encode_connect("Pub"))
    assert read_packet(sock) is None                            # closed, no CONNACK
    assert core.call(core.broker.status)["counts"]["protocol_errors"] == 1


def test_a_long_run_of_one_size_is_acknowledged_with_the_publishers_own_identifiers(core):
    import random

    sub = connected(core, "Sub", [("data/#", 1)])
    pub = connected(core, "Pub")
    ids = random.Random(7).sample(range(1, 0x10000), 300)
    ids[:3] = [0xFFFF, 1, 256]  # the edges of the two identifier bytes
    payloads = [b"%05d" % n + b"." * 250 for n in range(300)]  # one size: split at once by the reader
    payloads[150] = b"other size"
    pub.sendall(b"".join(codec.encode_publish("data/a", payload, 1, packet_id)
                         for packet_id, payload in zip(ids, payloads)))
    assert [codec.decode_packet_id(p) for p in read_n(pub, 300)] == ids
    got = [codec.decode_publish(p) for p in read_n(sub, 300)]
    assert [m.payload for m in got] == payloads and {m.qos for m in got} == {1}
    assert [m.packet_id for m in got] == list(range(1, 301))  # the broker numbers its own, in order


def test_a_zero_identifier_inside_a_run_of_one_size_ends_it_after_the_ones_before(core):
    sub = connected(core, "Sub", [("data/#", 0)])
    pub = connected(core, "Pub")
    pub.sendall(b"".join(codec.encode_publish("data/a", b"%03d" % n, 1, 0 if n == 12 else n + 1)
                         for n in range(20)))
    assert [codec.decode_packet_id(p) for p in read_n(pub, 12)] == list(range(1, 13))
    assert read_packet(pub) is None                             # then disconnected
    assert [codec.decode_publish(p).payload for p in read_n(sub, 12)] == [b"%03d" % n for n in range(12)]
    assert core.call(core.broker.status)["counts"]["protocol_errors"] == 1


def test_unacknowledged_messages_are_not_redelivered_on_a_new_connection(core):
    """Clean sessions only: what a dropped subscriber had not acknowledged ends with its connection,
    even when it asks for a persistent session (CONNACK says there is none)."""
    sub = connected(core, "Sub", [("data/#", 1)])
    pub = connected(core, "Pub")
    pub.sendall(b"".join(codec.encode_publish("data/a", b"old-%d" % n, 1, n) for n in range(1, 6)))
    assert [codec.decode_packet_id(p) for p in read_n(pub, 5)] == [1, 2, 3, 4, 5]
    assert [codec.decode_publish(p).packet_id for p in read_n(sub, 5)] == [1, 2, 3, 4, 5]
    sub.close()                                                 # dropped without a PUBACK or DISCONNECT
    again = core.raw(core.devices["Sub"])
    again.sendall(codec.encode_connect("Sub", clean_session=False))
    connack = read_packet(again)
    assert connack.type == codec.CONNACK and connack.body == b"\x00\x00"  # no session present
    again.sendall(codec.encode_subscribe(2, [("data/#", 1)]))
    assert read_packet(again).type == codec.SUBACK
    pub.sendall(codec.encode_publish("data/a", b"new", 1, 6))
    assert codec.decode_packet_id(read_packet(pub)) == 6
    (fresh,) = [codec.decode_publish(p) for p in read_n(again, 1)]
    assert (fresh.payload, fresh.packet_id) == (b"new", 1)     # nothing old first; numbering starts over


def test_a_subscriber_that_does_not_read_loses_what_is_over_the_backlog_limit_and_nothing_before(core):
    sub = connected(core, "Sub", [("data/#", 1)])
    pub = connected(core, "Pub")
    total = 16_000  # 16 MB of 1000-byte payloads: twice the 8 MB the broker buffers for one client
    burst = b"".join(codec.encode_publish("data/a", b"%06d" % n + b"-" * 994, 1, n % 0xFFFF + 1)
                     for n in range(total))
    pub.sendall(burst)
    assert len(read_n(pub, total)) == total                     # every one acknowledged, delivered or not
    dropped = core.call(core.broker.status)["counts"]["dropped_slow_client"]
    assert 0 < dropped < total
    got = [codec.decode_publish(p) for p in read_n(sub, total - dropped)]
    numbers = [int(m.payload[:6]) for m in got]
    assert numbers == sorted(numbers) and numbers[:1000] == list(range(1000))  # in order; the first ones kept
    assert [m.packet_id for m in got] == list(range(1, total - dropped + 1))  # a dropped one takes no id


def test_an_oversized_payload_inside_a_run_ends_the_connection_after_the_ones_before(core):
    sub = connected(core, "Sub", [("data/#", 1)])
    pub = connected(core, "Pub")
    small = [codec.encode_publish("data/a", b"%02d" % n, 1, n + 1) for n in range(8)]
    oversized = codec.encode_publish("data/a", b"x" * (128 * 1024 + 1), 1, 9)
    pub.sendall(b"".join(small) + oversized + codec.encode_publish("data/a", b"after", 1, 10))
    assert [codec.decode_packet_id(p) for p in read_n(pub, 8)] == list(range(1, 9))
    assert read_packet(pub) is None                             # then disconnected
    assert [codec.decode_publish(p).payload for p in read_n(sub, 8)] == [b"%02d" % n for n in range(8)]
    counts = core.call(core.broker.status)["counts"]
    assert counts["protocol_errors"] == 1 and counts["received"] == 8


def test_a_refused_run_is_refused_whole_and_the_next_allowed_run_acknowledged_whole(tmp_path):
    auth = {"deviceGroups": {
        "definitions": {"All": {"selectionRule": "thingName: *", "policyName": "P"}},
        "policies": {"P": {"Any": {"operations": ["mqtt:connect", "mqtt:subscribe"],
                                   "resources": ["mqtt:clientId:*", "mqtt:topicfilter:data/#"]},
                           "Pub": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:data/ok"]}}}}}
    core = Core(tmp_path, ROUTES, ["Pub", "Sub"])
    core.broker = Broker(core.router, ssl_context=core._ctx, authorize=core.auth, port=0,
                         client_policy=policy_from_config(auth))
    core.start()
    try:
        sub = connected(core, "Sub", [("data/#", 1)])
        pub = connected(core, "Pub")
        refused = b"".join(codec.encode_publish("data/no", b"%03d" % n, 1, n) for n in range(1, 41))
        allowed = b"".join(codec.encode_publish("data/ok", b"%03d" % n, 1, n) for n in range(41, 81))
        pub.sendall(refused + allowed)
        assert [codec.decode_packet_id(p) for p in read_n(pub, 40)] == list(range(41, 81))
        got = [codec.decode_publish(p).payload for p in read_n(sub, 40)]
        assert got == [b"%03d" % n for n in range(41, 81)]
        counts = core.call(core.broker.status)["counts"]
        assert counts["publish_refused"] == 40 and counts["received"] == 80
    finally:
        core.stop()


def test_a_run_reaches_a_sink_other_than_a_client_as_messages_in_order(make_core):
    """The shadow service (a real sink without deliver_run) gets a pipelined run as one Message per
    PUBLISH, in order: ten updates in one burst end at version 10 with the last one's state."""
    shadow = "$aws/things/Pub/shadow"
    core = make_core([Route("device:Pub", "shadow:Pub", f"{shadow}/update"),
                      Route("shadow:Pub", "device:Pub", f"{shadow}/update/#")], ["Pub"])
    pub = connected(core, "Pub", [(f"{shadow}/update/accepted", 1)])
    pub.sendall(b"".join(codec.encode_publish(f"{shadow}/update",
                                              b'{"state": {"reported": {"n": %d}}}' % n, 1, n + 1)
                         for n in range(10)))
    packets = read_n(pub, 20)                                   # ten PUBACKs and ten accepted
    assert [codec.decode_packet_id(p) for p in packets if p.type == codec.PUBACK] == list(range(1, 11))
    accepted = [json.loads(codec.decode_publish(p).payload) for p in packets if p.type == codec.PUBLISH]
    assert [(a["state"]["reported"]["n"], a["version"]) for a in accepted] == [(n, n + 1) for n in range(10)]
