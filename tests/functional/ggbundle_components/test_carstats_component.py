"""com.ggbundle.CarStats (components/car_stats) as a real component process under the local core's V2 parts: its
recipe and artifacts (downloaded from S3) run by the component service, the nucleus IPC with the ShadowManager over
the core's shadow store, the router (a device's shadow requests reach the store through it; IoT Core is its
``cloud`` endpoint) and DynamoDB — a moto server for S3 and DynamoDB; the component's boto3 reaches it through
``AWS_ENDPOINT_URL`` with static keys (the token exchange service is the e2e test's part).

The light's shadow updates go the way the traffic light device sends them; the component counts greens, writes
every ``greensPerWrite``-th to its table and publishes the same statistics to IoT Core; a deployment that changes its
configuration takes effect without a restart (another thing, topic and count); a deployment with a bad value is
rejected by its validation; SIGTERM ends it cleanly."""
from __future__ import annotations

import asyncio
import json
import random
import threading
import urllib.request
from pathlib import Path

import boto3
import pytest

from group.v2.recipe import load_recipe
from localcore.generic_components.interpolate import Context, interpolate_configuration
from localcore.generic_components.service import ComponentService, ComponentSpec
from localcore.generic_components.tokens import ComponentTokens
from localcore.interfaces import Message, Route
from localcore.nucleus_ipc import NucleusIpc
from localcore.router.router import Router
from localcore.shadow.service import ShadowService

from tests.moto_server import moto_server

ROOT = Path(__file__).resolve().parents[3]
FOLDER = ROOT / "components" / "car_stats"
NAME = "com.ggbundle.CarStats"
CORE, LIGHT, OTHER = "GG_Core", "GG_TrafficLight", "Other_Light"
BUCKET, TABLE, OTHER_TABLE = "gg-bundle-artifacts", "CarStatsV2", "CarStatsOther"
SEED = 7
WAIT_S = 20.0


