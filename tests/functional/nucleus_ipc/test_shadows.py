"""The ShadowManager's IPC operations and its local pub/sub side over the core's one shadow store (the one client
devices reach through the router), from components using the unmodified awsiotsdk clients (V1 and V2)."""
from __future__ import annotations

from localcore.interfaces import Message, Route

from tests.functional.nucleus_ipc.plugin_kit import Collect, plugin_core

ME = "com.example.Shadows"
POLICY = {"accessControl": {
    "aws.greengrass.ShadowManager": {
        "light": {"operations": ["aws.greengrass#GetThingShadow", "aws.greengrass#UpdateThingShadow",
                                 "aws.greengrass#DeleteThingShadow"],
                  "resources": ["$aws/things/Light/shadow", "$aws/things/Light/shadow/name/*"]},
        "list": {"operations": ["aws.greengrass#ListNamedShadowsForThing"], "resources": ["Light"]}},
    "aws.greengrass.ipc.pubsub": {"all": {"operations": ["*"], "resources": ["*"]}}}}

OPERATIONS = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import (GetThingShadowRequest, ListNamedShadowsForThingRequest,
                                            UpdateThingShadowRequest)
ipc = GreengrassCoreIPCClientV2()
def doc(b):
    d = json.loads(b)
    d.pop("timestamp", None)
    d.pop("metadata", None)
    return d
def err(call):
    try:
        return call()
    except Exception as e:
        return [type(e).__name__, e.message, getattr(e, "resource_type", None)]
up = lambda thing, body, name=None: doc(ipc.update_thing_shadow(thing_name=thing, shadow_name=name,
                                                                  payload=json.dumps(body).encode()).payload)
out = {}
out["update"] = up("Light", {"state": {"desired": {"color": "red"}}, "clientToken": "t1"})
out["get"] = doc(ipc.get_thing_shadow(thing_name="Light").payload)
out["conflict"] = err(lambda: up("Light", {"state": {"reported": {"color": "red"}}, "version": 7}))
out["versioned"] = up("Light", {"state": {"reported": {"color": "red"}}, "version": 1})["version"]
out["named"] = [up("Light", {"state": {"reported": {"n": i}}}, name)["version"] for i, name in
                enumerate(["config", "b", "config"])]
page1 = ipc.list_named_shadows_for_thing(thing_name="Light", page_size=1)
page2 = ipc.list_named_shadows_for_thing(thing_name="Light", page_size=1, next_token=page1.next_token)
page3 = ipc.list_named_shadows_for_thing(thing_name="Light", page_size=1, next_token=page2.next_token)
out["pages"] = [page1.results, page2.results, page3.results, page3.next_token, type(page1.timestamp).__name__]
out["all"] = ipc.list_named_shadows_for_thing(thing_name="Light").results
out["page_size"] = err(lambda: ipc.list_named_shadows_for_thing(thing_name="Light", page_size=101))
out["bad_token"] = err(lambda: ipc.list_named_shadows_for_thing(thing_name="Light", next_token="bm9wZQ=="))
out["missing"] = err(lambda: ipc.get_thing_shadow(thing_name="Light", shadow_name="ghost"))
out["delete"] = repr(ipc.delete_thing_shadow(thing_name="Light", shadow_name="config").payload)
out["deleted"] = err(lambda: ipc.get_thing_shadow(thing_name="Light", shadow_name="config"))
out["delete_again"] = err(lambda: ipc.delete_thing_shadow(thing_name="Light", shadow_name="config"))
out["refused"] = err(lambda: ipc.get_thing_shadow(thing_name="Other"))
out["refused_list"] = err(lambda: ipc.list_named_shadows_for_thing(thing_name="Other"))
out["bad_thing"] = err(lambda: ipc.get_thing_shadow(thing_name="bad/name"))
out["no_thing"] = err(lambda: ipc.get_thing_shadow(thing_name=""))
out["long_name"] = err(lambda: ipc.get_thing_shadow(thing_name="Light", shadow_name="n" * 65))
out["empty"] = err(lambda: ipc.update_thing_shadow(thing_name="Light", payload=b""))
out["not_json"] = err(lambda: ipc.update_thing_shadow(thing_name="Light", payload=b"{"))
deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}
out["deep"] = err(lambda: up("Light", {"state": {"desired": deep}}))
out["large"] = err(lambda: up("Light", {"state": {"desired": {"x": "y" * 9000}}}))
v1 = gg.connect()
op = v1.new_update_thing_shadow()
op.activate(UpdateThingShadowRequest(thing_name="Light", shadow_name="v1",
                                     payload=json.dumps({"state": {"reported": {"by": "v1"}}}).encode()))
