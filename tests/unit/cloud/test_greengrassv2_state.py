"""Pure Greengrass V2 stand-in state: recipes, components, deployments, core devices, persistence."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from group.v2.catalog import Dependency, PublicComponentInfo
from group.v2.lambda_recipe import recipe_for_lambda
from group.v2.versions import satisfies
from group.v2.versions import sort_key as semver_key
from localcore.cloud.errors import ApiError
from localcore.cloud.greengrassv2_state import (
    GreengrassV2State,
    LambdaInfo,
    page,
    parse_inline_recipe,
    split_lambda_arn,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
THING = f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/"
GROUP = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/"
CATALOG = {
    "aws.greengrass.Nucleus": PublicComponentInfo("aws.greengrass.Nucleus", "2.16.1", "aws.greengrass.nucleus"),
    "aws.greengrass.StreamManager": PublicComponentInfo(
        "aws.greengrass.StreamManager",
        "2.2.1",
        "aws.greengrass.generic",
        dependencies={"aws.greengrass.TokenExchangeService": Dependency("^2.0.0")},
    ),
}
INFO = LambdaInfo(
    arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:producer:3",
    function_name="producer",
    version="3",
    runtime="python3.11",
    handler="handler.function_handler",
    code_sha256="q1w2e3",
    code_size=10,
)


def recipe(name="com.example.Hello", version="1.0.0", **extra) -> bytes:
    doc = {"RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version, **extra}
    return json.dumps(doc).encode()


def make(**kw) -> GreengrassV2State:
    return GreengrassV2State(REGION, ACCOUNT, public_components=CATALOG, **kw)


def code(fn, *args, **kwargs) -> str:
    with pytest.raises(ApiError) as exc:
        fn(*args, **kwargs)
    return exc.value.code


# ------------------------------------------------------------------ recipes
YAML_RECIPE = """
RecipeFormatVersion: 2020-01-25
ComponentName: com.example.Yaml
ComponentVersion: '1.2.3'
ComponentDependencies:
  aws.greengrass.StreamManager: {VersionRequirement: '^2.0.0', DependencyType: SOFT}
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: python3 -u main.py}
    Artifacts:
      - URI: s3://bucket/a.zip
        Unarchive: ZIP
