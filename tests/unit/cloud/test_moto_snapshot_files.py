"""The snapshot's files (durable writes, checksums, manifest + service files), the request
classifier and the gate between moto requests and snapshots. No moto server here."""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import threading
import time

import pytest

from localcore.cloud.errors import CloudError
from localcore.cloud.moto_snapshot import (
    MAGIC,
    LargeValues,
    MotoGate,
    SnapshotStore,
    _dumps,
    _read_snapshot,
    _ValueUnpickler,
    decode,
    encode,
    is_mutating,
    value_file,
)
from localcore.cloud.moto_snapshot_writer import SnapshotWriter
from localcore.cloud.persist import previous_path, remove_stale_temp_files, write_bytes_durable

WAIT_S = 5.0


# ---------------------------------------------------------------------------------- durable writes
def test_durable_write_keeps_the_previous_generation(tmp_path):
    path = tmp_path / "snap"
    write_bytes_durable(path, b"one", keep_previous=True)
    assert path.read_bytes() == b"one" and not previous_path(path).exists()
    write_bytes_durable(path, b"two", keep_previous=True)
    assert path.read_bytes() == b"two" and previous_path(path).read_bytes() == b"one"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap", "snap.prev"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "snap"
    write_bytes_durable(path, b"good")
    with pytest.raises(TypeError):
        write_bytes_durable(path, "not bytes", keep_previous=True)  # type: ignore[arg-type]
    assert path.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


def test_temp_files_of_an_interrupted_write_are_removed(tmp_path):
    path = tmp_path / "snap"
    path.write_bytes(b"whole")
    (tmp_path / "snap.abc123.tmp").write_bytes(b"half")
    (tmp_path / "other.abc123.tmp").write_bytes(b"not ours")
    assert [p.name for p in remove_stale_temp_files(path)] == ["snap.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.abc123.tmp", "snap"]


# ---------------------------------------------------------------------------------- checksums
def test_encode_decode_round_trip_and_bare_legacy_pickles():
    assert decode(encode(b"payload")) == b"payload"
    legacy = pickle.dumps({"format": 1})
    assert decode(legacy) == legacy


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[:-1], "checksum mismatch"),
        (lambda raw: raw[: len(MAGIC) + 5], "truncated"),
        (lambda raw: raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:], "checksum mismatch"),
    ],
    ids=["last byte cut", "header cut", "one bit flipped"],
)
def test_damaged_files_are_recognised(damage, message):
    with pytest.raises(ValueError, match=message):
        decode(damage(encode(b"some payload bytes")))


# ---------------------------------------------------------------------------------- the store
def _blob(service: str, marker: bytes) -> bytes:
    return encode(_dumps([(service, "123456789012", "us-east-1", marker)]))


def test_store_writes_only_changed_services_and_keeps_two_generations(tmp_path):
    store = SnapshotStore(tmp_path / "moto.pickle")
    store.load_refs()
    first = {"s3": _blob("s3", b"big"), "kinesis": _blob("kinesis", b"k1")}
    assert store.write(first, {"s3", "kinesis"}) == ["s3", "kinesis"]
    s3_file = store.dir / store.refs["s3"]["file"]
    s3_inode = s3_file.stat().st_ino
    # only kinesis was pickled this time: s3 keeps its file, named again by the new manifest
    assert store.write({"kinesis": _blob("kinesis", b"k2")}, {"s3", "kinesis"}) == ["kinesis"]
    assert s3_file.stat().st_ino == s3_inode
    assert store.write({"kinesis": _blob("kinesis", b"k3")}, {"s3", "kinesis"}) == ["kinesis"]
    kinesis_files = sorted(p.name for p in store.dir.iterdir() if p.name.startswith("kinesis."))
    assert len(kinesis_files) == 2  # k3 (manifest) and k2 (manifest.prev); k1 collected

    entries, _ = _read_snapshot(store.path, store.path.read_bytes(), store.dir)
    assert sorted((s, data) for s, _, _, data in entries) == [("kinesis", b"k3"), ("s3", b"big")]
    prev = previous_path(store.path)
    entries, _ = _read_snapshot(prev, prev.read_bytes(), store.dir)
    assert sorted((s, data) for s, _, _, data in entries) == [("kinesis", b"k2"), ("s3", b"big")]


