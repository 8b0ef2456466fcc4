"""Device scripts (unmodified AWSIoTPythonSDK) joining the group through discovery."""
import json
import re

import pytest

import e2e_light_kit as kit

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
    """The switch's 3 cycles reach the light through the shadow, and car_aggregator counts their greens: its
    items are one per batch of 3 greens over all the greens it counted (other tests of the run drive the light
    too), the cars of ours the next draws of its seeded generator."""
    before = kit.lambda_before(group_run)
    with kit.LightCycles(group_run) as lc:
        # the light has synced with its shadow (shadowGet) once discovery and connect are done; the
        # switch's desired states then arrive as deltas
        assert _connected(group_run, kit.LIGHT)
        lc.run_switch(3)
        changes = kit.wait_changes(lc.light, 3)
        logged, items = kit.check_lambda(group_run, before, changes.count("G"))
        assert changes.count("G") == 3, changes
        # 3 greens in a row complete exactly one batch: one item more, with the totals at its last green
        assert len(items) == len(before.items) + 1, (before.items, items)
        assert lc.light.stop() == 0, lc.light.output()


def _connected(group_run, thing):
    devices = group_run.api("GET", "/api/status")["devices"]
    return any(d["thing"] == thing and d["connected"] for d in devices)
