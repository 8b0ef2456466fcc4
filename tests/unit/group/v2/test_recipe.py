"""group/v2/recipe.py: parsing, normalisation, errors with paths, manifest selection, URI rewriting."""
import copy
import json

import pytest
import yaml

from group.v2.recipe import (
    DEFAULT_TIMEOUTS,
    RecipeError,
    VersionRequirement,
    current_platform,
    load_recipe,
    parse_recipe,
    with_defaults,
)

SAMPLE = """\
---
RecipeFormatVersion: 2020-01-25
ComponentName: com.example.S3Sample
ComponentVersion: '1.0.0'
ComponentDescription: Uploads images with the stream manager
ComponentPublisher: Example
ComponentDependencies:
  aws.greengrass.StreamManager:
    VersionRequirement: "^2.0.0"
ComponentConfiguration:
  DefaultConfiguration:
    bucket: my-bucket
    retries: 3
Manifests:
  - Platform:
      os: linux
    Lifecycle:
      Setenv:
        PYTHONUNBUFFERED: 1
      Install: pip3 install --user -r {artifacts:path}/requirements.txt
      Run:
        Script: |
          export PYTHONPATH=$PYTHONPATH:{artifacts:decompressedPath}/stream_manager_sdk
          python3 -u {artifacts:path}/s3_sample.py
        Setenv:
          BUCKET: "{configuration:/bucket}"
    Artifacts:
      - URI: s3://their-bucket/artifacts/com.example.S3Sample/1.0.0/s3_sample.py
      - URI: "s3://their-bucket/artifacts/com.example.S3Sample/1.0.0/stream_manager_sdk.zip"  # the SDK
        Unarchive: ZIP
      - uri: s3://their-bucket/artifacts/com.example.S3Sample/1.0.0/requirements.txt
        permission: {read: all, execute: owner}
"""


def base():
    return yaml.safe_load(SAMPLE.replace("2020-01-25", "'2020-01-25'"))


def test_sample_parses_into_the_normalised_model():
    r = parse_recipe(SAMPLE, source="s3.yaml")
    assert (r.format_version, r.name, r.version, r.source_format) == ("2020-01-25", "com.example.S3Sample", "1.0.0", "yaml")
    assert r.default_configuration == {"bucket": "my-bucket", "retries": 3}
    dep = r.dependency("aws.greengrass.StreamManager")
    assert dep.dependency_type == "HARD" and dep.version_requirement.text == "^2.0.0"
    m = r.manifests[0]
    assert dict(m.platform.attributes) == {"os": "linux"}
    assert dict(m.lifecycle.setenv) == {"PYTHONUNBUFFERED": "1"}
    assert m.lifecycle.install.to_dict() == {
        "Script": "pip3 install --user -r {artifacts:path}/requirements.txt",
        "RequiresPrivilege": False, "Skipif": None, "Timeout": None, "Setenv": {},
    }
    assert m.lifecycle.run.script.startswith("export PYTHONPATH")
    assert dict(m.lifecycle.run.setenv) == {"BUCKET": "{configuration:/bucket}"}
    assert list(m.lifecycle.steps()) == ["Install", "Run"]
    a0, a1, a2 = m.artifacts
    assert (a0.file_name, a0.unarchive, a0.permission.read, a0.permission.execute) == ("s3_sample.py", "NONE", "OWNER", "NONE")
    assert (a1.file_name, a1.unarchive, a1.unarchived_dir_name) == ("stream_manager_sdk.zip", "ZIP", "stream_manager_sdk")
    assert (a2.permission.read, a2.permission.execute) == ("ALL", "OWNER")


