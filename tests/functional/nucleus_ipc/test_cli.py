"""The Greengrass CLI's component operations (GetComponentDetails, ListComponents, RestartComponent, StopComponent)
over the real component service, from components using the unmodified awsiotsdk clients (V1 and V2)."""
from __future__ import annotations

import asyncio
import time

TARGET = """
report(started=True)
while True:
    time.sleep(1)
"""

CALLER = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ListComponentsRequest
ipc = GreengrassCoreIPCClientV2()
def err(call):
    try:
        return call()
    except Exception as e:
        return [type(e).__name__, e.message]
out = {}
d = ipc.get_component_details(component_name="com.example.Target").component_details
out["details"] = [d.component_name, d.version, d.state, d.configuration]
v1 = gg.connect()
op = v1.new_list_components()
op.activate(ListComponentsRequest())
out["list"] = sorted([c.component_name, c.state] for c in op.get_response().result(10).components)
out["missing"] = err(lambda: ipc.get_component_details(component_name="com.example.Ghost"))
out["empty"] = err(lambda: ipc.restart_component(component_name=""))
out["refused"] = err(lambda: ipc.stop_component(component_name="com.example.Caller"))
out["restart"] = ipc.restart_component(component_name="com.example.Target").restart_status
report(**out)
sys.stdin.readline()
out = {"stop": ipc.stop_component(component_name="com.example.Target").stop_status}
report(**out)
sys.stdin.readline()
out = {"restart": ipc.restart_component(component_name="com.example.Target").restart_status}
report(**out)
"""

POLICY = {"accessControl": {"aws.greengrass.Cli": {"target": {
    "operations": ["aws.greengrass#GetComponentDetails", "aws.greengrass#RestartComponent",
                   "aws.greengrass#StopComponent"], "resources": ["com.example.Target", "com.example.Ghost"]},
    "list": {"operations": ["aws.greengrass#ListComponents"], "resources": ["*"]}}}}


async def until(pred, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_cli_component_operations(v2):
    target = "com.example.Target"
    caller_name = "com.example.Caller"
    await v2.deploy({target: v2.spec(target, TARGET, {"k": 1})},
                    others={caller_name: POLICY, "aws.greengrass.Cli": {}})
    await v2.reported(target, lambda r: len(r) >= 1)
    await until(lambda: v2.service.states().get(target) == "RUNNING")
    caller = await v2.start(caller_name, CALLER)
    out = await caller.line(timeout=30)
    assert out == {
        "details": [target, "1.0.0", "RUNNING", {"k": 1}],
        "list": [[target, "RUNNING"]],
        "missing": ["ResourceNotFoundError", "Component with name com.example.Ghost not found in Greengrass"],
        "empty": ["InvalidArgumentsError", "Component name cannot be empty"],
        "refused": ["UnauthorizedError", f"Principal {caller_name} is not authorized to perform aws.greengrass.Cli:"
                                         "aws.greengrass#StopComponent on resource com.example.Caller"],
        "restart": "SUCCEEDED",
    }
    await v2.reported(target, lambda r: len(r) >= 2)                  # restarted: its Run step ran again
    await until(lambda: v2.service.states().get(target) == "RUNNING")
    await caller.send("stop")
    assert await caller.line(timeout=30) == {"stop": "SUCCEEDED"}
    assert v2.service.states()[target] == "FINISHED"
    await caller.send("restart")
    assert (await caller.finish(30)) == [{"restart": "SUCCEEDED"}]
    await v2.reported(target, lambda r: len(r) >= 3)                  # a stopped component starts again
    await until(lambda: v2.service.states().get(target) == "RUNNING")


async def test_without_the_cli_the_operations_are_not_served(v2):
    script = """
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import ServiceError
    try:
        GreengrassCoreIPCClientV2().list_components()
    except ServiceError as e:
        report(error=e.message)
    """
    await v2.configure({"com.example.NoCli": POLICY})
    assert await v2.run("com.example.NoCli", script) == [
        {"error": "Operation aws.greengrass#ListComponents is not supported by Greengrass"}]
