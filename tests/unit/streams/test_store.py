"""Pure log store: sequence numbers, reads, limits, strategies, TTL, persistence."""

from __future__ import annotations

import os

import pytest

from localcore.streams import errors
from localcore.streams.definitions import parse_definition
from localcore.streams.store import RECORD_OVERHEAD, StreamStore, encode_dir_name


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def defn(name="s", **kw):
    d = {"name": name, "strategyOnFull": 0}
    d.update(kw)
    return parse_definition(d)


@pytest.fixture
def store(tmp_path):
    s = StreamStore(tmp_path)
    yield s
    s.close()


@pytest.mark.parametrize("persistence", [0, 1])
def test_sequence_numbers_start_at_zero_and_payloads_round_trip(store, persistence):
    store.create(defn(persistence=persistence))
    seqs = [store.append("s", f"m{i}".encode()) for i in range(5)]
    assert seqs == [0, 1, 2, 3, 4]
    msgs = store.read("s", 0, 1, 10)
    assert [(m.sequence_number, m.payload) for m in msgs] == [(i, f"m{i}".encode()) for i in range(5)]
    assert all(m.stream_name == "s" and m.ingest_time > 1_600_000_000_000 for m in msgs)


READ_CASES = [
    # start, min, max → expected sequence numbers, or the error
    (0, 1, 1, [0]),
    (0, 1, 3, [0, 1, 2]),
    (3, 1, 10, [3, 4]),
    (4, 1, 1, [4]),
    (5, 1, 1, errors.NotEnoughMessages),
    (99, 1, 1, errors.NotEnoughMessages),
    (3, 3, 5, errors.NotEnoughMessages),
    (0, 5, 5, [0, 1, 2, 3, 4]),
]


@pytest.mark.parametrize("start,mn,mx,expected", READ_CASES)
def test_read_options(store, start, mn, mx, expected):
    store.create(defn())
    for i in range(5):
        store.append("s", b"x%d" % i)
    if isinstance(expected, list):
        assert [m.sequence_number for m in store.read("s", start, mn, mx)] == expected
    else:
        with pytest.raises(expected) as ei:
            store.read("s", start, mn, mx)
        assert ei.value.status == 13 and "'s'" in ei.value.message


def test_segments_roll_over_at_segment_size(tmp_path):
    store = StreamStore(tmp_path)
    store.create(defn(streamSegmentSize=1024))
    payload = b"p" * (500 - RECORD_OVERHEAD)  # 500 bytes per record: 2 per 1024-byte segment
    for _ in range(5):
        store.append("s", payload)
    files = sorted(p.name for p in (tmp_path / "streams" / "s").glob("*.seg"))
    assert files == [f"{n:020d}.seg" for n in (0, 2, 4)]
    assert store.get("s").total_bytes == 2500
    store.close()


