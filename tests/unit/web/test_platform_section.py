"""web.facade.platform_section: the dashboard's platform section from the profile, core.deployment and the
broker's status (pure; the client policy is the real clientdevices.Auth evaluator)."""
from __future__ import annotations

import pytest

from localcore.clientauth.policy import policy_from_config
from localcore.platform import V1, ComponentInfo, PlatformProfile
from web.facade import core_device_health, platform_section

LAMBDA = "gg-bundle-reader"
ON_DEMAND = "gg-bundle-stream_reader"
GENERIC = "gg-bundle-docker-app-compose"
PUBLIC = "aws.greengrass.clientdevices.Auth"
SERVICES = {"state": "started", "services": [{"name": "MQTT broker", "state": "started", "error": ""},
                                             {"name": "Lambda runtime", "state": "started", "error": ""}]}

PROFILE = PlatformProfile(name="v2", deployment_id="dep-1", components=(
    ComponentInfo(PUBLIC, "2.5.4", "public"), ComponentInfo(GENERIC, "1.0.3", "generic"),
    ComponentInfo(ON_DEMAND, "1.0.2", "lambda"), ComponentInfo(LAMBDA, "1.0.1", "lambda")))


def installed(name, version, state, details="", **extra):
    return {"componentName": name, "componentVersion": version, "lifecycleState": state,
            "lifecycleStateDetails": details, "isRoot": True, **extra}


def deployment(status="SUCCEEDED", message="", components=None):
    if components is None:
        components = [installed(PUBLIC, "2.5.4", "RUNNING"), installed(GENERIC, "1.0.3", "RUNNING"),
                      installed(ON_DEMAND, "1.0.2", "RUNNING", "on demand: idle (0 of 100 instances)"),
                      installed(LAMBDA, "1.0.1", "RUNNING")]
    return {"id": "dep-1", "status": status, "platform": "v2", "message": message, "components": components}


def auth_policy():
    return policy_from_config({"deviceGroups": {
        "formatVersion": "2021-03-05",
        "definitions": {"lights": {"selectionRule": "thingName: GG_TrafficLight", "policyName": "light"}},
        "policies": {"light": {"s": {"operations": ["mqtt:connect", "mqtt:publish"],
                                     "resources": ["mqtt:clientId:GG_TrafficLight", "mqtt:topic:lights/ok"]}}}}})


@pytest.mark.parametrize("profile", [V1, PlatformProfile(name="v1")])
def test_v1_names_the_platform_and_nothing_of_v2(profile):
    v1_deployment = {"id": "d-7", "status": "Success", "version": "ver-3"}
    section = platform_section(profile, v1_deployment, {"state": "started", "connected": ["GG_Switch"]},
                               core_thing="GG_Core", core_status=SERVICES)
    assert section == {"name": "v1", "label": "Greengrass V1", "deployment": None, "components": [],
                       "client_auth": None}


def test_v2_components_in_kind_order_with_state_version_and_details():
    section = platform_section(PROFILE, deployment(), {"state": "started"}, core_thing="GG_Core",
                               core_status=SERVICES)
    assert (section["name"], section["label"]) == ("v2", "Greengrass V2")
    rows = section["components"]
    assert [(r["name"], r["kind"], r["version"], r["state"]) for r in rows] == [
        (LAMBDA, "lambda", "1.0.1", "RUNNING"), (ON_DEMAND, "lambda", "1.0.2", "RUNNING"),
        (GENERIC, "generic", "1.0.3", "RUNNING"), (PUBLIC, "public", "2.5.4", "RUNNING")]
    assert rows[1]["details"] == "on demand: idle (0 of 100 instances)"
    assert not any(r["problem"] for r in rows)
    assert section["deployment"] == {
        "id": "dep-1", "status": "SUCCEEDED", "message": "",
        "core_devices": [{"thing": "GG_Core", "status": "SUCCEEDED", "reason": "", "health": "HEALTHY",
                          "health_reasons": []}]}
    assert section["client_auth"] is None  # the broker has no client policy


