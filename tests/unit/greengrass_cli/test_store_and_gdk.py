"""The component store (copyRecipesAndArtifacts, downloadRequired) and GDK folders, on files under tmp_path."""
from __future__ import annotations

import base64
import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest

from group.v2.recipe import current_platform, parse_recipe
from localcore.local_deployments import gdk
from localcore.local_deployments.errors import StoreError
from localcore.local_deployments.store import ComponentStore, artifacts_in_place

RECIPE = """\
RecipeFormatVersion: "2020-01-25"
ComponentName: {name}
ComponentVersion: "{version}"
Manifests:
  - Platform: {{os: linux}}
    Artifacts:
      - URI: s3://bucket/{name}/{version}/run.sh
    Lifecycle:
      Run: "sh {{artifacts:path}}/run.sh"
"""


def recipe_text(name: str = "com.example.A", version: str = "1.0.0") -> str:
    return RECIPE.format(name=name, version=version)


def test_every_recipe_file_under_the_folder_is_stored_and_other_files_are_skipped(tmp_path):
    src = tmp_path / "recipes"
    (src / "sub").mkdir(parents=True)
    (src / "a.yaml").write_text(recipe_text("com.example.A", "1.0.0"))
    (src / "sub" / "b.YML").write_text(recipe_text("com.example.B", "2.0.0"))
    (src / "c.json").write_text(json.dumps(parse_recipe(recipe_text("com.example.C", "0.1.0")).canonical))
    (src / "notes.txt").write_text("not a recipe")
    (src / "empty.yaml").write_text("")
    store = ComponentStore(tmp_path / "root")
    assert sorted(store.copy_recipes(src)) == [("com.example.A", "1.0.0"), ("com.example.B", "2.0.0"),
                                               ("com.example.C", "0.1.0")]
    assert store.recipe("com.example.B", "2.0.0")["ComponentName"] == "com.example.B"
    assert store.recipe("com.example.B", "9.9.9") is None
    # a new store on the same root reads what is on disk
    assert ComponentStore(tmp_path / "root").versions("com.example.A") == ["1.0.0"]


def test_the_same_name_and_version_is_replaced_and_the_best_version_meets_every_requirement(tmp_path):
    src = tmp_path / "r"
    src.mkdir()
    store = ComponentStore(tmp_path / "root")
    for v in ("1.0.0", "1.2.0", "2.0.0"):
        (src / "x.yaml").write_text(recipe_text(version=v))
        store.copy_recipes(src)
    (src / "x.yaml").write_text(recipe_text(version="1.2.0").replace("sh {artifacts:path}", "bash {artifacts:path}"))
    store.copy_recipes(src)
    assert "bash" in json.dumps(store.recipe("com.example.A", "1.2.0"))
    assert store.best("com.example.A", {"LOCAL_DEPLOYMENT": "^1.0.0"}) == "1.2.0"
    assert store.best("com.example.A", {"LOCAL_DEPLOYMENT": ">=1.0.0", "other": "<1.1.0"}) == "1.0.0"
    assert store.best("com.example.A", {"x": ">3.0.0"}) is None


def test_a_recipe_that_does_not_parse_fails_with_the_file_and_the_field(tmp_path):
    src = tmp_path / "r"
    src.mkdir()
    (src / "bad.yaml").write_text("RecipeFormatVersion: '2020-01-25'\nComponentName: com.example.Bad\n")
    with pytest.raises(StoreError) as e:
        ComponentStore(tmp_path / "root").copy_recipes(src)
    assert str(e.value).startswith(f"Unable to parse {src / 'bad.yaml'} as a recipe due to: ")
    assert "ComponentVersion" in str(e.value)
    assert e.value.codes == ("IO_ERROR", "IO_WRITE_ERROR", "IO_MAPPING_ERROR")
    with pytest.raises(StoreError, match="does not exist"):
        ComponentStore(tmp_path / "root").copy_recipes(tmp_path / "missing")


def test_artifacts_replace_files_the_runner_left_read_only(tmp_path):
    store = ComponentStore(tmp_path / "root")
    src = tmp_path / "artifacts" / "com.example.A" / "1.0.0"
    src.mkdir(parents=True)
    (src / "run.sh").write_text("echo one")
    assert store.copy_artifacts(tmp_path / "artifacts") == 1
    placed = store.artifacts_dir / "com.example.A" / "1.0.0" / "run.sh"
    placed.chmod(stat.S_IRUSR)                       # as the runner's Permission and read-only folders leave it
    placed.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    (src / "run.sh").write_text("echo two")
    store.copy_artifacts(tmp_path / "artifacts")
    assert placed.read_text() == "echo two"
    with pytest.raises(StoreError, match="recursive copy"):
        store.copy_artifacts(tmp_path / "root")


def test_artifacts_in_place_are_used_unless_missing_or_their_digest_differs(tmp_path):
    recipe = parse_recipe(recipe_text())
    platform = current_platform()
    assert artifacts_in_place(tmp_path, recipe, platform) is None                 # not there: download
    folder = tmp_path / "packages" / "artifacts" / "com.example.A" / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text("echo hi")
    uri = "s3://bucket/com.example.A/1.0.0/run.sh"
    assert artifacts_in_place(tmp_path, recipe, platform) == {uri: folder / "run.sh"}   # no digest: used
    digest = base64.b64encode(hashlib.sha256(b"echo hi").digest()).decode()
    doc = recipe.canonical
    doc["Manifests"][0]["Artifacts"][0].update({"Digest": digest, "Algorithm": "SHA-256"})
    assert artifacts_in_place(tmp_path, parse_recipe(json.dumps(doc)), platform) == {uri: folder / "run.sh"}
    doc["Manifests"][0]["Artifacts"][0]["Digest"] = base64.b64encode(b"\0" * 32).decode()
    assert artifacts_in_place(tmp_path, parse_recipe(json.dumps(doc)), platform) is None


