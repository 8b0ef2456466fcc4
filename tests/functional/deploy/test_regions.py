"""Regions (#22.7): a group deploys in its own region on both platforms — its ARNs, its Lambda and generic
component versions, its deployment — through ``deploy.py deploy`` and ``deploy.py run`` (the local cloud serves
the group's region); a local cloud of another region is refused at once, naming both regions."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

import deploy
from group.clients import Clients
from group.state import State

RECIPE = """RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.RegionHello
ComponentVersion: '1.0.0'
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "echo hello"}
"""


def _bundle(h, tmp_path, region):
    comp = tmp_path / "bundle" / "components" / "hello"
    comp.mkdir(parents=True)
    (comp / "recipe.yaml").write_text(RECIPE)
    return h.small_bundle(tmp_path / "bundle", f"reg-{region}", region=region, core="RegCore",
                          devices=("RegSensor",), components=[{"path": "components/hello"}])


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_a_group_deploys_in_its_region_on_both_platforms(h, region_cloud, tmp_path, region):
    cloud, state_dir = region_cloud(region)
    gf = _bundle(h, tmp_path, region)
    common = ["--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs"), "--group-file", str(gf)]
    assert deploy.main(["deploy", "--platform", "v2", "--no-wait"] + common) == 0
    state = State.load(state_dir, "local-v2", f"reg-{region}")
    arns = [state.get(k)["arn"] for k in state if k.startswith("component:")]
    assert len(arns) == 2 and all(f":greengrass:{region}:" in a for a in arns), arns
    gg = Clients.create(region, cloud.url, ("testing", "testing")).greengrassv2
    for arn in arns:
        assert gg.describe_component(arn=arn)["status"]["componentState"] == "DEPLOYABLE"
    dep = gg.get_deployment(deploymentId=state.get(f"deployment:reg-{region}")["id"])
    assert dep["targetArn"].startswith(f"arn:aws:iot:{region}:")
    assert deploy.main(["plan", "--platform", "v2", "--exit-code"] + common) == 0
    assert deploy.main(["deploy", "--platform", "v1", "--timeout", "30"] + common) == 0
    assert deploy.main(["plan", "--platform", "v1", "--exit-code"] + common) == 0
    assert deploy.main(["destroy", "--platform", "v1"] + common) == 0
    assert deploy.main(["destroy", "--platform", "v2"] + common) == 0


def test_a_local_cloud_of_another_region_is_refused_at_once(h, region_cloud, tmp_path, capsys):
    cloud, state_dir = region_cloud("us-east-1")
    gf = _bundle(h, tmp_path, "eu-west-1")
    t = time.monotonic()
    assert deploy.main(["deploy", "--platform", "v2", "--state-dir", str(state_dir), "--group-file", str(gf)]) == 1
    out = capsys.readouterr().out
    assert "serves region us-east-1" in out and "is in eu-west-1" in out and "fix:" in out, out
    assert time.monotonic() - t < 30
    assert not State.load(state_dir, "local-v2", "reg-eu-west-1").exists


def test_run_v2_of_a_group_in_eu_west_1(h, tmp_path):
    gf = h.small_bundle(tmp_path / "bundle", "reg-run", region="eu-west-1", core="RegCore")
    done = subprocess.run([sys.executable, str(h.root / "deploy.py"), "run", "--platform", "v2", "--group-file",
                           str(gf), "--state-dir", str(tmp_path / ".gg"), "--certs-dir", str(tmp_path / "certs"),
                           "--ephemeral-ports", "--no-devices", "--no-dashboard", "--exit-after-ready"],
                          capture_output=True, text=True, timeout=90, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCEEDED" in done.stdout, done.stdout
    state = State.load(tmp_path / ".gg", "local-v2", "reg-run")
    assert state.get("component:reg-run-hello")["arn"].startswith("arn:aws:greengrass:eu-west-1:")
