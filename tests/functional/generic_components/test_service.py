"""ComponentService with real processes and the embedded LocalCloud: a two-component deployment (one HARD-depends
on the other) with artifacts in the cloud's S3, an update that keeps the unchanged one running, and a broken
component that fails the deployment while the others keep running."""
from __future__ import annotations

import asyncio
import json
import time

import boto3
import pytest

from localcore.cloud import LocalCloud
from localcore.generic_components.service import FAILED, SUCCEEDED, ComponentService, specs_from_cloud
from localcore.generic_components.tokens import ComponentTokens

ACCOUNT, REGION, BUCKET = "123456789012", "us-east-1", "svc-artifacts"

BASE = """\
import os, sys, time
out = sys.argv[1]
with open(os.path.join(out, "base.started"), "w") as f:
    f.write(str(time.time()))
while True:
    time.sleep(0.2)
"""
USER = """\
import os, sys, time
out, greeting = sys.argv[1], sys.argv[2]
with open(os.path.join(out, "user.started"), "a") as f:
    f.write("%s %s\\n" % (greeting, os.path.exists(os.path.join(out, "base.started"))))
while True:
    time.sleep(0.2)
"""


def recipe(name, version, run, artifacts=(), deps=None, config=None, install=None):
    lifecycle = {"Run": run}
    if install:
        lifecycle["Install"] = install
    doc = {"RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version,
           "ComponentConfiguration": {"DefaultConfiguration": config or {}},
           "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": lifecycle,
                          "Artifacts": [{"URI": f"s3://{BUCKET}/{name}/{version}/{a}"} for a in artifacts]}]}
    if deps:
        doc["ComponentDependencies"] = deps
    return json.dumps(doc).encode()


