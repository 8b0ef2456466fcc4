"""PublishToIoTCore / SubscribeToIoTCore through the core's cloud connection: the router's ``cloud`` endpoint with the
dashboard console's real tap and facade; components use the unmodified awsiotsdk clients (V1 and V2)."""
from __future__ import annotations

import asyncio
import time

IOT = {"accessControl": {"aws.greengrass.ipc.mqttproxy": {
    "pub": {"operations": ["aws.greengrass#PublishToIoTCore"], "resources": ["telemetry/+/data", "echo/#"]},
    "sub": {"operations": ["aws.greengrass#SubscribeToIoTCore"], "resources": ["cmd/#", "echo/#"]}}}}

COMPONENT = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.client import SubscribeToIoTCoreStreamHandler
from awsiot.greengrasscoreipc.model import PublishToIoTCoreRequest, SubscribeToIoTCoreRequest, QOS
ipc = GreengrassCoreIPCClientV2()
got = {"v2": [], "v1": [], "echo": []}
def err(call):
    try:
        call()
        return "allowed"
    except Exception as e:
        return [type(e).__name__, e.message]
out = {}
out["sub_refused"] = err(lambda: ipc.subscribe_to_iot_core(topic_name="secret/#", qos="0", on_stream_event=print))
out["pub_refused"] = err(lambda: ipc.publish_to_iot_core(topic_name="telemetry/a/b/data", qos="0", payload=b"x"))
out["bad_qos"] = err(lambda: ipc.publish_to_iot_core(topic_name="telemetry/a/data", qos="2", payload=b"x"))
out["no_payload"] = err(lambda: ipc.publish_to_iot_core(topic_name="telemetry/a/data", qos="0"))
out["wildcard_pub"] = err(lambda: ipc.publish_to_iot_core(topic_name="echo/#", qos="0", payload=b"x"))
_, sub = ipc.subscribe_to_iot_core(topic_name="cmd/#", qos="1", on_stream_event=lambda ev: got["v2"].append(
    [ev.message.topic_name, ev.message.payload.decode()]))
ipc.subscribe_to_iot_core(topic_name="echo/#", qos="0", on_stream_event=lambda ev: got["echo"].append(
    ev.message.topic_name))
class H(SubscribeToIoTCoreStreamHandler):
    def on_stream_event(self, ev):
        got["v1"].append([ev.message.topic_name, ev.message.payload.decode()])
v1 = gg.connect()
op = v1.new_subscribe_to_iot_core(H())
op.activate(SubscribeToIoTCoreRequest(topic_name="cmd/v1", qos=QOS.AT_MOST_ONCE))
op.get_response().result(10)
ipc.publish_to_iot_core(topic_name="telemetry/kitchen/data", qos="1", payload=b'{"t": 21}')
pub = v1.new_publish_to_iot_core()
pub.activate(PublishToIoTCoreRequest(topic_name="telemetry/porch/data", qos=QOS.AT_MOST_ONCE, payload=b"v1"))
pub.get_response().result(10)
ipc.publish_to_iot_core(topic_name="echo/me", qos="0", payload=b"back")      # IoT Core delivers it back
report(subscribed=True, **out)
wait_for(lambda: len(got["v2"]) >= 2 and len(got["v1"]) >= 1 and got["echo"], timeout=20)
sub.close()
report(**got)
sys.stdin.readline()
"""


async def _next(sub, timeout=10.0):
    return await asyncio.wait_for(sub.__anext__(), timeout)


async def test_iot_core_through_the_console(v2):
    name = "com.example.Iot"
    await v2.configure({name: IOT})
    console = v2.facade.subscribe("#")                     # what the dashboard's MQTT console shows
    p = await v2.start(name, COMPONENT)
    ready = await p.line(timeout=30)
    assert ready == {"subscribed": True, "sub_refused": ["UnauthorizedError", "Not Authorized"],
                     "pub_refused": ["UnauthorizedError", "Not Authorized"],
                     "bad_qos": ["InvalidArgumentsError", "Invalid QoS value: 2"],
                     "no_payload": ["InvalidArgumentsError", "Payload is required"],
                     "wildcard_pub": ["ServiceError", "Publish to topic echo/# failed: topic 'echo/#' contains a "
                                                      "wildcard ('+' or '#'); wildcards are for filters only"]}
    seen = [await _next(console) for _ in range(3)]
    assert [(m["topic"], m["payload"], m["source"]) for m in seen] == [
        ("telemetry/kitchen/data", b'{"t": 21}', f"component:{name}"),
        ("telemetry/porch/data", b"v1", f"component:{name}"),
        ("echo/me", b"back", f"component:{name}")]
    # the core subscribed to IoT Core for the component: cloud → mqttproxy routes, shown with the table
    assert {(r.source, r.target, r.topic_filter) for r in v2.router.routes} == {
        ("cloud", "mqttproxy", "cmd/#"), ("cloud", "mqttproxy", "cmd/v1"), ("cloud", "mqttproxy", "echo/#")}
    assert v2.facade.publish("cmd/v1", b"both") == {"delivered": 1, "matched": 1}
    assert v2.facade.publish("cmd/x", b"v2 only")["delivered"] == 1
    assert v2.facade.publish("other/x", b"nobody") == {"delivered": 0, "matched": 0}
    got = await p.line(timeout=20)
    assert got == {"v2": [["cmd/v1", "both"], ["cmd/x", "v2 only"]], "v1": [["cmd/v1", "both"]],
                   "echo": ["echo/me"]}
    deadline = time.monotonic() + 10
    while ("cloud", "mqttproxy", "cmd/#") in {(r.source, r.target, r.topic_filter) for r in v2.router.routes}:
        assert time.monotonic() < deadline, "the closed subscription's route stayed"
        await asyncio.sleep(0.01)
    await p.send("done")
    await p.finish()
    await console.aclose()
    st = v2.ipc.status()
    assert st["iotcore"]["published"] == 3 and st["iotcore"]["received"] == 2
    refusals = {(r["principal"], r["operation"], r["resource"]) for r in st["authorization"]["refusals"]}
    assert refusals == {(name, "aws.greengrass#SubscribeToIoTCore", "secret/#"),
                        (name, "aws.greengrass#PublishToIoTCore", "telemetry/a/b/data")}
