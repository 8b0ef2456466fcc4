"""The configuration a deployment gives a component, as KernelConfigResolver.resolveConfigurationToApply resolves
it: running values first, resets, the (new) recipe's defaults underneath, the deployment's merge on top."""
import pytest

from localcore.generic_components.config import (apply_update, deep_merge, effective_configuration, merge_defaults,
                                                 parse_pointer, resolve_configuration)
from localcore.generic_components.errors import ConfigurationError

DEFAULT = {"a": 1, "m": {"x": 1, "y": [1, 2]}, "keep": "k"}
CASES = [
    # why, running, update, expected
    ("fresh install: defaults", None, None, DEFAULT),
    ("fresh install, merge deep", None, {"merge": '{"m": {"z": 3}, "new": true}'},
     {"a": 1, "m": {"x": 1, "y": [1, 2], "z": 3}, "keep": "k", "new": True}),
    ("lists replace", None, {"merge": {"m": {"y": [9]}}}, {"a": 1, "m": {"x": 1, "y": [9]}, "keep": "k"}),
    ("a map replaced by a scalar", None, {"merge": {"m": 5}}, {"a": 1, "m": 5, "keep": "k"}),
    # an upgrade: the new version's defaults never overwrite running values; new keys are added
    ("running values survive new defaults", {"a": 7, "m": {"x": 9}, "keep": "mine"}, None,
     {"a": 7, "m": {"x": 9, "y": [1, 2]}, "keep": "mine"}),
    ("running keys the new defaults lack stay", {"a": 7, "old": True}, None,
     {"a": 7, "old": True, "m": {"x": 1, "y": [1, 2]}, "keep": "k"}),
    ("a running list is kept whole", {"m": {"y": [5]}}, None, {"a": 1, "m": {"x": 1, "y": [5]}, "keep": "k"}),
    ("a default map replaces a running scalar", {"m": "flat"}, None, DEFAULT),
    ("a default scalar replaces a running map", {"a": {"deep": 1}}, None, DEFAULT),
    # only a reset restores a default
    ("reset one key to its default", {"a": 7, "m": {"x": 9, "y": [0]}}, {"reset": ["/a", "/m/x"]},
     {"a": 1, "m": {"x": 1, "y": [0]}, "keep": "k"}),
    ("reset deletes a key without a default", {"a": 1, "extra": {"q": 1}}, {"reset": ["/extra"]},
     {"a": 1, "m": {"x": 1, "y": [1, 2]}, "keep": "k"}),
    ("reset everything, then merge", {"a": 7, "extra": 1}, {"reset": [""], "merge": {"b": 2}}, dict(DEFAULT, b=2)),
    ("reset '' ends the resets", {"a": 7}, {"reset": ["", "/nothing"]}, DEFAULT),
    ("reset before merge", {"a": 7}, {"reset": ["/a"], "merge": {"a": 8}}, dict(DEFAULT, a=8)),
    ("reset of something absent", {"a": 3}, {"reset": ["/nothing/here"]}, dict(DEFAULT, a=3)),
    ("reset of a list element is skipped", {"m": {"y": [7, 8]}}, {"reset": ["/m/y/0"]},
     {"a": 1, "m": {"x": 1, "y": [7, 8]}, "keep": "k"}),
    ("merge patches the running configuration", {"a": 7, "other": 1}, {"merge": {"b": 1}},
     {"a": 7, "other": 1, "b": 1, "m": {"x": 1, "y": [1, 2]}, "keep": "k"}),
    # the nucleus' configuration keys are case-insensitive: one key, the first spelling kept
    ("keys match ignoring case", {"A": 7}, {"merge": {"a": 8, "M": {"X": 2}}},
     {"A": 8, "m": {"x": 2, "y": [1, 2]}, "keep": "k"}),
    ("a reset matches ignoring case", {"A": 7}, {"reset": ["/a"]}, DEFAULT),
]


@pytest.mark.parametrize("why,running,update,expected", CASES, ids=[c[0] for c in CASES])
def test_resolve_configuration(why, running, update, expected):
    before = repr((DEFAULT, running, update))
    assert resolve_configuration(DEFAULT, running, update) == expected
    assert repr((DEFAULT, running, update)) == before  # inputs untouched


def test_a_skipped_reset_is_noted():
    notes = []
    resolve_configuration(DEFAULT, {"m": {"y": [7]}}, {"reset": ["/m/y/0"]}, notes)
    assert len(notes) == 1 and "/m/y/0" in notes[0] and "skips" in notes[0]


@pytest.mark.parametrize("update,match", [
    ({"merge": "{not json"}, "not valid JSON"),
    ({"merge": "[1]"}, "JSON object"),
    ({"reset": "/a"}, "list of JSON pointers"),
    ({"reset": ["a"]}, "start with '/'"),
    ({"replace": {}}, "unknown keys"),
])
def test_bad_configuration_updates(update, match):
    with pytest.raises(ConfigurationError, match=match):
        resolve_configuration(DEFAULT, None, update)


def test_helpers():
    assert apply_update(DEFAULT, None, {"merge": {"a": 2}})["a"] == 2
    assert effective_configuration(DEFAULT, []) == DEFAULT
    assert effective_configuration(DEFAULT, [{"merge": {"a": 2}}, {"merge": {"b": 3}}])["a"] == 2
    assert effective_configuration(DEFAULT, [{"merge": {"a": 2}}, {"reset": [""]}]) == DEFAULT
    assert parse_pointer("/a~1b/c~0") == ["a/b", "c~"]
    assert deep_merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
    assert merge_defaults({"a": 5}, {"a": 1, "b": 2}) == {"a": 5, "b": 2}
