import pytest

from localcore.broker import codec
from localcore.broker.errors import ProtocolError


def test_reader_splits_packets_across_any_chunking():
    stream = (codec.encode_connect("dev", username="?SDK=Python&Version=1.6.2")
              + codec.encode_publish("a/b", b"x" * 300, 1, 7)
              + codec.encode_subscribe(3, [("a/#", 1), ("$aws/things/T/shadow/update/delta", 0)])
              + b"\xc0\x00")
    for size in (1, 2, 3, 7, 64, len(stream)):
        reader = codec.PacketReader(1000)
        packets = []
        for i in range(0, len(stream), size):
            packets += reader.feed(stream[i:i + size])
        assert [p.type for p in packets] == [codec.CONNECT, codec.PUBLISH, codec.SUBSCRIBE, codec.PINGREQ]
    connect = codec.decode_connect(packets[0])
    assert (connect.protocol_name, connect.level, connect.client_id, connect.username, connect.clean_session) \
        == ("MQTT", 4, "dev", "?SDK=Python&Version=1.6.2", True)
    pub = codec.decode_publish(packets[1])
    assert (pub.topic, pub.qos, pub.packet_id, len(pub.payload)) == ("a/b", 1, 7, 300)
    assert codec.decode_subscribe(packets[2]) == (3, [("a/#", 1), ("$aws/things/T/shadow/update/delta", 0)])


def test_connect_with_will_and_mqtt31():
    raw = codec.encode_connect("c", will=("w/t", b"gone", 1), level=3, keep_alive=5)
    (packet,) = codec.PacketReader(100).feed(raw)
    c = codec.decode_connect(packet)
    assert (c.protocol_name, c.level, c.will_topic, c.will_payload, c.will_qos, c.keep_alive) == \
        ("MQIsdp", 3, "w/t", b"gone", 1, 5)


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16383, 16384, 2097151, 2097152])
def test_remaining_length_round_trip(length):
    raw = codec.encode_publish("t", b"\0" * (length - 3) if length >= 3 else b"", 0)
    if length >= 3:
        (packet,) = codec.PacketReader(3_000_000).feed(raw)
        assert len(packet.body) == length


def test_length_over_limit_and_overlong_length_are_refused():
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        codec.PacketReader(10).feed(codec.encode_publish("t", b"x" * 20))
    with pytest.raises(ProtocolError, match="more than 4 bytes"):
        codec.PacketReader(10).feed(b"\x30\xff\xff\xff\xff\x01")


def _packet(raw):
    (packet,) = codec.PacketReader(1000).feed(raw)
    return packet