out["v1_update"] = doc(op.get_response().result(10).payload)["version"]
op = v1.new_get_thing_shadow()
op.activate(GetThingShadowRequest(thing_name="Light"))
out["v1_get"] = doc(op.get_response().result(10).payload)["state"]
op = v1.new_list_named_shadows_for_thing()
op.activate(ListNamedShadowsForThingRequest(thing_name="Light"))
out["v1_list"] = op.get_response().result(10).results
report(**out)
"""


async def test_shadow_operations(tmp_path):
    async with plugin_core(tmp_path) as core:
        # the script makes more than the default 20 requests a second on Light: the limit is raised
        await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {
            "rateLimits": {"maxLocalRequestsPerSecondPerThing": 1000}}})
        out = (await core.run(ME, OPERATIONS))[0]
        bad = "InvalidArgumentsError"
        assert out["update"] == {"state": {"desired": {"color": "red"}}, "version": 1, "clientToken": "t1"}
        assert out["get"] == {"state": {"desired": {"color": "red"}, "delta": {"color": "red"}}, "version": 1}
        assert out["conflict"] == ["ConflictError", "Version conflict", None]
        assert out["versioned"] == 2
        assert out["named"] == [1, 1, 2]
        assert out["pages"][:3] == [["b"], ["config"], []] and out["pages"][3] is None
        assert out["pages"][4] == "datetime"
        assert out["all"] == ["b", "config"]
        assert out["page_size"] == [bad, "pageSize argument must be between 1 and 100", None]
        assert out["bad_token"] == [bad, "Invalid nextToken argument", None]
        assert out["missing"] == ["ResourceNotFoundError", "No shadow found", "shadow"]
        assert out["delete"] == "b''"                   # an empty payload
        assert out["deleted"] == out["delete_again"] == ["ResourceNotFoundError", "No shadow found", "shadow"]
        assert out["refused"] == ["UnauthorizedError", f"Principal {ME} is not authorized to perform "
                                  "aws.greengrass.ShadowManager:aws.greengrass#GetThingShadow on resource "
                                  "$aws/things/Other/shadow", None]
        assert out["refused_list"][1].endswith("aws.greengrass#ListNamedShadowsForThing on resource Other")
        assert out["bad_thing"] == [bad, "ThingName must match pattern [a-zA-Z0-9:_-]+", None]
        assert out["no_thing"] == [bad, "ThingName is missing", None]
        assert out["long_name"] == [bad, "ShadowName has a maximum length of 64", None]
        assert out["empty"] == [bad, "Missing update payload", None]
        assert out["not_json"] == [bad, "Invalid JSON", None]
        assert out["deep"] == [bad, "JSON contains too many levels of nesting; maximum is 6", None]
        assert out["large"] == [bad, "The payload exceeds the maximum size allowed", None]
        assert out["v1_update"] == 1
        assert out["v1_get"] == {"desired": {"color": "red"}, "reported": {"color": "red"}}
        assert out["v1_list"] == ["b", "v1"]
        # one store: what the IPC wrote is the core's shadow document (persisted), named shadows beside it
        assert core.shadow_store.document("Light")["version"] == 2
        assert core.shadow_store.document("Light", "b")["state"] == {"reported": {"n": 1}}
        assert core.shadow_store.named_shadows("Light") == ["b", "v1"]
        assert core.ipc.status()["shadows"]["counts"]["UpdateThingShadow.ok"] >= 5


SUBSCRIBER = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
got = []
lock = threading.Lock()
def on(event):
    m = event.binary_message or event.json_message
    body = json.loads(m.message) if event.binary_message else m.message
    with lock:
        got.append([m.context.topic, "binary" if event.binary_message else "json", body])
for t in ["$aws/things/Light/shadow/update/+", "$aws/things/Light/shadow/name/+/update/+",
          "$aws/things/Light/shadow/get/+"]:
    ipc.subscribe_to_topic(topic=t, on_stream_event=on)
report(ready=True)
n = int(sys.stdin.readline())
wait_for(lambda: len(got) >= n, 20)
with lock:
    report(got=got)
"""

DRIVER = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage
ipc = GreengrassCoreIPCClientV2()
ipc.publish_to_topic(topic="$aws/things/Light/shadow/update", publish_message=PublishMessage(
    json_message=JsonMessage(message={"state": {"desired": {"on": True}}, "clientToken": "pubsub"})))
ipc.publish_to_topic(topic="$aws/things/Light/shadow/name/cfg/update", publish_message=PublishMessage(
    binary_message=BinaryMessage(message=b'{"state":{"reported":{"a":1}},"version":9}')))
