"""SubscribeToComponentUpdates / DeferComponentUpdate (the core's deployment hook), PauseComponent / ResumeComponent
on the real component service, PutComponentMetric — from components using the unmodified awsiotsdk clients."""
from __future__ import annotations

import asyncio
import time

from localcore import processes

from tests.functional.nucleus_ipc.conftest import until
from tests.functional.nucleus_ipc.plugin_kit import plugin_core

DEFERRING = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
events, lock = [], threading.Lock()
def err(call):
    try:
        return call()
    except Exception as e:
        return [type(e).__name__, e.message]
def on(ev):
    with lock:
        if ev.pre_update_event:
            d = ev.pre_update_event.deployment_id
            events.append(["pre", d, ev.pre_update_event.is_ggc_restarting])
            first = sum(1 for e in events if e[0] == "pre") == 1
        else:
            events.append(["post", ev.post_update_event.deployment_id])
            return
    # the first time it is busy: put the deployment off 300 ms; then it lets it go
    ipc.defer_component_update(deployment_id=d, message="busy", recheck_after_ms=300 if first else 0)
ipc.subscribe_to_component_updates(on_stream_event=on)
report(ready=True, no_id=err(lambda: ipc.defer_component_update(message="x")))
sys.stdin.readline()
wait_for(lambda: any(e[0] == "post" for e in events))
with lock:
    report(events=list(events), late=err(lambda: ipc.defer_component_update(deployment_id="dep-1",
                                                                             recheck_after_ms=10)))
"""

SILENT_V1 = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.client import SubscribeToComponentUpdatesStreamHandler
from awsiot.greengrasscoreipc.model import SubscribeToComponentUpdatesRequest
events = []
class Handler(SubscribeToComponentUpdatesStreamHandler):
    def on_stream_event(self, ev):
        events.append("pre" if ev.pre_update_event else "post")
v1 = gg.connect()
op = v1.new_subscribe_to_component_updates(Handler())
op.activate(SubscribeToComponentUpdatesRequest())
op.get_response().result(10)
report(ready=True)
sys.stdin.readline()
wait_for(lambda: "post" in events)
report(events=events)
"""

OUTSIDER = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ipc = GreengrassCoreIPCClientV2()
out = {}
for name, call in [("subscribe", lambda: ipc.subscribe_to_component_updates(on_stream_event=print)),
                   ("defer", lambda: ipc.defer_component_update(deployment_id="dep-1"))]:
    try:
        call()
    except Exception as e:
        out[name] = [type(e).__name__, e.message, getattr(e, "resource_type", None)]
report(**out)
"""


async def test_component_updates_are_announced_and_may_be_deferred(tmp_path):
    async with plugin_core(tmp_path) as core:
        await core.configure({"com.example.Deferring": {}, "com.example.Silent": {}, "com.example.Plain": {}})
        deferring = await core.start("com.example.Deferring", DEFERRING)
        silent = await core.start("com.example.Silent", SILENT_V1)
        assert await deferring.line() == {"ready": True, "no_id": [
            "InvalidArgumentsError", "Cannot defer the update, the deployment ID provided was null"]}
        assert await silent.line() == {"ready": True}
        assert await core.run("com.example.Ghost", OUTSIDER) == [{
            "subscribe": ["ResourceNotFoundError", "Component with given name not found currently in Greengrass",
                          "Component"],
            "defer": ["InvalidArgumentsError", "Component is not subscribed to component update events", None]}]

        skip = {"deploymentPolicies": {"componentUpdatePolicy": {"action": "SKIP_NOTIFY_COMPONENTS"}}}
        await asyncio.wait_for(core.ipc.before_update("dep-0", skip), 5)        # nobody is asked
        policy = {"deploymentPolicies": {"componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS",
                                                                   "timeoutInSeconds": 1}}}
        t = time.monotonic()
        await asyncio.wait_for(core.ipc.before_update("dep-1", policy), 10)
        took = time.monotonic() - t
        assert took >= 0.3                               # the deferral was waited out before asking again
        core.ipc.after_update("dep-1")
        status = core.ipc.status()["component_updates"]
        assert status["subscribers"] == ["com.example.Deferring", "com.example.Silent"]
        assert status["deferrals"][0] == {"component": "com.example.Deferring", "deploymentId": "dep-1",
                                          "recheckAfterMs": 300, "message": "busy"}
        assert core.ipc.status()["component_updates"]["counts"]["post_update_events"] == 2
        await deferring.send("go")
        await silent.send("go")
        out = (await deferring.finish())[0]
        assert out["events"] == [["pre", "dep-1", False], ["pre", "dep-1", False], ["post", "dep-1"]]
        assert out["late"] == ["ServiceError", "Time limit to respond to PreComponentUpdateEvent exceeded"]
        assert (await silent.finish())[0] == {"events": ["pre", "pre", "post"]}


TARGET = """
import itertools
for n in itertools.count():
    report(n=n)
    time.sleep(0.02)
