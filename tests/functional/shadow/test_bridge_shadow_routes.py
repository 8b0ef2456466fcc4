"""The developer guide's client-devices tutorial on a V2 core: the Auth policy allows ``mqtt:*`` on ``*`` and the
MQTT bridge maps ``$aws/things/+/shadow/#`` both ways between LocalMqtt and Pubsub, where the ShadowManager serves any
thing's shadow. The V2 reader's routes (localcore/readers/v2.py) on a real broker and shadow store, with the
unmodified AWSIoTPythonSDK shadow client: a device reads and updates its own shadow and another device's, and a
change made on the core's side (what MySmartLightManager does over IPC) reaches the device as a delta."""
import json


from localcore.core import routes_of
from localcore.readers.v2 import setup_from_deployment
from tests.functional.shadow.sdk_client import Replies, shadow_client

CORE = "MyGreengrassCore"
DEVICES = ["MyClientDevice1", "MyClientDevice2"]
SHADOWS = "$aws/things/+/shadow/#"
AUTH = {"deviceGroups": {"formatVersion": "2021-03-05", "definitions": {
    "MyDeviceGroup": {"selectionRule": "thingName: MyClientDevice*", "policyName": "MyClientDevicePolicy"}},
    "policies": {"MyClientDevicePolicy": {"AllowAll": {"statementDescription": "Allow client devices.",
                                                       "operations": ["mqtt:*"], "resources": ["*"]}}}}}
BRIDGE = {"mqttTopicMapping": {
    "ShadowsLocalMqttToPubsub": {"topic": SHADOWS, "source": "LocalMqtt", "target": "Pubsub"},
    "ShadowsPubsubToLocalMqtt": {"topic": SHADOWS, "source": "Pubsub", "target": "LocalMqtt"}}}
SHADOW_MANAGER = {"synchronize": {"shadowDocuments": [{"thingName": d, "classic": True} for d in DEVICES],
                                  "direction": "betweenDeviceAndCloud"}}


def tutorial_routes():
    components = {
        "aws.greengrass.clientdevices.Auth": {"componentVersion": "2.5.0",
                                              "configurationUpdate": {"merge": json.dumps(AUTH)}},
        "aws.greengrass.clientdevices.mqtt.Bridge": {"componentVersion": "2.3.0",
                                                     "configurationUpdate": {"merge": json.dumps(BRIDGE)}},
        "aws.greengrass.ShadowManager": {"componentVersion": "2.3.0",
                                         "configurationUpdate": {"merge": json.dumps(SHADOW_MANAGER)}},
    }
    setup = setup_from_deployment({"deploymentId": "d-1", "components": components}, {}, core_thing=CORE,
                                  region="us-east-1", account="123456789012", code_dirs={},
                                  connectivity=[{"id": "local", "hostAddress": "127.0.0.1", "portNumber": 8883}],
                                  client_devices=DEVICES)
    return routes_of(setup.group)


def test_the_tutorials_policy_and_wildcard_mappings_route_every_group_things_shadow_both_ways():
    routes = {(r.source, r.target, r.topic_filter) for r in tutorial_routes()}
    for d in DEVICES:
        for thing in [CORE] + DEVICES:
            assert (f"device:{d}", f"shadow:{thing}", f"$aws/things/{thing}/shadow/#") in routes
            assert (f"shadow:{thing}", f"device:{d}", f"$aws/things/{thing}/shadow/#") in routes
    assert not any("shadow:+" in (s, t) or "/+/" in f for s, t, f in routes)


def test_a_device_uses_its_shadow_and_anothers_through_the_bridge_routes(make_core):
    core = make_core(tutorial_routes(), DEVICES)
    light = shadow_client(core, "MyClientDevice1")
    other = shadow_client(core, "MyClientDevice2")
    try:
        own = light.createShadowHandlerWithName("MyClientDevice1", True)
        got, deltas, updates = Replies(), Replies(), Replies()
        own.shadowGet(got, 5)
        body, status, _ = got.get()
        assert status == "rejected" and body["code"] == 404
        own.shadowRegisterDeltaCallback(deltas)
        own.shadowUpdate(json.dumps({"state": {"reported": {"color": "white"}}}), updates, 5)
        body, status, token = updates.get()
        assert status == "accepted" and body["version"] == 1 and body["clientToken"] == token

        # the core's side changes the desired color, as MySmartLightManager does over IPC
        core.call(core.shadows.handle_and_publish, "MyClientDevice1", "update",
                  json.dumps({"state": {"desired": {"color": "red"}}}).encode(), "")
        body, status, _ = deltas.get()
        assert status == "delta/MyClientDevice1" and body["state"] == {"color": "red"} and body["version"] == 2

        # another device of the group reads it through the same wildcard mappings
        theirs = other.createShadowHandlerWithName("MyClientDevice1", True)
        theirs.shadowGet(got, 5)
        body, status, _ = got.get()
        assert status == "accepted" and body["state"]["desired"] == {"color": "red"}
        assert body["state"]["reported"] == {"color": "white"}
    finally:
        light.disconnect()
        other.disconnect()
