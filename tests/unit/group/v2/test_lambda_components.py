"""Lambda parameter mapping and component versions (issue #13 item 1)."""
from __future__ import annotations

from pathlib import Path

import pytest

from group.v2 import catalog
from group.v2.convert import convert
from group.v2.lambda_recipe import lambda_parameters_from_recipe, recipe_for_lambda

from .conftest import ACCOUNT, REGION, make_group


def conv(group, **kw):
    return convert(group, root=Path("."), account_id=ACCOUNT, region=REGION, **kw)


def test_lambda_request_is_valid_for_botocore(check_input):
    plan = conv(make_group(resources=[{"name": "cam", "device": "/dev/video0"}]))
    for lc in plan.lambdas:
        assert check_input("CreateComponentVersion", lc.create_request()) == ""


@pytest.mark.parametrize("fn,expected", [
    ({"pinned": True, "memory_mb": 128, "timeout_s": 3},
     {"pinned": True, "timeoutInSeconds": 3, "statusTimeoutInSeconds": 60, "maxQueueSize": 1000,
      "inputPayloadEncodingType": "json"}),
    ({"pinned": False, "memory_mb": 64, "timeout_s": 9, "max_instances": 4, "encoding": "binary"},
     {"pinned": False, "timeoutInSeconds": 9, "maxInstancesCount": 4, "maxIdleTimeInSeconds": 60,
      "inputPayloadEncodingType": "binary"}),
    ({"pinned": False, "memory_mb": 64},
     {"pinned": False, "maxInstancesCount": 100}),
])
def test_scalar_parameters(fn, expected):
    plan = conv(make_group(functions=[{"name": "f", **fn}]))
    params = plan.lambda_component("f").parameters
    for key, value in expected.items():
        assert params[key] == value, key
    assert ("statusTimeoutInSeconds" in params) is fn["pinned"]
    assert ("maxInstancesCount" in params) is (not fn["pinned"])


def test_pinned_false_is_explicit():
    params = conv(make_group(functions=[{"name": "f", "pinned": False, "memory_mb": 64}])).lambda_component("f").parameters
    assert params["pinned"] is False


def test_container_params_memory_kb_volumes_devices():
    g = make_group(
        functions=[{"name": "cam", "pinned": True, "memory_mb": 256, "access_sysfs": True,
                    "environment": {"B": "2", "A": "1"},
                    "resources": [{"ref": "video", "permission": "rw"}, {"ref": "frames"}]}],
        resources=[{"name": "video", "device": "/dev/video0"},
                   {"name": "frames", "volume": {"source": "/var/frames", "dest": "/data"}, "group_owner": False}])
    lc = conv(g).lambda_component("cam")
    linux = lc.parameters["linuxProcessParams"]
    assert linux == {"isolationMode": "GreengrassContainer", "containerParams": {
        "memorySizeInKB": 262144, "mountROSysfs": True,
        "volumes": [{"sourcePath": "/var/frames", "destinationPath": "/data", "permission": "ro",
                     "addGroupOwner": False}],
        "devices": [{"path": "/dev/video0", "permission": "rw", "addGroupOwner": True}]}}
    assert list(lc.parameters["environmentVariables"]) == ["A", "B"]


def test_no_container_and_resource_is_an_error_finding():
    g = make_group(functions=[{"name": "f", "pinned": True, "isolation": "NoContainer",
                               "resources": [{"ref": "frames"}]}],
                   resources=[{"name": "frames", "volume": {"source": "/a", "dest": "/b"}}])
    plan = conv(g)
    assert plan.lambda_component("f").parameters["linuxProcessParams"] == {"isolationMode": "NoContainer"}
    assert [(f.path, f.severity) for f in plan.errors()] == [("functions[0].resources[0]", "error")]


def test_arn_is_versioned_and_versions_default_with_a_finding():
    plan = conv(make_group(), lambda_versions={"fa": "7"})
    fa, fb = plan.lambda_component("fa"), plan.lambda_component("fb")
    assert fa.lambda_arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:grp-fa:7"
    assert fa.component_version.startswith("7.0.") and fb.component_version.startswith("1.0.")
    assert fa.component_name == "grp-fa" == fa.lambda_function_name
    assumed = [f for f in plan.findings if "assumed" in f.message]
    assert [f.path for f in assumed] == ["functions[1]"] and assumed[0].severity == "info"


def test_bad_lambda_version_is_refused():
    with pytest.raises(ValueError, match="published version"):
        conv(make_group(), lambda_versions={"fa": "$LATEST"})


def test_component_version_is_stable_and_follows_content():
    v1 = conv(make_group()).lambda_component("fa").component_version
    assert conv(make_group()).lambda_component("fa").component_version == v1
    changed = make_group(functions=[{"name": "fa", "pinned": True, "memory_mb": 128, "timeout_s": 3,
                                     "environment": {"X": "1"}}])
    assert conv(changed).lambda_component("fa").component_version != v1
    # a new subscription routed to the function changes its event sources, so its version
    routed = make_group(subscriptions=[{"source": "cloud", "target": "fa", "topic": "cmd/fa"}])
    assert conv(routed).lambda_component("fa").component_version != v1
    # the other function is untouched
    assert conv(routed).lambda_component("fb").component_version == conv(make_group()).lambda_component("fb").component_version
    major, minor, patch = v1.split(".")
    assert (major, minor) == ("1", "0") and 0 <= int(patch) < 16 ** 6