@pytest.mark.parametrize("raw,decoder,fragment", [
    (b"\x10\x03\x00\x04M", codec.decode_connect, "runs past"),
    (b"\x11\x00", codec.decode_connect, "flags must be 0"),
    (b"\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", codec.decode_connect, "reserved flag"),
    (b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02\xff\xfe", codec.decode_connect, "client id is not valid UTF-8"),
    (b"\x10\x0e\x00\x04MQTT\x04\x42\x00\x3c\x00\x02ab", codec.decode_connect, "password flag"),
    (b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x02abX", codec.decode_connect, "unexpected bytes"),
    (b"\x30\x04\x00\x02\xc3\x28", codec.decode_publish, "topic name is not valid UTF-8"),
    (b"\x30\x05\x00\x03a\x00b", codec.decode_publish, r"U\+0000"),
    (b"\x36\x05\x00\x01ax\x00", codec.decode_publish, "QoS 3"),
    (b"\x32\x05\x00\x01a\x00\x00", codec.decode_publish, "identifier 0"),
    (b"\x80\x06\x00\x01\x00\x01a\x00", codec.decode_subscribe, "flags must be 0x2"),
    (b"\x82\x02\x00\x01", codec.decode_subscribe, "no topic filters"),
    (b"\x82\x06\x00\x01\x00\x01a\x04", codec.decode_subscribe, "requested QoS"),
    (b"\xa2\x02\x00\x01", codec.decode_unsubscribe, "no topic filters"),
])
def test_malformed(raw, decoder, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        decoder(_packet(raw))


def test_encoders():
    assert codec.encode_connack(5) == b"\x20\x02\x00\x05"
    assert codec.encode_puback(258) == b"\x40\x02\x01\x02"
    assert codec.encode_suback(1, [0, 1, 0x80]) == b"\x90\x05\x00\x01\x00\x01\x80"
    assert codec.encode_unsuback(9) == b"\xb0\x02\x00\x09"
    assert codec.encode_publish("a", b"p", 1, 2) == b"\x32\x06\x00\x01a\x00\x02p"


def test_publish_prefix_then_id_then_payload_is_the_packet():
    for qos, size in ((0, 0), (0, 100), (1, 200), (1, 20000)):
        payload = b"p" * size
        prefix = codec.publish_prefix("a/b", size, qos)
        raw = prefix + (b"\x00\x07" if qos else b"") + payload
        assert raw == codec.encode_publish("a/b", payload, qos, 7)
        (packet,) = codec.PacketReader(1 << 20).feed(raw)
        assert codec.decode_publish(packet) == codec.Publish("a/b", payload, qos, 7 if qos else 0)


def test_reader_takes_bytearray_and_memoryview_chunks():
    raw = codec.encode_publish("t", b"x" * 200) * 2
    reader = codec.PacketReader(1000)
    packets = reader.feed(bytearray(raw[:150])) + reader.feed(memoryview(raw)[150:])
    assert [type(p.body) for p in packets] == [bytes, bytes] and len(packets) == 2


def test_a_reader_skipping_pubacks_consumes_only_well_formed_ones():
    stream = (codec.encode_puback(1) + codec.encode_publish("t", b"x") + codec.encode_puback(2)
              + b"\x41\x02\x00\x03"            # PUBACK with reserved flags set: not skipped
              + b"\x40\x03\x00\x04\x00"        # PUBACK with a length of 3: not skipped
              + codec.encode_puback(5))
    plain = codec.PacketReader(100)
    assert [p.type for p in plain.feed(stream)] == [codec.PUBACK, codec.PUBLISH, codec.PUBACK, codec.PUBACK,
                                                     codec.PUBACK, codec.PUBACK]
    for size in (1, 3, 5, len(stream)):
        reader = codec.PacketReader(100)
        reader.skip_pubacks = True
        packets = []
        for i in range(0, len(stream), size):
            packets += reader.feed(stream[i:i + size])
        assert [(p.type, p.flags, p.body) for p in packets] == [
            (codec.PUBLISH, 0, b"\x00\x01tx"), (codec.PUBACK, 1, b"\x00\x03"), (codec.PUBACK, 0, b"\x00\x04\x00")]


def _expanded(items):
    """A grouping reader's output as the packets a plain reader returns: each MorePublishes becomes the
    PUBLISH packets it stands for (the topic of the PUBLISH before it, its identifiers and payloads)."""
    packets = []
    for item in items:
        if item.type != codec.MORE_PUBLISHES:
            packets.append(tuple(item))
            continue
        kind, flags, body = packets[-1]
        assert kind == codec.PUBLISH, "MorePublishes must follow a PUBLISH packet"
        head = body[:2 + int.from_bytes(body[:2], "big")]
        raw = item.packet_ids
        ids = [raw[i:i + 2] for i in range(0, len(raw), 2)] or [b""] * len(item.payloads)
        assert len(ids) == len(item.payloads) and b"\0\0" not in ids
        packets += [(codec.PUBLISH, flags, head + packet_id + payload)
                    for packet_id, payload in zip(ids, item.payloads)]
    return packets


def _grouping_reader(limit=1 << 20):
    reader = codec.PacketReader(limit)
    reader.group_publishes = True
    return reader


def test_grouped_publishes_are_exactly_the_packets_a_plain_reader_returns():
    import random

    rng = random.Random(23)
    stream = codec.encode_connect("dev")
    for _ in range(60):
        topic = rng.choice(["a/b", "a/c", "t"])
        qos = rng.choice([0, 1, 1])
        size = rng.choice([0, 5, 5, 120, 300, 300, 20_000 if rng.random() < 0.2 else 130])
        for n in range(rng.choice([1, 2, 7, 40])):  # runs of one size: the split-at-once path
            stream += codec.encode_publish(topic, bytes([n % 256]) * size, qos, rng.randint(1, 0xFFFF),
                                           dup=rng.random() < 0.05)
        if rng.random() < 0.2:
            stream += rng.choice([b"\xc0\x00", codec.encode_puback(9),
                                  codec.encode_subscribe(4, [("a/#", 1)])])
    for size, part in ((3, stream[:4000]), (100, stream[:60_000]), (1000, stream), (16_384, stream),
                       (len(stream), stream)):
        reader = _grouping_reader()
        items = []
        for i in range(0, len(part), size):
            items += reader.feed(part[i:i + size])
        assert _expanded(items) == [tuple(p) for p in codec.PacketReader(1 << 20).feed(part)]
        if size >= 1000:
            assert sum(item.type == codec.MORE_PUBLISHES for item in items) > 20  # it did group


def test_a_group_ends_before_a_publish_whose_identifier_is_zero_or_that_is_too_short():
    run = [codec.encode_publish("a/b", b"%03d" % n, 1, n + 1) for n in range(12)]
    zero = codec.encode_publish("a/b", b"zer", 1, 0)  # same size: inside the split-at-once slots
    short = b"\x32\x05\x00\x03a/b"  # topic but no identifier
    for bad in (zero, short):
        stream = b"".join(run[:6]) + bad + b"".join(run[6:])
        items = _grouping_reader().feed(stream)
        assert [item.type for item in items] == [codec.PUBLISH, codec.MORE_PUBLISHES, codec.PUBLISH,
                                                 codec.MORE_PUBLISHES]
        assert items[1].payloads == [b"001", b"002", b"003", b"004", b"005"]
        assert items[1].packet_ids == b"\0\2\0\3\0\4\0\5\0\6"
        assert items[2].body == bad[2:]
        with pytest.raises(ProtocolError):
            codec.decode_publish(items[2])


def test_another_topic_or_flag_byte_starts_a_new_packet_and_another_size_does_not():
    same = [codec.encode_publish("a/b", b"xxxx", 0) for _ in range(8)]
    longer = codec.encode_publish("a/b", b"longer", 0)
    items = _grouping_reader().feed(b"".join(same[:5]) + longer + b"".join(same[5:]))
    assert [item.type for item in items] == [codec.PUBLISH, codec.MORE_PUBLISHES]
    assert items[1].payloads == [b"xxxx"] * 4 + [b"longer"] + [b"xxxx"] * 3
    for other in (codec.encode_publish("a/c", b"xxxx", 0),
                  codec.encode_publish("a/b", b"xxxx", 0, retain=True),
                  codec.encode_publish("a/b", b"xxxx", 1, 5)):
        items = _grouping_reader().feed(b"".join(same[:5]) + other + b"".join(same[5:]))
        assert [item.type for item in items] == [codec.PUBLISH, codec.MORE_PUBLISHES, codec.PUBLISH,
                                                 codec.PUBLISH, codec.MORE_PUBLISHES]
        assert len(items[1].payloads) == 4 and items[2].body == codec.PacketReader(100).feed(other)[0].body


def test_a_plain_reader_does_not_group():
    stream = b"".join(codec.encode_publish("a/b", b"x", 1, n) for n in range(1, 10))
    assert [p.type for p in codec.PacketReader(100).feed(stream)] == [codec.PUBLISH] * 9


def test_a_chunk_of_only_pubacks_is_skipped_whole_and_anything_else_is_not():
    acks = b"".join(codec.encode_puback(n) for n in range(1, 300))
    reader = codec.PacketReader(100)
    reader.skip_pubacks = True
    assert reader.feed(acks) == []
    assert [p.type for p in reader.feed(acks[:6])] == []  # one and a half: the half waits
    assert [(p.type, p.body) for p in reader.feed(acks[6:8] + b"\x41\x02\x00\x07" + acks)] == [
        (codec.PUBACK, b"\x00\x07")]  # reserved flags set: a packet, between skipped ones
    assert [(p.type, p.body) for p in reader.feed(acks + b"\x40\x03\x00\x01\x00")] == [
        (codec.PUBACK, b"\x00\x01\x00")]