def test_an_unchanged_save_leaves_both_manifests_alone(tmp_path):
    store = SnapshotStore(tmp_path / "moto.pickle")
    store.write({"s3": _blob("s3", b"a")}, {"s3"})
    store.write({"s3": _blob("s3", b"b")}, {"s3"})
    before = (store.path.read_bytes(), previous_path(store.path).read_bytes())
    assert store.write({"s3": _blob("s3", b"b")}, {"s3"}) == []
    assert (store.path.read_bytes(), previous_path(store.path).read_bytes()) == before


def test_a_manifest_naming_a_missing_or_altered_file_is_refused(tmp_path):
    store = SnapshotStore(tmp_path / "moto.pickle")
    store.write({"s3": _blob("s3", b"a"), "iam": _blob("iam", b"i")}, {"s3", "iam"})
    iam_file = store.dir / store.refs["iam"]["file"]
    iam_file.write_bytes(_blob("iam", b"other"))  # whole and checksummed, but not what was named
    with pytest.raises(ValueError, match="service iam: .*SHA-256"):
        _read_snapshot(store.path, store.path.read_bytes(), store.dir)
    iam_file.unlink()
    with pytest.raises(ValueError, match="service iam: .*No such file"):
        _read_snapshot(store.path, store.path.read_bytes(), store.dir)


# ---------------------------------------------------------------------------------- large values
BIG = bytes(range(256)) * 256  # 64 KiB: over the size kept in a file of its own


def _pickle_with_values(obj, values: LargeValues, found: dict) -> tuple[bytes, set]:
    buf = io.BytesIO()
    pickler = values.pickler(buf, "lambda", found)
    pickler.dump(obj)
    values.pickled("lambda", pickler.seen)
    return buf.getvalue(), {sha for _, sha in pickler.seen.values()}


def test_large_values_leave_the_pickle_and_come_back_shared():
    text = "QUJD" * 20000  # a zip's base64 form, as Lambda keeps it beside the bytes
    state = {"v1": {"code": BIG, "zip": text}, "v2": {"code": BIG, "zip": text}, "small": b"abc"}
    found: dict = {}
    data, used = _pickle_with_values(state, LargeValues(), found)
    assert len(data) < 1000  # neither value is inside the pickle
    assert used == set(found) == {hashlib.sha256(BIG).hexdigest(), hashlib.sha256(text.encode()).hexdigest()}
    raw = {sha: (v if isinstance(v, bytes) else v.encode()) for sha, v in found.items()}
    back = _ValueUnpickler(data, raw).load()
    assert back == state
    assert back["v1"]["code"] is back["v2"]["code"] and back["v1"]["zip"] is back["v2"]["zip"]
    with pytest.raises(pickle.UnpicklingError, match="unknown large value"):
        _ValueUnpickler(data, {}).load()


def test_a_large_value_is_hashed_once_while_the_same_object_lives():
    values = LargeValues()
    _pickle_with_values({"code": BIG}, values, {})
    seen: dict = {}
    copy = bytes(bytearray(BIG))  # equal, but another object: hashed afresh, same digest
    assert values.digest(copy, seen) == hashlib.sha256(BIG).hexdigest()
    assert seen[id(copy)][0] is copy
    values._known[id(BIG)] = (BIG, "remembered")  # the remembered digest is used for the same object
    assert values.digest(BIG, {}) == "remembered"
    values.keep_only(set())  # the service is gone: nothing is held any more
    assert values._known == {}


def test_store_writes_a_large_value_once_and_restores_it(tmp_path):
    store = SnapshotStore(tmp_path / "moto.pickle")
    values = LargeValues()
    for generation in range(3):
        found: dict = {}
        data, used = _pickle_with_values({"code": BIG, "generation": generation}, values, found)
        blob = encode(_dumps([("lambda", "123456789012", "us-east-1", data)]))
        assert store.write({"lambda": blob}, {"lambda"}, found, {"lambda": used}) == ["lambda"]
        value = store.dir / value_file(hashlib.sha256(BIG).hexdigest())
        if generation == 0:
            inode = value.stat().st_ino
        assert value.stat().st_ino == inode  # written by the first save only
    entries, raw_values = _read_snapshot(store.path, store.path.read_bytes(), store.dir)
    assert [_ValueUnpickler(d, raw_values).load() for _, _, _, d in entries] == [{"code": BIG, "generation": 2}]

    # no longer used by either manifest: collected
    store.write({"lambda": _blob("lambda", b"small")}, {"lambda"})
    assert value.exists()  # the previous manifest still names it
    store.write({"lambda": _blob("lambda", b"smaller")}, {"lambda"})
    assert not value.exists()


