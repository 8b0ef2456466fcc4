import json

import pytest

from checkpoint import CheckpointStore
from windows import AggregationState, AggregatorConfig, ConfigError, parse_reading, target_definition


def reading(location, value, ts):
    return json.dumps({"device_id": "d", "location": location, "value": value, "timestamp": ts}).encode()


# (location, value, timestamp ms) with 10 s windows: [0,10000) [10000,20000) [20000,30000)
STREAM = [
    ("a", 1.0, 0), ("b", 5.0, 1000), ("a", 3.0, 9999),
    ("a", 2.0, 10000), ("b", 7.0, 15000), ("b", 9.0, 19999),
    ("a", 10.0, 20000),
]


def run(state, messages):
    for seq, payload in messages:
        state.consume(seq, payload)
    return state.take_closed()


def test_windows_close_on_event_time_with_count_min_max_mean():
    state = AggregationState(10000)
    out = run(state, [(i, reading(*r)) for i, r in enumerate(STREAM)])
    assert out == [
        {"location": "a", "window_start": 0, "window_end": 10000, "count": 2, "min": 1.0, "max": 3.0, "mean": 2.0},
        {"location": "b", "window_start": 0, "window_end": 10000, "count": 1, "min": 5.0, "max": 5.0, "mean": 5.0},
        {"location": "a", "window_start": 10000, "window_end": 20000, "count": 1, "min": 2.0, "max": 2.0,
         "mean": 2.0},
        {"location": "b", "window_start": 10000, "window_end": 20000, "count": 2, "min": 7.0, "max": 9.0,
         "mean": 8.0},
    ]
    assert state.open_windows == 1 and state.next_sequence == len(STREAM)
    assert state.take_closed() == []


@pytest.mark.parametrize("window_ms, ts, start", [(10000, 0, 0), (10000, 9999, 0), (10000, 10000, 10000),
                                                  (60000, 125000, 120000), (1, 7, 7)])
def test_window_start(window_ms, ts, start):
    assert AggregationState(window_ms).window_start(ts) == start


def test_late_and_bad_input_is_counted_and_skipped():
    state = AggregationState(10000)
    state.consume(0, reading("a", 1.0, 15000))
    state.consume(1, reading("a", 2.0, 25000))  # closes [10000, 20000)
    assert "late reading" in state.consume(2, reading("a", 3.0, 12000))
    assert "not UTF-8 JSON" in state.consume(3, b"\xff")
    assert "'value' must be a number" in state.consume(4, json.dumps({"location": "a", "value": "x",
                                                                         "timestamp": 1}).encode())
    assert "already consumed" in state.consume(1, reading("a", 99.0, 25000))
    assert (state.late, state.rejected, state.next_sequence) == (1, 2, 5)
    assert [a["count"] for a in state.take_closed()] == [1]


@pytest.mark.parametrize("payload, problem", [
    (b"[1]", "expected an object"),
    (b'{"value": 1, "timestamp": 1}', "'location' must be a non-empty string"),
    (b'{"location": "a", "value": true, "timestamp": 1}', "'value' must be a number"),
    (b'{"location": "a", "value": 1, "timestamp": 1.5}', "'timestamp' must be epoch milliseconds"),
    (b'{"location": "a", "value": 1, "timestamp": -1}', "'timestamp' must be epoch milliseconds"),
])
def test_parse_reading_errors(payload, problem):
    with pytest.raises(ValueError, match=problem):
        parse_reading(payload)


def test_idle_flush_closes_only_windows_past_the_grace():
    state = AggregationState(10000)
    state.consume(0, reading("a", 1.0, 5000))
    state.consume(1, reading("b", 1.0, 12000))
    state.flush_idle(now_ms=25000, grace_ms=10000)    # cutoff 10000: only [0,10000) ends before it
    assert [(a["location"], a["window_start"]) for a in state.take_closed()] == [("a", 0)]
    state.flush_idle(now_ms=29999, grace_ms=10000)
    assert state.take_closed() == []
    state.flush_idle(now_ms=30000, grace_ms=10000)
    assert [(a["location"], a["window_start"]) for a in state.take_closed()] == [("b", 10000)]
    # after a flush the window is closed: a reading for it is late, not a second aggregate
    assert "late" in state.consume(2, reading("b", 1.0, 13000))


def test_restart_from_checkpoint_neither_skips_nor_repeats(tmp_path):
    messages = [(i, reading(*r)) for i, r in enumerate(STREAM)]
    expected = run(AggregationState(10000), messages)

    store = CheckpointStore(str(tmp_path / "ckpt"), "SomeStream")
    assert store.load() is None
    first = AggregationState(10000)
    assert first.next_sequence == 0              # the first read starts at sequence 0
    out = run(first, messages[:4])               # crash after 4 messages, window [10000,..) open
    store.save(first.to_json())

    second = AggregationState.from_json(store.load(), 10000)
    assert second.next_sequence == 4             # resume exactly after the last consumed message
    # the stream hands back the whole tail again (at-least-once delivery): duplicates are ignored
    out += run(second, messages[2:])
    assert out == expected


def test_checkpoint_cannot_drop_untaken_aggregates():
    state = AggregationState(10000)
    run(state, [(0, reading("a", 1, 0))])
    state.consume(1, reading("a", 1, 20000))
    with pytest.raises(RuntimeError, match="take_closed"):
        state.to_json()


def test_checkpoint_with_other_window_keeps_position_only():
    state = AggregationState(10000, next_sequence=0)
    state.consume(0, reading("a", 1.0, 1000))
    restored = AggregationState.from_json(state.to_json(), 60000)
    assert (restored.next_sequence, restored.open_windows) == (1, 0)


def test_checkpoint_file_errors_name_the_file(tmp_path):
    store = CheckpointStore(str(tmp_path), "S")
    (tmp_path / "S.checkpoint.json").write_text("{not json")
    with pytest.raises(ValueError, match="S.checkpoint.json is not JSON"):
        store.load()
    (tmp_path / "S.checkpoint.json").write_text("[]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        store.load()
    with pytest.raises(ValueError, match="checkpoint is malformed"):
        AggregationState.from_json({"window_ms": 1}, 1)


def test_checkpoint_save_replaces_atomically(tmp_path):
    store = CheckpointStore(str(tmp_path / "new"), "S")
    store.save({"next_sequence": 1})
    store.save({"next_sequence": 2})
    assert store.load() == {"next_sequence": 2}
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["S.checkpoint.json"]


def test_config_and_target_definition():
    config = AggregatorConfig.from_env({"WINDOW_SECONDS": "5", "TARGET_STREAM_NAME": "Agg"})
    assert config.window_seconds == 5 and config.checkpoint_dir == "/tmp/aggregator"
    wire = target_definition(config).as_dict()
    assert wire["name"] == "Agg" and wire["maxSize"] == 128 * 1024 * 1024
    assert wire["exportDefinition"]["kinesis"][0]["priority"] == 1
    with pytest.raises(ConfigError, match="READ_TIMEOUT_MS must be in 0..59000, got 60000"):
        AggregatorConfig.from_env({"READ_TIMEOUT_MS": "60000"})
    with pytest.raises(ConfigError, match="WINDOW_SECONDS must be >= 1, got 0"):
        AggregatorConfig.from_env({"WINDOW_SECONDS": "0"})
    with pytest.raises(ConfigError, match="WINDOW_SECONDS must be an integer, got 'x'"):
        AggregatorConfig.from_env({"WINDOW_SECONDS": "x"})
