"""The V2 reader's pure part: the converter's own output for a group → the core configuration again.

Where V1 and V2 agree the rebuilt group equals group.yaml; where V2 differs by design the test states
the V2 behaviour (device → device is broker pub/sub limited by the Auth policy; function → device goes
through the cloud; greengrasssdk local-shadow calls are not served)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from group.model import Group, load
from group.v2.convert import convert
from group.v2.lambda_recipe import recipe_for_lambda
from localcore.readers.errors import DeploymentFailed
from localcore.readers.v2 import setup_from_deployment

ROOT = Path(__file__).resolve().parents[3]
REGION, ACCOUNT = "us-east-1", "123456789012"
AUTH = "aws.greengrass.clientdevices.Auth"
BRIDGE = "aws.greengrass.clientdevices.mqtt.Bridge"


def _inputs(group: Group):
    plan = convert(group, root=ROOT, account_id=ACCOUNT, region=REGION)
    recipes = {lc.component_name: recipe_for_lambda(lc.request, REGION, ACCOUNT, handler=lc.handler,
                                                     runtime=lc.runtime) for lc in plan.lambdas}
    recipes.update({gc.name: gc.recipe for gc in plan.generic})
    code_dirs = {f.name: Path("/pkg") / f.name for f in group.functions}
    deployment = dict(plan.deployment, deploymentId="dep-1")
    return plan, deployment, recipes, code_dirs, list(plan.connectivity_info)


def _read(group: Group, deployment, recipes, code_dirs, connectivity, base=True):
    return setup_from_deployment(deployment, recipes, core_thing=group.core.thing, region=REGION, account=ACCOUNT,
                                 code_dirs=code_dirs, connectivity=connectivity, base=group if base else None,
                                 client_devices=[d.thing for d in group.devices])


@pytest.fixture(scope="module")
def seed():
    group, _ = load(ROOT / "group" / "group.yaml")
    plan, deployment, recipes, code_dirs, conn = _inputs(group)
    return group, _read(group, deployment, recipes, code_dirs, conn), (deployment, recipes, code_dirs, conn)


def _triples(g: Group):
    return {(s.source, s.target, s.topic) for s in g.subscriptions}


FUNCTION_FIELDS = ("handler", "runtime", "pinned", "memory_mb", "timeout_s", "encoding", "environment",
                   "isolation", "run_as", "access_sysfs", "resources")


def test_functions_and_their_parameters_match_group_yaml(seed):
    v1, setup, _ = seed
    got = {f.name: f for f in setup.group.functions}
    assert [f.name for f in setup.group.functions] == [f.name for f in v1.functions]
    for f in v1.functions:
        g = got[f.name]
        for attr in FUNCTION_FIELDS:
            assert getattr(g, attr) == getattr(f, attr), (f.name, attr)
        # on-demand pool: V1 left it to the core (None), the converter made V2's default explicit
        assert g.max_instances == (f.max_instances or (None if f.pinned else 100))
        # the code is the published Lambda package (libraries already inside it)
        assert g.code_dir(ROOT) == Path("/pkg") / f.name and g.libraries == ()
    assert setup.profile.code_dirs == {f.name: Path("/pkg") / f.name for f in v1.functions}
    assert setup.group.resources == v1.resources


def test_routes_where_v1_and_v2_agree(seed):
    v1, setup, _ = seed
    got = _triples(setup.group)
    for s in v1.subscriptions:  # the seed has no function → device route: every V1 route is still there
        assert (s.source, s.target, s.topic) in got, s
    kinds = {"fn→cloud": ("hello_world", "cloud", "hello/world"),
             "cloud→fn": ("cloud", "stream_reader", "streams/read"),
             "shadow→fn": ("shadow:GG_TrafficLight", "car_aggregator",
                           "$aws/things/GG_TrafficLight/shadow/update/documents"),
             "device→shadow": ("GG_Switch", "shadow:GG_TrafficLight", "$aws/things/GG_TrafficLight/shadow/update"),
             "shadow→device": ("shadow:GG_TrafficLight", "GG_TrafficLight", "$aws/things/GG_TrafficLight/shadow/get/#"),
             "device→device": ("HelloWorld_Publisher", "HelloWorld_Subscriber", "hello/world/pubsub")}
    for kind, triple in kinds.items():
        assert triple in got, kind


def test_v2_device_to_device_is_broker_pubsub_limited_by_policy(seed):
    v1, setup, _ = seed
    extra = _triples(setup.group) - _triples(v1)
    # V2: the broker delivers a device's shadow request to any device allowed to subscribe to a filter
    # matching it (update/# matches update): not a V1 route, a V2 fact; nothing else is added
    assert extra == {("GG_Switch", "GG_TrafficLight", "$aws/things/GG_TrafficLight/shadow/update"),
                     ("GG_TrafficLight", "GG_Switch", "$aws/things/GG_TrafficLight/shadow/update")}
    # and only what the policy allows: the subscriber never publishes, so nothing flows back
    assert not any(s.source == "HelloWorld_Subscriber" for s in setup.group.subscriptions)


def test_devices_sync_and_core(seed):
    v1, setup, _ = seed
    assert setup.group.devices == v1.devices
    assert setup.group.core.thing == v1.core.thing and setup.group.core.sync_shadow == v1.core.sync_shadow
    assert [(c.host, c.port, c.metadata) for c in setup.group.core.connectivity] == \
        [(c.host, c.port, c.metadata) for c in v1.core.connectivity]


def test_stream_manager_loggers_connector_and_cloud(seed):
    v1, setup, _ = seed
    g = setup.group
    assert g.stream_manager == v1.stream_manager
    assert [(lg.component, lg.type, lg.level, lg.space_kb) for lg in g.loggers] == \
        [(lg.component, lg.type, lg.level, lg.space_kb) for lg in v1.loggers]
    (conn,) = g.connectors
    old = v1.connectors[0]
    assert conn.name == old.name and conn.kind == "DockerApplicationDeployment"
    assert conn.parameters["DockerComposeFileS3Bucket"] == old.parameters["DockerComposeFileS3Bucket"]
    # the compose file is the component's artifact, not the V1 connector's key
    assert conn.parameters["DockerComposeFileS3Key"].startswith("components/gg-bundle-docker-app-compose/")
    assert conn.parameters["DockerPullBeforeUp"] == "true" and conn.parameters["DockerUserId"] == "1000"
    assert g.cloud == v1.cloud and g.streams == v1.streams and g.name == v1.name


def test_profile_is_v2(seed):
    v1, setup, _ = seed
    p = setup.profile
    assert p.is_v2 and p.deployment_id == "dep-1"
    assert p.discovery_group_id == "greengrassV2-coreDevice-GG_Core"
    assert p.serves_sdk_shadow_calls is False  # GGShadowService calls are not served on V2
    assert set(p.client_devices) == {d.thing for d in v1.devices}
    kinds = {c.name: c.kind for c in p.components}
    assert kinds["gg-bundle-producer"] == "lambda" and kinds["gg-bundle-docker-app-compose"] == "generic"
    assert kinds["aws.greengrass.StreamManager"] == "public"
    assert len([k for k in kinds.values() if k == "lambda"]) == len(v1.functions)


def test_without_the_group_file_names_come_from_the_deployment(seed):
    v1, _, (deployment, recipes, code_dirs, conn) = seed
    setup = _read(v1, deployment, recipes, code_dirs, conn, base=False)
    assert {f.name for f in setup.group.functions} == {f.name for f in v1.functions}
    assert setup.group.name == "gg-bundle" and setup.group.connectors[0].name == "docker-app"
    assert setup.group.cloud.tables == ()  # cloud resources are not part of a deployment


def test_configuration_update_applies_over_the_recipe_default(seed):
    v1, _, (deployment, recipes, code_dirs, conn) = seed
    dep = copy.deepcopy(deployment)
    dep["components"]["gg-bundle-reader"]["configurationUpdate"] = {
        "reset": [""], "merge": json.dumps({"timeoutInSeconds": 25, "lambdaExecutionParameters": {
            "EnvironmentVariables": {"DISPLAY_TOPIC": "elsewhere"}}})}
    dep["components"]["aws.greengrass.StreamManager"]["configurationUpdate"]["merge"] = json.dumps(
        {"STREAM_MANAGER_SERVER_PORT": "9099", "STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE": "3"})
    g = _read(v1, dep, recipes, code_dirs, conn).group
    reader = g.function("reader")
    # merge deep-merges maps: the other variables stay
    assert reader.timeout_s == 25
    assert reader.environment == {"DISPLAY_TOPIC": "elsewhere", "SOURCE_STREAM_NAME": "SensorAggregates"}
    assert g.stream_manager.port == 9099 and g.stream_manager.exporter_thread_pool_size == 3


SMALL = {
    "group": {"name": "small", "region": REGION},
    "core": {"thing": "Core1", "connectivity": [{"host": "10.0.0.5", "port": 8883}]},
    "devices": [{"thing": "DevA"}, {"thing": "DevB"}],
    "functions": [{"name": "fa", "pinned": True, "memory_mb": 32}, {"name": "fb", "memory_mb": 32, "max_instances": 4}],
    "subscriptions": [
        {"source": "DevA", "target": "fa", "topic": "a/in"},
        {"source": "DevA", "target": "cloud", "topic": "a/up"},
        {"source": "cloud", "target": "DevB", "topic": "b/down"},
        {"source": "fa", "target": "fb", "topic": "a/fwd"},
        {"source": "fb", "target": "DevB", "topic": "b/notify"},
    ],
}


def test_device_and_function_routes_of_a_small_group():
    group = Group.model_validate(SMALL)
    _, deployment, recipes, code_dirs, conn = _inputs(group)
    setup = _read(group, deployment, recipes, code_dirs, conn)
    got = _triples(setup.group)
    assert ("DevA", "fa", "a/in") in got            # Bridge LocalMqtt→Pubsub + PUB_SUB event source
    # the same two as the nucleus' local pub/sub bus, which IPC components publish and subscribe on
    assert ("DevA", "pubsub", "a/in") in got        # Bridge LocalMqtt→Pubsub
    assert ("pubsub", "fa", "a/in") in got          # PUB_SUB event source (not a shadow topic)
    assert not any(s == "pubsub" and t.startswith("shadow") for s, t, _ in got)
    assert ("DevA", "cloud", "a/up") in got         # Bridge LocalMqtt→IotCore
    assert ("cloud", "DevB", "b/down") in got       # Bridge IotCore→LocalMqtt
    assert ("fa", "fb", "a/fwd") in got             # LegacySubscriptionRouter
    # function → device is gone on V2: the converter sends it through the cloud and back
    assert ("fb", "DevB", "b/notify") not in got
    assert {("fb", "cloud", "b/notify"), ("cloud", "DevB", "b/notify")} <= got
    # DevB may not publish a/in: no route from it to fa
    assert ("DevB", "fa", "a/in") not in got
    assert setup.group.function("fb").max_instances == 4 and setup.group.function("fa").pinned


def _bad(seed, mutate):
    v1, _, (deployment, recipes, code_dirs, conn) = seed
    dep, rec, dirs = copy.deepcopy(deployment), copy.deepcopy(recipes), dict(code_dirs)
    mutate(dep, rec, dirs)
    with pytest.raises(DeploymentFailed) as info:
        _read(v1, dep, rec, dirs, conn)
    return info.value


def _set_merge(dep, name, value):
    dep["components"][name]["configurationUpdate"] = {"reset": [""], "merge": json.dumps(value)}


BAD = [
    ("missing recipe", lambda d, r, c: r.pop("gg-bundle-reader"), "NO_AVAILABLE_COMPONENT_VERSION",
     "Failed to negotiate component gg-bundle-reader version"),
    ("other version", lambda d, r, c: d["components"]["gg-bundle-reader"].update(componentVersion="9.9.9"),
     "NO_AVAILABLE_COMPONENT_VERSION", "gg-bundle-reader version 9.9.9"),
    ("Lambda code missing", lambda d, r, c: c.pop("webcam"), "ARTIFACT_DOWNLOAD_ERROR", "gg-bundle-webcam"),
    ("Auth policy missing", lambda d, r, c: _set_merge(d, AUTH, {"deviceGroups": {"definitions": {
        "g": {"selectionRule": "thingName: GG_Switch", "policyName": "nope"}}, "policies": {}}}),
     "COMPONENT_CONFIGURATION_NOT_VALID", "definitions.g.policyName"),
    # the Auth component takes any operation string (an unknown one never matches: a warning, see
    # tests/unit/clientauth/test_policy.py), but refuses a policy variable it does not know
    ("Auth bad policy variable", lambda d, r, c: _set_merge(d, AUTH, {"deviceGroups": {"definitions": {
        "g": {"selectionRule": "thingName: GG_Switch", "policyName": "p"}}, "policies": {
        "p": {"s": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:${iot:ClientId}"]}}}}}),
     "COMPONENT_CONFIGURATION_NOT_VALID", "unknown policy variable"),
    ("Auth bad rule", lambda d, r, c: _set_merge(d, AUTH, {"deviceGroups": {"definitions": {
        "g": {"selectionRule": "thingGroup: x", "policyName": "p"}}, "policies": {"p": {}}}}),
     "COMPONENT_CONFIGURATION_NOT_VALID", "selectionRule"),
    ("Bridge bad end", lambda d, r, c: _set_merge(d, BRIDGE, {"mqttTopicMapping": {
        "m": {"topic": "a/b", "source": "LocalMqtt", "target": "Cloud"}}}),
     "COMPONENT_CONFIGURATION_NOT_VALID", "mqttTopicMapping.m"),
    ("Bridge same ends", lambda d, r, c: _set_merge(d, BRIDGE, {"mqttTopicMapping": {
        "m": {"topic": "a/b", "source": "Pubsub", "target": "Pubsub"}}}),
     "COMPONENT_CONFIGURATION_NOT_VALID", "must differ"),
    ("Bridge bad filter", lambda d, r, c: _set_merge(d, BRIDGE, {"mqttTopicMapping": {
        "m": {"topic": "a/#/b", "source": "LocalMqtt", "target": "IotCore"}}}),
     "COMPONENT_CONFIGURATION_NOT_VALID", "not a valid MQTT topic filter"),
    ("merge not JSON", lambda d, r, c: d["components"][BRIDGE].update(configurationUpdate={"merge": "{nope"}),
     "COMPONENT_CONFIGURATION_NOT_VALID", BRIDGE),
]


@pytest.mark.parametrize("case,mutate,code,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_the_deployment_with_the_v2_reason(seed, case, mutate, code, reason):
    err = _bad(seed, mutate)
    assert err.code == code and err.error_stack[0] == "DEPLOYMENT_FAILURE"
    assert reason in err.reason


def test_the_client_policy_comes_from_the_auth_configuration(seed):
    _, setup, _ = seed
    policy = setup.profile.client_policy
    assert policy is not None  # localcore.clientauth.policy_from_config over the Auth component's configuration
    assert policy.can_connect("HelloWorld_Publisher", "HelloWorld_Publisher")
    assert policy.can_publish("HelloWorld_Publisher", "hello/world/pubsub")
    assert not policy.can_publish("HelloWorld_Subscriber", "hello/world/pubsub")
    assert policy.can_subscribe("HelloWorld_Subscriber", "hello/world/pubsub")
