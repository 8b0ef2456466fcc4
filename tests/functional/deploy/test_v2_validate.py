"""``validate --platform v2`` (#22.5, #21.14) and ``export --platform v2``: every error of the group file and of
every recipe at once, each with a fix; dependencies resolved against the bundle's components and the public
components of the catalog; warnings that fit the platform asked for; what containerised Lambdas need on the
device; the compose file DockerApplicationManager's component needs in the export. No AWS call."""
from __future__ import annotations

import re

import pytest
import yaml

import deploy

COMPONENT_A = """RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.A
ComponentVersion: '1.0.0'
ComponentDependencies:
  com.example.Missing: {VersionRequirement: '^1.0.0'}
  aws.greengrass.Nucleus: {VersionRequirement: '>=9.0.0'}
ComponentConfiguration:
  DefaultConfiguration: [1, 2]
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: {Script: "python3 {artifacts:path}/a.py", Timeout: "soon"}, Bogus: 1}
    Artifacts:
      - URI: s3://any/a.py
      - URI: ftp://example.com/tool
"""
COMPONENT_B = """RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Bee
ComponentVersion: '1.0.0'
ComponentDependencies:
  com.example.Nowhere: {VersionRequirement: '>=1.0.0'}
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "python3 {artifacts:path}/b.py"}
    Artifacts:
      - URI: s3://any/b.py
"""
COMPONENT_OK = """RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Fine
ComponentVersion: '2.1.0'
ComponentDependencies:
  com.example.Helper: {VersionRequirement: '^1.0.0'}
  aws.greengrass.TokenExchangeService: {VersionRequirement: '^2.0.0'}
  aws.greengrass.StreamManager: {VersionRequirement: '^2.0.0', DependencyType: SOFT}
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "echo fine"}
"""
HELPER = """RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Helper
ComponentVersion: '1.2.0'
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "echo helper"}
"""