@pytest.mark.parametrize("state", ["ERRORED", "BROKEN", "FAILED"])
def test_a_component_in_trouble_is_a_problem_and_makes_the_core_unhealthy(state):
    components = [installed(LAMBDA, "1.0.1", "RUNNING"),
                  installed(GENERIC, "1.0.3", state, lifecycleStatusCodes=["RUN_ERROR"])]
    section = platform_section(PROFILE, deployment(components=components), {}, core_thing="GG_Core",
                               core_status=SERVICES)
    rows = {r["name"]: r for r in section["components"]}
    assert rows[GENERIC]["problem"] and rows[GENERIC]["details"] == "RUN_ERROR"
    assert not rows[LAMBDA]["problem"]
    # reported by the profile but not by the core (yet): shown without a state, no problem
    assert (rows[PUBLIC]["state"], rows[PUBLIC]["problem"], rows[PUBLIC]["version"]) == (None, False, "2.5.4")
    [device] = section["deployment"]["core_devices"]
    assert device["health"] == "UNHEALTHY"
    assert device["health_reasons"] == [f"component {GENERIC} is {state}"]


def test_a_failed_deployment_gives_its_reason_per_core_device_and_keeps_reported_versions():
    reason = "component gg-bundle-ghost: no such component version in the cloud"
    # the failed follow-up keeps the components the core runs: the older Lambda version stays shown
    old = [installed(LAMBDA, "1.0.0", "RUNNING"), installed("gg-bundle-removed", "1.0.0", "RUNNING"),
           installed("aws.greengrass.Nucleus", "2.16.1", "RUNNING")]
    section = platform_section(PROFILE, deployment("FAILED", reason, old), {}, core_thing="GG_Core",
                               core_status=SERVICES)
    [device] = section["deployment"]["core_devices"]
    assert (device["status"], device["reason"], device["health"]) == ("FAILED", reason, "UNHEALTHY")
    rows = {r["name"]: r for r in section["components"]}
    assert rows[LAMBDA]["version"] == "1.0.0"
    assert rows["gg-bundle-removed"]["kind"] == "unknown"
    assert rows["aws.greengrass.Nucleus"]["kind"] == "public"


def test_before_the_core_reports_the_deployment_is_in_progress():
    section = platform_section(PROFILE, {}, None, core_thing="GG_Core", core_status=None)
    assert section["deployment"]["id"] == "dep-1"  # from the profile the reader gave
    assert section["deployment"]["core_devices"][0]["status"] == "IN_PROGRESS"
    assert {r["state"] for r in section["components"]} == {None}


def test_client_auth_counts_per_operation_and_newest_refusals_first():
    policy = auth_policy()
    assert policy.can_connect("GG_TrafficLight", "GG_TrafficLight")
    assert policy.can_publish("GG_TrafficLight", "lights/ok")
    assert not policy.can_publish("GG_TrafficLight", "lights/other")
    assert not policy.can_subscribe("GG_TrafficLight", "lights/#")
    assert not policy.can_connect("Intruder", "Intruder")
    section = platform_section(PROFILE, deployment(), {"state": "started", "client_policy": policy.status()},
                               core_thing="GG_Core", core_status=SERVICES)
    auth = section["client_auth"]
    assert auth["decisions"] == {"connect": {"allowed": 1, "refused": 1}, "publish": {"allowed": 1, "refused": 1},
                                 "subscribe": {"allowed": 0, "refused": 1}}
    refusals = auth["recent_refusals"]
    assert [(r["thing"], r["operation"], r["resource"]) for r in refusals] == [
        ("Intruder", "mqtt:connect", "mqtt:clientId:Intruder"),
        ("GG_TrafficLight", "mqtt:subscribe", "mqtt:topicfilter:lights/#"),
        ("GG_TrafficLight", "mqtt:publish", "mqtt:topic:lights/other")]
    assert all(isinstance(r["time"], float) and r["reason"] for r in refusals)
    assert auth["groups"] == {"lights": {"selectionRule": "thingName: GG_TrafficLight", "policyName": "light"}}


def test_at_most_ten_refusals_are_shown():
    policy = auth_policy()
    for n in range(15):
        policy.can_publish("GG_TrafficLight", f"nope/{n}")
    section = platform_section(PROFILE, deployment(), {"client_policy": policy.status()})
    shown = section["client_auth"]["recent_refusals"]
    assert [r["resource"] for r in shown] == [f"mqtt:topic:nope/{n}" for n in range(14, 4, -1)]


def test_core_device_health_counts_services_that_are_not_up():
    health, why = core_device_health("SUCCEEDED", [], [{"name": "MQTT broker", "state": "failed",
                                                        "error": "port in use"}])
    assert (health, why) == ("UNHEALTHY", ["service MQTT broker is failed: port in use"])
    assert core_device_health("SUCCEEDED", [], [{"name": "x", "state": "started"}]) == ("HEALTHY", [])
