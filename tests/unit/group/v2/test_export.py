"""export --platform v2: golden files for the seed group, determinism, and never a mix of old and new files.

Regenerate the golden tree after an intended change: ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q
tests/unit/group/v2/test_export.py`` (then review the diff in git).
"""
from __future__ import annotations

import difflib
import hashlib
import os
import shutil
from pathlib import Path
from typing import Dict

import pytest
import yaml

from group.model import load
from group.v2.convert import convert
from group.v2.export import MANIFEST, ExportError, export

from .conftest import ACCOUNT, REPO, make_group

GOLDEN = Path(__file__).parent / "golden" / "seed"


def seed_plan():
    group, _ = load(REPO / "group" / "group.yaml")
    versions = {f.name: "3" for f in group.functions}
    return convert(group, root=REPO, account_id=ACCOUNT, region=group.group.region, lambda_versions=versions,
                   artifact_bucket="gg-bundle-artifacts")


def tree(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pinned(files: Dict[str, bytes]) -> Dict[str, bytes]:
    """The export with each copied artifact (the bundle's own files) replaced by ``<name>.sha256``: the golden
    tree pins their content without a second copy of the component code."""
    out = {}
    for name, data in files.items():
        if name.startswith("artifacts/"):
            out[name + ".sha256"] = (hashlib.sha256(data).hexdigest() + "\n").encode()
        else:
            out[name] = data
    return out


def test_seed_export_matches_golden(tmp_path):
    out = tmp_path / "export"
    written = export(seed_plan(), out, root=REPO)
    assert sorted(tree(out)) == written
    got = pinned(tree(out))
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name, data in got.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_bytes(data)
    want = tree(GOLDEN)
    assert sorted(got) == sorted(want), "file set differs from the golden tree (UPDATE_GOLDEN=1 to accept)"
    for name in sorted(want):
        if got[name] != want[name]:
            diff = "\n".join(difflib.unified_diff(want[name].decode(errors="replace").splitlines(),
                                                  got[name].decode(errors="replace").splitlines(),
                                                  f"golden/{name}", f"export/{name}", lineterm="", n=2))
            pytest.fail(f"{name} differs from golden (UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}")


def test_seed_export_content(tmp_path):
    out = tmp_path / "x"
    export(seed_plan(), out, root=REPO)
    for required in ("deployment.json", "config.yaml", "MIGRATION.md", "policies/core-iot-policy.json",
                     "policies/device-iot-policy.json", "policies/token-exchange-role-trust.json",
                     "policies/token-exchange-role-policy.json", "components/gg-bundle-producer.json"):
        assert (out / required).is_file(), required
    recipes = sorted(p.name for p in (out / "recipes").iterdir())
    assert len(recipes) == 12  # 8 Lambda components + the compose runner + the 3 generic components (components/)
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["system"]["thingName"] == "GG_Core"
    assert cfg["services"]["aws.greengrass.Nucleus"]["configuration"]["iotRoleAlias"] == "gg-bundle-token-exchange-alias"
    migration = (out / "MIGRATION.md").read_text()
    assert "`subscriptions[1]`" in migration and "`core.connectivity[0].host`" in migration


def test_export_twice_is_byte_identical(tmp_path):
    export(seed_plan(), tmp_path / "a", root=REPO)
    export(seed_plan(), tmp_path / "b", root=REPO)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_re_export_removes_stale_files_and_leaves_no_temp(tmp_path):
    out = tmp_path / "out"
    plan1 = convert(make_group(functions=[{"name": "old", "pinned": True, "memory_mb": 64}]), root=Path("."),
                    account_id=ACCOUNT, region="us-east-1")
    export(plan1, out)
    assert (out / "components" / "grp-old.json").is_file()
    plan2 = convert(make_group(functions=[{"name": "new", "pinned": True, "memory_mb": 64}]), root=Path("."),
                    account_id=ACCOUNT, region="us-east-1")
    export(plan2, out)
    assert not (out / "components" / "grp-old.json").exists()
    assert (out / "components" / "grp-new.json").is_file()
    assert (out / MANIFEST).read_text().splitlines() == sorted(set(tree(out)) - {MANIFEST})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_export_refuses_a_folder_it_did_not_write(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="no export wrote"):
        export(convert(make_group(), root=Path("."), account_id=ACCOUNT, region="us-east-1"), out)
    assert (out / "notes.txt").read_text() == "keep me"
