"""The Greengrass V2 stand-in through a real boto3 ``greengrassv2`` client on a real LocalCloud.

botocore validates every request against the service model; each test asserts the error *code*.
The device side (what a core does) goes through the unsigned ``/_local/greengrassv2/`` routes.
"""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
import uuid
import zipfile

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from localcore.cloud import LocalCloud

from .conftest import KEYS, REGION, http

ACCOUNT = "123456789012"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def err(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def recipe(name: str, version: str = "1.0.0", **extra) -> bytes:
    return json.dumps(
        {"RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version, **extra}
    ).encode()


@pytest.fixture(scope="module")
def gg(client):
    return client("greengrassv2")


@pytest.fixture(scope="module")
def iot(client):
    return client("iot")


@pytest.fixture
def thing(iot):
    name = uid("core")
    iot.create_thing(thingName=name)
    return name


def thing_arn(name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{name}"


def local(cloud, method: str, path: str, obj=None):
    body = None if obj is None else json.dumps(obj).encode()
    return http(method, cloud.url + path, body, {"Content-Type": "application/json"} if body else {})


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


@pytest.fixture(scope="module")
def lambda_version(client):
    """A published Lambda version in the cloud: (versioned ARN, its code zip)."""
    iam, lam = client("iam"), client("lambda")
    role = iam.create_role(
        RoleName=uid("lambda-role"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def function_handler(event, context):\n    return event\n")
    code = buf.getvalue()
    name = uid("producer")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.function_handler",
        Code={"ZipFile": code},
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{version}", code


# ------------------------------------------------------------------ components
def test_inline_recipe_json_and_yaml_describe_get_and_conflict(gg):
    name = uid("com.example.Hello")
    out = gg.create_component_version(inlineRecipe=recipe(name), tags={"team": "edge"})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["status"]["componentState"] == "DEPLOYABLE"
    arn = out["arn"]
    assert arn == f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{name}:versions:1.0.0"
    yaml_recipe = f"RecipeFormatVersion: 2020-01-25\nComponentName: {name}\nComponentVersion: '1.1.0'\n"
    gg.create_component_version(inlineRecipe=yaml_recipe.encode())
    desc = gg.describe_component(arn=arn)
    assert (desc["componentName"], desc["componentVersion"], desc["tags"]) == (
        name,
        "1.0.0",
        {"team": "edge"},
    )
    got_yaml = gg.get_component(arn=arn.replace("1.0.0", "1.1.0"), recipeOutputFormat="YAML")
    assert got_yaml["recipeOutputFormat"] == "YAML"
    assert yaml.safe_load(got_yaml["recipe"])["ComponentVersion"] == "1.1.0"
    assert json.loads(gg.get_component(arn=arn)["recipe"])["ComponentName"] == name
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(inlineRecipe=recipe(name))
    assert err(exc) == "ConflictException"
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(inlineRecipe=recipe(name, "1.0"))
    assert err(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(inlineRecipe=b"ComponentName: x\n")
    assert err(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        gg.describe_component(arn=arn.replace("1.0.0", "9.9.9"))
    assert err(exc) == "ResourceNotFoundException"


def test_create_component_version_client_token_is_idempotent(gg):
    name = uid("com.example.Token")
    a = gg.create_component_version(inlineRecipe=recipe(name), clientToken="tok-" + name[-8:])
    b = gg.create_component_version(inlineRecipe=recipe(name), clientToken="tok-" + name[-8:])
    assert (a["arn"], a["creationTimestamp"]) == (b["arn"], b["creationTimestamp"])


def test_s3_artifact_digest_and_presigned_url(gg, client):
    s3 = client("s3")
    bucket = uid("artifacts")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="hello/main.py", Body=b"print('hi')\n")
    name = uid("com.example.Art")
    manifests = [
        {
            "Platform": {"os": "linux"},
            "Lifecycle": {"Run": "python3 main.py"},
            "Artifacts": [{"URI": f"s3://{bucket}/hello/main.py"}],
        }
    ]
    arn = gg.create_component_version(inlineRecipe=recipe(name, Manifests=manifests))["arn"]
    art = json.loads(gg.get_component(arn=arn)["recipe"])["Manifests"][0]["Artifacts"][0]
    assert art["Algorithm"] == "SHA-256" and art["Digest"]
    url = gg.get_component_version_artifact(arn=arn, artifactName=f"{bucket}/hello/main.py")["preSignedUrl"]
    assert get_bytes(url) == b"print('hi')\n"
    missing = [{"Artifacts": [{"URI": f"s3://{bucket}/nope.zip"}]}]
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(inlineRecipe=recipe(uid("com.example.Missing"), Manifests=missing))
    assert err(exc) == "ValidationException"
    assert "cannot be accessed" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        gg.get_component_version_artifact(arn=arn, artifactName="other.zip")
    assert err(exc) == "ResourceNotFoundException"


def test_recipe_keys_are_case_insensitive_as_the_service_takes_them(gg, client):
    """CreateComponentVersion reads recipe keys in any case (the service's recipe mapper is case-insensitive):
    a camelCase recipe makes the same component, its S3 artifact is found and digested, and the stored recipe
    spells its keys as the recipe reference does. The same key twice in two spellings is refused."""
    s3 = client("s3")
    bucket = uid("artifacts")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="ci/main.py", Body=b"print('ci')\n")
    name = uid("com.example.CaseInsensitive")
    camel = {
        "recipeFormatVersion": "2020-01-25",
        "componentName": name,
        "componentVersion": "1.0.0",
        "componentDescription": "camelCase keys",
        "componentDependencies": {"aws.greengrass.Nucleus": {"versionRequirement": ">=2.0.0 <3.0.0",
                                                             "dependencyType": "SOFT"}},
        "manifests": [
            {
                "platform": {"os": "linux"},
                "lifecycle": {"run": {"script": "python3 {artifacts:path}/main.py", "timeout": 30}},
                "artifacts": [{"uri": f"s3://{bucket}/ci/main.py", "unarchive": "NONE"}],
            }
        ],
    }
    out = gg.create_component_version(inlineRecipe=json.dumps(camel).encode())
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (out["componentName"], out["componentVersion"]) == (name, "1.0.0")
    desc = gg.describe_component(arn=out["arn"])
    assert desc["description"] == "camelCase keys"
    assert desc["platforms"] == [{"name": "linux", "attributes": {"os": "linux"}}]
    stored = json.loads(gg.get_component(arn=out["arn"])["recipe"])
    assert (stored["ComponentName"], stored["ComponentVersion"]) == (name, "1.0.0")
    assert "componentName" not in stored
    assert stored["ComponentDependencies"]["aws.greengrass.Nucleus"] == {
        "VersionRequirement": ">=2.0.0 <3.0.0", "DependencyType": "SOFT"}
    art = stored["Manifests"][0]["Artifacts"][0]
    assert art["URI"] == f"s3://{bucket}/ci/main.py" and art["Algorithm"] == "SHA-256" and art["Digest"]
    assert stored["Manifests"][0]["Lifecycle"] == {"Run": {"Script": "python3 {artifacts:path}/main.py",
                                                           "Timeout": 30}}
    url = gg.get_component_version_artifact(arn=out["arn"], artifactName=f"{bucket}/ci/main.py")["preSignedUrl"]
    assert get_bytes(url) == b"print('ci')\n"
    # an upper-case spelling of an unknown key is still unknown; one key given twice is an error
    twice = dict(camel, ComponentName=name, componentVersion="1.0.1")
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(inlineRecipe=json.dumps(twice).encode())
    assert err(exc) == "ValidationException"
    assert "ComponentName" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(inlineRecipe=json.dumps(dict(camel, COMPONENTVERSIONS="1.0.2")).encode())
    assert err(exc) == "ValidationException"


def test_lambda_component_recipe_and_code_artifact(gg, lambda_version):
    lambda_arn, code = lambda_version
    name = uid("com.example.Producer")
    out = gg.create_component_version(
        lambdaFunction={
            "lambdaArn": lambda_arn,
            "componentName": name,
            "componentVersion": "1.0.0",
            "componentDependencies": {
                "aws.greengrass.StreamManager": {"versionRequirement": "^2.0.0", "dependencyType": "HARD"}
            },
            "componentLambdaParameters": {
                "pinned": True,
                "eventSources": [{"topic": "hello/world", "type": "PUB_SUB"}],
                "linuxProcessParams": {"isolationMode": "NoContainer"},
            },
        }
    )
    doc = yaml.safe_load(gg.get_component(arn=out["arn"], recipeOutputFormat="YAML")["recipe"])
    assert doc["ComponentType"] == "aws.greengrass.lambda"
    assert doc["ComponentSource"] == lambda_arn
    assert doc["ComponentConfiguration"]["DefaultConfiguration"]["containerMode"] == "NoContainer"
    assert "aws.greengrass.LambdaLauncher" in doc["ComponentDependencies"]
    url = gg.get_component_version_artifact(arn=out["arn"], artifactName="lambda-artifact.zip")[
        "preSignedUrl"
    ]
    assert get_bytes(url) == code  # a plain GET serves the Lambda version's zip


@pytest.mark.parametrize("qualifier", ["$LATEST", "99", None, "live"])
def test_lambda_component_needs_an_existing_published_version(gg, lambda_version, qualifier):
    base = lambda_version[0].rsplit(":", 1)[0]
    arn = base if qualifier is None else f"{base}:{qualifier}"
    with pytest.raises(ClientError) as exc:
        gg.create_component_version(lambdaFunction={"lambdaArn": arn, "componentName": uid("com.example.L")})
    assert err(exc) == "ValidationException"


def test_list_components_versions_pagination_and_delete(gg):
    name = uid("com.example.Many")
    for v in ("1.0.0", "1.2.0", "1.10.0"):
        gg.create_component_version(inlineRecipe=recipe(name, v))
    carn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{name}"
    pages = list(
        gg.get_paginator("list_component_versions").paginate(arn=carn, PaginationConfig={"PageSize": 2})
    )
    assert [len(p["componentVersions"]) for p in pages] == [2, 1]
    assert [v["componentVersion"] for p in pages for v in p["componentVersions"]] == [
        "1.10.0",
        "1.2.0",
        "1.0.0",
    ]
    listed = [
        c
        for p in gg.get_paginator("list_components").paginate(PaginationConfig={"PageSize": 1})
        for c in p["components"]
    ]
    mine = [c for c in listed if c["componentName"] == name]
    assert mine and mine[0]["latestVersion"]["componentVersion"] == "1.10.0"
    out = gg.delete_component(arn=carn + ":versions:1.10.0")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        gg.delete_component(arn=carn + ":versions:1.10.0")
    assert err(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        gg.list_component_versions(arn=carn + "-none")
    assert err(exc) == "ResourceNotFoundException"


def test_resolve_component_candidates(gg):
    name = uid("com.example.Resolve")
    for v in ("1.0.0", "1.3.0", "2.0.0"):
        gg.create_component_version(inlineRecipe=recipe(name, v))
    out = gg.resolve_component_candidates(
        platform={"name": "linux", "attributes": {"os": "linux"}},
        componentCandidates=[
            {
                "componentName": name,
                "componentVersion": "1.0.0",
                "versionRequirements": {"thing/core": "^1.0.0"},
            }
        ],
    )
    (res,) = out["resolvedComponentVersions"]
    assert res["componentVersion"] == "1.3.0" and json.loads(res["recipe"])["ComponentName"] == name
    with pytest.raises(ClientError) as exc:
        gg.resolve_component_candidates(
            componentCandidates=[{"componentName": name, "versionRequirements": {"thing/core": ">=3.0.0"}}]
        )
    assert err(exc) == "ResourceNotFoundException"


def test_public_components_are_listed_with_their_versions(gg):
    public = [
        c for p in gg.get_paginator("list_components").paginate(scope="PUBLIC") for c in p["components"]
    ]
    names = {c["componentName"] for c in public}
    assert "aws.greengrass.Nucleus" in names and "aws.greengrass.LegacySubscriptionRouter" in names
    arn = f"arn:aws:greengrass:{REGION}:aws:components:aws.greengrass.Nucleus"
    (v,) = gg.list_component_versions(arn=arn)["componentVersions"]
    assert v["arn"] == f"{arn}:versions:{v['componentVersion']}"
    assert gg.describe_component(arn=v["arn"])["publisher"] == "AWS"


# ------------------------------------------------------------------ deployments
def test_deployment_revisions_replace_the_previous_one(gg, thing):
    target = thing_arn(thing)
    comps = {
        "com.example.Hello": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": '{"a":"1"}'}}
    }
    first = gg.create_deployment(targetArn=target, deploymentName="d", components=comps)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201 and first["iotJobArn"].startswith(
        "arn:aws:iot:"
    )
    second = gg.create_deployment(targetArn=target, deploymentName="d", components=comps)
    old, new = (
        gg.get_deployment(deploymentId=first["deploymentId"]),
        gg.get_deployment(deploymentId=second["deploymentId"]),
    )
    assert (old["deploymentStatus"], old["isLatestForTarget"]) == ("INACTIVE", False)
    assert (new["deploymentStatus"], new["isLatestForTarget"], new["revisionId"]) == ("ACTIVE", True, "2")
    assert new["components"] == comps
    assert new["deploymentPolicies"]["componentUpdatePolicy"] == {
        "timeoutInSeconds": 60,
        "action": "NOTIFY_COMPONENTS",
    }
    latest = gg.list_deployments(targetArn=target)["deployments"]
    assert [d["deploymentId"] for d in latest] == [second["deploymentId"]]
    every = gg.list_deployments(targetArn=target, historyFilter="ALL")["deployments"]
    assert [d["deploymentId"] for d in every] == [second["deploymentId"], first["deploymentId"]]


def test_deployment_client_token_cancel_delete_and_errors(gg, thing):
    target = thing_arn(thing)
    token = "dep-" + thing[-8:]
    a = gg.create_deployment(targetArn=target, components={}, clientToken=token)
    b = gg.create_deployment(targetArn=target, components={}, clientToken=token)
    assert a["deploymentId"] == b["deploymentId"]
    assert len(gg.list_deployments(targetArn=target, historyFilter="ALL")["deployments"]) == 1
    dep = a["deploymentId"]
    with pytest.raises(ClientError) as exc:
        gg.delete_deployment(deploymentId=dep)
    assert err(exc) == "ConflictException"  # an active deployment must be cancelled first
    gg.cancel_deployment(deploymentId=dep)
    assert gg.get_deployment(deploymentId=dep)["deploymentStatus"] == "CANCELED"
    with pytest.raises(ClientError) as exc:
        gg.cancel_deployment(deploymentId=dep)
    assert err(exc) == "ConflictException"
    assert gg.delete_deployment(deploymentId=dep)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        gg.get_deployment(deploymentId=dep)
    assert err(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        gg.create_deployment(targetArn=thing_arn(uid("ghost")), components={})
    assert err(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        gg.create_deployment(
            targetArn=target,
            components={"a": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": "{nope"}}},
        )
    assert err(exc) == "ValidationException"


# ------------------------------------------------------------------ device side
def test_core_reports_deployment_status_components_and_health(cloud, gg, iot, thing):
    group = uid("fleet")
    group_arn = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    with pytest.raises(ClientError) as exc:
        gg.get_core_device(coreDeviceThingName=thing)
    assert err(exc) == "ResourceNotFoundException"  # no core device before it reports

    comps = {"com.example.Hello": {"componentVersion": "1.0.0"}}
    own = gg.create_deployment(targetArn=thing_arn(thing), components=comps)["deploymentId"]
    fleet = gg.create_deployment(targetArn=group_arn, components=comps)["deploymentId"]
    eff = gg.list_effective_deployments(coreDeviceThingName=thing)["effectiveDeployments"]
    assert {e["deploymentId"]: e["coreDeviceExecutionStatus"] for e in eff} == {
        own: "QUEUED",
        fleet: "QUEUED",
    }

    status, body = local(cloud, "GET", f"/_local/greengrassv2/coreDevices/{thing}/deployments")
    assert status == 200
    assert [d["deploymentId"] for d in body["deployments"]] == [own, fleet]
    assert body["deployments"][0]["components"] == comps
    assert body["thingGroups"] == [group_arn]  # what the core combines them by (group.v2.deployments)
    in_process = cloud.greengrassv2.core_deployments(thing)  # membership looked up in moto's IoT
    assert [d["deploymentId"] for d in in_process] == [own, fleet]

    status, _ = local(
        cloud,
        "PUT",
        f"/_local/greengrassv2/coreDevices/{thing}/health",
        {"status": "HEALTHY", "coreVersion": "2.16.1", "platform": "linux", "architecture": "amd64"},
    )
    assert status == 200
    status, _ = local(
        cloud,
        "PUT",
        f"/_local/greengrassv2/coreDevices/{thing}/installedComponents",
        {
            "deploymentId": own,
            "components": [
                {
                    "componentName": "com.example.Hello",
                    "componentVersion": "1.0.0",
                    "lifecycleState": "RUNNING",
                    "isRoot": True,
                },
                {
                    "componentName": "aws.greengrass.Nucleus",
                    "componentVersion": "2.16.1",
                    "lifecycleState": "FINISHED",
                    "isRoot": False,
                },
            ],
        },
    )
    assert status == 200
    assert (
        local(
            cloud,
            "POST",
            f"/_local/greengrassv2/coreDevices/{thing}/deployments/{own}/status",
            {"status": "SUCCEEDED"},
        )[0]
        == 200
    )
    status, _ = local(
        cloud,
        "POST",
        f"/_local/greengrassv2/coreDevices/{thing}/deployments/{fleet}/status",
        {
            "status": "FAILED",
            "reason": "component com.example.Hello broke",
            "errorStack": ["DEPLOYMENT_FAILURE", "COMPONENT_BROKEN"],
            "errorTypes": ["COMPONENT_ERROR"],
        },
    )
    assert status == 200
    status, body = local(
        cloud,
        "POST",
        f"/_local/greengrassv2/coreDevices/{thing}/deployments/{own}/status",
        {"status": "DONE"},
    )
    assert status == 400 and body["__type"] == "ValidationException"

    core = gg.get_core_device(coreDeviceThingName=thing)
    assert (core["status"], core["coreVersion"], core["runtime"]) == (
        "HEALTHY",
        "2.16.1",
        "aws_nucleus_classic",
    )
    roots = gg.list_installed_components(coreDeviceThingName=thing)["installedComponents"]
    assert [(c["componentName"], c["lifecycleState"], c["lastInstallationSource"]) for c in roots] == [
        ("com.example.Hello", "RUNNING", own)
    ]
    assert (
        len(
            gg.list_installed_components(coreDeviceThingName=thing, topologyFilter="ALL")[
                "installedComponents"
            ]
        )
        == 2
    )
    rows = {
        e["deploymentId"]: e
        for e in gg.list_effective_deployments(coreDeviceThingName=thing)["effectiveDeployments"]
    }
    assert rows[own]["coreDeviceExecutionStatus"] == "COMPLETED"
    assert rows[fleet]["coreDeviceExecutionStatus"] == "FAILED"
    assert rows[fleet]["statusDetails"]["errorTypes"] == ["COMPONENT_ERROR"]
    assert gg.get_deployment(deploymentId=own)["deploymentStatus"] == "COMPLETED"
    assert gg.get_deployment(deploymentId=fleet)["deploymentStatus"] == "ACTIVE"

    in_group = gg.list_core_devices(thingGroupArn=group_arn)["coreDevices"]
    assert [c["coreDeviceThingName"] for c in in_group] == [thing]
    assert thing in [c["coreDeviceThingName"] for c in gg.list_core_devices(status="HEALTHY")["coreDevices"]]
    assert gg.delete_core_device(coreDeviceThingName=thing)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        gg.list_installed_components(coreDeviceThingName=thing)
    assert err(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        gg.list_effective_deployments(coreDeviceThingName=uid("ghost"))
    assert err(exc) == "ResourceNotFoundException"


def test_client_device_associations(gg, iot, thing):
    dev = uid("device")
    iot.create_thing(thingName=dev)
    ghost = uid("ghost")
    out = gg.batch_associate_client_device_with_core_device(
        coreDeviceThingName=thing, entries=[{"thingName": dev}, {"thingName": ghost}]
    )
    assert [(e["thingName"], e["code"]) for e in out["errorEntries"]] == [
        (ghost, "ResourceNotFoundException")
    ]
    listed = gg.list_client_devices_associated_with_core_device(coreDeviceThingName=thing)[
        "associatedClientDevices"
    ]
    assert [d["thingName"] for d in listed] == [dev]
    out = gg.batch_disassociate_client_device_from_core_device(
        coreDeviceThingName=thing, entries=[{"thingName": dev}]
    )
    assert out["errorEntries"] == []
    assert not gg.list_client_devices_associated_with_core_device(coreDeviceThingName=thing).get(
        "associatedClientDevices"
    )
    with pytest.raises(ClientError) as exc:
        gg.batch_associate_client_device_with_core_device(
            coreDeviceThingName=uid("ghost"), entries=[{"thingName": dev}]
        )
    assert err(exc) == "ResourceNotFoundException"


def test_tags_and_connectivity_info(gg, thing):
    arn = gg.create_component_version(inlineRecipe=recipe(uid("com.example.Tagged")))["arn"]
    gg.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    gg.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert gg.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    dep = gg.create_deployment(targetArn=thing_arn(thing), components={}, tags={"env": "test"})[
        "deploymentId"
    ]
    dep_arn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:deployments:{dep}"
    assert gg.list_tags_for_resource(resourceArn=dep_arn)["tags"] == {"env": "test"}
    with pytest.raises(ClientError) as exc:
        gg.list_tags_for_resource(resourceArn=dep_arn + "x")
    assert err(exc) == "ResourceNotFoundException"
    # V1 path and casing, answered by the V1 adapter for both clients
    gg.update_connectivity_info(
        thingName=thing,
        connectivityInfo=[{"id": "lan", "hostAddress": "10.0.0.5", "portNumber": 8883, "metadata": ""}],
    )
    (info,) = gg.get_connectivity_info(thingName=thing)["connectivityInfo"]
    assert (info["hostAddress"], info["portNumber"]) == ("10.0.0.5", 8883)


def test_service_role_through_the_v2_client(gg):
    """V2's service-role operations share the V1 paths and casing (the V1 adapter answers)."""
    arn = f"arn:aws:iam::{ACCOUNT}:role/Greengrass_ServiceRole"
    assert gg.associate_service_role_to_account(roleArn=arn)["associatedAt"]
    assert gg.get_service_role_for_account()["roleArn"] == arn
    assert gg.disassociate_service_role_from_account()["disassociatedAt"]


def test_v1_requests_still_reach_the_v1_adapter_and_moto(client):
    v1 = client("greengrass")
    group = v1.create_group(Name=uid("v1-group"))
    assert v1.get_group(GroupId=group["Id"])["Name"] == group["Name"]
    assert group["Id"] in [g["Id"] for g in v1.list_groups()["Groups"]]


def test_unknown_v2_operation_is_a_json_404(signed):
    status, body = signed("greengrass", "GET", "/greengrass/v2/nothingHere")
    assert status == 404 and body["__type"] == "UnknownOperationException"


# ------------------------------------------------------------------ auto-complete + restart
def test_auto_complete_and_state_survive_a_restart(tmp_path, cloud):
    """A second LocalCloud (sharing this process' moto) with auto_complete_deployments=True."""

    def clients(c):
        mk = lambda s: boto3.client(s, endpoint_url=c.url, region_name=REGION, **KEYS)  # noqa: E731
        return mk("greengrassv2"), mk("iot")

    first = LocalCloud(tmp_path, region=REGION, auto_complete_deployments=True)
    first.start()
    try:
        gg, iot = clients(first)
        core = uid("auto-core")
        iot.create_thing(thingName=core)
        name = uid("com.example.Auto")
        arn = gg.create_component_version(inlineRecipe=recipe(name), tags={"k": "v"})["arn"]
        ok = gg.create_deployment(
            targetArn=thing_arn(core), components={name: {"componentVersion": "1.0.0"}}
        )["deploymentId"]
        bad = gg.create_deployment(
            targetArn=thing_arn(core), components={name: {"componentVersion": "7.0.0"}}
        )["deploymentId"]
        assert gg.get_deployment(deploymentId=ok)["deploymentStatus"] == "INACTIVE"  # replaced by `bad`
        assert gg.get_deployment(deploymentId=bad)["deploymentStatus"] == "FAILED"  # 7.0.0 does not exist
        rows = {
            e["deploymentId"]: e
            for e in gg.list_effective_deployments(coreDeviceThingName=core)["effectiveDeployments"]
        }
        assert rows[ok]["coreDeviceExecutionStatus"] == "COMPLETED"
        assert "NO_AVAILABLE_COMPONENT_VERSION" in rows[bad]["statusDetails"]["errorStack"]
        assert gg.get_core_device(coreDeviceThingName=core)["status"] == "HEALTHY"
        (inst,) = gg.list_installed_components(coreDeviceThingName=core)["installedComponents"]
        assert (inst["componentName"], inst["lifecycleState"]) == (name, "RUNNING")
        group, member = uid("auto-fleet"), uid("auto-member")
        group_arn = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]
        iot.create_thing(thingName=member)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=member)
        fleet = gg.create_deployment(targetArn=group_arn, components={name: {"componentVersion": "1.0.0"}})[
            "deploymentId"
        ]
        assert gg.get_deployment(deploymentId=fleet)["deploymentStatus"] == "ACTIVE"  # continuous
        (row,) = gg.list_effective_deployments(coreDeviceThingName=member)["effectiveDeployments"]
        assert (row["deploymentId"], row["coreDeviceExecutionStatus"]) == (fleet, "SUCCEEDED")
        assert gg.get_core_device(coreDeviceThingName=member)["status"] == "HEALTHY"
    finally:
        first.stop()

    second = LocalCloud(tmp_path, region=REGION)
    second.start()
    try:
        gg, _ = clients(second)
        assert gg.describe_component(arn=arn)["tags"] == {"k": "v"}
        assert gg.get_deployment(deploymentId=bad)["deploymentStatus"] == "FAILED"
        assert gg.get_core_device(coreDeviceThingName=core)["status"] == "HEALTHY"
        assert [d["deploymentId"] for d in gg.list_deployments(targetArn=thing_arn(core))["deployments"]] == [
            bad
        ]
    finally:
        second.stop()
