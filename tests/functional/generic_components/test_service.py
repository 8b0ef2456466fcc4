"""ComponentService with real processes and the embedded LocalCloud, through the phases of a deployment: two
components (one HARD-depends on the other) with artifacts in the cloud's S3 start in order; a configuration change
the Run script uses restarts only that component (Install does not run again); an artifact that cannot be fetched
fails prepare() before anything changes; a component that goes BROKEN is what wait() reports; removed components
stop."""
from __future__ import annotations

import asyncio
import json
import time

import boto3
import pytest

from localcore.cloud import LocalCloud
from group.v2.recipe import parse_recipe
from localcore.generic_components.changes import Change
from localcore.generic_components.service import ComponentService, ComponentSpec, DownloadError
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


def recipe(name, version, run, artifacts=(), deps=None, config=None, install=None, startup=None):
    lifecycle = {"Run": run} if run else {"Startup": startup}
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


def spec(gg, name, version, configuration=None):
    arn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{name}:versions:{version}"
    text = gg.get_component(arn=arn, recipeOutputFormat="YAML")["recipe"].decode()
    r = parse_recipe(text, source=arn)
    return ComponentSpec(r, dict(r.default_configuration, **(configuration or {})))


async def test_the_phases_of_a_deployment(cloud, tmp_path):
    s3, gg, _ = clients(cloud)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="com.example.Base/1.0.0/base.py", Body=BASE.encode())
    s3.put_object(Bucket=BUCKET, Key="com.example.User/1.0.0/user.py", Body=USER.encode())
    out = tmp_path / "out"
    out.mkdir()
    gg.create_component_version(inlineRecipe=recipe(
        "com.example.Base", "1.0.0", f"python3 -u {{artifacts:path}}/base.py {out}", ["base.py"]))
    gg.create_component_version(inlineRecipe=recipe(
        "com.example.User", "1.0.0", f"python3 -u {{artifacts:path}}/user.py {out} '{{configuration:/greeting}}'",
        ["user.py"], config={"greeting": "hello", "unused": 1}, install=f"echo x >> {out}/user.installs",
        deps={"com.example.Base": {"VersionRequirement": "^1.0.0", "DependencyType": "HARD"},
              "aws.greengrass.StreamManager": {"VersionRequirement": "^2.0.0"}}))
    svc = ComponentService(root=tmp_path / "gg", tokens=ComponentTokens(), thing_name="SvcCore", region=REGION,
                           cloud_url=cloud.url, kill_grace_s=1.0, settle_timeout_s=60)
    await svc.start()
    try:
        specs = {"com.example.User": spec(gg, "com.example.User", "1.0.0"),
                 "com.example.Base": spec(gg, "com.example.Base", "1.0.0")}
        await svc.prepare(specs)
        act = await svc.activate(specs)
        assert act.changes == {"com.example.Base": Change.ADD, "com.example.User": Change.ADD}
        assert await svc.wait(act) is None
        assert svc.names() == ["com.example.Base", "com.example.User"]  # the HARD dependency first
        await until(lambda: (out / "user.started").exists())
        assert (out / "user.started").read_text().splitlines()[0].startswith("hello ")
        # User started only once Base was RUNNING (its Run process spawned, as the nucleus means it; whether
        # Base's script has written its file by then is a race the nucleus does not settle either)
        base_running = next(t.at for t in svc.runner("com.example.Base").machine.history if t.new.value == "RUNNING")
        user_start = next(t.at for t in svc.runner("com.example.User").machine.history if t.event == "start")
        assert base_running <= user_start
        assert svc.states() == {"com.example.Base": "RUNNING", "com.example.User": "RUNNING"}
        installed = {c["componentName"]: c for c in svc.installed()}
        assert (installed["com.example.User"]["componentVersion"], installed["com.example.User"]["lifecycleState"]) \
            == ("1.0.0", "RUNNING")
        base_pid = svc.runner("com.example.Base").status()["pid"]
        art = tmp_path / "gg" / "packages" / "artifacts" / "com.example.Base" / "1.0.0" / "base.py"
        assert art.read_text() == BASE

        # a key no script uses: nothing restarts; the greeting the Run script uses: User restarts, Base stays
        specs["com.example.User"] = spec(gg, "com.example.User", "1.0.0", {"unused": 2})
        act = await svc.activate(specs)
        assert act.changes["com.example.User"] is Change.UPDATE and await svc.wait(act) is None
        specs["com.example.User"] = spec(gg, "com.example.User", "1.0.0", {"greeting": "hi"})
        act = await svc.activate(specs)
        assert act.changes == {"com.example.Base": Change.KEEP, "com.example.User": Change.RESTART}
        assert await svc.wait(act) is None
        await until(lambda: len((out / "user.started").read_text().splitlines()) == 2)
        assert (out / "user.started").read_text().splitlines()[-1] == "hi True"  # Base has long been running
        assert svc.runner("com.example.Base").status()["pid"] == base_pid
        assert (out / "user.installs").read_text().splitlines() == ["x"]   # a restart does not Install again

        # an artifact that cannot be fetched: prepare() fails, nothing changed
        s3.put_object(Bucket=BUCKET, Key="com.example.NoArt/1.0.0/gone.py", Body=b"")
        gg.create_component_version(inlineRecipe=recipe("com.example.NoArt", "1.0.0", "sleep 60", ["gone.py"]))
        s3.delete_object(Bucket=BUCKET, Key="com.example.NoArt/1.0.0/gone.py")  # gone after the version was made
        with pytest.raises(DownloadError, match="gone.py"):
            await svc.prepare({**specs, "com.example.NoArt": spec(gg, "com.example.NoArt", "1.0.0")})
        assert svc.states() == {"com.example.Base": "RUNNING", "com.example.User": "RUNNING"}

        # a component whose Startup fails: BROKEN after three tries, and wait() says so; the others keep running
        gg.create_component_version(inlineRecipe=recipe("com.example.Broken", "1.0.0", None, startup="exit 3"))
        specs["com.example.Broken"] = spec(gg, "com.example.Broken", "1.0.0")
        await svc.prepare(specs)
        act = await svc.activate(specs)
        problem = await svc.wait(act)
        assert problem.startswith("Service com.example.Broken in broken state after deployment"), problem
        assert svc.states()["com.example.User"] == "RUNNING"

        # the last set without Broken and Base: User is kept, its HARD dependency too (it is still wanted here)
        del specs["com.example.Broken"]
        act = await svc.activate(specs)
        assert act.obsolete == ["com.example.Broken"] and await svc.wait(act) is None
        assert await svc.remove(act.obsolete) == ["com.example.Broken"]
        assert svc.names() == ["com.example.Base", "com.example.User"]
    finally:
        await svc.stop()
    assert svc.names() == []
