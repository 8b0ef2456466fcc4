"""group.yaml ``components:``: the model's checks, the converter (recipe changed only in artifact URIs, the
deployment entry with configurationUpdate/runWith, findings with paths) and the export of recipes + artifacts."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from group.errors import GroupValidationError
from group.model import load, parse
from group.v2.convert import convert
from group.v2.export import render
from group.v2.recipe import parse_recipe

from .conftest import ACCOUNT, REGION, make_group

BUCKET = "grp-gg-artifacts"
RECIPE = """\
---
RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Hello
ComponentVersion: '1.0.0'
# the user's comment stays
ComponentConfiguration:
  DefaultConfiguration:
    greeting: hello
Manifests:
  - Platform:
      os: linux
    Lifecycle:
      Install: pip3 install --user -r {artifacts:path}/requirements.txt
      Run: python3 -u {artifacts:path}/hello.py '{configuration:/greeting}'
    Artifacts:
      - URI: s3://SOME-BUCKET/artifacts/com.example.Hello/1.0.0/hello.py
      - URI: s3://SOME-BUCKET/artifacts/com.example.Hello/1.0.0/requirements.txt
      - URI: docker:hello-world:latest
"""


def bundle(tmp_path: Path, recipe: str = RECIPE, files=("hello.py", "requirements.txt"), folder="hello") -> Path:
    d = tmp_path / "components" / folder
    d.mkdir(parents=True)
    (d / "recipe.yaml").write_text(recipe)
    for f in files:
        (d / f).write_bytes(f"# {f}\n".encode())
    return tmp_path


def plan_of(root: Path, **component):
    g = make_group(components=[{"path": "components/hello", **component}])
    return convert(g, root=root, account_id=ACCOUNT, region=REGION, artifact_bucket=BUCKET)


def test_component_becomes_generic_with_only_uris_changed(tmp_path):
    root = bundle(tmp_path)
    plan = plan_of(root, configuration_update={"merge": {"greeting": "hi"}, "reset": ["/x"]},
                   run_with={"posix_user": "ggc_user:ggc_group"})
    assert [f for f in plan.findings if f.path.startswith("components")] == []
    [gc] = [g for g in plan.generic if g.name == "com.example.Hello"]
    assert gc.version == "1.0.0"
    original = parse_recipe(RECIPE).raw
    uris = [a["URI"] for a in gc.recipe["Manifests"][0]["Artifacts"]]
    assert uris == [f"s3://{BUCKET}/components/com.example.Hello/1.0.0/hello.py",
                    f"s3://{BUCKET}/components/com.example.Hello/1.0.0/requirements.txt",
                    "docker:hello-world:latest"]
    for a in original["Manifests"][0]["Artifacts"] + gc.recipe["Manifests"][0]["Artifacts"]:
        a.pop("URI")
    assert gc.recipe == original  # nothing else changed
    assert [(a.name, a.uri.rsplit("/", 1)[1]) for a in gc.artifacts] == [("hello.py", "hello.py"),
                                                                          ("requirements.txt", "requirements.txt")]
    assert gc.artifacts[0].sha256 == hashlib.sha256(b"# hello.py\n").hexdigest()
    assert gc.artifacts[0].source_path == "components/hello/hello.py"
    entry = plan.deployment["components"]["com.example.Hello"]
    assert entry == {"componentVersion": "1.0.0", "runWith": {"posixUser": "ggc_user:ggc_group"},
                     "configurationUpdate": {"merge": '{"greeting":"hi"}', "reset": ["/x"]}}
    assert plan.custom_components()["com.example.Hello"] == "1.0.0"
    assert "aws.greengrass.DockerApplicationManager" not in plan.deployment["components"]
    objects = [s for s in plan.token_exchange_role_policy["Statement"] if s["Sid"] == "ComponentArtifacts"]
    assert objects and f"arn:aws:s3:::{BUCKET}/*" in objects[0]["Resource"]


def test_the_request_is_valid_for_botocore(tmp_path, check_input):
    plan = plan_of(bundle(tmp_path))
    [gc] = [g for g in plan.generic if g.name == "com.example.Hello"]
    assert check_input("CreateComponentVersion", gc.create_request()) == ""
    assert check_input("CreateDeployment", plan.deployment) == ""


@pytest.mark.parametrize("recipe, files, where, words", [
    (RECIPE, ("hello.py",), "components[0].recipe", "requirements.txt does not exist"),
    (RECIPE.replace("ComponentVersion: '1.0.0'", "ComponentVersion: 'one'"), ("hello.py", "requirements.txt"),
     "components[0].recipe", "ComponentVersion"),
    (RECIPE.replace("Manifests:", "Manifestz:"), ("hello.py", "requirements.txt"), "components[0].recipe",
     "Manifestz"),
    (RECIPE.replace("com.example.Hello", "grp-fa"), ("hello.py", "requirements.txt"), "components[0].recipe",
     "already the Lambda component of functions[0]"),
    (RECIPE.replace("com.example.Hello", "aws.greengrass.StreamManager"), ("hello.py", "requirements.txt"),
     "components[0].recipe", "AWS public component"),
])
def test_bad_recipes_are_findings_with_the_recipe_path(tmp_path, recipe, files, where, words):
    plan = plan_of(bundle(tmp_path, recipe, files))
    errors = [f for f in plan.errors() if f.path.startswith("components")]
    assert errors, plan.findings
    assert errors[0].path == where
    assert words in errors[0].message and "components/hello/recipe.yaml" in errors[0].message
    assert all(g.name != "com.example.Hello" for g in plan.generic)


def test_name_must_match_the_recipe(tmp_path):
    plan = plan_of(bundle(tmp_path), name="com.example.Other")
    [e] = [f for f in plan.errors() if f.path.startswith("components")]
    assert e.path == "components[0].name" and "com.example.Hello" in e.message


def test_two_components_with_one_name_clash(tmp_path):
    root = bundle(tmp_path)
    bundle(tmp_path, folder="again")
    g = make_group(components=[{"path": "components/hello"}, {"path": "components/again"}])
    plan = convert(g, root=root, account_id=ACCOUNT, region=REGION, artifact_bucket=BUCKET)
    [e] = plan.errors()
    assert e.path == "components[1].recipe" and "already the component of components[0]" in e.message


def test_json_recipe_and_explicit_recipe_file(tmp_path):
    doc = yaml.safe_load(RECIPE)
    d = tmp_path / "components" / "hello"
    d.mkdir(parents=True)
    for f in ("hello.py", "requirements.txt"):
        (d / f).write_text("x")
    (d / "a.json").write_text(json.dumps(doc))
    (d / "b.yaml").write_text(RECIPE)
    g = make_group(components=[{"path": "components/hello"}])
    plan = convert(g, root=tmp_path, account_id=ACCOUNT, region=REGION, artifact_bucket=BUCKET)
    [e] = plan.errors()
    assert "2 recipe files (a.json, b.yaml)" in e.message and e.path == "components[0].path"
    g = make_group(components=[{"path": "components/hello", "recipe": "a.json"}])
    plan = convert(g, root=tmp_path, account_id=ACCOUNT, region=REGION, artifact_bucket=BUCKET)
    assert plan.errors() == []
    assert any(gc.name == "com.example.Hello" for gc in plan.generic)


def test_export_has_the_recipe_and_the_artifacts(tmp_path):
    plan = plan_of(bundle(tmp_path))
    files = render(plan)  # no root: the artifacts' bytes travel in the plan
    recipe = yaml.safe_load(files["recipes/com.example.Hello-1.0.0.yaml"])
    assert recipe["Manifests"][0]["Artifacts"][0]["URI"].startswith(f"s3://{BUCKET}/components/")
    assert files["artifacts/com.example.Hello/1.0.0/hello.py"] == b"# hello.py\n"
    assert "com.example.Hello" in json.loads(files["deployment.json"])["components"]


# ---- the model ----------------------------------------------------------------------------------------


def write_group(tmp_path: Path, components) -> Path:
    (tmp_path / "group").mkdir(exist_ok=True)
    f = tmp_path / "group" / "group.yaml"
    f.write_text(yaml.safe_dump({"group": {"name": "g"}, "core": {"thing": "C"}, "components": components}))
    return f


def test_model_accepts_components_and_warns_they_are_v2_only(tmp_path):
    bundle(tmp_path)
    g, issues = load(write_group(tmp_path, [{"path": "components/hello",
                                             "configuration_update": {"merge": {"a": 1}, "reset": [""]}}]))
    assert g.components[0].path == "components/hello"
    [w] = issues
    assert w.severity == "warning" and w.path == "components" and "--platform v2" in w.message


@pytest.mark.parametrize("component, path, words", [
    ({"path": "components/nothere"}, "components[0].path", "does not exist"),
    ({"path": "components/hello", "recipe": "other.yaml"}, "components[0].recipe", "other.yaml does not exist"),
    ({"path": "lambdas/hello"}, "components[0].path", "pattern"),
    ({"path": "components/hello", "colour": 1}, "components[0].colour", "unknown key"),
    ({"path": "components/hello", "configuration_update": {"reset": ["x"]}},
     "components[0].configuration_update.reset[0]", "not a JSON pointer"),
    ({"path": "components/hello", "run_with": {"posix_user": "a:b:c"}}, "components[0].run_with.posix_user",
     "pattern"),
])
def test_model_errors_name_the_path(tmp_path, component, path, words):
    bundle(tmp_path)
    with pytest.raises(GroupValidationError) as exc:
        load(write_group(tmp_path, [component]))
    errors = [i for i in exc.value.issues if i.severity == "error"]
    assert [i.path for i in errors] == [path], errors
    assert words in errors[0].message


def test_duplicate_folders(tmp_path):
    bundle(tmp_path)
    with pytest.raises(GroupValidationError) as exc:
        load(write_group(tmp_path, [{"path": "components/hello"}, {"path": "components/hello/"}]))
    [e] = [i for i in exc.value.issues if i.severity == "error"]
    assert e.path == "components[1].path" and "duplicate" in e.message


def test_parse_without_components_is_unchanged():
    g, issues = parse({"group": {"name": "g"}, "core": {"thing": "C"}})
    assert issues == [] and g.components == ()
