"""The snapshot pickler's rewrites of structures moto's Lambda storage uses."""

from __future__ import annotations

import collections
import pickle
import weakref

import pytest

from localcore.cloud.moto_snapshot import _dumps


class Fn:
    def __init__(self, name: str) -> None:
        self.name = name


def test_weak_value_index_keeps_identity_with_the_strong_references():
    fns = {"a": Fn("a")}
    index = weakref.WeakValueDictionary({"arn:a": fns["a"]})
    fns2, index2 = pickle.loads(_dumps((fns, index)))
    assert isinstance(index2, weakref.WeakValueDictionary)
    assert index2["arn:a"] is fns2["a"]


def test_defaultdict_with_a_lambda_making_an_empty_builtin():
    d = collections.defaultdict(lambda: {})
    d["x"]["y"] = 1
    back = pickle.loads(_dumps(d))
    assert back == {"x": {"y": 1}} and back["new"] == {}
    assert pickle.loads(_dumps(collections.defaultdict(list, {"k": [1]})))["other"] == []


def test_defaultdict_with_an_opaque_lambda_is_refused():
    with pytest.raises(pickle.PicklingError):
        _dumps(collections.defaultdict(lambda: Fn("x")))
