"""group.yaml_io: the group file and recipe readers use libyaml's parser where PyYAML has it, with the same
resolvers (a recipe's YAML 1.2 booleans, no timestamps) and the positions the error messages quote."""
from __future__ import annotations

import pytest
import yaml

from group import yaml_io
from group.v2.recipe_parser import _Loader


def test_the_native_parser_is_used_where_pyyaml_has_it():
    if not yaml.__with_libyaml__:
        pytest.skip("this PyYAML has no libyaml")
    assert yaml_io.SafeLoader is yaml.CSafeLoader
    assert issubclass(_Loader, yaml.CSafeLoader)


def test_what_is_read_and_where_it_was():
    assert yaml_io.safe_load("a: [1, 'x']\nb: {c: null}\n") == {"a": [1, "x"], "b": {"c": None}}
    root = yaml_io.compose("a: 1\nb:\n  - x\n")
    (_, _), (b_key, b_value) = root.value
    assert (b_key.start_mark.line, b_value.value[0].start_mark.line, b_value.value[0].start_mark.column) == (1, 2, 4)
    with pytest.raises(yaml.YAMLError) as caught:
        yaml_io.safe_load("a: 1\n  b: 2\n")
    assert (caught.value.problem_mark.line, caught.value.problem_mark.column) == (1, 3)


def test_recipes_keep_their_own_resolvers_on_the_native_parser():
    doc = yaml.load("on: yes\nwhen: 2024-01-01\nflag: True\nn: 3\n", Loader=_Loader)  # noqa: S506
    assert doc == {"on": "yes", "when": "2024-01-01", "flag": True, "n": 3}
