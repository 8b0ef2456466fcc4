"""A generic component started by the core's ComponentRunner reaches IPC with only the environment it is given,
also when the core's root is too deep for an absolute socket path (the nucleus' relative ../../ipc.socket)."""
from __future__ import annotations

import asyncio
import json
import textwrap

import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.lifecycle import State
from localcore.generic_components.runner import ComponentRunner
from localcore.generic_components.tokens import ComponentTokens
from localcore.nucleus_ipc import AccessControl, IpcService, LocalPubSub, NucleusIpcServer

NAME = "com.example.IpcEnv"

SCRIPT = textwrap.dedent("""
    import json, os
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage
    keys = ["SVCUID", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH",
            "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", "AWS_IOT_THING_NAME", "AWS_REGION",
            "AWS_DEFAULT_REGION", "GGC_VERSION"]
    env = {k: os.environ.get(k) for k in keys}
    ipc = GreengrassCoreIPCClientV2()
    ipc.publish_to_topic(topic="env/report", publish_message=PublishMessage(json_message=JsonMessage(message=env)))
    ipc.close()
""")


@pytest.mark.parametrize("deep", [False, True], ids=["short-root", "root-over-108-bytes"])
async def test_runner_environment_reaches_the_ipc_server(tmp_path, deep):
    root = tmp_path / ("r" * 70 if deep else "gg") / ("o" * 40 if deep else "")
    root.mkdir(parents=True)
    sock = root / "ipc.socket"
    assert (len(str(sock)) >= 108) is deep
    tokens = ComponentTokens()
    access = AccessControl()
    access.update(NAME, {"accessControl": {"aws.greengrass.ipc.pubsub": {
        "report": {"operations": ["aws.greengrass#PublishToTopic"], "resources": ["env/report"]}}}})
    bus = LocalPubSub()
    server = NucleusIpcServer(sock, tokens.component_of, IpcService(access, bus))
    await server.start()
    got: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()
    bus.subscribe("test", "env/report", None, lambda event: loop.call_soon_threadsafe(got.put_nowait, event))
    recipe = parse_recipe(json.dumps({
        "RecipeFormatVersion": "2020-01-25", "ComponentName": NAME, "ComponentVersion": "1.0.0",
        "Manifests": [{"Platform": {"os": "*"}, "Lifecycle": {"Run": f"python3 -c '{SCRIPT}'"}}]}))
    runner = ComponentRunner(recipe, root=root, tokens=tokens, thing_name="CoreThing", region="eu-west-3",
                             kill_grace_s=1.0, ipc_socket=sock)
    try:
        await runner.start()
        event = json.loads(await asyncio.wait_for(got.get(), 30))
        await runner.wait_for(State.FINISHED, timeout=30)
    finally:
        await runner.stop()
        await server.stop()
    env = event["jsonMessage"]["message"]
    token = tokens.issue(NAME)
    assert env == {
        "SVCUID": token, "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH": str(sock),
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": "../../ipc.socket" if deep else str(sock),
        "AWS_IOT_THING_NAME": "CoreThing", "AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3",
        "GGC_VERSION": "2.16.1",
    }
