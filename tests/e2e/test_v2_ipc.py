"""A component of our own written with awsiotsdk's GreengrassCoreIPCClientV2, deployed to ``deploy.py run --platform
v2`` the way a user deploys one (CreateComponentVersion with its script in S3, CreateDeployment to the core's thing
group), talking to the local core over the nucleus IPC socket:

* local pub/sub: it subscribes to a topic and receives its own publish; its publish on ``ipc/trigger`` reaches the
  ``stream_reader`` Lambda, whose PUB_SUB event source that topic is (the group's device → function subscription
  as AWS converts it), and the Lambda's summary reaches the cloud (the dashboard's MQTT console);
* IoT Core: its PublishToIoTCore shows in the console as a message from the component; a console publish on the
  topic it subscribed to with SubscribeToIoTCore reaches it;
* configuration: it reads the value the deployment merged into its configuration;
* a call its accessControl does not allow is refused, and the dashboard lists the refusal.
"""
from __future__ import annotations

import json
import time

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

CORE, BUCKET = "GG_Core", "gg-ipc-artifacts"
NAME, VERSION = "com.example.IpcDemo", "1.0.0"
GROUP_YAML = """\
group: {name: gg-ipc, region: us-east-1}
core: {thing: GG_Core, connectivity: [{host: 127.0.0.1, port: 8883}]}
devices: [{thing: Ipc_Device}]
functions:
  - name: stream_reader
    memory_mb: 128
    timeout_s: 10
    libraries: [lambdas/_lib]
    environment: {STREAM_NAME: IpcDemoStream, SUMMARY_TOPIC: ipc/summary}
subscriptions:
  - {source: Ipc_Device, target: stream_reader, topic: ipc/trigger}
  - {source: stream_reader, target: cloud, topic: ipc/summary}
"""
SCRIPT = """\
import json, sys, time
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage, UnauthorizedError

def say(**kw):
    print("RESULT " + json.dumps(kw, sort_keys=True), flush=True)

ipc = GreengrassCoreIPCClientV2()
greeting = ipc.get_configuration(key_path=["greeting"]).value["greeting"]
say(greeting=greeting)
ipc.subscribe_to_topic(topic="ipc/echo", on_stream_event=lambda ev: say(local=ev.json_message.message))
ipc.subscribe_to_iot_core(topic_name="ipc/commands", qos="1",
                          on_stream_event=lambda ev: say(command=ev.message.payload.decode()))
ipc.publish_to_topic(topic="ipc/echo", publish_message=PublishMessage(json_message=JsonMessage(message={"n": 1})))
ipc.publish_to_topic(topic="ipc/trigger", publish_message=PublishMessage(
    json_message=JsonMessage(message={"from": "component"})))
ipc.publish_to_iot_core(topic_name="ipc/telemetry", qos="1", payload=json.dumps({"greeting": greeting}).encode())
try:
    ipc.publish_to_topic(topic="private/x", publish_message=PublishMessage(json_message=JsonMessage(message={})))
except UnauthorizedError as e:
    say(refused=e.message)
say(ready=True)
while True:
    time.sleep(1)
"""
RECIPE_CONFIG = {
    "greeting": "from the recipe",
    "accessControl": {
        "aws.greengrass.ipc.pubsub": {"demo-pubsub": {
            "operations": ["aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"],
            "resources": ["ipc/echo", "ipc/trigger"]}},
        "aws.greengrass.ipc.mqttproxy": {"demo-iot": {
            "operations": ["aws.greengrass#PublishToIoTCore", "aws.greengrass#SubscribeToIoTCore"],
            "resources": ["ipc/telemetry", "ipc/commands"]}}},
}
DEPLOY_TIMEOUT_S = 60.0
FLOW_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def ipc_run(tmp_path_factory):
    bundle = tmp_path_factory.mktemp("bundle-v2-ipc")
    source = bundle / "source" / "group.yaml"
    source.parent.mkdir()
    source.write_text(GROUP_YAML)
    running = e2e_gg.start_group(bundle / "bundle", source=source, platform="v2")
    try:
        console = running.console()
        for topic in ("ipc/telemetry", "ipc/summary"):
            console.subscribe(topic)
        deployment = _deploy_component(running)
        yield running, console, deployment
    finally:
        e2e_gg.assert_clean_stop(running.stop(), running.run)


