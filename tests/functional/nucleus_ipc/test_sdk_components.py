"""The nucleus IPC server with the unmodified awsiotsdk 1.31.0 (clients V1 and V2) in real component processes."""
from __future__ import annotations

import asyncio
import base64
import json
import time

from localcore.interfaces import Message, Route
from localcore.router.router import Router


async def until(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


V2_PUBSUB = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage
ipc = GreengrassCoreIPCClientV2()
got = {"exact": [], "plus": [], "hash": [], "others": []}
def keep(key):
    def on_event(ev):
        m = ev.json_message or ev.binary_message
        body = m.message if ev.json_message else m.message.hex()
        got[key].append([m.context.topic, "json" if ev.json_message else "binary", body])
    return on_event
ops = [ipc.subscribe_to_topic(topic="t/a", on_stream_event=keep("exact"))[1],                 # default: ALL
       ipc.subscribe_to_topic(topic="t/+", on_stream_event=keep("plus"),
                              receive_mode="RECEIVE_ALL_MESSAGES")[1],
       ipc.subscribe_to_topic(topic="t/#", on_stream_event=keep("hash"))[1],                  # default: OTHERS
       ipc.subscribe_to_topic(topic="t/a", on_stream_event=keep("others"),
                              receive_mode="RECEIVE_MESSAGES_FROM_OTHERS")[1]]
report(subscribed=True)
sys.stdin.readline()                                   # the test publishes from another component meanwhile
ipc.publish_to_topic(topic="t/a", publish_message=PublishMessage(json_message=JsonMessage(message={"n": 1})))
ipc.publish_to_topic(topic="t/a/deep", publish_message=PublishMessage(binary_message=BinaryMessage(message=b"raw")))
wait_for(lambda: len(got["plus"]) >= 2 and len(got["hash"]) >= 2 and len(got["exact"]) >= 2)
time.sleep(0.2)                                        # anything that should not arrive has had its chance
for op in ops:
    op.close()
report(**got)
ipc.close()
"""

V1_PUBLISHER = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage, PublishToTopicRequest
ipc = gg.connect()
def publish(topic, msg):
    op = ipc.new_publish_to_topic()
    op.activate(PublishToTopicRequest(topic=topic, publish_message=msg))
    op.get_response().result(10)
publish("t/a", PublishMessage(json_message=JsonMessage(message={"from": "other"})))
publish("t/b", PublishMessage(binary_message=BinaryMessage(message=b"\\x00\\xff")))
report(done=True)
ipc.close()
"""


async def test_publish_subscribe_json_binary_wildcards_and_receive_modes(core):
    sub = await core.start("com.example.Sub", V2_PUBSUB)
    assert await sub.line() == {"subscribed": True}
    assert (await core.run("com.example.Pub", V1_PUBLISHER)) == [{"done": True}]
    await sub.send("go")
    (got,) = await sub.finish()
    other = ["t/a", "json", {"from": "other"}]
    own_json = ["t/a", "json", {"n": 1}]
    # 't/b' binary from the other component reaches '+' and '#'; its bytes survive base64 both ways
    assert got["exact"] == [other, own_json]                       # exact filter: RECEIVE_ALL by default
    assert got["plus"] == [other, ["t/b", "binary", "00ff"], own_json]   # '+' one level only
    assert got["hash"] == [other, ["t/b", "binary", "00ff"]]   # '#' default FROM_OTHERS: own messages kept out
    assert got["others"] == [other]
    assert core.bus.status()["subscriptions"] == 0                 # op.close() unsubscribed every stream


REFUSALS = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage, UnauthorizedError, InvalidArgumentsError
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.model import SubscribeToTopicRequest
ipc = GreengrassCoreIPCClientV2()
msg = PublishMessage(json_message=JsonMessage(message={}))
out = {}
for key, call in [("publish", lambda: ipc.publish_to_topic(topic="secret/x", publish_message=msg)),
                  ("subscribe", lambda: ipc.subscribe_to_topic(topic="secret/+", on_stream_event=print)),
                  ("wildcard", lambda: ipc.publish_to_topic(topic="open/+", publish_message=msg)),
                  ("empty", lambda: ipc.subscribe_to_topic(topic="", on_stream_event=print))]:
    try:
        call()
        out[key] = "allowed"
    except Exception as e:
        out[key] = [type(e).__name__, e.message]
ipc.publish_to_topic(topic="open/ok", publish_message=msg)
v1 = gg.connect()
op = v1.new_subscribe_to_topic(None)
op.activate(SubscribeToTopicRequest(topic="secret/#"))
try:
    op.get_response().result(10)
except UnauthorizedError as e:
    out["v1"] = e.message
report(**out)
"""


async def test_refusals_carry_the_nucleus_texts(core):
    config = {"accessControl": {"aws.greengrass.ipc.pubsub": {
        "open": {"operations": ["aws.greengrass#PublishToTopic"], "resources": ["open/*"]}}}}
    (out,) = await core.run("com.example.Refused", REFUSALS, config)
    pre = "Principal com.example.Refused is not authorized to perform aws.greengrass.ipc.pubsub:"
    assert out == {
        "publish": ["UnauthorizedError", pre + "aws.greengrass#PublishToTopic on resource secret/x"],
        "subscribe": ["UnauthorizedError", pre + "aws.greengrass#SubscribeToTopic on resource secret/+"],
        "wildcard": ["InvalidArgumentsError", "Publish topic must not contain a wildcard."],
        "empty": ["UnauthorizedError", "Resource cannot be empty"],
        "v1": pre + "aws.greengrass#SubscribeToTopic on resource secret/#",
    }
    refusals = core.access.status()["refusals"]
    assert {(r["principal"], r["resource"]) for r in refusals} == {
        ("com.example.Refused", "secret/x"), ("com.example.Refused", "secret/+"), ("com.example.Refused", "secret/#")}


BAD_TOKEN = """
import awsiot.greengrasscoreipc as gg
from awsiot.eventstreamrpc import AccessDeniedError
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
out = []
for make in (gg.connect, GreengrassCoreIPCClientV2):
    try:
        make()
        out.append("connected")
    except AccessDeniedError as e:
        out.append(list(e.args))
report(out=out)
"""


async def test_unknown_token_is_access_denied(core):
    env = core.component("com.example.Good")
    env["SVCUID"] = "NOT-A-TOKEN"
    (out,) = await core.run("com.example.Bad", BAD_TOKEN, env=env)
    denied = ["aws#AccessDenied", "Connection access denied to event stream RPC server"]
    assert out == {"out": [denied, denied]}
    assert core.server.status()["refused_connections"] == 2


UNWIRED = """
from awsiot.eventstreamrpc import StreamClosedError
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ServiceError, JsonMessage, PublishMessage
ipc = GreengrassCoreIPCClientV2()
out = {}
for key, call in [("update_state", lambda: ipc.update_state(state="RUNNING")),
                  ("get_thing_shadow", lambda: ipc.get_thing_shadow(thing_name="T")),
                  ("connection_status", lambda: ipc.subscribe_to_iot_core_connection_status(
                      on_stream_event=print))]:
    try:
        call()
        out[key] = "answered"
    except (ServiceError, StreamClosedError) as e:
        out[key] = [type(e).__name__, getattr(e, "message", None)]
ipc.publish_to_topic(topic="still/works", publish_message=PublishMessage(json_message=JsonMessage(message={})))
report(**out)
"""


async def test_unwired_and_unknown_operations_answer_without_hanging(core):
    (out,) = await core.run("com.example.Unwired", UNWIRED, timeout=30)
    assert out == {
        "update_state": ["ServiceError", "Operation aws.greengrass#UpdateState is not supported by Greengrass"],
        "get_thing_shadow": ["ServiceError",
                             "Operation aws.greengrass#GetThingShadow is not supported by Greengrass"],
        "connection_status": ["StreamClosedError", None],   # not in the nucleus' model: "Unsupported Operation"
    }


VANISH = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
for i in range(3):
    ipc.subscribe_to_topic(topic=f"v/{i}", on_stream_event=print)
report(subscribed=3)
sys.stdin.readline()
os._exit(0)                                            # gone without closing anything
"""


async def test_a_component_that_vanishes_mid_stream_is_unsubscribed(core):
    p = await core.start("com.example.Vanish", VANISH)
    assert await p.line() == {"subscribed": 3}
    assert core.bus.status()["subscriptions"] == 3
    p.kill()                                               # SIGKILL: no terminate, no close
    await until(lambda: core.bus.status()["subscriptions"] == 0)
    assert core.bus.publish("com.example.Other", "v/1", {"jsonMessage": {"message": {}}}) == 0
    await until(lambda: core.server.status()["connections"] == [])


MANY = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.model import SubscribeToTopicRequest
from awsiot.greengrasscoreipc.client import SubscribeToTopicStreamHandler
N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
counts = [0] * 50
lock = threading.Lock()
class H(SubscribeToTopicStreamHandler):
    def __init__(self, i): self.i = i
    def on_stream_event(self, ev):
        with lock: counts[self.i] += 1
clients = []
for i in range(50):                                   # 50 separate connections, one subscription each
    c = gg.connect()
    op = c.new_subscribe_to_topic(H(i))
    op.activate(SubscribeToTopicRequest(topic="fan/out"))
    op.get_response().result(10)
    clients.append(c)
report(subscribed=50)
wait_for(lambda: min(counts) >= 20, timeout=20)
report(counts=counts)
for c in clients:
    c.close()
"""


async def test_one_hundred_concurrent_subscribers(core):
    procs = [await core.start(f"com.example.Many{i}", MANY) for i in range(2)]
    for p in procs:
        assert await p.line(timeout=30) == {"subscribed": 50}
    assert core.bus.status()["subscriptions"] == 100
    for i in range(20):
        assert core.bus.publish("com.example.Pub", "fan/out", {"jsonMessage": {"message": {"i": i}}}) == 100
    for p in procs:
        assert await p.line(timeout=30) == {"counts": [20] * 50}
        await p.finish()
    await until(lambda: core.bus.status()["subscriptions"] == 0)


async def test_one_bus_with_the_router(core):
    """An IPC publish reaches a route pubsub → function; a device message routed → pubsub reaches IPC subscribers."""
    class Sink:
        def __init__(self):
            self.got = []

        def deliver(self, message):
            self.got.append(message)

    router = Router([Route("pubsub", "function:lambda1", "to/lambda/#"),
                     Route("device:Thing1", "pubsub", "from/device/+")])
    sink = Sink()
    router.attach("function:lambda1", sink)
    core.bus.attach(router)
    script = """
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage
    ipc = GreengrassCoreIPCClientV2()
    got = []
    ipc.subscribe_to_topic(topic="from/device/#", on_stream_event=lambda ev: got.append(
        [ev.binary_message.context.topic, ev.binary_message.message.decode()]))
    ipc.publish_to_topic(topic="to/lambda/x", publish_message=PublishMessage(json_message=JsonMessage(message={"k": 1})))
    report(ready=True)
    wait_for(lambda: got)
    report(got=got)
    """
    p = await core.start("com.example.Bus", script)
    assert await p.line() == {"ready": True}
    await until(lambda: sink.got)
    assert sink.got == [Message(source="pubsub", topic="to/lambda/x", payload=b'{"k":1}')]
    # the router delivers from its caller's thread: the server hops to its loop
    assert await asyncio.to_thread(router.publish, Message("device:Thing1", "from/device/d1", b"hello")) == 1
    assert await p.line() == {"got": [["from/device/d1", "hello"]]}
    await p.finish()
    assert core.bus.status()["from_router"] == 1 and core.bus.status()["to_router"] == 1
    core.bus.detach(router)
