"""deploy.py against the running embedded cloud (never destroy on the shared run)."""
import json

import pytest

pytestmark = pytest.mark.slow


def test_plan_finds_nothing_to_change_while_running(group_run):
    done = group_run.deploy_cli("plan", "--exit-code")
    assert done.returncode == 0, f"plan --exit-code -> {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_status_reports_the_running_deployment(group_run):
    done = group_run.deploy_cli("status", "--json")
    assert done.returncode == 0, done.stderr
    if group_run.platform == "v1":
        assert group_run.endpoint["group_id"] in done.stdout, done.stdout
        return
    # V2: the deployment to the thing group, as the core device reported it, and every component
    st = json.loads(done.stdout)
    assert st["deployment_id"] == group_run.endpoint["deployment_id"]
    assert st["device_status"] == "SUCCEEDED" and st["core_device_status"] == "HEALTHY", st
    components = st["components"]
    lambdas = [c for c in components if c.startswith("gg-bundle-") and not c.endswith("compose")]
    assert len(lambdas) == 8, components
    # the Docker connector's work (its compose component and DockerApplicationManager) runs only where
    # Docker does: without it they are INSTALLED, not running, with the reason the connectors panel gives
    docker_work = {n for n in components if n.endswith("-compose")} | {"aws.greengrass.DockerApplicationManager"}
    assert len(docker_work) == 2 and docker_work <= set(components), components
    assert {c["state"] for n, c in components.items() if n not in docker_work} == {"RUNNING"}, components
    panel = group_run.api("GET", "/api/status")["connectors"]
    (docker_app,) = [c for c in panel if c["arn"].split("/")[-3] == "DockerApplicationDeployment"]
    if docker_app["state"] == "not-run":
        for name in docker_work:
            assert components[name]["state"] == "INSTALLED", components[name]
            assert components[name]["details"].startswith(docker_app["reason"]), (components[name], docker_app)
    else:
        assert {components[n]["state"] for n in docker_work} <= {"RUNNING", "STARTING", "BROKEN"}, components
    assert components["gg-bundle-stream_reader"]["details"].startswith("on demand"), components
    for public in ("aws.greengrass.Nucleus", "aws.greengrass.LegacySubscriptionRouter",
                   "aws.greengrass.clientdevices.Auth", "aws.greengrass.ShadowManager"):
        assert public in components, public
    done = group_run.deploy_cli("status")
    assert done.returncode == 0 and "SUCCEEDED" in done.stdout, done.stdout