def test_json_recipe_and_lower_camel_keys_are_accepted():
    doc = {
        "recipeFormatVersion": "2020-01-25", "componentName": "c.d", "componentVersion": "2.1.0-beta.1+b7",
        "componentConfiguration": {"defaultConfiguration": {"Key": {"Nested": [1, 2]}}},
        "manifests": [{"platform": {"os": "*"}, "lifecycle": {"run": {"script": "true", "requiresPrivilege": "true",
                                                                      "skipIf": "onpath true", "timeout": "30"}}}],
    }
    r = parse_recipe(json.dumps(doc))
    assert r.source_format == "json" and r.version == "2.1.0-beta.1+b7"
    assert r.default_configuration == {"Key": {"Nested": [1, 2]}}  # free-form keys keep their case
    run = r.manifests[0].lifecycle.run
    assert (run.requires_privilege, run.skipif, run.timeout) == (True, "onpath true", 30)


def _mutate(path, value):
    def f(doc):
        cur = doc
        for p in path[:-1]:
            cur = cur[p]
        if value is KeyError:
            del cur[path[-1]]
        else:
            cur[path[-1]] = value
    return f


BAD = [
    ("unknown top key", _mutate(["ComponentNmae"], "x"), "ComponentNmae", "did you mean 'ComponentName'"),
    ("unknown lifecycle step", _mutate(["Manifests", 0, "Lifecycle", "Runn"], "x"), "Manifests[0].Lifecycle.Runn",
     "did you mean 'Run'"),
    ("unknown step key", _mutate(["Manifests", 0, "Lifecycle", "Run", "Scrpt"], "x"), "Manifests[0].Lifecycle.Run.Scrpt",
     "did you mean 'Script'"),
    ("step without script", _mutate(["Manifests", 0, "Lifecycle", "Run"], {"Timeout": 3}),
     "Manifests[0].Lifecycle.Run.Script", "is required"),
    ("format version", _mutate(["RecipeFormatVersion"], "2021-01-01"), "RecipeFormatVersion", "2020-01-25"),
    ("missing format version", _mutate(["RecipeFormatVersion"], KeyError), "RecipeFormatVersion", "is required"),
    ("missing name", _mutate(["ComponentName"], KeyError), "ComponentName", "is required"),
    ("bad name", _mutate(["ComponentName"], "com example"), "ComponentName", "not a valid component name"),
    ("not semver", _mutate(["ComponentVersion"], "1.0"), "ComponentVersion", "not a semantic version"),
    ("version part too big", _mutate(["ComponentVersion"], "1.0.1000000"), "ComponentVersion", "too large"),
    ("bad requirement", _mutate(["ComponentDependencies", "aws.greengrass.StreamManager", "VersionRequirement"], "^^2"),
     "ComponentDependencies.aws.greengrass.StreamManager.VersionRequirement", "not a version requirement"),
    ("bad dep type", _mutate(["ComponentDependencies", "aws.greengrass.StreamManager", "DependencyType"], "WEAK"),
     "ComponentDependencies.aws.greengrass.StreamManager.DependencyType", "HARD or SOFT"),
    ("dep key", _mutate(["ComponentDependencies", "aws.greengrass.StreamManager", "Version"], "1"),
     "ComponentDependencies.aws.greengrass.StreamManager.Version", "unknown key"),
    ("unarchive", _mutate(["Manifests", 0, "Artifacts", 1, "Unarchive"], "TAR"), "Manifests[0].Artifacts[1].Unarchive",
     "NONE or ZIP"),
    ("permission", _mutate(["Manifests", 0, "Artifacts", 2, "permission", "read"], "EVERYONE"),
     "Manifests[0].Artifacts[2].Permission.Read", "NONE, OWNER or ALL"),
    ("artifact without uri", _mutate(["Manifests", 0, "Artifacts", 0], {"Unarchive": "ZIP"}),
     "Manifests[0].Artifacts[0].URI", "is required"),
    ("skipif", _mutate(["Manifests", 0, "Lifecycle", "Run", "Skipif"], "if exists /x"),
     "Manifests[0].Lifecycle.Run.Skipif", "onpath"),
    ("timeout", _mutate(["Manifests", 0, "Lifecycle", "Run", "Timeout"], "soon"), "Manifests[0].Lifecycle.Run.Timeout",
     "seconds"),
    ("startup and run", _mutate(["Manifests", 0, "Lifecycle", "Startup"], "x"), "Manifests[0].Lifecycle.Run",
     "either Startup or Run"),
    ("setenv nested", _mutate(["Manifests", 0, "Lifecycle", "Setenv", "X"], {"a": 1}),
     "Manifests[0].Lifecycle.Setenv.X", "must be a string"),
    ("manifests not a list", _mutate(["Manifests"], {"Platform": {}}), "Manifests", "must be a list"),
    ("platform regex", _mutate(["Manifests", 0, "Platform", "architecture"], "/(amd64/"),
     "Manifests[0].Platform.architecture", "bad regular expression"),
    ("default config not a map", _mutate(["ComponentConfiguration", "DefaultConfiguration"], [1]),
     "ComponentConfiguration.DefaultConfiguration", "must be a map"),
    ("case duplicate", _mutate(["componentname"], "x"), "componentname", "given twice"),
    ("rollback on run", _mutate(["Manifests", 0, "Lifecycle", "Run", "BootstrapOnRollback"], True),
     "Manifests[0].Lifecycle.Run.BootstrapOnRollback", "only the Bootstrap step"),
]


