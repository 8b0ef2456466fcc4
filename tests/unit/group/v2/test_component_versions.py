"""Component versions the converter derives are valid Greengrass versions (at most 6 digits a part)."""
from pathlib import Path

import pytest

from group.model import load
from group.v2.convert import convert, file_component_version, lambda_component_version

ROOT = Path(__file__).resolve().parents[4]


def _parts(version: str):
    return [int(p) for p in version.split(".")]


@pytest.mark.parametrize("digest", ["0" * 64, "f" * 64, "deadbeef" * 8, "0123456789abcdef" * 4])
def test_file_versions_keep_six_digits(digest):
    assert all(p <= 999_999 for p in _parts(file_component_version(digest)))


def test_every_version_of_the_seed_plan_keeps_six_digits_and_changes_with_content():
    group, _ = load(ROOT / "group" / "group.yaml")
    plan = convert(group, root=ROOT, account_id="123456789012", region="us-east-1",
                   lambda_versions={f.name: "7" for f in group.functions})
    for name, version in plan.component_versions().items():
        assert all(p <= 999_999 for p in _parts(version)), (name, version)
    a = lambda_component_version("7", {"environment": {"A": "1"}})
    b = lambda_component_version("7", {"environment": {"A": "2"}})
    assert a != b and a.startswith("7.0.") and a == lambda_component_version("7", {"environment": {"A": "1"}})
