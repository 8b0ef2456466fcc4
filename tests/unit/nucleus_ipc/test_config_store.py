"""The configuration store: merges with timestamps, deployments, lookups, watchers and the nucleus' errors."""
from __future__ import annotations

import pytest

from localcore.nucleus_ipc.config_store import ConfigStore, millis
from localcore.nucleus_ipc.errors import FailedUpdateConditionCheckError, InvalidArgumentsError, ResourceNotFoundError


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def store(config=None, t=1000.0):
    clock = Clock(t)
    s = ConfigStore(clock)
    s.set("C", config if config is not None else {"a": 1, "m": {"x": "y", "deep": {"z": True}}})
    return s, clock


def events(s, path=None, component="C"):
    got = []
    w = s.watch(component, path, lambda c, p: got.append(p))
    s.activate(w)
    return got


@pytest.mark.parametrize("path,value", [
    (None, {"a": 1, "m": {"x": "y", "deep": {"z": True}}}),
    ([], {"a": 1, "m": {"x": "y", "deep": {"z": True}}}),
    (["m"], {"x": "y", "deep": {"z": True}}),
    (["M", "DEEP"], {"z": True}),                     # case-insensitive, stored spelling answered
    (["m", "x"], {"x": "y"}),                         # a leaf answers {leaf: value}
])
def test_get(path, value):
    s, _ = store()
    assert s.get("C", path) == value


@pytest.mark.parametrize("component,path", [("C", ["nope"]), ("C", ["a", "b"]), ("Ghost", [])])
def test_get_missing_is_key_not_found(component, path):
    s, _ = store()
    with pytest.raises(ResourceNotFoundError, match="^Key not found$"):
        s.get(component, path)


# (key path, value to merge, timestamp offset in s, expected configuration, changed paths, error)
MERGES = [
    (["m"], {"x": "new"}, +1, {"a": 1, "m": {"x": "new", "deep": {"z": True}}}, [["m", "x"]], None),
    (["m"], {"x": "y"}, +1, {"a": 1, "m": {"x": "y", "deep": {"z": True}}}, [], None),     # same value: no event
    ([], {"b": [1, 2]}, +1, {"a": 1, "b": [1, 2], "m": {"x": "y", "deep": {"z": True}}}, [["b"]], None),
    (["m", "x"], {"k": 1}, +1, {"a": 1, "m": {"x": {"k": 1}, "deep": {"z": True}}}, [["m", "x"], ["m", "x", "k"]],
     None),                                                                                  # a leaf becomes a map
    (["new", "box"], {"v": 1}, -100, {"a": 1, "m": {"x": "y", "deep": {"z": True}}, "new": {"box": {"v": 1}}},
     [["new", "box", "v"]], None),            # a new container takes the current time: an old timestamp is fine
    (["m"], {"x": "old"}, -1, {"a": 1, "m": {"x": "y", "deep": {"z": True}}}, [], FailedUpdateConditionCheckError),
    ([], {"m": "flat"}, +1, {"a": 1, "m": "flat"}, [["m"]], None),                           # a map becomes a value
]


@pytest.mark.parametrize("path,value,dt,expected,changed,error", MERGES)
def test_update_merges_with_timestamps(path, value, dt, expected, changed, error):
    s, clock = store()
    clock.t += 5
    got = events(s)
    if error is None:
        assert s.update("C", path, 1000.0 + dt, value) == changed
    else:
        with pytest.raises(error):
            s.update("C", path, 1000.0 + dt, value)
    assert s.value("C") == expected
    assert got == changed


def test_older_timestamp_keeps_newer_leaves_but_merges_the_rest():
    s, _ = store()
    s.update("C", ["m"], 2000.0, {"x": "at-2000"})
    with pytest.raises(FailedUpdateConditionCheckError):
        s.update("C", ["m"], 1500.0, {"x": "at-1500", "fresh": 1})
    assert s.get("C", ["m"]) == {"x": "at-2000", "deep": {"z": True}, "fresh": 1}


@pytest.mark.parametrize("path,ts,value,text", [
    (["m"], None, {"x": 1}, "Timestamp is required"),
    (["m"], 1.0, None, "ValueToMerge is required"),
    ([], 1.0, {"accessControl": {}}, r"Config update is not allowed for following fields \[accessControl\]"),
    (["accessControl", "x"], 1.0, {"a": 1}, "not allowed"),
    (["m"], 1.0, [1], "valueToMerge must be a JSON object"),
    (["m", 3], 1.0, {"a": 1}, "keyPath must be a list of strings"),
])
def test_update_refusals(path, ts, value, text):
    s, _ = store()
    with pytest.raises(InvalidArgumentsError, match=text):
        s.update("C", path, ts, value)


def test_deployment_replace_reports_changes_and_keeps_times_of_the_rest():
    s, clock = store()
    got = events(s, ["m"])
    clock.t = 3000.0
    changed = s.set("C", {"a": 1, "m": {"x": "y", "deep": {"z": False}, "n": 2}})
    assert changed == [["m", "deep", "z"], ["m", "n"]] and got == changed
    assert s.set("C", {"a": 1, "m": {"x": "y", "deep": {"z": False}, "n": 2}}) == []   # nothing changed: no event
    # 'x' kept its time (1000 s): an update at 2000 s sets it, and 'n' (3000 s) stays; the map 'm' is newer than
    # the request (3000 s), so the call fails after merging, as the nucleus' does
    with pytest.raises(FailedUpdateConditionCheckError):
        s.update("C", ["m"], 2000.0, {"x": "mine", "n": 9})
    assert s.get("C", ["m"]) == {"x": "mine", "deep": {"z": False}, "n": 2}
    assert s.set("C", {"a": 1}) == [["m"]]                # a removed map: one event for it
    assert got[-1] == ["m"]


def test_watchers_see_their_node_only_and_only_once_active():
    s, _ = store()
    deep, whole = [], []
    w1 = s.watch("C", ["m", "deep"], lambda c, p: deep.append(p))
    w2 = s.watch("C", [], lambda c, p: whole.append(p))
    s.update("C", ["m"], 2000.0, {"x": "before-active"})
    assert deep == whole == []                             # the response is not sent yet: nothing
    s.activate(w1)
    s.activate(w2)
    s.update("C", ["m"], 2001.0, {"x": "z", "deep": {"z": 0}})
    assert deep == [["m", "deep", "z"]] and whole == [["m", "x"], ["m", "deep", "z"]]
    s.unwatch(w1)
    s.update("C", ["m", "deep"], 2002.0, {"z": 1})
    assert len(deep) == 1 and s.watches == 1
    with pytest.raises(ResourceNotFoundError, match="Key not found"):
        s.watch("C", ["missing"], lambda c, p: None)


def test_millis_truncates_like_java():
    assert millis(1700000000.1239) == 1700000000123
    assert millis(1.0) == 1000