@pytest.mark.parametrize("why,mutate,path,text", BAD, ids=[b[0] for b in BAD])
def test_bad_recipes_name_the_path_and_the_fix(why, mutate, path, text):
    doc = base()
    mutate(doc)
    with pytest.raises(RecipeError) as ei:
        parse_recipe(json.dumps(doc), source="r.json")
    issues = ei.value.issues
    assert any(i.path == path and (text in i.message or text in i.fix) for i in issues), [str(i) for i in issues]
    assert all(i.file == "r.json" for i in issues)
    assert path in str(ei.value)


def test_all_errors_are_reported_at_once():
    doc = base()
    doc["Bogus"] = 1
    doc["ComponentVersion"] = "one"
    doc["Manifests"][0]["Lifecycle"]["Instal"] = "x"
    with pytest.raises(RecipeError) as ei:
        parse_recipe(json.dumps(doc))
    assert {i.path for i in ei.value.issues} == {"Bogus", "ComponentVersion", "Manifests[0].Lifecycle.Instal"}


@pytest.mark.parametrize("text,why", [("{", "JSON"), ("a: [", "YAML"), ("- 1\n- 2\n", "must be a map")])
def test_unparseable_text(text, why):
    with pytest.raises(RecipeError, match=why):
        parse_recipe(text)


def test_yaml_1_1_surprises_do_not_apply():
    r = parse_recipe(SAMPLE.replace("retries: 3", "retries: 3\n    flag: yes\n    day: 2020-01-01"))
    assert r.format_version == "2020-01-25"  # unquoted date stays a string
    assert r.default_configuration["flag"] == "yes" and r.default_configuration["day"] == "2020-01-01"


PLATFORMS = [
    ({"os": "linux"}, {"os": "linux", "architecture": "amd64"}, True),
    ({"os": "windows"}, {"os": "linux", "architecture": "amd64"}, False),
    ({"os": "*"}, {"architecture": "amd64"}, True),
    ({"os": "linux", "architecture": "/amd64|aarch64/"}, {"os": "linux", "architecture": "aarch64"}, True),
    ({"architecture": "/amd64|aarch64/"}, {"os": "linux", "architecture": "arm"}, False),
    ({"architecture": "/amd/"}, {"architecture": "amd64"}, False),  # whole-label match, as Java's matches()
    ({"architecture": "//"}, {"architecture": "x86"}, True),
    ({"architecture": "//"}, {}, False),
    ({"os": "all"}, {"os": "darwin"}, True),
    ({"os": ["windows", "linux"]}, {"os": "linux"}, True),
    ({"com.example.Radio": "lora"}, {"os": "linux"}, False),
    ({}, {"os": "linux"}, True),
]


@pytest.mark.parametrize("platform,target,expected", PLATFORMS)
def test_platform_matching(platform, target, expected):
    doc = base()
    doc["Manifests"][0]["Platform"] = platform
    r = parse_recipe(json.dumps(doc))
    assert (r.select_manifest(target) is not None) is expected