def test_dependencies_router_stream_manager_shadow():
    g = make_group(
        functions=[{"name": "pub", "pinned": True, "memory_mb": 64, "environment": {"STREAM": "S1"}},
                   {"name": "quiet", "pinned": True, "memory_mb": 64},
                   {"name": "shadowy", "pinned": True, "memory_mb": 64}],
        devices=[{"thing": "Light"}],
        streams=[{"name": "S1"}],
        stream_manager={"enabled": True, "port": 9000},
        subscriptions=[{"source": "pub", "target": "cloud", "topic": "out"},
                       {"source": "shadow:Light", "target": "shadowy", "topic": "$aws/things/Light/shadow/update/documents"}])
    plan = conv(g)
    deps = {lc.function: lc.request.get("componentDependencies", {}) for lc in plan.lambdas}
    assert set(deps["pub"]) == {catalog.SUBSCRIPTION_ROUTER, catalog.STREAM_MANAGER}
    assert deps["pub"][catalog.SUBSCRIPTION_ROUTER] == {"versionRequirement": "^2.1.0", "dependencyType": "HARD"}
    assert deps["quiet"] == {}
    assert set(deps["shadowy"]) == {catalog.SHADOW_MANAGER}
    # a non-default stream manager port reaches the function's environment
    assert plan.lambda_component("pub").parameters["environmentVariables"]["STREAM_MANAGER_SERVER_PORT"] == "9000"


def test_run_as_becomes_run_with():
    g = make_group(functions=[{"name": "f", "pinned": True, "memory_mb": 64, "run_as": {"uid": 1000, "gid": 44}}])
    plan = conv(g)
    assert plan.deployment["components"]["grp-f"]["runWith"] == {"posixUser": "1000:44"}
    assert any(f.path == "functions[0].run_as" for f in plan.findings)


def test_generated_recipe_shape_and_round_trip():
    g = make_group(
        functions=[{"name": "cam", "pinned": False, "memory_mb": 256, "max_instances": 3, "encoding": "binary",
                    "environment": {"A": "1"}, "resources": [{"ref": "video", "permission": "rw"}]}],
        resources=[{"name": "video", "device": "/dev/video0"}],
        subscriptions=[{"source": "cloud", "target": "cam", "topic": "cmd/#"},
                       {"source": "DevA", "target": "cam", "topic": "local/cmd"}])
    lc = conv(g).lambda_component("cam")
    recipe = recipe_for_lambda(lc.request, REGION, ACCOUNT, handler="handler.function_handler",
                               runtime="python3.12")
    assert recipe["ComponentType"] == "aws.greengrass.lambda"
    assert recipe["ComponentPublisher"] == "AWS Lambda"
    assert recipe["ComponentSource"] == lc.lambda_arn
    assert recipe["ComponentName"] == lc.component_name and recipe["ComponentVersion"] == lc.component_version
    assert {catalog.LAMBDA_LAUNCHER, catalog.LAMBDA_MANAGER, catalog.LAMBDA_RUNTIMES,
            catalog.TOKEN_EXCHANGE} <= set(recipe["ComponentDependencies"])
    cfg = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert cfg["pubsubTopics"] == {"0": {"topic": "cmd/#", "type": "IOT_CORE"},
                                   "1": {"topic": "local/cmd", "type": "PUB_SUB"}}
    assert cfg["containerMode"] == "GreengrassContainer"
    assert cfg["containerParams"]["memorySize"] == 262144
    assert cfg["containerParams"]["devices"] == {"0": {"path": "/dev/video0", "permission": "rw",
                                                       "addGroupOwner": True}}
    assert cfg["lambdaExecutionParameters"] == {"EnvironmentVariables": {"A": "1"}}
    assert (cfg["pinned"], cfg["maxInstancesCount"], cfg["inputPayloadEncodingType"]) == (False, 3, "binary")
    assert recipe["Manifests"][0]["Artifacts"][0]["Uri"] == "greengrass:lambda-artifact.zip"
    assert recipe["Lifecycle"]["setenv"]["AWS_GREENGRASS_LAMBDA_FUNCTION_HANDLER"] == "handler.function_handler"
    back = lambda_parameters_from_recipe(recipe)
    for key, value in lc.parameters.items():
        assert back[key] == value, key


def test_recipe_defaults_fill_a_minimal_request():
    recipe = recipe_for_lambda({"lambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Cam:7"}, REGION, ACCOUNT)
    assert (recipe["ComponentName"], recipe["ComponentVersion"]) == ("Cam", "7.0.0")
    cfg = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert cfg["pinned"] is True and cfg["timeoutInSeconds"] == 3 and cfg["containerParams"]["memorySize"] == 16384
    with pytest.raises(ValueError, match="version"):
        recipe_for_lambda({"lambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Cam:$LATEST"}, REGION, ACCOUNT)