@pytest.fixture(autouse=True)
def _no_aws(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing may be called


def _bundle(h, tmp_path, recipes, components, **kw):
    root = tmp_path / "bundle"
    for folder, text in recipes.items():
        (root / "components" / folder).mkdir(parents=True, exist_ok=True)
        (root / "components" / folder / "recipe.yaml").write_text(text)
    return h.small_bundle(root, "checked", components=components, **kw)


def _validate(capsys, gf, platform="v2"):
    code = deploy.main(["validate", "--platform", platform, "--group-file", str(gf)])
    return code, capsys.readouterr().out


def _errors_without_fix(out):
    lines = out.splitlines()
    return [line for n, line in enumerate(lines) if line.startswith("error ")
            and not (n + 1 < len(lines) and lines[n + 1].startswith("    fix: "))]


def test_every_error_of_the_group_file_and_of_every_recipe_shows_at_once(h, tmp_path, capsys):
    gf = _bundle(h, tmp_path, {"a": COMPONENT_A, "b": COMPONENT_B},
                 [{"path": "components/a"},
                  {"path": "components/b", "name": "com.example.B", "configuration_update": {"merge": "fps=4"}}])
    data = yaml.safe_load(gf.read_text())
    data["functions"][0]["memory_mb"] = 5  # a group-file error beside the recipes' ones
    gf.write_text(yaml.safe_dump(data))
    code, out = _validate(capsys, gf)
    assert code == 1
    expected = [
        r"functions\[0\]\.memory_mb: memory 5 MB",                                     # the group file
        r"components\[1\]\.configuration_update\.merge: .*valid dictionary",
        r"components\[0\]\.recipe: .*DefaultConfiguration: must be a map",             # recipe a, every error
        r"components\[0\]\.recipe: .*Lifecycle\.Bogus: unknown key",
        r"components\[0\]\.recipe: .*Run\.Timeout: 'soon'",
        r"components\[0\]\.recipe: .*names the artifact s3://any/a\.py but components/a/a\.py does not exist",
        r"components\[0\]\.recipe: .*'ftp://example\.com/tool': a core device downloads only s3:// and docker:",
        r"components\[0\]\.recipe: .*depends on 'com\.example\.Missing', which exists nowhere",
        r"components\[0\]\.recipe: .*needs aws\.greengrass\.Nucleus >=9\.0\.0, but the deployment pins",
        r"components\[1\]\.name: name 'com\.example\.B' differs",                        # recipe b, every error
        r"components\[1\]\.recipe: .*components/b/b\.py does not exist",
        r"components\[1\]\.recipe: .*depends on 'com\.example\.Nowhere', which exists nowhere",
    ]
    missing = [rx for rx in expected if not re.search(rx, out)]
    assert not missing, f"not shown: {missing}\n{out}"
    assert _errors_without_fix(out) == [], out
    assert "write it as key: value pairs" in out  # the merge that is not an object
    assert "Greengrass V1" not in out and "ignores them" not in out, out  # a V1 note under --platform v2

    data["functions"][0]["memory_mb"] = 64  # the group file fixed: the recipes' errors are the same ones
    data["components"][1].pop("configuration_update")
    gf.write_text(yaml.safe_dump(data))
    code, again = _validate(capsys, gf)
    assert code == 1 and not [rx for rx in expected[2:] if not re.search(rx, again)], again
    assert _errors_without_fix(again) == [], again


def test_dependencies_resolve_against_the_bundle_and_the_public_catalog(h, tmp_path, capsys):
    ok = _bundle(h, tmp_path, {"fine": COMPONENT_OK, "helper": HELPER},
                 [{"path": "components/fine"}, {"path": "components/helper"}])
    code, out = _validate(capsys, ok)
    assert code == 0, out
    gone = _bundle(h, tmp_path / "2", {"fine": COMPONENT_OK}, [{"path": "components/fine"}])
    code, out = _validate(capsys, gone)  # the helper is nowhere now
    assert code == 1 and "depends on 'com.example.Helper', which exists nowhere" in out, out
    old = HELPER.replace("'1.2.0'", "'0.9.0'")
    low = _bundle(h, tmp_path / "3", {"fine": COMPONENT_OK, "helper": old},
                  [{"path": "components/fine"}, {"path": "components/helper"}])
    code, out = _validate(capsys, low)
    assert code == 1 and "needs com.example.Helper ^1.0.0, but the bundle has com.example.Helper 0.9.0" in out, out
    code, out = _validate(capsys, gone, platform="v1")  # V1 ignores components: a note, no error
    assert code == 0 and "ignores them" in out, out


def test_validate_v2_warns_that_container_lambdas_need_cgroups_v1(h, tmp_path, capsys):
    contained = h.small_bundle(tmp_path / "a", "contained", functions=("one", "two"))
    code, out = _validate(capsys, contained)
    assert code == 0 and "2 Lambda(s) run in a Greengrass container (one, two)" in out, out
    assert "cgroups v1" in out and "systemd.unified_cgroup_hierarchy=0" in out
    plain = h.small_bundle(tmp_path / "b", "plain", extra={"functions": [
        {"name": "hello", "pinned": True, "timeout_s": 3, "isolation": "NoContainer"}]})
    code, out = _validate(capsys, plain)
    assert code == 0 and "cgroups" not in out, out
    code, out = _validate(capsys, contained, platform="v1")
    assert "cgroups" not in out


def test_export_v2_carries_the_compose_file_of_the_docker_component(h, tmp_path, capsys):
    out_dir = tmp_path / "export"
    assert deploy.main(["export", "--platform", "v2", "--out", str(out_dir), "--state-dir", str(tmp_path / ".gg")]) == 0
    compose = sorted(out_dir.glob("artifacts/*-compose/*/docker-compose.yml"))
    assert len(compose) == 1, sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*"))
    assert compose[0].read_bytes() == (h.root / "docker" / "docker-compose.yml").read_bytes()
    recipe = next(out_dir.glob(f"recipes/{compose[0].parent.parent.name}-*.yaml")).read_text()
    assert "docker-compose.yml" in recipe and "aws.greengrass.DockerApplicationManager" in recipe
