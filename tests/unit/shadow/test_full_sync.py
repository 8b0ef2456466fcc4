"""The ShadowManager's sync decisions for one shadow (FullShadowSyncRequest, Overwrite*Request, SyncNodeMerger)."""
import pytest

from localcore.shadow.full_sync import (CLOUD, LOCAL, SyncInfo, decide_full, decide_overwrite_cloud,
                                        decide_overwrite_local, latest_timestamp, merge_node, patch_to)


def doc(version, desired=None, reported=None, ts=100):
    state, meta = {}, {}
    for name, value in (("desired", desired), ("reported", reported)):
        if value is not None:
            state[name] = value
            meta[name] = {k: {"timestamp": ts} for k in value}
    return {"state": state, "metadata": meta, "version": version}


@pytest.mark.parametrize("local, cloud, base, owner, merged", [
    ({"a": 1}, {"a": 1}, {"a": 1}, LOCAL, {"a": 1}),
    ({"a": 2}, {"a": 1}, {"a": 1}, CLOUD, {"a": 2}),                  # only local changed
    ({"a": 1}, {"a": 3}, {"a": 1}, LOCAL, {"a": 3}),                  # only cloud changed
    ({"a": 2}, {"a": 3}, {"a": 1}, LOCAL, {"a": 2}),                  # both: the owner's
    ({"a": 2}, {"a": 3}, {"a": 1}, CLOUD, {"a": 3}),
    ({"a": 1, "b": 2}, {"a": 1}, {"a": 1, "b": 2}, LOCAL, {"a": 1, "b": None}),   # removed in the cloud
    ({"a": 1}, {"a": 1, "c": 5}, {"a": 1}, LOCAL, {"a": 1, "c": 5}),              # added in the cloud
    ({"x": {"y": 1, "z": 1}}, {"x": {"y": 2, "z": 1}}, {"x": {"y": 1, "z": 1}}, LOCAL, {"x": {"y": 2, "z": 1}}),
    ({"a": 1}, {"a": 2}, None, LOCAL, {"a": 1}),                      # no base (first sync): whole node, owner
    (None, {"a": 2}, None, LOCAL, {"a": 2}),
    (None, None, {"a": 1}, LOCAL, None),
])
def test_merge_node(local, cloud, base, owner, merged):
    assert merge_node(local, cloud, base, owner) == merged


def test_latest_timestamp():
    assert latest_timestamp({"desired": {"a": {"timestamp": 5}, "b": [{"timestamp": 9}]}, "reported": {}}) == 9
    assert latest_timestamp({}) == 0


def test_full_sync_one_side_missing():
    never = SyncInfo()
    assert decide_full(None, None, never, 200).kind == "forget"
    assert decide_full(doc(1, {"a": 1}), None, never, 200).kind == "push"           # first sync
    assert decide_full(None, doc(4, {"a": 1}), never, 200).kind == "pull"
    synced = SyncInfo(local_version=1, cloud_version=4, last_synced={"desired": {"a": 1}}, last_sync_time=150)
    # the cloud shadow is gone and the local one did not change after the last sync: the cloud deleted it
    assert decide_full(doc(1, {"a": 1}, ts=100), None, synced, 200).kind == "delete_local"
    # changed locally after the last sync: it goes to the cloud again
    assert decide_full(doc(2, {"a": 2}, ts=160), None, synced, 200).kind == "push"
    assert decide_full(None, doc(4, {"a": 1}, ts=100), synced, 200).kind == "delete_cloud"
    assert decide_full(None, doc(5, {"a": 2}, ts=170), synced, 200).kind == "pull"


def test_full_sync_both_present():
    info = SyncInfo(local_version=3, cloud_version=7, last_synced={"desired": {"a": 1}, "reported": {"r": 1}},
                    last_sync_time=150)
    assert decide_full(doc(3), doc(7), info, 200).kind == "nothing"
    d = decide_full(doc(4, {"a": 1}, {"r": 2}), doc(7, {"a": 1}, {"r": 1}), info, 200)
    assert (d.kind, d.to_local, d.to_cloud) == ("merge", False, True)
    assert d.state == {"desired": {"a": 1}, "reported": {"r": 2}}
    d = decide_full(doc(4, {"a": 5}, {"r": 2}), doc(8, {"a": 6}, {"r": 3}), info, 200)   # both moved: a conflict
    assert (d.to_local, d.to_cloud) == (True, True)
    assert d.state == {"desired": {"a": 6}, "reported": {"r": 2}}                        # cloud's desired, local's reported


def test_overwrites():
    info = SyncInfo(local_version=1, cloud_version=1, last_sync_time=1)
    assert decide_overwrite_cloud(doc(1), doc(1), info).kind == "nothing"
    assert decide_overwrite_cloud(doc(2), doc(1), info).kind == "push"
    assert decide_overwrite_cloud(None, doc(1), info).kind == "delete_cloud"
    assert decide_overwrite_cloud(None, None, info).kind == "forget"
    assert decide_overwrite_local(doc(1), doc(2), info).kind == "pull"
    assert decide_overwrite_local(doc(1), None, info).kind == "delete_local"


def test_patch_to_makes_one_side_equal_the_other():
    current = {"desired": {"a": 1, "b": {"c": 1, "d": 2}}, "reported": {"x": 1}}
    wanted = {"desired": {"b": {"c": 3}}}
    assert patch_to(current, wanted) == {"desired": {"a": None, "b": {"c": 3, "d": None}}, "reported": {"x": None}}
    assert patch_to(wanted, wanted) == {}
