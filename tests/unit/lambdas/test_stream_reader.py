import json
from types import SimpleNamespace

import pytest

from stream_summary import ConfigError, Cursor, StreamReaderConfig, summarize, trigger_topic


def test_cursor_starts_at_zero_and_advances_past_the_newest():
    cursor = Cursor()
    assert cursor.next_sequence == 0
    cursor.advance([])
    assert cursor.next_sequence == 0          # an empty read does not move it
    cursor.advance([0, 1, 2])
    assert cursor.next_sequence == 3
    cursor.advance([1])                       # never moves backwards
    assert cursor.next_sequence == 3


def test_summary_of_readings_and_other_payloads():
    messages = [
        (5, json.dumps({"location": "a", "value": 1}).encode()),
        (6, json.dumps({"location": "a", "value": 3.0}).encode()),
        (7, json.dumps({"location": "b", "value": 2}).encode()),
        (8, b"\x00binary"),
        (9, json.dumps({"location": "c", "value": True}).encode()),
        (10, b"[1, 2]"),
    ]
    summary = summarize("S", messages, start=3, trigger_topic="t/1")
    assert summary == {
        "stream": "S", "stream_exists": True, "trigger_topic": "t/1", "count": 6,
        "first_sequence": 5, "last_sequence": 10, "skipped_before_first": 2,
        "locations": {"a": {"count": 2, "min": 1.0, "max": 3.0, "mean": 2.0},
                      "b": {"count": 1, "min": 2.0, "max": 2.0, "mean": 2.0}},
        "other_payloads": 3,
    }


def test_summary_of_nothing():
    summary = summarize("S", [], start=0, trigger_topic=None, stream_exists=False)
    assert summary["count"] == 0 and summary["first_sequence"] is None and summary["last_sequence"] is None
    assert summary["stream_exists"] is False and summary["skipped_before_first"] == 0


@pytest.mark.parametrize("context, expected", [
    (SimpleNamespace(client_context=SimpleNamespace(custom={"subject": "a/b"})), "a/b"),
    (SimpleNamespace(client_context=SimpleNamespace(custom={})), None),
    (SimpleNamespace(client_context=None), None),
    (None, None),
])
def test_trigger_topic(context, expected):
    assert trigger_topic(context) == expected


def test_config():
    config = StreamReaderConfig.from_env({"STREAM_NAME": "X", "MAX_MESSAGES": "7"})
    assert (config.stream_name, config.max_messages, config.summary_topic) == ("X", 7, "stream_reader/summary")
    with pytest.raises(ConfigError, match="READ_BATCH must be >= 1, got 0"):
        StreamReaderConfig.from_env({"READ_BATCH": "0"})
