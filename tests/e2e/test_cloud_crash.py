"""A power cut of the edge machine: ``kill -9`` of the whole ``deploy.py run`` while the producer's
stream exports to Kinesis, then a restart on the same state directory.

What the local cloud acknowledged before the kill must still be there afterwards, and the export
must go on from where the stream manager's checkpoint says without a gap: every stream sequence
number from the first exported one to the newest appears in Kinesis at least once (at least once:
a batch acknowledged just before the kill may be sent twice). The producer's records carry no
sequence number of their own; each payload is unique (a reading with its millisecond timestamp),
so the stream manager's copy of the stream maps a Kinesis record back to its sequence number.
"""
import json
import os
import signal
from collections import defaultdict

import pytest
import yaml
from greengrasssdk.stream_manager import NotEnoughMessagesException, ReadMessagesOptions

import e2e_gg

pytestmark = pytest.mark.slow

BEFORE_KILL = 15  # records in Kinesis before the kill
AFTER_RESTART = 15  # records the restarted run must export past the newest one seen before the kill


def _producer_streams(group_file):
    doc = yaml.safe_load(group_file.read_text(encoding="utf-8"))
    env = next(fn for fn in doc["functions"] if fn["name"] == "producer")["environment"]
    return env["STREAM_NAME"], env["KINESIS_STREAM_NAME"]


def _kinesis_data(kinesis, name):
    """Every record's Data in ``name``, oldest first (one read from TRIM_HORIZON per shard)."""
    out = []
    for shard in kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=1000)
            out.extend(r["Data"] for r in resp["Records"])
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
    return out


def _sequences(client, stream):
    """The edge stream as payload -> [sequence numbers] (read with the unmodified SDK client)."""
    out, start = defaultdict(list), 0
    while True:
        try:
            batch = client.read_messages(stream, ReadMessagesOptions(
                desired_start_sequence_number=start, min_message_count=1, max_message_count=500,
                read_timeout_millis=0))
        except NotEnoughMessagesException:
            return out
        for m in batch:
            out[bytes(m.payload)].append(m.sequence_number)
        start = batch[-1].sequence_number + 1


def _kill_9(running):
    """SIGKILL the run and every process under it at once (no handler runs, nothing is flushed)."""
    victims = [running.run.pid, *e2e_gg.descendants(running.run.pid)]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    running.run.kill()
    running.run.stop()
    left = e2e_gg.wait_gone(victims, 5.0)
    assert not left, "still alive after SIGKILL: " + "; ".join(f"{p} {e2e_gg.cmdline(p)}" for p in left)
    for pid in e2e_gg.marked_processes(running.marker):  # a Lambda that left the tree: not ours to keep
        os.kill(pid, signal.SIGKILL)


def _more_than(kinesis, name, n):
    data = _kinesis_data(kinesis, name)
    return data if len(data) > n else None


def test_kinesis_export_survives_kill_9_of_the_run(tmp_path):
    bundle = tmp_path / "bundle"
    first = e2e_gg.start_group(bundle)
    try:
        edge_stream, kinesis_stream = _producer_streams(first.group_file)
        kinesis = first.client("kinesis")
        e2e_gg.wait_for(lambda: _more_than(kinesis, kinesis_stream, BEFORE_KILL - 1), 60,
                        f"{BEFORE_KILL} records exported to {kinesis_stream}")
        # kill right after one more record was acknowledged: the export is busy at that moment
        seen = len(_kinesis_data(kinesis, kinesis_stream))
        before = e2e_gg.wait_for(lambda: _more_than(kinesis, kinesis_stream, seen), 30,
                                 "one more exported record")
    finally:
        _kill_9(first)
    assert (first.state_dir / "endpoint.json").exists()  # the kill left it: nothing ran at exit
    (first.state_dir / "endpoint.json").unlink()

    second = e2e_gg.start_group(bundle)
    try:
        kinesis = second.client("kinesis")
        edge = second.stream_client()
        try:
            def caught_up():
                after = _kinesis_data(kinesis, kinesis_stream)
                if set(before) - set(after):
                    return None
                seq_of = _sequences(edge, edge_stream)
                exported = sorted({s for d in after for s in seq_of.get(d, ())})
                newest_before = max(s for d in before for s in seq_of[d])
                return (after, seq_of, exported) if exported[-1] >= newest_before + AFTER_RESTART else None

            try:
                after, seq_of, exported = e2e_gg.wait_for(caught_up, 60,
                                                          "the export to go on after the restart")
            except AssertionError as exc:
                after = _kinesis_data(kinesis, kinesis_stream)
                gone = [json.loads(d) for d in before if d not in set(after)]
                raise AssertionError(f"{exc}: {len(gone)} of {len(before)} records exported before the "
                                     f"kill -9 are not in {kinesis_stream} ({len(after)} records now); "
                                     f"first missing: {gone[:3]}") from None
        finally:
            edge.close()
        unknown = [d for d in after if d not in seq_of]
        assert not unknown, f"records in {kinesis_stream} that {edge_stream} never held: {unknown[:3]}"
        first_seq = min(s for d in before for s in seq_of[d])
        gaps = sorted(set(range(first_seq, exported[-1] + 1)) - set(exported))
        assert not gaps, f"stream sequence numbers never exported to {kinesis_stream}: {gaps[:20]}"
    finally:
        result = second.stop()
    e2e_gg.assert_clean_stop(result, second.run)
