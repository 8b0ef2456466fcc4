"""group/v2/recipe_parser.py: a step option written at lifecycle level (``RequiresPrivilege: true`` beside ``Run``, as
in aws/aws-iot-device-sdk-python-v2 samples/greengrass/ipc_greengrass.md) is accepted and ignored with a warning, as
the nucleus ignores it (GenericExternalService reads RequiresPrivilege, Timeout and Skipif only inside a step);
lifecycle-level Setenv is a real key that every step gets; a near-miss of a step name still fails."""
import json
import logging

import pytest

from group.v2.recipe import RecipeError, parse_recipe

HEAD = """\
RecipeFormatVersion: "2020-01-25"
ComponentName: "GreengrassIPC"
ComponentVersion: "1.0.0"
"""

# The SDK sample's Manifests section, as its recipe means it (Artifacts and Lifecycle under the manifest).
SAMPLE = HEAD + """\
Manifests:
  - Platform:
      os: all
    Artifacts:
      - URI: "s3://bucket/GreengrassIPC/1.0.0/GreengrassIPC.zip"
        Unarchive: ZIP
    Lifecycle:
      RequiresPrivilege: true
      Run: "python3 -u {artifacts:decompressedPath}/GreengrassIPC/main.py "
"""


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("group.v2")]


def test_the_sdk_samples_lifecycle_level_requires_privilege_is_ignored_as_the_nucleus_does(caplog):
    with caplog.at_level(logging.WARNING):
        recipe = parse_recipe(SAMPLE, source="ipc_greengrass.yaml")
    run = recipe.manifests[0].lifecycle.run
    assert run.script == "python3 -u {artifacts:decompressedPath}/GreengrassIPC/main.py "
    assert run.requires_privilege is False                   # the nucleus runs it as the default user, not as root
    (message,) = warnings_of(caplog)
    assert "ipc_greengrass.yaml" in message and "Manifests[0].Lifecycle.RequiresPrivilege" in message
    assert "ignores it" in message and "default user" in message
    assert "Run: {Script: ..., RequiresPrivilege: true}" in message


@pytest.mark.parametrize("lifecycle, path, says", [
    ({"timeout": 5, "Run": "x"}, "Lifecycle.timeout", "each step keeps its own timeout"),
    ({"Skipif": "onpath git", "Run": "x"}, "Lifecycle.Skipif", "no step is skipped"),
    ({"Script": "y", "Run": "x"}, "Lifecycle.Script", "runs only the steps"),
    ({"BootstrapOnRollback": True, "Run": "x"}, "Lifecycle.BootstrapOnRollback", "only inside Bootstrap"),
])
def test_other_step_options_at_lifecycle_level_are_ignored_with_what_the_nucleus_does(caplog, lifecycle, path, says):
    doc = {"RecipeFormatVersion": "2020-01-25", "ComponentName": "c", "ComponentVersion": "1.0.0",
           "Manifests": [{"Lifecycle": lifecycle}]}
    with caplog.at_level(logging.WARNING):
        recipe = parse_recipe(json.dumps(doc), source="r.json")
    assert recipe.manifests[0].lifecycle.run.script == "x"
    assert recipe.manifests[0].lifecycle.run.timeout is None and recipe.manifests[0].lifecycle.run.skipif is None
    (message,) = warnings_of(caplog)
    assert f"Manifests[0].{path}" in message and says in message


def test_a_global_lifecycle_with_a_step_option_is_still_a_lifecycle_not_selection_keys(caplog):
    text = HEAD + "Lifecycle:\n  RequiresPrivilege: true\n  Run: echo hi\n  Setenv:\n    A: '1'\n"
    with caplog.at_level(logging.WARNING):
        lc = parse_recipe(text).manifests[0].lifecycle
    assert lc.run.script == "echo hi" and lc.run.requires_privilege is False and dict(lc.setenv) == {"A": "1"}
    assert len(warnings_of(caplog)) == 1
    selections = HEAD + ("Manifests:\n  - Selections: [linux]\nLifecycle:\n"
                         "  linux:\n    Run: echo linux\n    RequiresPrivilege: true\n")
    assert parse_recipe(selections).manifests[0].lifecycle.run.script == "echo linux"


def test_lifecycle_level_setenv_is_kept_for_every_step_under_the_steps_own():
    text = HEAD + ("Manifests:\n  - Lifecycle:\n      setenv: {A: '1', B: '2'}\n      Install: echo i\n"
                   "      Run: {Script: echo r, Setenv: {B: '3'}}\n")
    lc = parse_recipe(text).manifests[0].lifecycle
    assert dict(lc.setenv) == {"A": "1", "B": "2"} and dict(lc.run.setenv) == {"B": "3"}


@pytest.mark.parametrize("key, fix", [("Runn", "did you mean 'Run'"), ("instal", "did you mean 'Install'"),
                                      ("Foo", "use one of Setenv, Bootstrap")])
def test_a_key_that_is_neither_a_step_nor_a_step_option_is_refused(key, fix):
    text = SAMPLE + f"      {key}: x\n"
    with pytest.raises(RecipeError) as e:
        parse_recipe(text)
    (issue,) = e.value.issues
    assert issue.path == f"Manifests[0].Lifecycle.{key}" and f"unknown key {key!r}" in issue.message
    assert fix in issue.fix