def test_reject_new_data_when_full(store):
    store.create(defn(maxSize=1024, streamSegmentSize=1024))
    payload = b"p" * (200 - RECORD_OVERHEAD)
    assert [store.append("s", payload) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(errors.StreamFull) as ei:
        store.append("s", payload)
    assert ei.value.status == 3 and "RejectNewData" in ei.value.message
    assert [m.sequence_number for m in store.read("s", 0, 5, 5)] == [0, 1, 2, 3, 4]


def test_overwrite_oldest_drops_whole_segments(store):
    store.create(defn(maxSize=2048, streamSegmentSize=1024, strategyOnFull=1))
    payload = b"p" * (500 - RECORD_OVERHEAD)
    seqs = [store.append("s", payload) for _ in range(6)]
    assert seqs == list(range(6))
    stream = store.get("s")
    # 4 records fill 2048 bytes; the 5th drops segment [0, 1], the 6th fits.
    assert stream.oldest_sequence_number() == 2 and stream.newest_sequence_number() == 5
    assert stream.total_bytes == 2000
    # Reading from 0 starts at the oldest still there.
    assert [m.sequence_number for m in store.read("s", 0, 1, 10)] == [2, 3, 4, 5]


def test_overwrite_with_a_single_active_segment(store):
    store.create(defn(maxSize=1024, streamSegmentSize=4096, strategyOnFull=1))
    payload = b"p" * (400 - RECORD_OVERHEAD)
    assert [store.append("s", payload) for _ in range(4)] == [0, 1, 2, 3]
    # The 3rd append does not fit: the only (active) segment [0, 1] is rolled over and dropped.
    assert [m.sequence_number for m in store.read("s", 0, 1, 10)] == [2, 3]


@pytest.mark.parametrize("strategy", [0, 1])
def test_message_larger_than_max_size_is_payload_too_large(store, strategy):
    store.create(defn(maxSize=1024, strategyOnFull=strategy))
    with pytest.raises(errors.PayloadTooLarge) as ei:
        store.append("s", b"x" * 1024)
    assert ei.value.status == 4


def test_empty_payload_is_invalid(store):
    store.create(defn())
    with pytest.raises(errors.InvalidRequest, match="payload"):
        store.append("s", b"")


def test_time_to_live_hides_and_drops_expired_messages(tmp_path):
    clock = Clock()
    store = StreamStore(tmp_path, clock=clock)
    store.create(defn(timeToLiveMillis=60000, streamSegmentSize=1024))
    payload = b"p" * (500 - RECORD_OVERHEAD)
    store.append("s", payload)  # t0
    store.append("s", payload)  # t0 (segment 0 full)
    clock.t += 30
    store.append("s", payload)  # t0+30 s, segment 2
    clock.t += 31  # first two expired, third not
    stream = store.get("s")
    assert stream.oldest_sequence_number() == 2
    assert [m.sequence_number for m in store.read("s", 0, 1, 10)] == [2]
    assert sorted(p.name for p in stream.directory.glob("*.seg")) == [f"{2:020d}.seg"]
    clock.t += 60
    with pytest.raises(errors.NotEnoughMessages):
        store.read("s", 0, 1, 1)
    assert store.append("s", b"new") == 3
    store.close()


def test_file_streams_survive_reopen_memory_streams_keep_only_definition(tmp_path):
    store = StreamStore(tmp_path)
    store.create(defn("file", streamSegmentSize=1024))
    store.create(defn("mem", persistence=1))
    for i in range(10):
        store.append("file", b"%d" % i * 100)
        store.append("mem", b"m")
    store.close()
    again = StreamStore(tmp_path)
    assert sorted(again.names()) == ["file", "mem"]
    assert [m.payload for m in again.read("file", 0, 10, 10)] == [b"%d" % i * 100 for i in range(10)]
    assert again.append("file", b"next") == 10
    assert again.get("mem").definition.persistence == 1
    assert again.get("mem").oldest_sequence_number() is None
    assert again.append("mem", b"m") == 0
    again.close()


def test_torn_tail_is_cut_on_load(tmp_path):
    store = StreamStore(tmp_path)
    store.create(defn())
    for i in range(3):
        store.append("s", b"payload-%d" % i)
    store.close()
    seg = tmp_path / "streams" / "s" / f"{0:020d}.seg"
    good = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(b"\x00\x01\x02garbage-half-record")
    again = StreamStore(tmp_path)
    assert [m.payload for m in again.read("s", 0, 3, 3)] == [b"payload-0", b"payload-1", b"payload-2"]
    assert seg.stat().st_size == good
    assert again.append("s", b"after") == 3
    again.close()


def test_flush_on_write_fsyncs_each_append(tmp_path, monkeypatch):
    calls = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd))[1])
    store = StreamStore(tmp_path)
    store.create(defn("flushed", flushOnWrite=True))
    store.create(defn("lazy"))
    store.append("lazy", b"a")
    assert calls == []
    store.append("flushed", b"a")
    store.append("flushed", b"b")
    assert len(calls) == 2
    store.close()


@pytest.mark.parametrize("name", [".", "..", "a b,c.d-e_f", "ünïcode", "x" * 255])
def test_awkward_names_get_their_own_directory(tmp_path, name):
    store = StreamStore(tmp_path)
    store.create(defn(name))
    store.append(name, b"v")
    d = store.get(name).directory
    assert d.parent == tmp_path / "streams" and d.name == encode_dir_name(name) and d.name not in (".", "..")
    store.close()
    assert StreamStore(tmp_path).read(name)[0].payload == b"v"


