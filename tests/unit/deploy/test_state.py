"""group/state.py: the per-target, per-group deploy state file."""
from __future__ import annotations

import pytest

from group.state import State, StateError, state_path


def test_roundtrip_keeps_order(tmp_path):
    st = State.load(tmp_path, "aws", "g1")
    assert len(st) == 0 and not st.exists
    st.put("thing:B", {"hash": "1", "applied": "a", "arn": "arn:b"})
    st.put("thing:A", {"hash": "2", "applied": None})
    st.update("thing:A", applied="z")
    assert st.path == state_path(tmp_path, "aws", "g1") == tmp_path / "state" / "aws" / "g1.json"
    again = State.load(tmp_path, "aws", "g1")
    assert list(again) == ["thing:B", "thing:A"]
    assert again.get("thing:A") == {"kind": "thing", "name": "A", "hash": "2", "applied": "z"}
    assert State.load(tmp_path, "local", "g1").objects == {}  # one file per target
    assert [p.name for p in st.path.parent.iterdir()] == ["g1.json"]  # no temp file left


def test_empty_state_removes_the_file(tmp_path):
    st = State.load(tmp_path, "aws", "g1")
    st.put("thing:A", {"hash": "1"})
    assert st.exists
    st.remove("thing:A")
    assert not st.exists


@pytest.mark.parametrize("text", ["{not json", '{"format": 99, "objects": {}}', "[]"])
def test_unreadable_state_is_a_clear_error(tmp_path, text):
    path = state_path(tmp_path, "aws", "g1")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(StateError, match="g1.json"):
        State.load(tmp_path, "aws", "g1")


def test_one_run_at_a_time_per_group_and_target(tmp_path):
    a = State.load(tmp_path, "aws", "g1")
    with a.lock():
        with pytest.raises(StateError, match="another deploy/destroy of group 'g1'"):
            with State.load(tmp_path, "aws", "g1").lock():
                pass
        with State.load(tmp_path, "local", "g1").lock():  # another target: its own lock
            pass
    with State.load(tmp_path, "aws", "g1").lock():  # released
        pass


def test_reload_sees_what_another_run_wrote(tmp_path):
    a = State.load(tmp_path, "aws", "g1")
    b = State.load(tmp_path, "aws", "g1")
    b.put("thing:T", {"hash": "1"})
    a.reload()
    assert list(a) == ["thing:T"]
