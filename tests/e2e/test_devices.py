"""Device scripts (unmodified AWSIoTPythonSDK) joining the group through discovery."""
import json
import random
import re
from datetime import datetime

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

RECEIVED = re.compile(r"^Received message on topic hello/world/pubsub: (.*)$")
PUBLISHED = re.compile(r"^Published topic hello/world/pubsub: (.*)$")


def test_publisher_to_subscriber_through_discovery(group_run):
    sub = group_run.start_device("basic_discovery.py", "HelloWorld_Subscriber",
                                 "-m", "subscribe", "-t", "hello/world/pubsub")
    pub = group_run.start_device("basic_discovery.py", "HelloWorld_Publisher",
                                 "-m", "publish", "-t", "hello/world/pubsub",
                                 "--interval", "0.5", "--count", "40")
    # the subscriber may join after the first messages: at least 3 consecutive ones must reach it
    got = sub.wait_for_line(RECEIVED.pattern, timeout=40, count=3)
    payloads = [json.loads(m.group(1)) for m in got]
    sequences = [p["sequence"] for p in payloads]
    assert sequences == list(range(sequences[0], sequences[0] + 3)), sequences
    assert all(p["message"] == "Hello World!" for p in payloads), payloads
    # the publisher prints a message once its PUBACK is in, which may be after the subscriber printed it
    lines = pub.wait_for_line(PUBLISHED.pattern, timeout=10, count=max(sequences) + 1)
    published = {json.loads(m.group(1))["sequence"] for m in lines}
    assert set(sequences) <= published, (sequences, sorted(published))
    pub.stop()
    assert pub.proc.returncode == 0, pub.output()
    assert sub.stop() == 0, sub.output()


def test_traffic_light_cycles_write_car_stats(group_run):
    dynamodb = group_run.client("dynamodb")
    tables = dynamodb.list_tables()["TableNames"]
    table = next((t for t in tables if t.endswith("CarStats")), None)
    assert table, tables
    before = dynamodb.scan(TableName=table)["Items"]
    assert before == [], before

    light = group_run.start_device("traffic_light.py", "GG_TrafficLight")
    # the light has synced with its shadow (shadowGet) once discovery and connect are done; the
    # switch's first desired state then arrives as a delta
    light.wait_for_line(r"no shadow document yet", timeout=30)
    assert _connected(group_run, "GG_TrafficLight")
    switch = group_run.start_device("light_controller.py", "GG_TrafficLight",
                                    "--interval", "1", "--cycles", "3",
                                    client_id="GG_Switch")
    assert switch.wait_exit(60) == 0, switch.output()
    sets = switch.matches(r"^Switch set light to ([GYR]) \((\w+)\)$")
    assert [(m.group(1), m.group(2)) for m in sets] == [(c, "accepted") for c in "GYR" * 3], switch.output()
    changes = light.wait_for_line(r"^Light changed to: ([GYR])$", timeout=15, count=9)
    assert "".join(m.group(1) for m in changes) == "GYR" * 3, light.output()

    # every 3rd green writes: 3 greens -> exactly one item, with the totals of those 3 greens
    items = e2e_gg.wait_for(lambda: dynamodb.scan(TableName=table)["Items"], 20, f"an item in {table}")
    assert len(items) == 1, items
    item = {k: next(iter(v.values())) for k, v in items[0].items()}
    rng = random.Random(99)  # car_aggregator's RANDOM_SEED in the test group; MIN_CARS 1, MAX_CARS 20
    cars = [rng.randint(1, 20) for _ in range(3)]
    assert int(item["TotalGreenlights"]) == 3, item
    assert int(item["TotalTraffic"]) == sum(cars), (item, cars)
    assert int(item["MinCarsPassing"]) == min(cars), (item, cars)
    assert int(item["MaxCarsPassing"]) == max(cars), (item, cars)
    datetime.fromisoformat(item["Time"])
    # ... and what car_aggregator logged agrees with the item
    logged = e2e_gg.wait_for(lambda: _logged_greens(group_run), 10, "car_aggregator's log of 3 greens")
    assert [c for c, _, _ in logged] == cars, logged
    assert logged[-1][1:] == (sum(cars), 3), logged
    assert light.stop() == 0, light.output()


def _connected(group_run, thing):
    devices = group_run.api("GET", "/api/status")["devices"]
    return any(d["thing"] == thing and d["connected"] for d in devices)


def _logged_greens(group_run):
    path = group_run.function_log("car_aggregator")
    if not path.exists():
        return None
    found = [tuple(int(x) for x in m.groups()) for m in
             re.finditer(r"green light: (\d+) cars; total (\d+) over (\d+) greens", path.read_text())]
    return found if len(found) >= 3 else None