"""


def test_yaml_recipe_with_an_unquoted_date_parses():
    doc = parse_inline_recipe(YAML_RECIPE.encode()).canonical
    assert doc["RecipeFormatVersion"] == "2020-01-25"
    assert doc["ComponentVersion"] == "1.2.3"


@pytest.mark.parametrize(
    "blob,field",
    [
        (recipe(version="1.0"), "ComponentVersion"),
        (recipe(version="v1.0.0"), "ComponentVersion"),
        (json.dumps({"ComponentName": "a", "ComponentVersion": "1.0.0"}).encode(), "RecipeFormatVersion"),
        (
            json.dumps({"RecipeFormatVersion": "2020-01-25", "ComponentVersion": "1.0.0"}).encode(),
            "ComponentName",
        ),
        (recipe(name="x" * 129), "ComponentName"),
        (
            recipe(ComponentDependencies={"a": {"DependencyType": "WEAK"}}),
            "ComponentDependencies.a.DependencyType",
        ),
        (recipe(Manifests=[{"Artifacts": [{"Unarchive": "ZIP"}]}]), "Manifests[0].Artifacts[0].URI"),
        (
            recipe(Manifests=[{"Artifacts": [{"URI": "s3://b/k", "Unarchive": "TAR"}]}]),
            "Manifests[0].Artifacts[0].Unarchive",
        ),
        (recipe(Manifests={"os": "linux"}), "Manifests"),
        (b"- just\n- a list\n", None),
        (b"\xff\xfe", None),
        (b"a: [unclosed", None),
    ],
)
def test_bad_recipes_are_validation_errors_naming_the_field(blob, field):
    with pytest.raises(ApiError) as exc:
        parse_inline_recipe(blob)
    assert exc.value.code == "ValidationException"
    if field is not None:
        assert field in exc.value.message


def test_semver_ordering_and_paging():
    assert sorted(["1.10.0", "1.2.0", "1.2.0-rc1", "0.9.9"], key=semver_key) == [
        "0.9.9",
        "1.2.0-rc1",
        "1.2.0",
        "1.10.0",
    ]
    first, token = page(list(range(5)), 2, None)
    second, token2 = page(list(range(5)), 2, token)
    last, token3 = page(list(range(5)), 2, token2)
    assert (first, second, last, token3) == ([0, 1], [2, 3], [4], None)
    assert code(page, [1], 2, "garbage!") == "ValidationException"
    assert code(page, [1], 0, None) == "ValidationException"


@pytest.mark.parametrize(
    "arn,ok",
    [
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:producer:3", True),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:producer:$LATEST", False),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:producer", False),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:producer:live", False),
        ("producer:3", False),
    ],
)
def test_lambda_arns_must_name_a_published_version(arn, ok):
    if ok:
        assert split_lambda_arn(arn) == (REGION, ACCOUNT, "producer", "3")
    else:
        assert code(split_lambda_arn, arn) == "ValidationException"


def test_lambda_recipe_carries_parameters_in_default_configuration():
    source = {
        "lambdaArn": INFO.arn,
        "componentLambdaParameters": {
            "pinned": False,
            "eventSources": [{"topic": "a/b", "type": "PUB_SUB"}, {"topic": "c/+", "type": "IOT_CORE"}],
            "linuxProcessParams": {
                "isolationMode": "NoContainer",
                "containerParams": {"memorySizeInKB": 2048},
            },
            "environmentVariables": {"A": "1"},
        },
        "componentDependencies": {"aws.greengrass.StreamManager": {"versionRequirement": "^2.0.0"}},
    }
    r = recipe_for_lambda(source, REGION, ACCOUNT, handler=INFO.handler, runtime=INFO.runtime,
                          artifact_sha256=INFO.code_sha256)
    assert (r["ComponentName"], r["ComponentVersion"], r["ComponentType"]) == (
        "producer",
        "3.0.0",
        "aws.greengrass.lambda",
    )
    assert r["ComponentSource"] == INFO.arn
    cfg = r["ComponentConfiguration"]["DefaultConfiguration"]
    assert cfg["pinned"] is False and cfg["containerMode"] == "NoContainer"
    assert cfg["containerParams"]["memorySize"] == 2048
    assert cfg["pubsubTopics"] == {
        "0": {"topic": "a/b", "type": "PUB_SUB"},
        "1": {"topic": "c/+", "type": "IOT_CORE"},
    }
    assert cfg["lambdaExecutionParameters"]["EnvironmentVariables"] == {"A": "1"}
    assert r["ComponentDependencies"]["aws.greengrass.StreamManager"]["DependencyType"] == "HARD"
    assert r["Manifests"][0]["Artifacts"][0]["Uri"] == "greengrass:lambda-artifact.zip"
    assert r["Lifecycle"]["setenv"]["AWS_GREENGRASS_LAMBDA_FUNCTION_HANDLER"] == "handler.function_handler"


# ------------------------------------------------------------------ components
def test_component_versions_are_immutable_and_listed_newest_first():
    st = make()
    st.create_component_from_recipe(recipe(version="1.0.0"))
    st.create_component_from_recipe(recipe(version="1.10.0"))
    st.create_component_from_recipe(recipe(version="1.2.0"))
    assert code(st.create_component_from_recipe, recipe(version="1.2.0")) == "ConflictException"
    arn = st.component_arn("com.example.Hello")
    versions = [
        v["componentVersion"] for v in st.list_component_versions(arn, None, None)["componentVersions"]
    ]
    assert versions == ["1.10.0", "1.2.0", "1.0.0"]
    (only,) = st.list_components(None, None, None)["components"]
    assert only["latestVersion"]["componentVersion"] == "1.10.0"
    st.delete_component(st.component_arn("com.example.Hello", "1.10.0"))
    assert (
        code(st.describe_component, st.component_arn("com.example.Hello", "1.10.0"))
        == "ResourceNotFoundException"
    )
    assert (
        st.list_components(None, None, None)["components"][0]["latestVersion"]["componentVersion"] == "1.2.0"
    )


def test_client_token_returns_the_first_answer_and_refuses_a_different_request():
    st = make()
    a = st.create_component_from_recipe(recipe(), client_token="tok-1")
    b = st.create_component_from_recipe(recipe(), client_token="tok-1")
    assert a == b
    assert (
        code(st.create_component_from_recipe, recipe(version="2.0.0"), client_token="tok-1")
        == "ConflictException"
    )


def test_get_component_renders_json_and_yaml_and_stores_artifact_digests():
    st = make()
    blob = YAML_RECIPE.encode()
    st.create_component_from_recipe(blob, artifact_digests={"s3://bucket/a.zip": "ZGlnZXN0"})
    arn = st.component_arn("com.example.Yaml", "1.2.3")
    as_json = json.loads(base64.b64decode(st.get_component(arn, "JSON")["recipe"]))
    as_yaml = yaml.safe_load(base64.b64decode(st.get_component(arn, "YAML")["recipe"]))
    assert as_json == as_yaml
    assert as_json["Manifests"][0]["Artifacts"][0]["Digest"] == "ZGlnZXN0"
    assert as_json["ComponentType"] == "aws.greengrass.generic"
    assert st.artifact_uri(arn, "bucket/a.zip")[1] == "s3://bucket/a.zip"
    assert st.artifact_uri(arn, "a.zip")[1] == "s3://bucket/a.zip"
    assert code(st.artifact_uri, arn, "other.zip") == "ResourceNotFoundException"
    assert code(st.get_component, arn, "XML") == "ValidationException"


def test_recipe_keys_in_any_case_are_stored_with_the_reference_spelling():
    st = make()
    lower = YAML_RECIPE.replace("ComponentName", "componentname").replace("Manifests", "MANIFESTS")
    lower = lower.replace("URI:", "uri:").replace("Unarchive", "unArchive").replace("Lifecycle: {Run", "lifecycle: {run")
    st.create_component_from_recipe(lower.encode(), artifact_digests={"s3://bucket/a.zip": "ZGlnZXN0"})
    arn = st.component_arn("com.example.Yaml", "1.2.3")
    stored = json.loads(base64.b64decode(st.get_component(arn, "JSON")["recipe"]))
    assert stored["ComponentName"] == "com.example.Yaml"
    assert stored["Manifests"][0] == {
        "Platform": {"os": "linux"},
        "Lifecycle": {"Run": "python3 -u main.py"},
        "Artifacts": [{"URI": "s3://bucket/a.zip", "Unarchive": "ZIP", "Digest": "ZGlnZXN0", "Algorithm": "SHA-256"}],
    }
    assert st.describe_component(arn)["platforms"] == [{"name": "linux", "attributes": {"os": "linux"}}]
    assert st.artifact_uri(arn, "a.zip")[1] == "s3://bucket/a.zip"
    twice = YAML_RECIPE + "componentName: other\n"
    assert code(st.create_component_from_recipe, twice.encode()) == "ValidationException"


def test_public_components_come_from_the_catalog():
    st = make()
    names = [c["componentName"] for c in st.list_components("PUBLIC", None, None)["components"]]
    assert names == sorted(CATALOG)
    arn = f"arn:aws:greengrass:{REGION}:aws:components:aws.greengrass.StreamManager"
    (v,) = st.list_component_versions(arn, None, None)["componentVersions"]
    assert v["componentVersion"] == "2.2.1"
    doc = json.loads(base64.b64decode(st.get_component(v["arn"], "JSON")["recipe"]))
    assert doc["ComponentDependencies"] == {
        "aws.greengrass.TokenExchangeService": {"VersionRequirement": "^2.0.0", "DependencyType": "HARD"}
    }
    assert code(st.delete_component, v["arn"]) == "ValidationException"
    assert (
        code(st.list_component_versions, arn.replace("StreamManager", "Nope"), None, None)
        == "ResourceNotFoundException"
    )


# ------------------------------------------------------------------ deployments
def deploy(st, target, components=None, **kw):
    body = {
        "targetArn": target,
        "components": components or {"com.example.Hello": {"componentVersion": "1.0.0"}},
    }
    body.update(kw)
    return st.create_deployment(body, client_token=kw.get("clientToken"))["deploymentId"]


def test_a_new_revision_replaces_the_previous_one_for_the_same_target():
    st = make()
    first = deploy(st, THING + "core")
    other = deploy(st, GROUP + "fleet")
    second = deploy(st, THING + "core")
    assert st.get_deployment(first)["deploymentStatus"] == "INACTIVE"
    assert st.get_deployment(first)["isLatestForTarget"] is False
    d2 = st.get_deployment(second)
    assert (d2["deploymentStatus"], d2["revisionId"], d2["isLatestForTarget"]) == ("ACTIVE", "2", True)
    assert d2["deploymentPolicies"]["failureHandlingPolicy"] == "ROLLBACK"
    latest = {d["deploymentId"] for d in st.list_deployments()["deployments"]}
    assert latest == {second, other}
    every = st.list_deployments(target_arn=THING + "core", history_filter="ALL")["deployments"]
    assert [d["deploymentId"] for d in every] == [second, first]


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"targetArn": "arn:aws:iot:eu-west-1:123456789012:thing/core"}, "ValidationException"),
        ({"targetArn": THING + "core", "parentTargetArn": GROUP + "g"}, "ValidationException"),
        (
            {
                "targetArn": THING + "core",
                "components": {"a": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": "{bad"}}},
            },
            "ValidationException",
        ),
        (
            {
                "targetArn": THING + "core",
                "components": {"a": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": "[1]"}}},
            },
            "ValidationException",
        ),
        (
            {
                "targetArn": THING + "core",
                "components": {"a": {"componentVersion": "1.0.0", "configurationUpdate": {"reset": ["x"]}}},
            },
            "ValidationException",
        ),
    ],
)
def test_bad_deployments(body, expected):
    assert code(make().create_deployment, body) == expected


def test_deployment_client_token_is_idempotent():
    st = make()
    a = deploy(st, THING + "core", clientToken="d-1")
    b = deploy(st, THING + "core", clientToken="d-1")
    assert a == b and len(st.list_deployments(history_filter="ALL")["deployments"]) == 1


def test_cancel_then_delete_and_their_conflicts():
    st = make()
    dep = deploy(st, THING + "core")
    assert code(st.delete_deployment, dep) == "ConflictException"
    st.cancel_deployment(dep)
    assert st.get_deployment(dep)["deploymentStatus"] == "CANCELED"
    assert code(st.cancel_deployment, dep) == "ConflictException"
    st.delete_deployment(dep)
    assert code(st.get_deployment, dep) == "ResourceNotFoundException"


# ------------------------------------------------------------------ device side
def test_core_device_appears_when_it_reports_and_executions_follow_reports():
    st = make()
    thing_dep = deploy(st, THING + "core")
    group_dep = deploy(st, GROUP + "fleet")
    assert code(st.get_core_device, "core") == "ResourceNotFoundException"
    eff = st.list_effective_deployments("core", [GROUP + "fleet"])["effectiveDeployments"]
    assert {e["coreDeviceExecutionStatus"] for e in eff} == {"QUEUED"}
    docs = st.core_deployments("core", [GROUP + "fleet"])
    assert [d["deploymentId"] for d in docs] == [thing_dep, group_dep]
    assert docs[0]["components"] == {"com.example.Hello": {"componentVersion": "1.0.0"}}

    st.report_deployment("core", thing_dep, "SUCCEEDED")
    st.report_deployment(
        "core", group_dep, "FAILED", reason="boom", error_stack=["A", "B"], error_types=["COMPONENT_ERROR"]
    )
    assert st.get_core_device("core")["status"] == "HEALTHY"
    rows = {
        e["deploymentId"]: e
        for e in st.list_effective_deployments("core", [GROUP + "fleet"])["effectiveDeployments"]
    }
    assert rows[thing_dep]["coreDeviceExecutionStatus"] == "COMPLETED"
    assert rows[group_dep]["coreDeviceExecutionStatus"] == "FAILED"
    assert rows[group_dep]["reason"] == "boom"
    assert rows[group_dep]["statusDetails"] == {"errorStack": ["A", "B"], "errorTypes": ["COMPONENT_ERROR"]}
    assert st.get_deployment(thing_dep)["deploymentStatus"] == "COMPLETED"
    assert st.get_deployment(group_dep)["deploymentStatus"] == "ACTIVE"  # continuous: a group's stays active
    assert code(st.report_deployment, "other", thing_dep, "SUCCEEDED") == "ValidationException"
    assert code(st.report_deployment, "core", thing_dep, "DONE") == "ValidationException"


def test_installed_components_and_health_reports():
    st = make()
    st.report_health("core", core_version="2.16.1", architecture="aarch64")
    st.report_installed(
        "core",
        [
            {"componentName": "a", "componentVersion": "1.0.0", "lifecycleState": "RUNNING", "isRoot": True},
            {"componentName": "dep", "componentVersion": "2.0.0", "lifecycleState": "FINISHED"},
        ],
        deployment_id="d1",
    )
    core = st.get_core_device("core")
    assert (core["coreVersion"], core["architecture"], core["status"]) == ("2.16.1", "aarch64", "HEALTHY")
    roots = st.list_installed_components("core")["installedComponents"]
    assert [c["componentName"] for c in roots] == ["a"]
    assert roots[0]["lastInstallationSource"] == "d1"
    assert len(st.list_installed_components("core", "ALL")["installedComponents"]) == 2
    st.report_installed(
        "core",
        [{"componentName": "a", "componentVersion": "1.0.0", "lifecycleState": "BROKEN", "isRoot": True}],
    )
    assert st.get_core_device("core")["status"] == "UNHEALTHY"
    assert (
        code(st.report_installed, "core", [{"componentName": "a", "lifecycleState": "RUNNING"}])
        == "ValidationException"
    )
    assert code(st.report_health, "core", status="SICK") == "ValidationException"
    st.delete_core_device("core")
    assert code(st.get_core_device, "core") == "ResourceNotFoundException"
    assert code(st.list_installed_components, "core") == "ResourceNotFoundException"


def test_auto_complete_finishes_thing_deployments_and_fails_unknown_versions():
    st = make(auto_complete_deployments=True)
    st.create_component_from_recipe(recipe())
    ok = deploy(
        st,
        THING + "core",
        {
            "com.example.Hello": {"componentVersion": "1.0.0"},
            "aws.greengrass.Nucleus": {"componentVersion": "2.16.1"},
        },
    )
    assert st.get_deployment(ok)["deploymentStatus"] == "COMPLETED"
    core = st.get_core_device("core")
    assert (core["status"], core["coreVersion"]) == ("HEALTHY", "2.16.1")
    states = {
        c["componentName"]: c["lifecycleState"]
        for c in st.list_installed_components("core")["installedComponents"]
    }
    assert states == {"com.example.Hello": "RUNNING", "aws.greengrass.Nucleus": "RUNNING"}
    bad = deploy(st, THING + "core", {"com.example.Hello": {"componentVersion": "9.9.9"}})
    assert st.get_deployment(bad)["deploymentStatus"] == "FAILED"
    (row,) = [
        e for e in st.list_effective_deployments("core")["effectiveDeployments"] if e["deploymentId"] == bad
    ]
    assert "NO_AVAILABLE_COMPONENT_VERSION" in row["statusDetails"]["errorStack"]
    assert "'{thing/core==9.9.9}'" in row["reason"]
    group = st.create_deployment(
        {"targetArn": GROUP + "fleet", "components": {"com.example.Hello": {"componentVersion": "1.0.0"}}},
        members=["m1", "m2"],
    )["deploymentId"]
    assert st.get_deployment(group)["deploymentStatus"] == "ACTIVE"  # continuous
    for member in ("m1", "m2"):
        (row,) = st.list_effective_deployments(member, [GROUP + "fleet"])["effectiveDeployments"]
        assert row["coreDeviceExecutionStatus"] == "SUCCEEDED"
        assert st.get_core_device(member)["status"] == "HEALTHY"
    assert code(st.get_core_device, "not-a-member") == "ResourceNotFoundException"


def test_client_device_associations():
    st = make()
    errors = st.associate_client_devices("core", ["dev1", "dev2", "ghost"], missing=["ghost"])
    assert [e["thingName"] for e in errors] == ["ghost"]
    assert [d["thingName"] for d in st.associated_client_devices("core")["associatedClientDevices"]] == [
        "dev1",
        "dev2",
    ]
    errors = st.disassociate_client_devices("core", ["dev1", "never"])
    assert [e["thingName"] for e in errors] == ["never"]
    assert [d["thingName"] for d in st.associated_client_devices("core")["associatedClientDevices"]] == [
        "dev2"
    ]


def test_tags_need_an_existing_resource():
    st = make()
    st.create_component_from_recipe(recipe(), tags={"a": "1"})
    arn = st.component_arn("com.example.Hello", "1.0.0")
    st.tag_resource(arn, {"b": "2"})
    st.untag_resource(arn, ["a"])
    assert st.tags(arn) == {"b": "2"}
    assert code(st.tags, st.deployment_arn("nope")) == "ResourceNotFoundException"


def test_everything_survives_a_json_round_trip():
    st = make()
    changes = []
    st.on_change = lambda: changes.append(1)
    st.create_component_from_recipe(recipe(), tags={"k": "v"}, client_token="t1")
    dep = deploy(st, THING + "core")
    st.report_deployment("core", dep, "SUCCEEDED")
    st.associate_client_devices("core", ["dev1"])
    assert changes
    again = make()
    again.load_json(json.loads(json.dumps(st.to_json())))
    assert again.to_json() == st.to_json()
    assert again.get_deployment(dep) == st.get_deployment(dep)
    assert (
        again.create_component_from_recipe(recipe(), tags={"k": "v"}, client_token="t1")["componentVersion"]
        == "1.0.0"
    )


@pytest.mark.parametrize(
    "version,requirement,ok",
    [
        ("2.1.3", "^2.0.0", True),
        ("3.0.0", "^2.0.0", False),
        ("0.2.5", "^0.2.0", True),
        ("0.3.0", "^0.2.0", False),
        ("2.16.1", ">=2.0.0 <2.17.0", True),
        ("2.17.0", ">=2.0.0 <2.17.0", False),
        ("2.1.5", "~2.1.0", True),
        ("2.2.0", "~2.1.0", False),
        ("1.0.0", "1.0.0", True),
        ("1.0.1", "=1.0.0", False),
        ("5.0.0", "*", True),
        ("2.5.0", "<1.0.0 || >=2.0.0", True),
        ("1.5.0", "<1.0.0 || >=2.0.0", False),
        ("2.0.0-rc1", "^2.0.0", False),
        ("2.0.0-rc1", "2.0.0-rc1", True),
        ("2.0.0", ">= 2.0.0", True),
        ("not-semver", "*", False),
    ],
)
def test_npm_style_version_requirements(version, requirement, ok):
    assert satisfies(version, requirement) is ok


def test_resolve_candidates_picks_the_newest_version_meeting_every_requirement():
    st = make()
    for v in ("1.0.0", "1.4.0", "2.0.0"):
        st.create_component_from_recipe(recipe(version=v))
    out = st.resolve_candidates(
        [
            {
                "componentName": "com.example.Hello",
                "versionRequirements": {"thing/core": ">=1.0.0", "dep": "^1.0.0"},
            },
            {
                "componentName": "aws.greengrass.StreamManager",
                "versionRequirements": {"com.example.Hello": "^2.0.0"},
            },
        ]
    )
    got = [(r["componentName"], r["componentVersion"]) for r in out["resolvedComponentVersions"]]
    assert got == [("com.example.Hello", "1.4.0"), ("aws.greengrass.StreamManager", "2.2.1")]
    doc = json.loads(base64.b64decode(out["resolvedComponentVersions"][0]["recipe"]))
    assert doc["ComponentVersion"] == "1.4.0"
    conflicting = [
        {"componentName": "com.example.Hello", "versionRequirements": {"a": ">2.0.0", "b": "<2.0.0"}}
    ]
    assert code(st.resolve_candidates, conflicting) == "ResourceNotFoundException"
    assert (
        code(
            st.resolve_candidates,
            [{"componentName": "com.example.Hello", "versionRequirements": {"a": "??"}}],
        )
        == "ValidationException"
    )
