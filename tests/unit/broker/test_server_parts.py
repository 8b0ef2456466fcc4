"""Pure parts of the broker's per-message path."""
import dataclasses
import pickle
from collections.abc import Sequence

import pytest

from localcore.broker.server import _packet_ids, _Run
from localcore.interfaces import Message


def test_a_message_is_still_a_frozen_dataclass_of_four_fields():
    message = Message("device:A", "t/1", b"payload", 1)
    assert [f.name for f in dataclasses.fields(Message)] == ["source", "topic", "payload", "qos"]
    assert message == Message(source="device:A", topic="t/1", payload=b"payload", qos=1)
    assert hash(message) == hash(Message("device:A", "t/1", b"payload", 1))
    assert message != Message("device:A", "t/1", b"payload")
    assert Message("device:A", "t/1", b"x").qos == 0
    assert repr(message) == "Message(source='device:A', topic='t/1', payload=b'payload', qos=1)"
    assert dataclasses.asdict(message) == {"source": "device:A", "topic": "t/1", "payload": b"payload",
                                           "qos": 1}
    assert dataclasses.replace(message, qos=0) == Message("device:A", "t/1", b"payload", 0)
    assert pickle.loads(pickle.dumps(message)) == message
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.topic = "other"
    with pytest.raises(TypeError):
        Message("device:A", "t/1")  # payload is required


def test_a_run_is_the_sequence_of_its_messages_made_once():
    run = _Run("device:A", "t/1", 1, [b"a", b"bb", b"ccc"])
    assert isinstance(run, Sequence) and len(run) == 3
    first = run[0]  # what the router reads first: made alone, then the first of the list
    assert first == Message("device:A", "t/1", b"a", 1)
    made = list(run)
    assert made == [Message("device:A", "t/1", p, 1) for p in (b"a", b"bb", b"ccc")]
    assert made[0] is first and list(run)[2] is made[2] and run[1] is made[1]  # the same objects each time
    assert run[-1].payload == b"ccc" and [m.payload for m in run[1:]] == [b"bb", b"ccc"]


def test_outgoing_packet_ids_wrap_from_65535_to_1():
    assert list(_packet_ids(1, 3)) == [1, 2, 3]
    assert list(_packet_ids(65533, 3)) == [65533, 65534, 65535]
    assert list(_packet_ids(65534, 4)) == [65534, 65535, 1, 2]
    assert list(_packet_ids(65535, 1)) == [65535]