# ------------------------------------------------------------------ GDK folders
def gdk_project(path: Path, *, version: str = "1.2.0", build: str = "zip", options: dict | None = None,
                recipe: str = "recipe.yaml") -> Path:
    path.mkdir(parents=True)
    config = {"component": {"com.example.Gdk": {"author": "Me", "version": version,
                                                "build": {"build_system": build, **({"options": options}
                                                                                    if options else {})},
                                                "publish": {"bucket": "b", "region": "us-east-1"}}},
              "gdk_version": "1.3.0"}
    (path / gdk.CONFIG_FILE).write_text(json.dumps(config))
    (path / recipe).write_text(
        'RecipeFormatVersion: "2020-01-25"\nComponentName: "{COMPONENT_NAME}"\n'
        'ComponentVersion: "{COMPONENT_VERSION}"\nComponentPublisher: "{COMPONENT_AUTHOR}"\n'
        "Manifests:\n  - Platform: {os: all}\n    Artifacts:\n"
        f"      - URI: s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/{path.name}.zip\n"
        "        Unarchive: ZIP\n"
        "      - URI: s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/extra.txt\n"
        "    Lifecycle: {Run: 'python3 {artifacts:decompressedPath}/x/main.py'}\n")
    (path / "main.py").write_text("print('hi')")
    (path / "extra.txt").write_text("extra")
    (path / "tests").mkdir()
    (path / "tests" / "test_main.py").write_text("")
    (path / ".hidden").write_text("")
    return path


def test_an_unbuilt_zip_project_is_built_into_the_store_as_gdk_would(tmp_path):
    project = gdk_project(tmp_path / "myproj")
    store = ComponentStore(tmp_path / "root")
    staged = store.stage(str(project), None)
    assert staged.components == (("com.example.Gdk", "1.2.0"),)
    stored = store.recipe("com.example.Gdk", "1.2.0")
    assert stored["ComponentPublisher"] == "Me"
    folder = store.artifacts_dir / "com.example.Gdk" / "1.2.0"
    with zipfile.ZipFile(folder / "myproj.zip") as zf:
        assert sorted(zf.namelist()) == ["extra.txt", "main.py"]    # no config, recipe, tests or hidden files
    assert (folder / "extra.txt").read_text() == "extra"
    assert not (project / gdk.BUILD_DIR).exists()                    # the project folder is left as it was


def test_zip_options_excludes_replace_the_default_ones(tmp_path):
    project = gdk_project(tmp_path / "p", options={"excludes": ["extra.txt"], "zip_name": ""})
    (project / "recipe.yaml").write_text((project / "recipe.yaml").read_text().replace("p.zip", "com.example.Gdk.zip"))
    store = ComponentStore(tmp_path / "root")
    store.stage(str(project), None)
    with zipfile.ZipFile(store.artifacts_dir / "com.example.Gdk" / "1.2.0" / "com.example.Gdk.zip") as zf:
        assert sorted(zf.namelist()) == [".hidden", "main.py", "tests/test_main.py"]


def test_a_built_project_or_its_build_folder_is_deployed_from_greengrass_build(tmp_path):
    project = gdk_project(tmp_path / "p")
    build = project / gdk.BUILD_DIR
    (build / "recipes").mkdir(parents=True)
    (build / "recipes" / "recipe.yaml").write_text(recipe_text("com.example.Gdk", "1.3.0"))
    (build / "artifacts" / "com.example.Gdk" / "1.3.0").mkdir(parents=True)
    (build / "artifacts" / "com.example.Gdk" / "1.3.0" / "run.sh").write_text("built")
    for given in (project, build, build / "recipes"):
        store = ComponentStore(tmp_path / f"root-{given.name}")
        assert store.stage(str(given), None).components == (("com.example.Gdk", "1.3.0"),)
        assert (store.artifacts_dir / "com.example.Gdk" / "1.3.0" / "run.sh").read_text() == "built"


@pytest.mark.parametrize("kwargs, message", [
    ({"version": "NEXT_PATCH"}, "NEXT_PATCH"),
    ({"build": "maven"}, "gdk component build"),
])
def test_projects_the_core_cannot_use_are_refused_with_the_fix(tmp_path, kwargs, message):
    project = gdk_project(tmp_path / "p", **kwargs)
    with pytest.raises(StoreError, match=message):
        ComponentStore(tmp_path / "root").stage(str(project), None)


def test_a_project_artifact_that_is_neither_its_zip_nor_its_file_is_refused(tmp_path):
    project = gdk_project(tmp_path / "p")
    (project / "extra.txt").unlink()
    with pytest.raises(StoreError, match="extra.txt is neither"):
        ComponentStore(tmp_path / "root").stage(str(project), None)
    (project / "recipe.json").write_text("{}")
    with pytest.raises(StoreError, match="both recipe.json and recipe.yaml"):
        ComponentStore(tmp_path / "root").stage(str(project), None)