def _deploy_component(run) -> str:
    """What a user does: the script to S3, a component version from an inline recipe, a new revision of the
    core's thing group deployment with the component added (its greeting changed by a configuration merge)."""
    gg = run.client("greengrassv2")
    run.create_component(BUCKET, NAME, VERSION, "demo.py", SCRIPT, RECIPE_CONFIG)
    first = gg.get_deployment(deploymentId=run.endpoint["deployment_id"])
    components = dict(first["components"])
    components[NAME] = {"componentVersion": VERSION,
                        "configurationUpdate": {"merge": json.dumps({"greeting": "from the deployment"})}}
    deployment = gg.create_deployment(targetArn=first["targetArn"], deploymentName="ipc-demo",
                                      components=components)["deploymentId"]

    def done():
        for e in gg.list_effective_deployments(coreDeviceThingName=CORE)["effectiveDeployments"]:
            if e["deploymentId"] == deployment and e["coreDeviceExecutionStatus"] in ("SUCCEEDED", "FAILED"):
                return e
        return None

    effective = e2e_gg.wait_for(done, DEPLOY_TIMEOUT_S, f"the core's report of deployment {deployment}", 0.2)
    assert effective["coreDeviceExecutionStatus"] == "SUCCEEDED", (effective, _log(run))
    return deployment


def _log(run) -> str:
    path = run.state_dir / "v2" / "greengrass" / "logs" / f"{NAME}.log"
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"


def _results(run) -> list:
    return [json.loads(line.split("RESULT ", 1)[1]) for line in _log(run).splitlines() if "RESULT " in line]


def _wait_result(run, key: str, timeout: float = FLOW_TIMEOUT_S) -> list:
    try:
        return e2e_gg.wait_for(lambda: [r[key] for r in _results(run) if key in r], timeout,
                               f"{NAME} to report {key!r}", 0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}\n--- run:\n"
                             f"{run.run.output()[-2000:]}") from None


def test_component_reads_its_configuration_and_uses_local_pubsub(ipc_run):
    run, _, _ = ipc_run
    assert _wait_result(run, "ready") == [True]
    assert _wait_result(run, "greeting") == ["from the deployment"]
    assert _wait_result(run, "local") == [{"n": 1}]                       # its own publish, back from the bus
    refused = _wait_result(run, "refused")
    assert refused == [f"Principal {NAME} is not authorized to perform aws.greengrass.ipc.pubsub:"
                       "aws.greengrass#PublishToTopic on resource private/x"]


def test_local_publish_reaches_the_lambda_whose_pubsub_event_source_it_is(ipc_run):
    run, console, _ = ipc_run
    (msg,) = console.wait_messages("ipc/summary", FLOW_TIMEOUT_S)
    summary = e2e_gg.message_payload(msg)
    assert msg["source"] == "function:stream_reader"
    assert summary["trigger_topic"] == "ipc/trigger" and summary["stream"] == "IpcDemoStream", summary


def test_iot_core_publish_and_subscribe_through_the_console(ipc_run):
    run, console, _ = ipc_run
    (msg,) = console.wait_messages("ipc/telemetry", FLOW_TIMEOUT_S)
    assert msg["source"] == f"component:{NAME}"
    assert e2e_gg.message_payload(msg) == {"greeting": "from the deployment"}
    _wait_result(run, "ready")
    deadline = time.monotonic() + FLOW_TIMEOUT_S
    while not [r for r in _results(run) if "command" in r]:     # the console publishes as IoT Core would
        assert time.monotonic() < deadline, f"no command reached {NAME}:\n{_log(run)[-2000:]}"
        assert console.publish("ipc/commands", "blink")["delivered"] == 1
        time.sleep(0.5)
    assert _wait_result(run, "command")[0] == "blink"


def test_dashboard_shows_the_component_and_the_ipc_refusal(ipc_run):
    run, _, _ = ipc_run
    _wait_result(run, "refused")
    platform = run.api("GET", "/api/status")["platform"]
    rows = {c["name"]: c for c in platform["components"]}
    assert rows[NAME]["state"] == "RUNNING" and rows[NAME]["kind"] == "generic", rows.get(NAME)
    ipc = platform["ipc"]
    assert NAME in ipc["connections"] and ipc["refused"] >= 1
    assert {(r["principal"], r["resource"]) for r in ipc["recent_refusals"]} >= {(NAME, "private/x")}
    routes = {(r["source"], r["target"], r["topic"]) for r in run.api("GET", "/api/status")["subscriptions"]}
    assert ("pubsub", "function:stream_reader", "ipc/trigger") in routes
    assert ("cloud", "mqttproxy", "ipc/commands") in routes