@pytest.fixture()
def cloud(tmp_path, monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    c = LocalCloud(tmp_path / "cloud", auto_complete_deployments=True, pki_dir=tmp_path / "ca")
    c.start()
    try:
        yield c
    finally:
        c.stop()


def clients(cloud):
    kw = dict(endpoint_url=cloud.url, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    return boto3.client("s3", **kw), boto3.client("greengrassv2", **kw), boto3.client("iot", **kw)


async def until(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_two_components_in_order_update_and_a_failure(cloud, tmp_path):
    s3, gg, iot = clients(cloud)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="com.example.Base/1.0.0/base.py", Body=BASE.encode())
    s3.put_object(Bucket=BUCKET, Key="com.example.User/1.0.0/user.py", Body=USER.encode())
    out = tmp_path / "out"
    out.mkdir()
    gg.create_component_version(inlineRecipe=recipe(
        "com.example.Base", "1.0.0", f"python3 -u {{artifacts:path}}/base.py {out}", ["base.py"]))
    gg.create_component_version(inlineRecipe=recipe(
        "com.example.User", "1.0.0", f"python3 -u {{artifacts:path}}/user.py {out} '{{configuration:/greeting}}'",
        ["user.py"], config={"greeting": "hello"},
        deps={"com.example.Base": {"VersionRequirement": "^1.0.0", "DependencyType": "HARD"},
              "aws.greengrass.StreamManager": {"VersionRequirement": "^2.0.0"}}))
    group_arn = iot.create_thing_group(thingGroupName="svc-group")["thingGroupArn"]

    def deployment(components):
        dep_id = gg.create_deployment(targetArn=group_arn, components=components)["deploymentId"]
        doc = gg.get_deployment(deploymentId=dep_id)
        return dep_id, specs_from_cloud(gg, doc, account_id=ACCOUNT, region=REGION)

    dep_id, specs = deployment({"com.example.User": {"componentVersion": "1.0.0"},
                                "com.example.Base": {"componentVersion": "1.0.0"},
                                "aws.greengrass.StreamManager": {"componentVersion": "2.2.1"}})
    assert sorted(specs) == ["com.example.Base", "com.example.User"]
    svc = ComponentService(root=tmp_path / "gg", tokens=ComponentTokens(), thing_name="SvcCore", region=REGION,
                           cloud_url=cloud.url, kill_grace_s=1.0, settle_timeout_s=60)
    await svc.start()
    try:
        result = await svc.deploy(dep_id, specs)
        assert result.status == SUCCEEDED, result.reason
        assert result.started == ["com.example.Base", "com.example.User"]  # the HARD dependency first
        await until(lambda: (out / "user.started").exists())
        assert (out / "user.started").read_text().splitlines() == ["hello True"]  # Base was RUNNING before
        states = {c["name"]: c["state"] for c in svc.status()["components"]}
        assert states == {"com.example.Base": "RUNNING", "com.example.User": "RUNNING"}
        installed = {c["componentName"]: c for c in svc.installed()}
        assert installed["com.example.User"]["componentVersion"] == "1.0.0"
        assert installed["com.example.User"]["lifecycleState"] == "RUNNING"
        base_pid = svc.runner("com.example.Base").status()["pid"]
        art = tmp_path / "gg" / "packages" / "artifacts" / "com.example.Base" / "1.0.0" / "base.py"
        assert art.read_text() == BASE

        # a configuration update of User only: Base keeps running (same process), User restarts with it
        dep2, specs = deployment({"com.example.User": {"componentVersion": "1.0.0",
                                                       "configurationUpdate": {"merge": '{"greeting":"hi"}'}},
                                  "com.example.Base": {"componentVersion": "1.0.0"}})
        result = await svc.deploy(dep2, specs)
        assert result.status == SUCCEEDED, result.reason
        assert result.kept == ["com.example.Base"] and result.stopped == ["com.example.User"]
        assert svc.runner("com.example.Base").status()["pid"] == base_pid
        await until(lambda: len((out / "user.started").read_text().splitlines()) == 2)
        assert (out / "user.started").read_text().splitlines()[-1] == "hi True"

        # a component whose Install fails and one whose artifact is missing: FAILED, the others keep running
        gg.create_component_version(inlineRecipe=recipe("com.example.Broken", "1.0.0", "sleep 60",
                                                        install="echo no >&2; exit 3"))
        s3.put_object(Bucket=BUCKET, Key="com.example.NoArt/1.0.0/gone.py", Body=b"")
        gg.create_component_version(inlineRecipe=recipe("com.example.NoArt", "1.0.0", "sleep 60", ["gone.py"]))
        s3.delete_object(Bucket=BUCKET, Key="com.example.NoArt/1.0.0/gone.py")  # gone after the version was made
        dep3, specs = deployment({"com.example.User": {"componentVersion": "1.0.0",
                                                       "configurationUpdate": {"merge": '{"greeting":"hi"}'}},
                                  "com.example.Base": {"componentVersion": "1.0.0"},
                                  "com.example.Broken": {"componentVersion": "1.0.0"},
                                  "com.example.NoArt": {"componentVersion": "1.0.0"}})
        result = await svc.deploy(dep3, specs)
        assert result.status == FAILED
        assert "Install" in result.failures["com.example.Broken"] and "3" in result.failures["com.example.Broken"]
        assert "gone.py could not be downloaded" in result.failures["com.example.NoArt"]
        assert sorted(result.kept) == ["com.example.Base", "com.example.User"]
        states = {c["name"]: c["state"] for c in svc.status()["components"]}
        assert states == {"com.example.Base": "RUNNING", "com.example.User": "RUNNING",
                          "com.example.Broken": "BROKEN", "com.example.NoArt": "BROKEN"}
        assert svc.status()["deployment"]["status"] == FAILED

        # the last deployment without Base: User HARD-depends on it, so User cannot start; Base is stopped
        dep4, specs = deployment({"com.example.User": {"componentVersion": "1.0.0"}})
        result = await svc.deploy(dep4, specs)
        assert result.status == FAILED and "com.example.Base" in result.failures["com.example.User"]
        assert svc.runner("com.example.Base") is None
        assert [(c["componentName"], c["lifecycleState"]) for c in svc.installed()] == [("com.example.User", "BROKEN")]
    finally:
        await svc.stop()
    assert all(c["state"] != "RUNNING" for c in svc.status()["components"])


def test_dependency_cycle_is_reported(tmp_path):
    from localcore.generic_components.service import _ordered, ComponentSpec
    from group.v2.recipe import parse_recipe

    def spec(name, dep):
        return ComponentSpec(parse_recipe(recipe(name, "1.0.0", "true", deps={dep: {"VersionRequirement": "*"}})
                                          .decode()))

    wanted = {n: (spec(n, d), {}, "") for n, d in (("a", "b"), ("b", "a"), ("c", "a"))}
    assert _ordered(wanted) == ([], ["a", "b", "c"])
    wanted = {n: (spec(n, d), {}, "") for n, d in (("a", "x"), ("b", "a"), ("c", "b"))}
    assert _ordered(wanted) == (["a", "b", "c"], [])