def test_first_matching_manifest_wins():
    doc = base()
    m0 = doc["Manifests"][0]
    doc["Manifests"] = [
        dict(copy.deepcopy(m0), Platform={"os": "windows"}, Name="win"),
        dict(copy.deepcopy(m0), Platform={"os": "linux", "architecture": "aarch64"}, Name="arm"),
        dict(copy.deepcopy(m0), Platform={"os": "linux"}, Name="linux"),
        dict(copy.deepcopy(m0), Platform={}, Name="any"),
    ]
    r = parse_recipe(json.dumps(doc))
    assert r.select_manifest({"os": "linux", "architecture": "aarch64"}).name == "arm"
    assert r.select_manifest({"os": "linux", "architecture": "amd64"}).name == "linux"
    assert r.select_manifest({"os": "darwin", "architecture": "amd64"}).name == "any"
    doc["Manifests"] = doc["Manifests"][:1]
    assert parse_recipe(json.dumps(doc)).select_manifest({"os": "linux"}) is None


def test_global_lifecycle_with_selections():
    doc = base()
    del doc["Manifests"][0]["Lifecycle"]
    doc["Manifests"][0]["Selections"] = ["special", "all"]
    doc["Lifecycle"] = {"all": {"Run": "echo all", "Install": "echo install"}, "special": {"Run": "echo special"}}
    lc = parse_recipe(json.dumps(doc)).manifests[0].lifecycle
    assert (lc.run.script, lc.install.script) == ("echo special", "echo install")
    doc["Lifecycle"] = {"Run": "echo plain"}
    assert parse_recipe(json.dumps(doc)).manifests[0].lifecycle.run.script == "echo plain"


