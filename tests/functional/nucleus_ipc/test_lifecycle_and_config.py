"""UpdateState and the configuration operations, served by NucleusIpc over the real component service: components
run by the service's runners use the unmodified awsiotsdk clients (V1 GreengrassCoreIPCClient and
GreengrassCoreIPCClientV2)."""
from __future__ import annotations

import asyncio
import time


async def until(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)

UPDATE_STATE = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.model import UpdateStateRequest, InvalidArgumentsError
count_file = os.path.join(os.getcwd(), "starts")
starts = int(open(count_file).read()) + 1 if os.path.exists(count_file) else 1
open(count_file, "w").write(str(starts))
if starts == 1:
    ipc = GreengrassCoreIPCClientV2()
    ipc.update_state(state="RUNNING")                 # already RUNNING (a Run step): ignored, answered
    report(start=1)
    ipc.update_state(state="ERRORED")                 # the core handles it as a failed step: restart
    time.sleep(30)
else:
    v1 = gg.connect()
    op = v1.new_update_state()
    op.activate(UpdateStateRequest(state="RUNNING"))
    op.get_response().result(10)
    ipc = GreengrassCoreIPCClientV2()
    try:
        ipc.update_state(state="FINISHED")
        bad = None
    except InvalidArgumentsError as e:
        bad = e.message
    report(start=starts, bad=bad)
    while True:
        time.sleep(1)
"""


async def test_update_state_errored_restarts_the_component(v2):
    name = "com.example.State"
    await v2.deploy({name: v2.spec(name, UPDATE_STATE)})
    reports = await v2.reported(name, lambda r: len(r) >= 2)
    assert reports[0] == {"start": 1}
    assert reports[1] == {"start": 2, "bad": "state must be one of RUNNING, ERRORED, got 'FINISHED'"}
    runner = v2.service.runner(name)
    errors = [t for t in runner.machine.history if t.event == "error"]
    assert [(e.old.value, e.reason, e.status_code) for e in errors] == [
        ("RUNNING", "the component reported ERRORED (UpdateState)", "RUN_ERROR")]
    await until(lambda: runner.state.value == "RUNNING")
    assert v2.ipc.status()["update_state"] == {"taken": 1, "ignored": 2}   # RUNNING while RUNNING: ignored


CONFIG = """
import datetime
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.model import (GetConfigurationRequest, ResourceNotFoundError, InvalidArgumentsError,
                                            FailedUpdateConditionCheckError)
ipc = GreengrassCoreIPCClientV2()
out = {}
out["all"] = ipc.get_configuration(key_path=[]).value
out["leaf"] = ipc.get_configuration(key_path=["Nested", "a"]).value       # keys are case-insensitive
out["map"] = ipc.get_configuration(key_path=["nested"]).value
other = ipc.get_configuration(component_name="com.example.Other", key_path=["shared"])
out["other"] = [other.component_name, other.value]
def err(call):
    try:
        call()
        return "no error"
    except Exception as e:
        return [type(e).__name__, e.message]
out["missing"] = err(lambda: ipc.get_configuration(key_path=["nope"]))
out["missing_component"] = err(lambda: ipc.get_configuration(component_name="com.example.Ghost"))
v1 = gg.connect()
op = v1.new_get_configuration()
op.activate(GetConfigurationRequest(key_path=["greeting"]))
out["v1"] = op.get_response().result(10).value
events = []
ipc.subscribe_to_configuration_update(key_path=["nested"], on_stream_event=lambda ev: events.append(
    ev.configuration_update_event.key_path))
now = datetime.datetime.now(datetime.timezone.utc)
ipc.update_configuration(key_path=["nested"], value_to_merge={"a": 2, "b": {"c": 3}}, timestamp=now)
ipc.update_configuration(key_path=["nested"], value_to_merge={"a": 2}, timestamp=now)     # no change: no event
ipc.update_configuration(key_path=["fresh", "deeper"], value_to_merge={"x": 1}, timestamp=now)
old = now - datetime.timedelta(seconds=60)
out["older"] = err(lambda: ipc.update_configuration(key_path=["nested"], value_to_merge={"a": 9}, timestamp=old))
out["acl"] = err(lambda: ipc.update_configuration(key_path=[], value_to_merge={"accessControl": {}}, timestamp=now))
out["no_ts"] = err(lambda: ipc.update_configuration(key_path=["nested"], value_to_merge={"a": 1}))
wait_for(lambda: len(events) >= 2)
out["after"] = ipc.get_configuration(key_path=["nested"]).value
report(**out)
wait_for(lambda: len(events) >= 3, timeout=20)               # the test deploys a change meanwhile
report(events=events)
while True:
    time.sleep(1)
