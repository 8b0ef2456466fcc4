"""Pure parts of the broker's per-message path."""
import dataclasses

from localcore.broker.server import _make_message, _message_maker
from localcore.interfaces import Message


def test_the_cheap_message_is_the_message():
    made = _make_message("device:A", "t/1", b"payload", 1)
    real = Message("device:A", "t/1", b"payload", 1)
    assert type(made) is Message and made == real and hash(made) == hash(real) and repr(made) == repr(real)
    assert dataclasses.asdict(made) == dataclasses.asdict(real)
    try:
        made.topic = "other"  # still frozen
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a Message made by the broker must stay immutable")


def test_the_maker_falls_back_to_the_constructor_when_message_changes(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Wider:
        source: str
        topic: str
        payload: bytes
        qos: int = 0
        retain: bool = False

    monkeypatch.setattr("localcore.broker.server.Message", Wider)
    assert _message_maker() is Wider