"""

CONTROLLER = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ResumeComponentRequest
ipc = GreengrassCoreIPCClientV2()
def err(call):
    try:
        call()
        return "ok"
    except Exception as e:
        return [type(e).__name__, e.message]
out = {}
out["pause"] = err(lambda: ipc.pause_component(component_name="com.example.Target"))
out["again"] = err(lambda: ipc.pause_component(component_name="com.example.Target"))
out["no_name"] = err(lambda: ipc.pause_component(component_name=""))
out["ghost"] = err(lambda: ipc.pause_component(component_name="com.example.Ghost"))
out["not_generic"] = err(lambda: ipc.pause_component(component_name="com.example.LambdaLike"))
out["refused"] = err(lambda: ipc.pause_component(component_name="com.example.Other"))
out["not_paused"] = err(lambda: ipc.resume_component(component_name="com.example.Other2"))
report(**out)
sys.stdin.readline()
v1 = gg.connect()
op = v1.new_resume_component()
op.activate(ResumeComponentRequest(component_name="com.example.Target"))
op.get_response().result(10)
report(resumed=True, again=err(lambda: ipc.resume_component(component_name="com.example.Target")))
sys.stdin.readline()
report(paused=err(lambda: ipc.pause_component(component_name="com.example.Target")))
"""

LIFECYCLE_POLICY = {"accessControl": {"aws.greengrass.ipc.lifecycle": {"targets": {
    "operations": ["aws.greengrass#PauseComponent", "aws.greengrass#ResumeComponent"],
    "resources": ["com.example.Target", "com.example.Ghost", "com.example.LambdaLike", "com.example.Other2"]}}}}


def _stopped(pgid: int) -> bool:
    members = processes.group_members(pgid)
    return bool(members) and all(m.state == "T" for m in members)


async def test_pause_and_resume_a_generic_component(tmp_path):
    target = "com.example.Target"
    async with plugin_core(tmp_path) as core:
        await core.deploy({target: core.spec(target, TARGET), "com.example.Other2": core.spec("com.example.Other2", TARGET)},
                          others={"com.example.Controller": LIFECYCLE_POLICY, "com.example.LambdaLike": {}})
        await core.reported(target, lambda r: len(r) >= 1)
        await until(lambda: core.service.states().get(target) == "RUNNING")
        pgid = core.service.runner(target).status()["pid"]
        controller = await core.start("com.example.Controller", CONTROLLER)
        out = await controller.line(timeout=30)
        bad = "InvalidArgumentsError"
        assert out == {
            "pause": "ok", "again": "ok",
            "no_name": [bad, "Component name is required."],
            "ghost": ["ResourceNotFoundError", "Component com.example.Ghost not found"],
            "not_generic": [bad, "Only generic components can be paused."],
            "refused": ["UnauthorizedError", "Principal com.example.Controller is not authorized to perform "
                        "aws.greengrass.ipc.lifecycle:aws.greengrass#PauseComponent on resource com.example.Other"],
            "not_paused": [bad, "Component com.example.Other2 is not paused"],
        }
        await until(lambda: _stopped(pgid), 5)           # every process of its group is stopped (state T)
        assert core.service.states()[target] == "RUNNING"   # the lifecycle state stays RUNNING
        assert core.ipc.status()["pause"]["paused"] == [target]
        count = len(core.reports(target))
        await controller.send("resume")
        assert await controller.line() == {"resumed": True, "again": [bad, f"Component {target} is not paused"]}
        await core.reported(target, lambda r: len(r) > count + 2)       # it runs again
        await controller.send("pause")
        assert await controller.line() == {"paused": "ok"}
        await until(lambda: _stopped(pgid), 5)
        # a paused component that is stopped is thawed first, so it ends on SIGTERM (no SIGKILL after the grace)
        await core.service.remove([target])
        assert not processes.group_alive(pgid)
        assert "SIGKILL" not in (core.root / "logs" / f"{target}.log").read_text()
        assert core.ipc.status()["pause"]["paused"] == []
        await controller.finish()