report(done=True)
"""


async def test_local_pubsub_side_and_one_store_with_devices(tmp_path):
    routes = [Route("device:Switch", "shadow:Light", "$aws/things/Light/shadow/update"),
              Route("device:Switch", "shadow:Light", "$aws/things/Light/shadow/get"),
              Route("shadow:Light", "device:Switch", "$aws/things/Light/shadow/#")]
    async with plugin_core(tmp_path, routes) as core:
        switch = Collect()
        core.router.attach("device:Switch", switch)
        await core.configure({"com.example.Sub": POLICY, "com.example.Driver": POLICY,
                              "aws.greengrass.ShadowManager": {}})
        sub = await core.start("com.example.Sub", SUBSCRIBER)
        assert await sub.line() == {"ready": True}
        # a component drives the shadow through local pub/sub; the ShadowManager answers there
        assert await core.run("com.example.Driver", DRIVER) == [{"done": True}]
        # a client device (over the router, as the broker hands it) reads and updates the same document
        core.router.publish(Message("device:Switch", "$aws/things/Light/shadow/get", b"{}"))
        core.router.publish(Message("device:Switch", "$aws/things/Light/shadow/update",
                                    b'{"state":{"reported":{"on":true}}}'))
        await sub.send("7")
        got = (await sub.finish())[0]["got"]
        topics = [g[0] for g in got]
        assert set(topics) == {"$aws/things/Light/shadow/update/accepted", "$aws/things/Light/shadow/update/documents",
                               "$aws/things/Light/shadow/update/delta", "$aws/things/Light/shadow/name/cfg/update/rejected",
                               "$aws/things/Light/shadow/get/accepted"}
        assert all(g[1] == "binary" for g in got)       # the ShadowManager publishes binary JSON
        by_topic = {}
        for t, _, body in got:
            by_topic.setdefault(t, []).append(body)
        assert by_topic["$aws/things/Light/shadow/update/delta"][0]["state"] == {"on": True}
        assert by_topic["$aws/things/Light/shadow/update/delta"][0]["clientToken"] == "pubsub"
        rejected = by_topic["$aws/things/Light/shadow/name/cfg/update/rejected"][0]
        assert (rejected["code"], rejected["message"]) == (409, "Version conflict")
        assert by_topic["$aws/things/Light/shadow/get/accepted"][0]["state"]["desired"] == {"on": True}
        assert [b["version"] for b in by_topic["$aws/things/Light/shadow/update/accepted"]] == [1, 2]
        # the device got the replies to its own requests and to the component's (the table routes shadow:Light)
        device_topics = [m.topic for m in switch.messages]
        assert device_topics.count("$aws/things/Light/shadow/update/accepted") == 2
        assert "$aws/things/Light/shadow/get/accepted" in device_topics
        assert core.shadow_store.document("Light")["state"] == {"desired": {"on": True}, "reported": {"on": True}}


NOT_SERVED = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
out = {}
for name, call in [("get", lambda: ipc.get_thing_shadow(thing_name="Light")),
                   ("list", lambda: ipc.list_named_shadows_for_thing(thing_name="Light"))]:
    try:
        call()
    except Exception as e:
        out[name] = [type(e).__name__, e.message]
from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage
ipc.publish_to_topic(topic="$aws/things/Light/shadow/update", publish_message=PublishMessage(
    json_message=JsonMessage(message={"state": {"desired": {"x": 1}}})))
report(**out)
"""

SIZE = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
r = ipc.update_thing_shadow(thing_name="Light", payload=json.dumps({"state": {"desired": {"x": "y" * 12000}}}).encode())
report(version=json.loads(r.payload)["version"])
"""


async def test_served_only_with_the_shadow_manager_and_its_size_limit(tmp_path):
    async with plugin_core(tmp_path) as core:
        await core.configure({ME: POLICY})
        out = (await core.run(ME, NOT_SERVED))[0]
        for op in ("get", "list"):
            name = "GetThingShadow" if op == "get" else "ListNamedShadowsForThing"
            assert out[op] == ["ServiceError", f"Operation aws.greengrass#{name} is not supported by Greengrass"]
        assert core.shadow_store.document("Light") is None          # no ShadowManager listens on pub/sub
        await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {"shadowDocumentSizeLimitBytes": 20000}})
        assert await core.run(ME, SIZE) == [{"version": 1}]
        await core.configure({ME: POLICY})                           # removed again: not served, default limit
        assert core.shadow_store.max_document_bytes == 8192
        assert not core.ipc.status()["shadows"]["deployed"]