class CloudSink:
    """The router's ``cloud`` endpoint: what reaches IoT Core, awaited as events (the router delivers from any
    thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._changed = asyncio.Event()

    def deliver(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)
        self.loop.call_soon_threadsafe(self._changed.set)

    async def wait(self, topic: str, count: int = 1, timeout: float = WAIT_S) -> list[dict]:
        async def enough() -> list[dict]:
            while True:
                with self._lock:
                    got = [json.loads(m.payload) for m in self.messages if m.topic == topic]
                if len(got) >= count:
                    return got
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(enough(), timeout)

    def on(self, topic: str) -> list[dict]:
        with self._lock:
            return [json.loads(m.payload) for m in self.messages if m.topic == topic]


class Stack:
    def __init__(self, root: Path, url: str, service, ipc, router, shadows, cloud: CloudSink) -> None:
        self.root, self.url = root, url
        self.service, self.ipc, self.router, self.shadows, self.cloud = service, ipc, router, shadows, cloud
        self.recipe = load_recipe(FOLDER / "recipe.yaml")
        self.versions: dict[str, int] = {}

    def client(self, name: str):
        return boto3.client(name, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    def configuration(self, **merge) -> dict:
        """The recipe's defaults, the merge on top, interpolated as the core does ({iot:thingName})."""
        config = {**self.recipe.default_configuration, **merge}
        ctx = Context(self.root, NAME, self.recipe.version, CORE, config, {})
        return interpolate_configuration(config, ctx)[0]

    async def deploy(self, config: dict) -> None:
        """What run_v2 does for a deployment: the IPC sees every configuration, then the components (re)start."""
        spec = ComponentSpec(self.recipe, config)
        await self.service.prepare({NAME: spec})
        await self.ipc.configure({NAME: config, "aws.greengrass.ShadowManager": {}})
        activation = await self.service.activate({NAME: spec})
        assert await self.service.wait(activation, timeout=WAIT_S) is None, self.log()

    def light(self, thing: str, colour: str) -> None:
        """The light reporting ``colour`` over MQTT, as devices/traffic_light.py does (through the router)."""
        body = {"state": {"reported": {"property": colour}}}
        self.router.publish(Message(source=f"device:{thing}", topic=f"$aws/things/{thing}/shadow/update",
                                    payload=json.dumps(body).encode()))

    def switch(self, thing: str, colour: str) -> None:
        body = {"state": {"desired": {"property": colour}}}
        self.router.publish(Message(source="device:GG_Switch", topic=f"$aws/things/{thing}/shadow/update",
                                    payload=json.dumps(body).encode()))

    def items(self, table: str) -> list[dict]:
        items = self.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        plain = [{k: next(iter(v.values())) for k, v in i.items()} for i in items]
        return sorted(plain, key=lambda i: int(i["TotalGreenlights"]))

    def log(self) -> str:
        path = self.root / "logs" / f"{NAME}.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    async def logged(self, text: str, timeout: float = WAIT_S) -> None:
        """Bounded wait for a line of the component's log (written by its own process: no event to await)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.log():
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} not in the log of {NAME}:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def stack(tmp_path, monkeypatch):
    with moto_server() as url:
        # moto's state is per process, not per server: start from nothing
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
        # what the component's boto3 uses here (on a device: AWS_REGION and the token exchange service)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        s3 = boto3.client("s3", **kw)
        s3.create_bucket(Bucket=BUCKET)
        for f in ("carstats.py", "green_phases.py", "requirements.txt"):
            s3.put_object(Bucket=BUCKET, Key=f"components/{NAME}/1.0.1/{f}", Body=(FOLDER / f).read_bytes())
        dynamodb = boto3.client("dynamodb", **kw)
        for table in (TABLE, OTHER_TABLE):
            dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "Time", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "Time", "AttributeType": "S"}],
                                  BillingMode="PAY_PER_REQUEST")

        root = tmp_path / "gg"
        router = Router([Route(f"device:{t}", f"shadow:{t}", f"$aws/things/{t}/shadow/update", f"{t}-update")
                         for t in (LIGHT, OTHER)])
        cloud = CloudSink(asyncio.get_running_loop())
        router.attach("cloud", cloud)
        shadows = ShadowService(tmp_path / "shadows")
        shadows.attach(router)
        await shadows.start()
        tokens = ComponentTokens()
        service = ComponentService(root=root, tokens=tokens, thing_name=CORE, region="us-east-1", s3=s3,
                                   ipc_socket=root / "ipc.socket", kill_grace_s=5.0)
        await service.start()
        ipc = NucleusIpc(root / "ipc.socket", tokens, router, host=service, installed=service.installed,
                         secrets_client=lambda: None, shadows=shadows)
        await ipc.start()
        try:
            yield Stack(root, url, service, ipc, router, shadows, cloud)
        finally:
            await service.stop()
            await ipc.stop()


def _cars(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 20) for _ in range(n)]


async def test_counts_greens_writes_every_third_and_publishes_it_to_iot_core(stack):
    config = stack.configuration(randomSeed=SEED)
    await stack.deploy(config)
    await stack.logged("RUNNING: counting green phases of GG_TrafficLight")
    assert stack.ipc.lifecycle.status()["taken"] + stack.ipc.lifecycle.status()["ignored"] == 1   # UpdateState
    topic = "ggbundle/GG_Core/carstats"
    assert config["statsTopic"] == topic

    # R G (switch) G (light) G (again) Y R G Y G: greens that count are the 1st, 2nd and 3rd reported transitions
    stack.light(LIGHT, "R")
    stack.switch(LIGHT, "G")           # a desired update: documents fire, no new green reported
    stack.light(LIGHT, "G")            # 1
    stack.light(LIGHT, "G")            # reported again: not a new phase
    stack.light(LIGHT, "Y")
    stack.light(LIGHT, "R")
    stack.light(LIGHT, "G")            # 2
    stack.light(LIGHT, "Y")
    stack.light(LIGHT, "G")            # 3: written and published
    (message,) = await stack.cloud.wait(topic)
    cars = _cars(SEED, 3)
    want = {"TotalTraffic": sum(cars), "TotalGreenlights": 3, "MinCarsPassing": min(cars),
            "MaxCarsPassing": max(cars), "CoreDevice": CORE, "Writer": NAME}
    assert {k: message[k] for k in want} == want, message
    assert message["Table"] == TABLE
    (item,) = stack.items(TABLE)      # put before the publish
    assert {k: (int(item[k]) if k in want and k.endswith(("Traffic", "Greenlights", "Passing")) else item[k])
            for k in want} == want, item
    assert item["Time"] == message["Time"]
    assert stack.cloud.on(topic) == [message]
    log = stack.log()
    assert log.count("green light:") == 3, log[-3000:]
    assert f"put item {item['Time']} into {TABLE}" in log


async def test_a_configuration_change_takes_effect_without_a_restart(stack):
    await stack.deploy(stack.configuration(randomSeed=SEED))
    await stack.logged("subscribed to $aws/things/GG_TrafficLight/shadow/update/documents")
    pid = stack.service.runner(NAME).status().get("pid")
    stack.light(LIGHT, "G")            # 1 green of GG_TrafficLight, not written (3 per write)
    await stack.logged("green light:")

    other_topic = "ggbundle/other/carstats"
    access = {"aws.greengrass.ipc.pubsub": {"com.ggbundle.CarStats:pubsub:1": {
                  "operations": ["aws.greengrass#SubscribeToTopic"],
                  "resources": [f"$aws/things/{OTHER}/shadow/update/documents"]}},
              "aws.greengrass.ipc.mqttproxy": {"com.ggbundle.CarStats:mqttproxy:1": {
                  "operations": ["aws.greengrass#PublishToIoTCore"], "resources": [other_topic]}}}
    await stack.deploy(stack.configuration(randomSeed=SEED, thingName=OTHER, statsTopic=other_topic,
                                           tableName=OTHER_TABLE, greensPerWrite=2, accessControl=access))
    await stack.logged(f"subscribed to $aws/things/{OTHER}/shadow/update/documents")
    await stack.logged("'greens_per_write': 2")
    assert stack.service.runner(NAME).status().get("pid") == pid, "restarted"

    stack.light(LIGHT, "R")
    stack.light(LIGHT, "G")            # the thing it left: not counted
    stack.light(OTHER, "G")            # 2nd green counted, 2 per write: written to the new table and topic
    (message,) = await stack.cloud.wait(other_topic)
    cars = _cars(SEED, 2)
    assert (message["TotalGreenlights"], message["TotalTraffic"], message["Table"]) == (2, sum(cars), OTHER_TABLE)
    assert [int(i["TotalGreenlights"]) for i in stack.items(OTHER_TABLE)] == [2]
    assert stack.items(TABLE) == []
    assert stack.cloud.on("ggbundle/GG_Core/carstats") == []


async def test_a_deployment_with_a_bad_value_is_rejected_and_sigterm_ends_it_cleanly(stack):
    config = stack.configuration()
    await stack.deploy(config)
    await stack.logged("RUNNING:")
    reason = await stack.ipc.validate("dep-bad", {}, {NAME: {**config, "greensPerWrite": 0}})
    assert reason is not None and "'greensPerWrite' must be an integer of at least 1, got 0" in reason, reason
    assert await stack.ipc.validate("dep-good", {}, {NAME: {**config, "greensPerWrite": 5}}) is None

    runner = stack.service.runner(NAME)
    await runner.stop()
    log = stack.log()
    assert "stopping (SIGTERM): 0 items written, 0 messages published" in log, log[-3000:]
    assert "SIGKILL" not in log and "Traceback" not in log, log[-3000:]