METRICS = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import Metric, PutComponentMetricRequest
ipc = GreengrassCoreIPCClientV2()
def err(call):
    try:
        call()
        return "ok"
    except Exception as e:
        return [type(e).__name__, e.message]
put = lambda *m: ipc.put_component_metric(metrics=[Metric(name=n, unit=u, value=v) for n, u, v in m])
out = {}
out["one"] = err(lambda: put(("requests", "COUNT", 3)))
out["two"] = err(lambda: put(("requests", "Count", 4), ("bytesIn", "BYTES_PER_SECOND", 10.5)))
out["refused"] = err(lambda: put(("secret", "COUNT", 1)))
out["unit"] = err(lambda: put(("requests", "FURLONGS", 1)))
out["negative"] = err(lambda: put(("requests", "COUNT", -1)))
out["long"] = err(lambda: put(("r" * 33, "COUNT", 1)))
out["empty"] = err(lambda: ipc.put_component_metric(metrics=[]))
v1 = gg.connect()
op = v1.new_put_component_metric()
op.activate(PutComponentMetricRequest(metrics=[Metric(name="requests", unit="COUNT", value=1)]))
op.get_response().result(10)
report(**out)
"""


NOT_AWS = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import Metric
try:
    GreengrassCoreIPCClientV2().put_component_metric(metrics=[Metric(name="requests", unit="COUNT", value=1)])
except Exception as e:
    report(error=[type(e).__name__, e.message])
"""


async def test_component_metrics(tmp_path):
    me = "aws.example.Metrics"
    policy = {"accessControl": {"aws.greengrass.ipc.componentmetric": {"m": {
        "operations": ["aws.greengrass#PutComponentMetric"], "resources": ["requests", "bytes*"]}}}}
    async with plugin_core(tmp_path) as core:
        await core.configure({me: policy, "com.example.NotAws": policy})
        out = (await core.run(me, METRICS))[0]
        bad = "InvalidArgumentsError"
        assert out == {
            "one": "ok", "two": "ok",
            "refused": ["UnauthorizedError", f"Principal {me} is not authorized to perform "
                        "aws.greengrass.ipc.componentmetric:aws.greengrass#PutComponentMetric on resource secret"],
            "unit": [bad, "Invalid telemetry unit: No matching TelemetryUnit type found"],
            "negative": [bad, "Invalid argument found in PutComponentMetricRequest"],
            "long": [bad, "Invalid argument found in PutComponentMetricRequest"],
            "empty": [bad, "Null or Empty list of metrics found in PutComponentMetricRequest"],
        }
        metrics = core.ipc.status()["component_metrics"]["metrics"][me]
        assert {n: (m["unit"], m["sum"], m["count"]) for n, m in metrics.items()} == {
            "requests": ("Count", 8.0, 3), "bytesIn": ("BytesPerSecond", 10.5, 1)}
        refused = await core.run("com.example.NotAws", NOT_AWS)
        assert refused == [{"error": ["UnauthorizedError", "Principal com.example.NotAws is not authorized to perform "
                                    "aws.greengrass.ipc.componentmetric:aws.greengrass#PutComponentMetric "]}]
