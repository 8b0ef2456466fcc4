import json

import pytest

from latest import ConfigError, LatestAggregates, ReaderConfig, parse_aggregate


def agg(location, start, mean=1.0):
    return {"location": location, "window_start": start, "window_end": start + 10, "count": 1,
            "min": mean, "max": mean, "mean": mean}


def test_keeps_newest_window_per_location_and_ignores_repeats():
    latest = LatestAggregates()
    assert latest.update(0, agg("a", 0)) is True
    assert latest.update(1, agg("b", 0)) is True
    assert latest.update(2, agg("a", 10, mean=2.0)) is True
    assert latest.update(3, agg("a", 10, mean=9.0)) is False   # repeated window (at-least-once upstream)
    assert latest.update(4, agg("a", 0, mean=9.0)) is False    # older window
    snap = latest.snapshot(now_ms=123)
    assert snap == {"updated_at": 123, "last_sequence": 4,
                    "locations": {"a": agg("a", 10, mean=2.0), "b": agg("b", 0)}}
    json.dumps(snap)


def test_snapshot_is_a_copy():
    latest = LatestAggregates()
    latest.update(0, agg("a", 0))
    latest.snapshot(1)["locations"]["a"]["mean"] = 42
    assert latest.snapshot(1)["locations"]["a"]["mean"] == 1.0


@pytest.mark.parametrize("payload, problem", [
    (b"nope", "not UTF-8 JSON"),
    (b"1", "expected an object"),
    (json.dumps({"location": "a"}).encode(), "lacks field"),
    (json.dumps(dict(agg("a", 0), window_start="0")).encode(), "integer 'window_start'"),
])
def test_parse_aggregate_errors(payload, problem):
    with pytest.raises(ValueError, match=problem):
        parse_aggregate(payload)


def test_parse_aggregate_keeps_known_fields_only():
    assert parse_aggregate(json.dumps(dict(agg("a", 0), extra=1)).encode()) == agg("a", 0)


def test_config():
    assert ReaderConfig.from_env({}).display_topic == "display/aggregates"
    config = ReaderConfig.from_env({"DISPLAY_TOPIC": "t/x", "SNAPSHOT_PATH": "/p.json", "READ_BATCH": "5"})
    assert (config.display_topic, config.snapshot_path, config.read_batch) == ("t/x", "/p.json", 5)
    with pytest.raises(ConfigError, match="READ_BATCH must be in 1..10000, got 0"):
        ReaderConfig.from_env({"READ_BATCH": "0"})
