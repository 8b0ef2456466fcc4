import json
import random
import threading
from datetime import datetime, timezone

import pytest

from car_stats import CarConfig, CarStats, decode_event, is_green_transition, reported, stats_item
from greeting import ConfigError, HelloConfig, greeting


def test_greeting_text_and_config():
    assert greeting("Linux-x") == "Hello world! Sent from Greengrass Core running on platform: Linux-x"
    assert HelloConfig.from_env({}) == HelloConfig("hello/world", 5.0)
    assert HelloConfig.from_env({"INTERVAL_SECONDS": "0.5", "TOPIC": "a/b"}) == HelloConfig("a/b", 0.5)
    for env, problem in (({"INTERVAL_SECONDS": "-1"}, "must be > 0"), ({"INTERVAL_SECONDS": "x"}, "a number"),
                         ({"TOPIC": "a/#"}, "without wildcards")):
        with pytest.raises(ConfigError, match=problem):
            HelloConfig.from_env(env)


def doc(previous, current, prop="property"):
    def side(value):
        return None if value is None else {"state": {"reported": {prop: value}, "desired": {prop: "Y"}}}
    return {"previous": side(previous), "current": side(current), "timestamp": 1}


@pytest.mark.parametrize("previous, current, green", [
    ("R", "G", True),
    (None, "G", True),      # first document ever
    ("G", "G", False),      # the switch changed desired, the light still reports G
    ("G", "Y", False),
    ("Y", "R", False),
])
def test_green_transition(previous, current, green):
    assert is_green_transition(doc(previous, current), "property", "G") is green


def test_reported_handles_missing_levels():
    assert reported(None, "p") is None
    assert reported({"state": {}}, "p") is None
    assert reported({"state": {"reported": "x"}}, "p") is None


def test_statistics_with_seeded_rng_and_every_third_write():
    stats = CarStats(CarConfig(random_seed=7))
    phases = [stats.observe(doc("R", "G")) for _ in range(6)]
    assert stats.observe(doc("G", "G")) is None
    rng = random.Random(7)
    expected_cars = [rng.randint(1, 20) for _ in range(6)]
    assert [p.cars for p in phases] == expected_cars
    assert all(1 <= c <= 20 for c in expected_cars)
    assert [p.total_greenlights for p in phases] == [1, 2, 3, 4, 5, 6]
    assert [p.write for p in phases] == [False, False, True, False, False, True]
    last = phases[-1]
    assert last.total_traffic == sum(expected_cars)
    assert (last.min_cars, last.max_cars) == (min(expected_cars), max(expected_cars))


def test_statistics_are_consistent_under_threads():
    stats = CarStats(CarConfig(random_seed=1, min_cars=1, max_cars=1))
    threads = [threading.Thread(target=lambda: [stats.record_green() for _ in range(200)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    final = stats.record_green()
    assert (final.total_greenlights, final.total_traffic) == (1601, 1601)


def test_item_and_event_decoding():
    stats = CarStats(CarConfig(random_seed=3, min_cars=4, max_cars=4))
    phase = stats.record_green()
    item = stats_item(phase, datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc))
    assert item == {"Time": "2026-01-02T03:04:05.600000+00:00", "TotalTraffic": 4, "TotalGreenlights": 1,
                    "MinCarsPassing": 4, "MaxCarsPassing": 4}
    raw = doc("R", "G")
    assert decode_event(json.dumps(raw)) == raw == decode_event(json.dumps(raw).encode())
    with pytest.raises(ValueError, match="expected a shadow documents object, got list"):
        decode_event("[]")


def test_car_config():
    config = CarConfig.from_env({"TABLE_NAME": "T", "RANDOM_SEED": "5", "WRITE_EVERY_GREENS": "2"})
    assert (config.table_name, config.random_seed, config.write_every) == ("T", 5, 2)
    with pytest.raises(ValueError, match="MAX_CARS must be >= 10, got 3"):
        CarConfig.from_env({"MIN_CARS": "10", "MAX_CARS": "3"})
