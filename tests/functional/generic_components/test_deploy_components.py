"""``deploy.py deploy --platform v2`` of a group with ``components:`` against the embedded LocalCloud: the
artifacts land in the managed artifacts bucket, the component version is the user's recipe with only the
artifact URIs changed, the deployment carries the configurationUpdate; a content change without a version
bump is refused before any change, a bump deploys a new version."""
from __future__ import annotations

import json

import boto3
import yaml

import deploy
from group.state import State

GROUP = "v2-comp"
RECIPE = """\
RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Hello
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration: {greeting: hello}
Manifests:
  - Platform: {os: linux}
    Lifecycle:
      Run: python3 -u {artifacts:path}/hello.py '{configuration:/greeting}'
    Artifacts:
      - URI: s3://SOME-BUCKET/com.example.Hello/1.0.0/hello.py
"""



def client(cloud, service):
    return boto3.client(service, endpoint_url=cloud.url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_deploy_uploads_artifacts_creates_the_version_and_refuses_an_unbumped_change(local_cloud, tmp_path,
                                                                                     capsys):
    cloud, state_dir = local_cloud
    bundle = tmp_path / "bundle"
    comp = bundle / "components" / "hello"
    comp.mkdir(parents=True)
    (comp / "recipe.yaml").write_text(RECIPE)
    (comp / "hello.py").write_text("print('hello')\n")
    (bundle / "group").mkdir()
    gf = bundle / "group" / "group.yaml"
    gf.write_text(yaml.safe_dump({
        "group": {"name": GROUP, "region": "us-east-1"}, "core": {"thing": "CompCore", "connectivity": []},
        "stream_manager": {"enabled": False},
        "components": [{"path": "components/hello", "configuration_update": {"merge": {"greeting": "hi"}}}]}))
    common = ["--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs"), "--platform", "v2",
              "--group-file", str(gf)]
    assert deploy.main(["validate"] + common) == 0
    assert deploy.main(["deploy", "--no-wait"] + common) == 0

    gg, s3 = client(cloud, "greengrassv2"), client(cloud, "s3")
    state = State.load(state_dir, "local-v2", GROUP)
    rec = state.get("component:com.example.Hello")
    assert rec["version"] == "1.0.0" and rec["content"]
    got = gg.get_component(arn=rec["arn"], recipeOutputFormat="JSON")
    recipe = json.loads(got["recipe"])
    [art] = recipe["Manifests"][0]["Artifacts"]
    bucket, _, key = art["URI"][len("s3://"):].partition("/")
    assert bucket.startswith(f"{GROUP}-gg-artifacts-") and key == "components/com.example.Hello/1.0.0/hello.py"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"print('hello')\n"
    assert recipe["Manifests"][0]["Lifecycle"] == {"Run": "python3 -u {artifacts:path}/hello.py "
                                                          "'{configuration:/greeting}'"}
    dep = gg.get_deployment(deploymentId=state.get(f"deployment:{GROUP}")["id"])
    assert dep["components"]["com.example.Hello"] == {
        "componentVersion": "1.0.0", "configurationUpdate": {"merge": '{"greeting":"hi"}'}}
    assert deploy.main(["plan", "--exit-code"] + common) == 0  # nothing changed
    capsys.readouterr()

    # the artifact changes, the version does not: plan warns, deploy stops before touching the bucket
    (comp / "hello.py").write_text("print('changed')\n")
    deploy.main(["plan"] + common)
    out = capsys.readouterr().out
    assert "com.example.Hello 1.0.0 changed but its version did not: bump ComponentVersion" in out
    assert deploy.main(["deploy", "--no-wait"] + common) != 0
    assert "versions are immutable" in capsys.readouterr().out
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"print('hello')\n"

    # bumped: a new version with its own artifact key
    (comp / "recipe.yaml").write_text(RECIPE.replace("'1.0.0'", "'1.0.1'"))
    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    rec = State.load(state_dir, "local-v2", GROUP).get("component:com.example.Hello")
    assert rec["version"] == "1.0.1" and rec["versions"] == ["1.0.0", "1.0.1"]
    new_key = "components/com.example.Hello/1.0.1/hello.py"
    assert s3.get_object(Bucket=bucket, Key=new_key)["Body"].read() == b"print('changed')\n"
    assert deploy.main(["destroy"] + common) == 0
    names = {c["componentName"] for c in gg.list_components(scope="PRIVATE")["components"]}
    assert "com.example.Hello" not in names