@pytest.mark.parametrize("req,yes,no", [
    ("^2.0.0", ["2.0.0", "2.9.1"], ["1.9.9", "3.0.0", "2.0.0-rc.1"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
    ("~1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
    (">=1.0.0 <2.0.0", ["1.0.0", "1.99.0"], ["2.0.0", "0.9.0"]),
    (">=2.0.0", ["2.0.0", "10.0.0"], ["1.0.0"]),
    ("1.x", ["1.0.0", "1.5.2"], ["2.0.0"]),
    ("*", ["0.0.1", "9.9.9"], []),
    ("1.0.0 - 1.5", ["1.0.0", "1.5.9"], ["1.6.0"]),
    ("<1.0.0 || >=3.0.0", ["0.5.0", "3.1.0"], ["2.0.0"]),
    ("=1.2.3", ["1.2.3"], ["1.2.4"]),
    ("2.0.0-beta.2", ["2.0.0-beta.2"], ["2.0.0"]),
])
def test_version_requirements(req, yes, no):
    vr = VersionRequirement.parse(req)
    assert all(vr.satisfied_by(v) for v in yes), req
    assert not any(vr.satisfied_by(v) for v in no), req


@pytest.mark.parametrize("bad", ["", "^^1", ">=a.b", "1.2.3.4", "latest"])
def test_bad_version_requirements(bad):
    with pytest.raises(ValueError):
        VersionRequirement.parse(bad)


def test_with_artifact_uris_changes_only_the_uris_and_keeps_the_text():
    r = parse_recipe(SAMPLE, source="s3.yaml")
    old = r.artifact_uris()
    new = {u: u.replace("s3://their-bucket/", "s3://our-artifacts/") for u in old}
    r2 = r.with_artifact_uris(new)
    assert r2.artifact_uris() == [new[u] for u in old]
    assert r2.text().replace("our-artifacts", "their-bucket") == SAMPLE  # byte for byte but the URIs
    assert "# the SDK" in r2.text() and '"s3://our-artifacts/' in r2.text()
    raw1, raw2 = r.raw, r2.raw
    for m in raw2["Manifests"]:
        for a in m["Artifacts"]:
            a[next(k for k in a if k.lower() == "uri")] = "x"
    for m in raw1["Manifests"]:
        for a in m["Artifacts"]:
            a[next(k for k in a if k.lower() == "uri")] = "x"
    assert raw1 == raw2
    assert r.artifact_uris() == old  # the original is untouched (frozen)


def test_with_artifact_uris_json_and_unknown_uri():
    r = parse_recipe(json.dumps(base(), indent=4))
    uri = r.artifact_uris()[0]
    r2 = r.with_artifact_uris({uri: "s3://b/k"})
    assert r2.source_format == "json" and json.loads(r2.text())["Manifests"][0]["Artifacts"][0]["URI"] == "s3://b/k"
    with pytest.raises(RecipeError, match="no artifact has the URI"):
        r.with_artifact_uris({"s3://nope/x": "s3://b/x"})


def test_default_configuration_is_a_fresh_copy():
    r = parse_recipe(SAMPLE)
    r.default_configuration["bucket"] = "changed"
    assert r.default_configuration["bucket"] == "my-bucket"


@pytest.mark.parametrize("system,machine,expected", [
    ("Linux", "x86_64", {"os": "linux", "architecture": "amd64"}),
    ("Linux", "aarch64", {"os": "linux", "architecture": "aarch64"}),
    ("Darwin", "arm64", {"os": "darwin", "architecture": "aarch64"}),
    ("Linux", "armv7l", {"os": "linux", "architecture": "arm", "architecture.detail": "armv7"}),
    ("Windows", "AMD64", {"os": "windows", "architecture": "amd64"}),
])
def test_current_platform(system, machine, expected):
    assert current_platform(system, machine) == expected


def test_default_timeouts_and_load(tmp_path):
    r = parse_recipe(SAMPLE)
    lc = r.manifests[0].lifecycle
    assert with_defaults("Install", lc.install) == 120 and with_defaults("Run", lc.run) is None
    assert DEFAULT_TIMEOUTS["Shutdown"] == 15
    p = tmp_path / "recipe.yaml"
    p.write_text(SAMPLE)
    assert load_recipe(p).name == "com.example.S3Sample"
    with pytest.raises(RecipeError, match="cannot read"):
        load_recipe(tmp_path / "missing.yaml")


def test_canonical_spells_every_reference_key_as_the_reference_and_keeps_free_form_maps():
    doc = {
        "recipeformatversion": "2020-01-25", "componentName": "com.example.Canon", "COMPONENTVERSION": "1.0.0",
        "componentConfiguration": {"defaultConfiguration": {"myKey": {"innerKey": 1}}},
        "componentDependencies": {"com.example.Dep": {"versionRequirement": "^1.0.0", "dependencytype": "SOFT"}},
        "manifests": [{"platform": {"os": "linux", "myAttr": "x"}, "selections": ["all"],
                       "lifecycle": {"setenv": {"myVar": "1"}, "run": {"script": "echo", "requiresPrivilege": True}},
                       "artifacts": [{"uri": "s3://b/k.zip", "unarchive": "ZIP", "permission": {"read": "ALL"}}]}],
        "lifecycle": {"all": {"install": "echo install"}},
    }
    r = parse_recipe(json.dumps(doc))
    assert r.canonical == {
        "RecipeFormatVersion": "2020-01-25", "ComponentName": "com.example.Canon", "ComponentVersion": "1.0.0",
        "ComponentConfiguration": {"DefaultConfiguration": {"myKey": {"innerKey": 1}}},
        "ComponentDependencies": {"com.example.Dep": {"VersionRequirement": "^1.0.0", "DependencyType": "SOFT"}},
        "Manifests": [{"Platform": {"os": "linux", "myAttr": "x"}, "Selections": ["all"],
                       "Lifecycle": {"Setenv": {"myVar": "1"}, "Run": {"Script": "echo", "RequiresPrivilege": True}},
                       "Artifacts": [{"URI": "s3://b/k.zip", "Unarchive": "ZIP", "Permission": {"Read": "ALL"}}]}],
        "Lifecycle": {"all": {"Install": "echo install"}},
    }
    assert r.raw == doc  # the document as written stays available
    assert parse_recipe(json.dumps(r.canonical)).canonical == r.canonical
