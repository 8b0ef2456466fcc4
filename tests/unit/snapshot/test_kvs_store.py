"""Pure parts of the Kinesis Video stand-in: fragment cutting and selection, the store."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from localcore.cloud.kvs import (
    FragmentRecord, Frame, InvalidArgumentException, KvsStore, ResourceInUseException,
    ResourceNotFoundException, RetentionLimits, VersionMismatchException, assemble_clip, clip_fps,
    fragment_duration_ms, parse_timestamp, select_fragments, split_fragments,
)

R = "us-east-1"


@pytest.mark.parametrize("times, seconds, expected", [
    ([], 2.0, []),
    ([0.0], 2.0, [(0, 1)]),
    ([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], 2.0, [(0, 4), (4, 6)]),
    ([0.0, 1.9, 2.0], 2.0, [(0, 2), (2, 3)]),
    ([0.0, 5.0, 10.0], 2.0, [(0, 1), (1, 2), (2, 3)]),
])
def test_split_fragments(times, seconds, expected):
    assert split_fragments(times, seconds) == expected


def test_fragment_duration_adds_one_frame_interval():
    assert fragment_duration_ms([0.0, 0.1, 0.2]) == 300
    assert fragment_duration_ms([5.0]) == 100


def frag(number, producer, server=None):
    return FragmentRecord(str(number), producer, producer if server is None else server, 100, (producer,),
                          8, 8, 10)


@pytest.mark.parametrize("start, end, expected", [
    (10.0, 20.0, ["1", "2", "3"]),        # both edges inclusive (fragment start compared)
    (10.001, 20.0, ["2", "3"]),
    (10.0, 19.999, ["1", "2"]),
    (30.0, 40.0, []),
])
def test_select_fragments_window(start, end, expected):
    frags = [frag(3, 20.0), frag(1, 10.0), frag(2, 15.0), frag(4, 9.999)]
    assert [f.number for f in select_fragments(frags, "PRODUCER_TIMESTAMP", start, end)] == expected


def test_select_by_server_time_and_dedupe_and_limit():
    frags = [frag(1, 10.0, server=100.0), frag(2, 10.0, server=101.0), frag(3, 11.0, server=102.0)]
    assert [f.number for f in select_fragments(frags, "SERVER_TIMESTAMP", 101.0, 102.0)] == ["2", "3"]
    # duplicate producer timestamps: the earliest-ingested one wins
    assert [f.number for f in select_fragments(frags, "PRODUCER_TIMESTAMP", 0, 50)] == ["1", "3"]
    assert len(select_fragments([frag(i, float(i)) for i in range(300)], "PRODUCER_TIMESTAMP", 0, 1e9)) == 200


@pytest.mark.parametrize("value, expected", [
    (1767225600, 1767225600.0), (1767225600.25, 1767225600.25),
    ("2026-01-01T00:00:00Z", 1767225600.0), ("2026-01-01T01:00:00+01:00", 1767225600.0),
])
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value, "x") == expected


@pytest.mark.parametrize("value", [None, True, "soon", float("nan"), [1]])
def test_parse_timestamp_rejects(value):
    with pytest.raises(InvalidArgumentException, match="where"):
        parse_timestamp(value, "where")


@pytest.mark.parametrize("times, fps", [([0, 0.1, 0.2], 10.0), ([0], 10.0), ([0, 2, 4], 1.0), ([0, 0.001], 60.0)])
def test_clip_fps(times, fps):
    assert clip_fps(times) == fps


def jpeg(colour=(0, 0, 200)):
    img = np.zeros((24, 32, 3), dtype=np.uint8)
    img[:] = colour
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_store_control_plane(tmp_path):
    store = KvsStore(tmp_path)
    rec = store.create_stream(R, "cam", retention_hours=1, now=1000.0)
    assert rec.arn == f"arn:aws:kinesisvideo:{R}:123456789012:stream/cam/1000000"
    assert store.find(R, arn=rec.arn) == rec == store.find(R, name="cam")
    with pytest.raises(ResourceInUseException):
        store.create_stream(R, "cam")
    with pytest.raises(ResourceNotFoundException):
        store.find("eu-west-1", name="cam")  # streams are per region
    with pytest.raises(InvalidArgumentException):
        store.find(R)
    with pytest.raises(InvalidArgumentException):
        store.create_stream(R, "bad name")
    with pytest.raises(InvalidArgumentException):
        store.create_stream(R, "neg", retention_hours=-1)
    new = store.update_retention(rec, "INCREASE_DATA_RETENTION", 2, "1")
    assert (new.retention_hours, new.version) == (3, 2)
    with pytest.raises(VersionMismatchException):
        store.update_retention(new, "DECREASE_DATA_RETENTION", 1, "1")
    with pytest.raises(InvalidArgumentException, match="below 0"):
        store.update_retention(new, "DECREASE_DATA_RETENTION", 4, "2")
    store.delete_stream(R, rec.arn)
    assert store.list_streams(R) == []


def test_store_persists_and_prunes(tmp_path):
    store = KvsStore(tmp_path, limits=RetentionLimits(max_fragments=3, fragment_seconds=1.0))
    rec = store.create_stream(R, "cam", retention_hours=1)
    frames = [Frame(100.0 + i * 0.5, jpeg()) for i in range(10)]  # 5 s -> 5 fragments of 1 s
    made = store.ingest(rec, frames, [(32, 24)] * 10, now=5000.0)
    assert [f.producer_start for f in made] == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert [f.producer_start for f in store.fragments(rec)] == [102.0, 103.0, 104.0]  # capped at 3
    # the batch is taken as live up to its arrival: the last fragment's server time is "now"
    assert store.fragments(rec)[-1].server_start == pytest.approx(5000.0 - 0.5)
    reloaded = KvsStore(tmp_path)
    assert [f.number for f in reloaded.fragments(rec)] == [f.number for f in store.fragments(rec)]
    on_disk = sorted(p.name for p in (tmp_path / "fragments" / R / "cam").iterdir())
    assert on_disk == [f.number for f in store.fragments(rec)]
    # an hour and a bit later everything is past the stream's retention
    assert reloaded.prune(now=5000.0 + 3700) == 3
    assert reloaded.fragments(rec) == []
    assert list((tmp_path / "fragments" / R / "cam").iterdir()) == []


def test_store_byte_cap(tmp_path):
    one = jpeg()
    store = KvsStore(tmp_path, limits=RetentionLimits(max_bytes=len(one) * 2, fragment_seconds=0.1))
    rec = store.create_stream(R, "cam", retention_hours=1)
    store.ingest(rec, [Frame(float(i), one) for i in range(5)], [(32, 24)] * 5)
    assert [f.producer_start for f in store.fragments(rec)] == [3.0, 4.0]


def test_zero_retention_archives_nothing(tmp_path):
    store = KvsStore(tmp_path)
    rec = store.create_stream(R, "cam")
    assert store.ingest(rec, [Frame(1.0, jpeg())], [(32, 24)]) == []


def test_unreadable_registry_is_a_clear_error(tmp_path):
    (tmp_path / "streams.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="streams.json: unreadable stream registry"):
        KvsStore(tmp_path)


def test_assemble_clip_resizes_and_keeps_order(tmp_path):
    paths = []
    for i, colour in enumerate([(0, 0, 200), (0, 200, 0), (200, 0, 0)]):
        p = tmp_path / f"{i}.jpg"
        img = np.zeros((24 if i != 1 else 48, 32 if i != 1 else 64, 3), dtype=np.uint8)
        img[:] = colour
        p.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
        paths.append((float(i) / 10, p))
    out = tmp_path / "tmp"
    out.mkdir()
    mp4 = assemble_clip(paths, (32, 24), out)
    assert mp4[4:8] == b"ftyp" and list(out.iterdir()) == []
    clip = tmp_path / "c.mp4"
    clip.write_bytes(mp4)
    cap = cv2.VideoCapture(str(clip))
    got = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        got.append(img[12, 16].tolist())
    cap.release()
    assert len(got) == 3
    assert got[2] == pytest.approx([200, 0, 0], abs=40) and got[1] == pytest.approx([0, 200, 0], abs=40)


def test_stream_registry_is_json(tmp_path):
    KvsStore(tmp_path).create_stream(R, "cam", retention_hours=2)
    rows = json.loads((tmp_path / "streams.json").read_text())
    assert rows[0]["name"] == "cam" and rows[0]["retention_hours"] == 2


def test_frames_from_a_video_file_end_at_end_time(tmp_path):
    from localcore.cloud.kvs import frames_from_file

    path = tmp_path / "v.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 24))
    for i in range(10):
        w.write(np.full((24, 32, 3), i * 20, dtype=np.uint8))
    w.release()
    got = frames_from_file(path, end_time=1000.0)
    assert len(got) == 10
    assert got[-1].timestamp == pytest.approx(1000.0) and got[0].timestamp == pytest.approx(999.1)
    assert all(f.jpeg[:2] == b"\xff\xd8" for f in got)


def test_frames_from_an_image_and_from_bad_files(tmp_path):
    from localcore.cloud.kvs import frames_from_file

    img = tmp_path / "one.jpg"
    img.write_bytes(jpeg())
    assert [f.timestamp for f in frames_from_file(img, end_time=5.0)] == [5.0]
    with pytest.raises(FileNotFoundError, match="missing.mp4: no such file"):
        frames_from_file(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(ValueError, match="junk.mp4: OpenCV read no frame"):
        frames_from_file(junk)


def test_synthetic_frames_are_numbered_jpegs_ending_now():
    from localcore.cloud.kvs import synthetic_frames

    got = list(synthetic_frames(5, fps=5.0, end_time=100.0, size=(64, 48)))
    assert [f.timestamp for f in got] == pytest.approx([99.2, 99.4, 99.6, 99.8, 100.0])
    assert len({f.jpeg for f in got}) == 5
