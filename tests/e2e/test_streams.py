"""Stream manager flows of the running group: producer → aggregator → reader, the exports to
Kinesis in moto, and the MQTT-triggered stream_reader. Streams are read back with the unmodified
greengrasssdk StreamManagerClient (the test group turns client authentication off)."""
import json
from collections import defaultdict

import pytest
from greengrasssdk.stream_manager import NotEnoughMessagesException, ReadMessagesOptions

import e2e_gg

pytestmark = pytest.mark.slow

RAW, AGGREGATES = "SensorReadings", "SensorAggregates"
FIELDS = ("count", "min", "max", "mean")


@pytest.fixture(scope="module")
def streams(group_run):
    client = group_run.stream_client()
    yield client
    client.close()


def read_all(client, stream, start=0):
    """Every message of ``stream`` from ``start`` as ``[(sequence, payload dict)]``, in order."""
    out = []
    while True:
        try:
            batch = client.read_messages(stream, ReadMessagesOptions(
                desired_start_sequence_number=start, min_message_count=1, max_message_count=500,
                read_timeout_millis=0))
        except NotEnoughMessagesException:
            return out
        out.extend((m.sequence_number, json.loads(m.payload)) for m in batch)
        start = batch[-1].sequence_number + 1


def recompute(readings, location, start, end):
    values = [r["value"] for r in readings if r["location"] == location and start <= r["timestamp"] < end]
    if not values:
        return None
    return {"count": len(values), "min": min(values), "max": max(values),
            "mean": round(sum(values) / len(values), 6)}


def kinesis_records(kinesis, name):
    shards = kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"]
    out = []
    for shard in shards:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=1000)
            out.extend(json.loads(r["Data"]) for r in resp["Records"])
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
    return out


def distinct(records):
    seen, out = set(), []
    for r in records:
        key = json.dumps(r, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def test_aggregates_on_display_match_raw_readings(group_run, console, streams):
    console.subscribe("display/aggregates")
    # two display messages carrying closed windows of every location
    def all_locations(event):
        return len(e2e_gg.message_payload(event).get("locations", {})) == 3

    displays = console.wait_messages("display/aggregates", timeout=30, count=2, predicate=all_locations)
    published = [agg for d in displays for agg in e2e_gg.message_payload(d)["locations"].values()]
    panel = e2e_gg.wait_for(lambda: group_run.api("GET", "/api/aggregates"), 10,
                            "the display panel's aggregates")
    assert set(panel) == {"kitchen", "garage", "porch"}, panel

    readings = [p for _, p in read_all(streams, RAW)]
    assert readings and all(set(r) == {"device_id", "location", "value", "timestamp"} for r in readings)
    timestamps = [r["timestamp"] for r in readings]
    assert timestamps == sorted(timestamps)
    checked = 0
    for agg in published + list(panel.values()):
        assert agg["window_end"] - agg["window_start"] == 2000, agg  # WINDOW_SECONDS 2 in the test group
        assert agg["window_end"] <= timestamps[-1] + 1, agg  # closed: stream 1 holds all of its window
        expected = recompute(readings, agg["location"], agg["window_start"], agg["window_end"])
        assert expected is not None, agg
        assert {k: agg[k] for k in FIELDS} == pytest.approx(expected), (agg, expected)
        checked += 1
    assert checked >= 6

    # stream 2 holds the same aggregates (each window × location once)
    stored = {(a["window_start"], a["location"]): a for _, a in read_all(streams, AGGREGATES)}
    for agg in published:
        assert {k: stored[(agg["window_start"], agg["location"])][k] for k in FIELDS} == \
            pytest.approx({k: agg[k] for k in FIELDS})


def test_streams_are_exported_to_kinesis(group_run, streams):
    kinesis = group_run.client("kinesis")
    names = kinesis.list_streams()["StreamNames"]
    assert {"gg-bundle-raw", "gg-bundle-aggregates"} <= set(names), names

    raw = e2e_gg.wait_for(lambda: kinesis_records(kinesis, "gg-bundle-raw"), 30, "records in gg-bundle-raw")
    local = {(r["device_id"], r["timestamp"]): r for _, r in read_all(streams, RAW)}
    for record in raw:
        assert local[(record["device_id"], record["timestamp"])] == record
    # exported in stream order, without gaps from the first message (a retried batch may repeat:
    # at-least-once, so repeats are dropped before comparing)
    raw = distinct(raw)
    assert raw == [r for _, r in read_all(streams, RAW)][:len(raw)]

    aggs = e2e_gg.wait_for(lambda: kinesis_records(kinesis, "gg-bundle-aggregates"), 30,
                           "records in gg-bundle-aggregates")
    stored = [a for _, a in read_all(streams, AGGREGATES)]
    aggs = distinct(aggs)
    assert aggs == stored[:len(aggs)]
    assert all(set(FIELDS) <= set(a) for a in aggs)


def test_stream_reader_reads_from_zero_without_gaps(group_run, console, streams):
    console.subscribe("streams/summary")
    result = console.publish("streams/read", {"reason": "e2e 1"})
    assert result["delivered"] >= 1, result  # routed to stream_reader (cloud → function)
    first = e2e_gg.message_payload(console.wait_messages("streams/summary", timeout=30)[0])
    assert first["stream"] == RAW and first["stream_exists"] is True, first
    assert first["trigger_topic"] == "streams/read", first
    assert first["first_sequence"] == 0 and first["skipped_before_first"] == 0, first
    assert first["count"] == first["last_sequence"] + 1, first

    # more readings arrive (the producer writes every 0.2 s), then the second trigger
    e2e_gg.wait_for(lambda: streams.describe_message_stream(RAW).storage_status.newest_sequence_number
                    > first["last_sequence"], 10, "new readings in stream 1")
    console.publish("streams/read", {"reason": "e2e 2"})
    second = e2e_gg.message_payload(console.wait_messages("streams/summary", timeout=30, count=2)[1])
    assert second["first_sequence"] == first["last_sequence"] + 1, (first, second)
    assert second["skipped_before_first"] == 0, second
    assert second["count"] == second["last_sequence"] - second["first_sequence"] + 1, second
    # the summaries agree with what stream 1 holds
    readings = dict(read_all(streams, RAW))
    for summary in (first, second):
        per = defaultdict(list)
        for seq in range(summary["first_sequence"], summary["last_sequence"] + 1):
            per[readings[seq]["location"]].append(float(readings[seq]["value"]))
        counts = {loc: s["count"] for loc, s in summary["locations"].items()}
        assert counts == {k: len(v) for k, v in per.items()}
        for loc, values in per.items():
            assert summary["locations"][loc]["min"] == min(values)
            assert summary["locations"][loc]["max"] == max(values)
