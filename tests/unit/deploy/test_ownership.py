"""``plan.ownership``: one platform's objects sorted by owner beside the other platform's state (pure)."""
from group.plan import Ownership, ownership


def test_objects_are_sorted_by_who_made_them_and_who_uses_them():
    records = {"thing:Core": {}, "thing:Sensor": {"owned": True}, "function:f": {"owned": False},
               "table:T": {"owned": False}, "policy:p": {}}
    other = {"thing:Sensor": {"owned": False}, "function:f": {}, "bucket:b": {}}
    got = ownership("v2", "v1", ["thing:Core", "bucket:b", "role:r"], records, other)
    assert got == Ownership("v2", "v1", owned=("thing:Core", "policy:p"), lent=("thing:Sensor",),
                            borrowed=("function:f",), adopted=("table:T",), to_borrow=("bucket:b",))
    lines = got.lines()
    assert lines == ["ownership: 2 owned by v2; 1 owned by v2, used by v1 too (destroy --platform v2 leaves them "
                     "to v1); 1 owned by v1, used here (destroy --platform v2 leaves them); 1 adopted, made by "
                     "neither platform (never deleted); 1 owned by v1: deploy --platform v2 will use them as they are"]
    verbose = got.lines(verbose=True)
    assert verbose[1] == "  owned by v2: thing Core, policy p" and len(verbose) == 6


def test_nothing_recorded_prints_nothing():
    assert ownership("v1", "v2", [], {}, {}).lines() == []