"""


async def test_configuration_get_update_subscribe(v2):
    name = "com.example.Config"
    default = {"greeting": "hi", "nested": {"a": 1}}
    await v2.deploy({name: v2.spec(name, CONFIG, default)}, others={"com.example.Other": {"shared": 7}})
    (out,) = await v2.reported(name, lambda r: len(r) >= 1)
    assert out["all"] == default and out["leaf"] == {"a": 1} and out["map"] == {"a": 1}
    assert out["other"] == ["com.example.Other", {"shared": 7}]
    assert out["missing"] == ["ResourceNotFoundError", "Key not found"]
    assert out["missing_component"] == ["ResourceNotFoundError", "Key not found"]
    assert out["v1"] == {"greeting": "hi"}
    assert out["older"] == ["FailedUpdateConditionCheckError",
                            "Proposed timestamp is older than the config's latest modified timestamp"]
    assert out["acl"] == ["InvalidArgumentsError", "Config update is not allowed for following fields [accessControl]"]
    assert out["no_ts"] == ["InvalidArgumentsError", "Timestamp is required"]
    assert out["after"] == {"a": 2, "b": {"c": 3}}
    # the service keeps what the component merged (the next deployment merges on top of it)
    assert v2.service.configuration(name) == {"greeting": "hi", "nested": {"a": 2, "b": {"c": 3}},
                                              "fresh": {"deeper": {"x": 1}}}
    # a deployment that changes a watched key: one more event; the same configuration again: none
    changed = {"greeting": "hi", "nested": {"a": 5, "b": {"c": 3}}, "fresh": {"deeper": {"x": 1}}}
    await v2.configure({name: changed})
    await v2.configure({name: changed})
    reports = await v2.reported(name, lambda r: len(r) >= 2)
    assert reports[1] == {"events": [["nested", "a"], ["nested", "b", "c"], ["nested", "a"]]}
    assert v2.ipc.status()["configuration"]["events_sent"] == 3


VALIDATE = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ConfigurationValidityReport, InvalidArgumentsError
ipc = GreengrassCoreIPCClientV2()
seen = []
def on_event(ev):
    e = ev.validate_configuration_update_event
    seen.append([e.deployment_id, e.configuration])
    if e.deployment_id == "silent":
        return
    ok = e.configuration.get("level", 0) <= 3
    ipc.send_configuration_validity_report(configuration_validity_report=ConfigurationValidityReport(
        status="ACCEPTED" if ok else "REJECTED", deployment_id=e.deployment_id,
        message=None if ok else "level must be at most 3"))
ipc.subscribe_to_validate_configuration_updates(on_stream_event=on_event)
try:
    ipc.send_configuration_validity_report(configuration_validity_report=ConfigurationValidityReport(
        status="ACCEPTED", deployment_id="never-asked"))
    stray = None
except InvalidArgumentsError as e:
    stray = e.message
report(ready=True, stray=stray)
wait_for(lambda: len(seen) >= 3, timeout=30)
report(seen=seen)
while True:
    time.sleep(1)
"""


async def test_configuration_validation_before_a_deployment(v2):
    name = "com.example.Validate"
    await v2.deploy({name: v2.spec(name, VALIDATE, {"level": 1})})
    (ready,) = await v2.reported(name, lambda r: len(r) >= 1)
    assert ready == {"ready": True, "stray": "Validation request either timed out or was never made"}
    await until(lambda: v2.ipc.config.wants_validation(name))
    assert await v2.ipc.validate("dep-1", {}, {name: {"level": 1}}) is None      # unchanged: nobody asked
    assert await v2.ipc.validate("dep-2", {}, {name: {"level": 2}}) is None      # accepted
    assert await v2.ipc.validate("dep-3", {}, {name: {"level": 7}}) == (
        "Components reported that their to-be-deployed configuration is invalid "
        "{ name = com.example.Validate, message = level must be at most 3 }")
    policy = {"deploymentPolicies": {"configurationValidationPolicy": {"timeoutInSeconds": 1}}}
    assert await v2.ipc.validate("silent", policy, {name: {"level": 2}}) == (
        "Error while waiting for validation report for one or more components: no report from "
        "com.example.Validate within 1 s")
    reports = await v2.reported(name, lambda r: len(r) >= 2)
    assert reports[1] == {"seen": [["dep-2", {"level": 2}], ["dep-3", {"level": 7}], ["silent", {"level": 2}]]}
