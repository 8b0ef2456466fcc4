"""greengrass-cli get-debug-password, pubsub and iotcore (the real client module, as subprocesses) against the nucleus
IPC of a core, beside a component using the unmodified awsiotsdk client: what the real CLI prints, the CLI client's
pub/sub grants, Ctrl-C ending a subscription."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
import textwrap
import time

CLI = "aws.greengrass.Cli"

PUBLISHER = textwrap.dedent("""
    import json, sys
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage
    ipc = GreengrassCoreIPCClientV2()
    received = []
    ipc.subscribe_to_topic(topic="cli/back", on_stream_event=lambda e: received.append(e.binary_message.message))
    print("subscribed", flush=True)
    sys.stdin.readline()
    ipc.publish_to_topic(topic="cli/json",
                         publish_message=PublishMessage(json_message=JsonMessage(message={"k": [1, "two"]})))
    ipc.publish_to_topic(topic="cli/binary",
                         publish_message=PublishMessage(binary_message=BinaryMessage(message=b"raw bytes")))
    sys.stdin.readline()
    print(json.dumps([m.decode() for m in received]), flush=True)
""")


async def component(core, name: str, script: str, configuration: dict):
    await core.ipc.configure({CLI: {}, name: configuration})
    token = core.tokens.issue(name)
    env = dict(os.environ, SVCUID=token, PYTHONUNBUFFERED="1",
               AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=str(core.root / "ipc.socket"))
    return await asyncio.create_subprocess_exec(sys.executable, "-c", script, env=env, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_get_debug_password_prints_what_the_real_cli_prints(core):
    code, _, err = await core.cli("get-debug-password")
    assert code == 1 and f"{CLI} is not deployed" in err
    await core.ipc.configure({CLI: {}})
    before = time.time()
    code, out, err = await core.cli("get-debug-password")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0] == "Username: debug"
    password = re.fullmatch(r"Password: ([A-Za-z0-9_-]{43})", lines[1]).group(1)
    stamp = re.fullmatch(r"Password expires at: (\S+)", lines[2]).group(1)
    expires = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(expires.timestamp() - (before + 8 * 3600)) < 30
    assert core.ipc.cli.debug_password_valid("debug", password)


async def test_pubsub_sub_and_pub_as_the_cli_client(core, tmp_path):
    pub = await component(core, "com.example.Publisher", PUBLISHER, {"accessControl": {"aws.greengrass.ipc.pubsub": {
        "p": {"operations": ["*"], "resources": ["cli/*"]}}}})
    sub = await core.start("pubsub", "sub", "-t", "cli/#")
    try:
        assert await sub.line() == "Successfully subscribed to topic: cli/#"
        ready = await asyncio.wait_for(pub.stdout.readline(), 30)
        assert ready.strip() == b"subscribed", (await pub.stderr.read()).decode()[-2000:]
        pub.stdin.write(b"go\n")
        await pub.stdin.drain()
        assert await sub.line() == '{"k":[1,"two"]}'                  # a jsonMessage, as compact JSON
        assert await sub.line() == "raw bytes"                         # a binaryMessage, as text
        message_file = tmp_path / "message.txt"
        message_file.write_text("from a file")
        for message in ("hello", str(message_file)):
            code, out, err = await core.cli("pubsub", "pub", "-t", "cli/back", "-m", message)
            assert (code, out, err) == (0, "", "")
        assert await sub.line() == "hello"
        assert await sub.line() == "from a file"                       # -m naming a file sends its content
        pub.stdin.write(b"done\n")
        await pub.stdin.drain()
        received = json.loads(await asyncio.wait_for(pub.stdout.readline(), 30))
        assert received == ["hello", "from a file"]
        code, out, err = await core.cli("pubsub", "pub", "-t", "  ", "-m", "x")
        assert (code, out, err) == (0, "", "Topic name cannot be empty\n")
        code, out, err = await sub.interrupt()
        assert code == 130 and out == ""
    finally:
        sub.kill()
        if pub.returncode is None:
            pub.kill()
        await pub.wait()


async def test_iotcore_sub_and_pub_through_the_cores_cloud_connection(core):
    await core.ipc.configure({CLI: {}})
    to_cloud = []
    core.tap.add_listener("dev/#", to_cloud.append)                  # what the core's cloud connection is given
    sub = await core.start("iotcore", "sub", "-t", "dev/+/telemetry", "-q", "1")
    try:
        assert await sub.line() == "Successfully subscribed to topic: dev/+/telemetry"
        code, out, err = await core.cli("iotcore", "pub", "-t", "dev/a/telemetry", "-m", '{"t": 21}')
        assert (code, out, err) == (0, "", "")
        assert await sub.line() == '{"t": 21}'                         # the payload as it was sent
        assert [(m.source, m.topic, m.payload, m.qos) for m in to_cloud] == [
            (f"component:greengrass-cli#user-{os.geteuid()}", "dev/a/telemetry", b'{"t": 21}', 0)]
        code, out, err = await core.cli("iotcore", "pub", "-t", "dev/a/telemetry", "-m", "x", "-q", "2")
        assert code == 1 and "InvalidArgumentsError: Invalid QoS value: 2" in err, (out, err)
        code, out, err = await sub.interrupt()
        assert code == 130
    finally:
        sub.kill()


async def test_pubsub_is_refused_once_the_cli_left_the_deployment(core):
    await core.ipc.configure({CLI: {}})
    code, _, err = await core.cli("pubsub", "pub", "-t", "a", "-m", "x")
    assert code == 0 and err == ""
    client = f"greengrass-cli#user-{os.geteuid()}"
    assert core.ipc.access.is_authorized(client, "aws.greengrass.ipc.pubsub", "aws.greengrass#PublishToTopic", "a")
    await core.ipc.configure({})
    assert not core.ipc.access.is_authorized(client, "aws.greengrass.ipc.pubsub", "aws.greengrass#PublishToTopic", "a")