def test_create_existing_update_delete(store, tmp_path):
    store.create(defn())
    with pytest.raises(errors.StreamAlreadyExists) as ei:
        store.create(defn())
    assert ei.value.status == 3
    store.update(defn(maxSize=4096))
    assert store.get("s").definition.max_size == 4096
    with pytest.raises(errors.UpdateNotAllowed) as ei:
        store.update(defn(persistence=1))
    assert ei.value.status == 17
    with pytest.raises(errors.StreamNotFound) as ei:
        store.update(defn("nope"))
    assert ei.value.status == 5
    store.delete("s")
    assert store.names() == [] and list((tmp_path / "streams").iterdir()) == []
    with pytest.raises(errors.StreamNotFound):
        store.append("s", b"x")
    store.create(defn())
    assert store.append("s", b"x") == 0


def test_update_persists_definition(tmp_path):
    store = StreamStore(tmp_path)
    store.create(defn(exportDefinition={"kinesis": [{"identifier": "k", "kinesisStreamName": "ks"}]}))
    store.update(defn(maxSize=4096, strategyOnFull=1))
    store.close()
    d = StreamStore(tmp_path).get("s").definition
    assert (d.max_size, d.strategy_on_full, d.exports) == (4096, 1, ())


def test_listeners_hear_changes(store):
    events = []
    store.add_listener(lambda e, n: events.append((e, n)))
    store.create(defn())
    store.append("s", b"x")
    store.update(defn(maxSize=2048))
    store.delete("s")
    assert events == [("create", "s"), ("append", "s"), ("update", "s"), ("delete", "s")]


def test_reading_old_segments_keeps_few_files_open(tmp_path):
    store = StreamStore(tmp_path)
    store.create(defn(streamSegmentSize=1024))
    for i in range(40):
        store.append("s", b"p" * 476)  # 500-byte records, 2 per segment → 20 segments
    assert [m.sequence_number for m in store.read("s", 0, 40, 40)] == list(range(40))
    open_fds = [seg for seg in store.get("s").segments if seg.fd is not None]
    assert len(open_fds) <= 5
    store.close()


def test_update_that_cannot_be_saved_is_update_failed(store):
    import shutil

    store.create(defn())
    shutil.rmtree(store.get("s").directory)
    with pytest.raises(errors.UpdateFailed) as ei:
        store.update(defn(maxSize=4096))
    assert ei.value.status == 16 and "could not save" in ei.value.message
    assert store.get("s").definition.max_size != 4096


def test_response_size_cap(store):
    store.create(defn())
    for i in range(5):
        store.append("s", b"x" * 100)
    assert [m.sequence_number for m in store.read("s", 0, 1, 5, max_bytes=250)] == [0, 1]
    assert len(store.read("s", 0, 1, 1, max_bytes=10)) == 1  # one message always fits
    with pytest.raises(errors.ResponsePayloadTooLarge) as ei:
        store.read("s", 0, 3, 5, max_bytes=250)
    assert ei.value.status == 7 and "lower minMessageCount" in ei.value.message


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-3],  # torn payload of the last record
        lambda data: data[: -(3 + 24)] + b"\x00" * 10,  # torn header
        lambda data: data[: 2 * (24 + 9)] + b"\xff" * 24,  # third header replaced: claims a ~4 GiB payload
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # bit flip in the last payload (CRC)
    ],
)
def test_damaged_tail_is_cut_to_the_last_good_record(tmp_path, damage):
    store = StreamStore(tmp_path)
    store.create(defn())
    for i in range(3):
        store.append("s", b"payload-%d" % i)
    store.close()
    seg = tmp_path / "streams" / "s" / f"{0:020d}.seg"
    seg.write_bytes(damage(seg.read_bytes()))
    again = StreamStore(tmp_path)
    assert [m.payload for m in again.read("s", 0, 2, 3)] == [b"payload-0", b"payload-1"]
    assert again.append("s", b"next") == 2
    again.close()