def test_a_missing_or_altered_large_value_refuses_the_manifest(tmp_path):
    store = SnapshotStore(tmp_path / "moto.pickle")
    found: dict = {}
    data, used = _pickle_with_values({"code": BIG}, LargeValues(), found)
    store.write({"lambda": encode(_dumps([("lambda", "1", "r", data)]))}, {"lambda"}, found, {"lambda": used})
    value = store.dir / value_file(next(iter(used)))
    value.write_bytes(encode(b"another value"))  # whole and checksummed, but not the one named
    with pytest.raises(ValueError, match=r"service lambda: .*\.value: its SHA-256 is not"):
        _read_snapshot(store.path, store.path.read_bytes(), store.dir)
    value.unlink()
    with pytest.raises(ValueError, match=r"service lambda: .*\.value: .*No such file"):
        _read_snapshot(store.path, store.path.read_bytes(), store.dir)


def test_a_manifest_of_the_previous_format_still_reads(tmp_path):
    """Format 2 (before large values had files of their own), as that version wrote it."""
    files = tmp_path / "moto.pickle.d"
    files.mkdir()
    blob = _blob("s3", b"old data")
    sha = hashlib.sha256(blob).hexdigest()
    (files / f"s3.{sha[:32]}.pickle").write_bytes(blob)
    from localcore.cloud.moto_snapshot import _moto_version

    manifest = {"format": 2, "moto": _moto_version(),
                "services": {"s3": {"file": f"s3.{sha[:32]}.pickle", "sha256": sha, "size": len(blob)}}}
    raw = encode(json.dumps(manifest, sort_keys=True, indent=1).encode())
    entries, raw_values = _read_snapshot(tmp_path / "moto.pickle", raw, files)
    assert entries == [("s3", "123456789012", "us-east-1", b"old data")] and raw_values == {}


# ---------------------------------------------------------------------------------- classifier
@pytest.mark.parametrize(
    "method, target, action, mutating",
    [
        ("GET", None, None, False),
        ("HEAD", None, None, False),
        ("PUT", None, None, True),
        ("DELETE", None, None, True),
        ("POST", "Kinesis_20131202.PutRecords", None, True),
        ("POST", "Kinesis_20131202.GetRecords", None, False),
        ("POST", "Kinesis_20131202.DescribeStreamSummary", None, False),
        ("POST", "DynamoDB_20120810.Query", None, False),
        ("POST", "DynamoDB_20120810.UpdateItem", None, True),
        ("POST", None, "ListRoles", False),
        ("POST", None, "CreateRole", True),
        ("POST", None, None, True),  # unknown: counted (a read counted costs a save, nothing more)
    ],
)
def test_which_requests_count_as_changes(method, target, action, mutating):
    assert is_mutating(method, target, action) is mutating


# ---------------------------------------------------------------------------------- the gate
def test_a_snapshot_waits_for_running_requests_and_holds_new_ones():
    gate = MotoGate()
    in_request, release_request = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_request() -> None:
        with gate.request():
            in_request.set()
            release_request.wait(WAIT_S)
            order.append("request 1 done")
            gate.mutated("kinesis")

    def snapshot() -> None:
        with gate.exclusive(timeout=WAIT_S) as seq:
            order.append(f"snapshot sees {seq}")
            second.start()
            assert not second_in.wait(0.2)  # held back while the snapshot runs
            order.append("snapshot done")

    second_in = threading.Event()

    def second_request() -> None:
        with gate.request():
            second_in.set()
            order.append("request 2 in")

    second = threading.Thread(target=second_request)
    first = threading.Thread(target=slow_request)
    first.start()
    assert in_request.wait(WAIT_S)
    snap = threading.Thread(target=snapshot)
    snap.start()
    release_request.set()
    for t in (first, snap):
        t.join(WAIT_S)
    second.join(WAIT_S)
    assert order == ["request 1 done", "snapshot sees 1", "snapshot done", "request 2 in"]


