"""A component of our own (awsiotsdk GreengrassCoreIPCClientV2) under ``deploy.py run --platform v2`` with the
bundle's group, beside the real traffic light device script (unmodified AWSIoTPythonSDK, discovery, MQTT):

* one shadow store: the component sets the light's desired state with UpdateThingShadow; the device gets the delta
  over MQTT, applies it and reports; the component sees the device's report on local pub/sub (the ShadowManager's
  ``update/accepted``) and with GetThingShadow, and the dashboard shows the same document;
* component updates: the core announces the next deployment (preUpdateEvent), the component defers it once, is
  asked again, lets it go, and hears the postUpdateEvent (of the deployment that started it too); the deployment
  succeeds.
"""
from __future__ import annotations

import json
import time

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

CORE, BUCKET = "GG_Core", "gg-ipc-plugin-artifacts"
NAME, VERSION = "com.example.ShadowWatch", "1.0.0"
LIGHT = "GG_TrafficLight"
SCRIPT = """\
import json, threading, time
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

def say(**kw):
    print("RESULT " + json.dumps(kw, sort_keys=True), flush=True)

ipc = GreengrassCoreIPCClientV2()
deferred = []

def on_update(ev):
    if ev.pre_update_event:
        d = ev.pre_update_event.deployment_id
        say(pre=d)
        if d not in deferred:          # busy the first time: ask the core to come back in a second
            deferred.append(d)
            ipc.defer_component_update(deployment_id=d, message="finishing a cycle", recheck_after_ms=1000)
        else:
            ipc.defer_component_update(deployment_id=d, recheck_after_ms=0)
    else:
        say(post=ev.post_update_event.deployment_id)

ipc.subscribe_to_component_updates(on_stream_event=on_update)

def on_accepted(ev):
    doc = json.loads(ev.binary_message.message)
    reported = ((doc.get("state") or {}).get("reported") or {}).get("property")
    if reported:
        say(accepted_reported=reported)

ipc.subscribe_to_topic(topic="$aws/things/%s/shadow/update/accepted", on_stream_event=on_accepted)
say(ready=True)
while True:                       # set the light green until the device reports it
    ipc.update_thing_shadow(thing_name="%s", payload=json.dumps({"state": {"desired": {"property": "G"}}}).encode())
    doc = json.loads(ipc.get_thing_shadow(thing_name="%s").payload)
    if doc["state"].get("reported", {}).get("property") == "G":
        say(get_reported="G", version=doc["version"])
        break
    time.sleep(1)
while True:
    time.sleep(1)
""" % (LIGHT, LIGHT, LIGHT)
RECIPE_CONFIG = {"accessControl": {
    "aws.greengrass.ShadowManager": {"light": {
        "operations": ["aws.greengrass#GetThingShadow", "aws.greengrass#UpdateThingShadow"],
        "resources": [f"$aws/things/{LIGHT}/shadow"]}},
    "aws.greengrass.ipc.pubsub": {"accepted": {
        "operations": ["aws.greengrass#SubscribeToTopic"],
        "resources": [f"$aws/things/{LIGHT}/shadow/update/accepted"]}}}}
DEPLOY_TIMEOUT_S, FLOW_TIMEOUT_S = 90.0, 60.0


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    running = e2e_gg.start_group(tmp_path_factory.mktemp("bundle-v2-ipc-plugins"), platform="v2")
    try:
        yield running
    finally:
        e2e_gg.assert_clean_stop(running.stop(), running.run)


def _deploy(run, components: dict, name: str) -> dict:
    gg = run.client("greengrassv2")
    first = gg.get_deployment(deploymentId=run.endpoint["deployment_id"])
    deployment = gg.create_deployment(targetArn=first["targetArn"], deploymentName=name,
                                      components=components)["deploymentId"]

    def done():
        for e in gg.list_effective_deployments(coreDeviceThingName=CORE)["effectiveDeployments"]:
            if e["deploymentId"] == deployment and e["coreDeviceExecutionStatus"] in ("SUCCEEDED", "FAILED"):
                return e
        return None

    effective = e2e_gg.wait_for(done, DEPLOY_TIMEOUT_S, f"the core's report of deployment {deployment}", 0.2)
    assert effective["coreDeviceExecutionStatus"] == "SUCCEEDED", (effective, _log(run)[-3000:])
    return {**effective, "components": components}


def _components(run) -> dict:
    gg = run.client("greengrassv2")
    return dict(gg.get_deployment(deploymentId=run.endpoint["deployment_id"])["components"])


def _log(run) -> str:
    path = run.state_dir / "v2" / "greengrass" / "logs" / f"{NAME}.log"
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"


def _results(run) -> list:
    return [json.loads(line.split("RESULT ", 1)[1]) for line in _log(run).splitlines() if "RESULT " in line]


def _wait_result(run, key: str, count: int = 1, timeout: float = FLOW_TIMEOUT_S) -> list:
    def reported():
        values = [r[key] for r in _results(run) if key in r]
        return values[:count] if len(values) >= count else None

    try:
        return e2e_gg.wait_for(reported, timeout, f"{NAME} to report {key!r} x{count}", 0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}\n--- run:\n"
                             f"{run.run.output()[-2000:]}") from None


def test_shadow_of_a_device_through_the_ipc_and_a_deployment_the_component_defers(plugin_run):
    run = plugin_run
    run.create_component(BUCKET, NAME, VERSION, "watch.py", SCRIPT, RECIPE_CONFIG)

    light = run.start_device("traffic_light.py", LIGHT)
    light.wait_for_line(r"no shadow document yet|Light changed to", timeout=60)
    components = _components(run)
    components[NAME] = {"componentVersion": VERSION}
    first = _deploy(run, components, "shadow-watch")
    assert _wait_result(run, "ready") == [True]

    # the device applied the component's desired state and reported it over MQTT: the component saw both
    light.wait_for_line(r"^Light changed to: G$", timeout=FLOW_TIMEOUT_S)
    assert _wait_result(run, "accepted_reported") == ["G"]
    assert _wait_result(run, "get_reported") == ["G"]
    shadows = run.api("GET", "/api/status")["shadows"]
    assert shadows[LIGHT]["state"]["reported"] == {"property": "G"}, shadows

    # the next deployment is announced, deferred once for a second, announced again, then applied
    components[NAME] = {"componentVersion": VERSION,
                        "configurationUpdate": {"merge": json.dumps({"note": "second"})}}
    t = time.monotonic()
    second = _deploy(run, components, "shadow-watch-2")
    took = time.monotonic() - t
    pre = _wait_result(run, "pre", count=2)
    deployment_id = second["deploymentId"]
    assert pre == [deployment_id, deployment_id], _log(run)[-2000:]
    # the second deployment's end is announced after it was applied; the first one's end reaches the component
    # only when it had subscribed before that deployment was reported (as on a nucleus: a race of its start-up)
    posts = e2e_gg.wait_for(lambda: (lambda v: v if deployment_id in v else None)(
        [r["post"] for r in _results(run) if "post" in r]), FLOW_TIMEOUT_S, f"{NAME} to hear the end of {deployment_id}")
    assert posts[-1] == deployment_id and set(posts) <= {first["deploymentId"], deployment_id}, posts
    assert posts.count(deployment_id) == 1, posts
    assert took >= 1.0                                  # the core waited out the deferral
    operations = run.api("GET", "/api/status")["platform"]["ipc"]["operations"]
    assert {"GetThingShadow", "SubscribeToComponentUpdates", "DeferComponentUpdate"} <= set(operations)
