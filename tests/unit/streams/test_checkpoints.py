from __future__ import annotations

from localcore.streams.checkpoints import Checkpoint, CheckpointStore


def test_save_load_delete(tmp_path):
    cps = CheckpointStore(tmp_path)
    assert cps.load("s", "k") is None
    cps.save("s", "k", Checkpoint(5, 5, 100, 1700000000000))
    cps.save("s", "other", Checkpoint(1))
    assert CheckpointStore(tmp_path).load("s", "k") == Checkpoint(5, 5, 100, 1700000000000)
    cps.delete("s", "k")
    assert cps.load("s", "k") is None and cps.load("s", "other") == Checkpoint(1)
    cps.delete("s")
    assert cps.load("s", "other") is None


def test_corrupt_checkpoint_reads_as_none(tmp_path, caplog):
    cps = CheckpointStore(tmp_path)
    cps.save("s", "k", Checkpoint(3))
    (tmp_path / "s" / "k.json").write_text("{not json")
    assert cps.load("s", "k") is None
    assert "unreadable" in caplog.text