def test_a_snapshot_gives_up_on_a_stuck_request_and_lets_others_go_on():
    gate = MotoGate()
    stuck_in, release = threading.Event(), threading.Event()

    def stuck() -> None:
        with gate.request():
            stuck_in.set()
            release.wait(WAIT_S)

    t = threading.Thread(target=stuck)
    t.start()
    try:
        assert stuck_in.wait(WAIT_S)
        with pytest.raises(CloudError, match="still running"):
            with gate.exclusive(timeout=0.1):
                pass
        with gate.request():  # not held back by the snapshot that gave up
            pass
    finally:
        release.set()
        t.join(WAIT_S)


def test_requests_held_by_a_snapshot_go_before_the_next_snapshot():
    gate = MotoGate()
    ran: list[str] = []
    held_waiting = threading.Event()

    def request() -> None:
        with gate.request():
            ran.append("request")

    with gate.exclusive(timeout=WAIT_S):
        t = threading.Thread(target=request)
        t.start()
        # the request is now held back by this snapshot (bounded poll of the gate's own state)
        for _ in range(500):
            with gate._cond:
                if gate._held:
                    held_waiting.set()
                    break
            held_waiting.wait(0.01)
        assert held_waiting.is_set()
    with gate.exclusive(timeout=WAIT_S):  # only after the held request ran
        ran.append("snapshot 2")
    t.join(WAIT_S)
    assert ran == ["request", "snapshot 2"]


def test_mutations_are_counted_and_reported_with_their_service():
    gate = MotoGate()
    seen: list[str | None] = []
    gate.add_listener(seen.append)
    with gate.request():
        gate.mutated("kinesis")
    with gate.request():
        gate.mutated(None)
    gate.remove_listener(seen.append)
    with gate.request():
        gate.mutated("s3")
    assert gate.seq == 3 and seen == ["kinesis", None]


# ---------------------------------------------------------------------------------- pacing
def test_saves_run_at_once_until_they_take_more_than_their_share_of_the_clock(tmp_path):
    writer = SnapshotWriter(tmp_path / "moto.pickle", gate=MotoGate(), max_busy=0.25)
    now = time.monotonic()
    assert writer._pace(0.05) <= time.monotonic()  # a lone save: the next may start at once
    assert writer._pace(0.05) <= time.monotonic()
    later = writer._pace(0.5)  # 0.6 s of saving within a moment: over the 0.25 s budget
    assert later - now == pytest.approx(math.log(0.6 / 0.25), abs=0.05)
    assert writer._pace(0.0, minimum=2.0) >= now + 2.0


def test_a_writer_that_is_not_running_refuses_commits_plainly(tmp_path):
    gate = MotoGate()
    writer = SnapshotWriter(tmp_path / "moto.pickle", gate=gate)
    assert writer.commit().result(0) == 0  # nothing changed: nothing to wait for
    with gate.request():
        gate.mutated("s3")
    with pytest.raises(CloudError, match="writer is new"):
        writer.commit().result(0)


def test_a_save_that_fails_unexpectedly_answers_its_waiters_and_the_writer_goes_on(tmp_path, monkeypatch):
    gate = MotoGate()
    writer = SnapshotWriter(tmp_path / "moto.pickle", gate=gate, idle_interval_s=0.05)
    writer.start()
    try:
        real_write = writer.store.write
        calls = []

        def broken_once(*args, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                raise TypeError("a bug in the save")
            return real_write(*args, **kwargs)

        monkeypatch.setattr(writer.store, "write", broken_once)
        with gate.request():
            gate.mutated("s3")
        with pytest.raises(CloudError, match="a bug in the save"):
            writer.commit().result(5)   # at once, not after the front's commit timeout
        assert writer.status()["failures"] == 1 and "TypeError" in writer.status()["last_error"]
        with gate.request():
            gate.mutated("s3")
        assert writer.commit().result(5) == gate.seq   # the thread is alive: the next change is saved
    finally:
        writer.stop()
