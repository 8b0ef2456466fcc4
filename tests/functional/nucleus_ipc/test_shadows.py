"""The ShadowManager's IPC operations and its local pub/sub side over the core's one shadow store (the one client
devices reach through the router), from components using the unmodified awsiotsdk clients (V1 and V2)."""
from __future__ import annotations

import asyncio
import json
import threading

import boto3
import pytest

from localcore.interfaces import Message, Route

from tests.functional.nucleus_ipc.plugin_kit import Collect, plugin_core
from tests.moto_server import moto_server

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


BURST = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage
ipc = GreengrassCoreIPCClientV2()
def err(call):
    try:
        call()
        return "ok"
    except Exception as e:
        return [type(e).__name__, e.message]
up = lambda: ipc.update_thing_shadow(thing_name="Light", payload=b'{"state":{"reported":{"n":1}}}')
out = {"burst": [err(up), err(up)],                                       # within one second
       "other_thing": err(lambda: ipc.get_thing_shadow(thing_name="Other")),   # its own limiter: refused by policy
       "list": err(lambda: ipc.list_named_shadows_for_thing(thing_name="Light"))}
# requests on local pub/sub are not limited (the ShadowManager's PubSubIntegrator)
accepted = []
ipc.subscribe_to_topic(topic="$aws/things/Light/shadow/update/accepted", on_stream_event=lambda e: accepted.append(1))
for i in range(3):
    ipc.publish_to_topic(topic="$aws/things/Light/shadow/update", publish_message=PublishMessage(
        binary_message=BinaryMessage(message=json.dumps({"state": {"reported": {"p": i}}}).encode())))
out["pubsub_accepted"] = wait_for(lambda: len(accepted) >= 3, 20) and len(accepted)
report(**out)
"""

TOTAL = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
def err(call):
    try:
        call()
        return "ok"
    except Exception as e:
        return [type(e).__name__, e.message]
report(calls=[err(lambda: ipc.get_thing_shadow(thing_name="Door")),     # a permit, then the policy refuses it
              err(lambda: ipc.list_named_shadows_for_thing(thing_name="Door")),
              err(lambda: ipc.get_thing_shadow(thing_name=""))])       # no thing: its name check, no permit
"""


async def test_rate_limits_from_the_configuration(tmp_path):
    throttled = ["ServiceError", "Too Many Requests"]
    async with plugin_core(tmp_path) as core:
        await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {}})
        out = (await core.run(ME, BURST))[0]
        assert out["burst"] == ["ok", "ok"]                     # the default: 20 a second per thing
        # a later deployment: 1 request a second per thing
        await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {
            "rateLimits": {"maxLocalRequestsPerSecondPerThing": 1}}})
        out = (await core.run(ME, BURST))[0]
        assert out["burst"] == ["ok", throttled]
        assert out["other_thing"][0] == "UnauthorizedError"   # not throttled: Other has its own limiter
        assert out["list"] == throttled                          # List takes a permit too
        assert out["pubsub_accepted"] == 3
        counts = core.ipc.status()["shadows"]["counts"]
        assert counts["UpdateThingShadow.throttled"] == 1 and counts["ListNamedShadowsForThing.throttled"] == 1
        assert core.ipc.status()["shadows"]["rate_limits"]["per_thing_per_second"] == 1

        # 1 request a second in all (Door: a thing not limited yet — a new rate scales the count of a window under
        # way, as the component's IpcRateLimiter.setRate, so Light's full window would stay full at 20)
        await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {
            "rateLimits": {"maxTotalLocalRequestsRate": 1}}})
        calls = (await core.run(ME, TOTAL))[0]["calls"]
        assert calls[0][0] == "UnauthorizedError"
        assert calls[1:] == [throttled, ["InvalidArgumentsError", "ThingName is missing"]]

        # a configuration the component refuses leaves the previous one in force
        await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {
            "rateLimits": {"maxTotalLocalRequestsRate": 0}}})
        status = core.ipc.status()["shadows"]
        assert status["rate_limits"]["total_per_second"] == 1
        assert status["config_error"].startswith("rateLimits: Maximum total local shadow request rate per second "
                                                 "provided 0 is invalid")


SYNCED_UPDATE = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
ipc.update_thing_shadow(thing_name="Light", shadow_name="cfg",
                        payload=json.dumps({"state": {"reported": {"mode": "eco"}}}).encode())
ipc.update_thing_shadow(thing_name="Light", payload=json.dumps({"state": {"reported": {"on": True}}}).encode())
report(done=True)
"""

SYNCED_GET = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
report(state=json.loads(ipc.get_thing_shadow(thing_name="Light", shadow_name="cfg").payload)["state"])
"""


async def test_named_shadow_sync_with_the_cloud(tmp_path):
    with moto_server() as url:
        cloud = boto3.client("iot-data", region_name="us-east-1", endpoint_url=url,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
        boto3.client("iot", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_thing(thingName="Light")
        async with plugin_core(tmp_path) as core:
            core.ipc.shadows.attach_cloud("GG_Core", lambda: cloud, poll_interval_s=0.05)
            await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {"synchronize": {
                "shadowDocuments": [{"thingName": "Light", "classic": False, "namedShadows": ["cfg"]}]}}})
            sync = core.ipc.shadows.sync
            assert await core.run(ME, SYNCED_UPDATE) == [{"done": True}]
            assert await asyncio.to_thread(sync.wait_idle, 10)
            named = json.loads(cloud.get_thing_shadow(thingName="Light", shadowName="cfg")["payload"].read())
            assert named["state"]["reported"] == {"mode": "eco"}
            with pytest.raises(cloud.exceptions.ResourceNotFoundException):   # classic: false
                cloud.get_thing_shadow(thingName="Light")

            # the cloud sets the desired mode: the component reads it from its local shadow
            changed = threading.Event()
            core.shadow_store.add_listener(lambda thing, name, replies: name == "cfg" and any(
                r.topic.endswith("/update/delta") for r in replies) and changed.set())
            cloud.update_thing_shadow(thingName="Light", shadowName="cfg",
                                      payload=json.dumps({"state": {"desired": {"mode": "boost"}}}))
            assert await asyncio.to_thread(changed.wait, 10)
            state = (await core.run(ME, SYNCED_GET))[0]["state"]
            assert state["desired"] == {"mode": "boost"} and state["reported"] == {"mode": "eco"}

            # a later deployment syncs the classic shadow too, only device → cloud
            await core.configure({ME: POLICY, "aws.greengrass.ShadowManager": {"synchronize": {
                "shadowDocumentsMap": {"Light": {"namedShadows": ["cfg"]}}, "direction": "deviceToCloud"}}})
            assert await asyncio.to_thread(sync.wait_idle, 10)
            classic = json.loads(cloud.get_thing_shadow(thingName="Light")["payload"].read())
            assert classic["state"]["reported"] == {"on": True}
            assert core.ipc.status()["shadows"]["sync"]["direction"] == "deviceToCloud"
            # removed from the deployment: the sync stops
            await core.configure({ME: POLICY})
            assert core.ipc.shadows.sync is None
