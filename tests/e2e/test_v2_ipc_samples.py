"""Issue #20: what AWS's public IPC samples do, done by components of our own under the real ``deploy.py run
--platform v2``, deployed the way the samples' instructions deploy them. The public samples themselves were run
unmodified against the local core (docs/ipc.md, "Public samples checked"); these components (tests/e2e/ipc_samples/)
make the same calls with the same shapes, with both generations of awsiotsdk's IPC client:

* local pub/sub between two components, first-generation client (operation objects, a stream handler subclass) —
  the developer guide's publisher and subscriber components;
* a zipped component (``Unarchive: ZIP``, ``{artifacts:decompressedPath}``, keys spelled ``Uri`` and ``run`` as
  the GDK templates spell them) whose topic and message come from its configuration through the command line, that
  subscribes to a topic with a leading ``/`` and publishes on it ten times with GreengrassCoreIPCClientV2, then
  exits — the GDK LocalPubSub template;
* PublishToIoTCore with ``awsiotsdk.greengrasscoreipc.connect()`` on a topic named after ``AWS_IOT_THING_NAME``,
  ``RequiresPrivilege: true`` written beside ``Run`` as the sample's recipe writes it (the nucleus ignores it
  there) — the SDK's ``samples/greengrass/ipc_greengrass.py``;
* GetSecretValue of a Secrets Manager secret the deployment gave ``aws.greengrass.SecretManager`` (``cloudSecrets``),
  the ARN passed as ``{configuration:/SecretArn}``, a HARD dependency on the secret manager — PrintSecret;
* a client device's MQTT messages on ``clients/<thing>/hello/world`` relayed by the MQTT bridge to local pub/sub
  (a GreengrassCoreIPCClientV2 subscriber on ``clients/+/hello/world``) and to IoT Core, under the client device
  authorization policy's ``thingName: <prefix>*`` rule — the client devices tutorial;
* a client device made as that tutorial makes it, with boto3 against the run's cloud while the run is up, discovers
  the core and connects with the unmodified AWSIoTPythonSDK.

One run for the module; two deployments: a boto3 revision (the CLI, the secret manager with the secret, the MQTT
bridge's mappings, the Auth policy), then one local deployment of all six components with the Greengrass CLI
(``deploy.py cli deployment create --recipeDir --artifactDir --merge ... --update-config '<JSON>'``, the
configuration given inline as the PrintSecret instructions give it, longer than a file name may be).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import e2e_fidelity_kit as kit
import e2e_gg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("v2-ipc-samples")]

HERE = Path(__file__).resolve().parent / "ipc_samples"
CLI, SECRETS = "aws.greengrass.Cli", "aws.greengrass.SecretManager"
BRIDGE, AUTH = "aws.greengrass.clientdevices.mqtt.Bridge", "aws.greengrass.clientdevices.Auth"
PUB, SUB = "com.example.samples.LocalPublisher", "com.example.samples.LocalSubscriber"
SELF, TELEMETRY = "com.example.samples.SelfPubSub", "com.example.samples.Telemetry"
SECRET, LISTENER = "com.example.samples.SecretPrinter", "com.example.samples.DeviceListener"
OURS = (PUB, SUB, SELF, TELEMETRY, SECRET, LISTENER)
DEVICE = "SampleDevice1"
GROUP_YAML = f"""\
group: {{name: gg-ipc-samples, region: us-east-1}}
core: {{thing: {kit.CORE}, connectivity: [{{host: 127.0.0.1, port: 8883}}]}}
devices: [{{thing: {DEVICE}, sync_shadow: false}}]
"""
SECRET_VALUE = {"sample-key": "sample-value"}
# the tutorial's shapes: a thingName prefix rule allowed everything, and the bridge's two mappings of the topic
AUTH_MERGE = {"deviceGroups": {"formatVersion": "2021-03-05",
                               "definitions": {"SampleDevices": {"selectionRule": "thingName: SampleDevice*",
                                                                 "policyName": "SampleDevicePolicy"}},
                               "policies": {"SampleDevicePolicy": {
                                   "Connect": {"operations": ["mqtt:connect"], "resources": ["*"]},
                                   "Publish": {"operations": ["mqtt:publish"], "resources": ["*"]},
                                   "Subscribe": {"operations": ["mqtt:subscribe"], "resources": ["*"]}}}}}
BRIDGE_MERGE = {"mqttTopicMapping": {
    "HelloToIotCore": {"topic": "clients/+/hello/world", "source": "LocalMqtt", "target": "IotCore"},
    "HelloToPubsub": {"topic": "clients/+/hello/world", "source": "LocalMqtt", "target": "Pubsub"}}}
ID = re.compile(r"Local deployment submitted! Deployment Id: ([0-9a-f-]{36})")
WAIT_S = 30.0


class Samples:
    def __init__(self, fid, console, secret_arn: str, local_id: str) -> None:
        self.fid, self.console, self.secret_arn, self.local_id = fid, console, secret_arn, local_id

    def log(self, name: str) -> str:
        return self.fid.log(name)

    def wait_log(self, name: str, pattern: str, count: int = 1) -> list:
        """The matches of ``pattern`` in ``name``'s log once there are ``count`` of them."""
        rx = re.compile(pattern, re.M)
        return e2e_gg.wait_for(lambda: (lambda m: m if len(m) >= count else None)(rx.findall(self.log(name))),
                               WAIT_S, f"{count} × {pattern!r} in {name}'s log:\n{self.log(name)[-2000:]}",
                               interval=0.1)


def cli(fid, *argv: str) -> subprocess.CompletedProcess:
    """``python deploy.py cli --state-dir <the run's> <argv>``, as a user types it."""
    done = subprocess.run([e2e_gg.PYTHON, str(e2e_gg.ROOT / "deploy.py"), "cli", "--state-dir", str(fid.run.state_dir),
                           *argv], capture_output=True, text=True, timeout=90, cwd=str(e2e_gg.ROOT))
    assert done.returncode == 0, f"deploy.py cli {' '.join(argv[:2])}: exit {done.returncode}\n{done.stderr}{done.stdout}"
    return done


def lay_out(dest: Path) -> tuple[Path, Path]:
    """The recipe folder and the artifact folder a user hands the Greengrass CLI; the zipped component's archive
    is made as ``gdk component build`` makes it (the project's files at the archive's root, named after the
    component)."""
    recipes, artifacts = dest / "recipes", dest / "artifacts"
    shutil.copytree(HERE / "recipes", recipes)
    shutil.copytree(HERE / "artifacts", artifacts, ignore=shutil.ignore_patterns("__pycache__"))
    version_dir = artifacts / SELF / "1.0.0"
    version_dir.mkdir(parents=True)
    shutil.make_archive(str(version_dir / SELF), "zip", root_dir=HERE / "self_pubsub")
    return recipes, artifacts


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    bundle = tmp_path_factory.mktemp("v2-ipc-samples")
    source = bundle / "source" / "group.yaml"
    source.parent.mkdir()
    source.write_text(GROUP_YAML)
    running = e2e_gg.start_group(bundle / "bundle", source=source, platform="v2")
    try:
        fid = kit.Fidelity(running)
        console = running.console()
        console.subscribe("samples/+/telemetry")
        console.subscribe("clients/+/hello/world")
        arn = running.client("secretsmanager").create_secret(Name="SampleGreengrassSecret",
                                                             SecretString=json.dumps(SECRET_VALUE))["ARN"]
        latest = {n: fid.gg.list_component_versions(arn=f"arn:aws:greengrass:us-east-1:aws:components:{n}")
                  ["componentVersions"][0]["componentVersion"] for n in (CLI, SECRETS, BRIDGE)}
        fid.succeeded(fid.deploy({
            CLI: latest[CLI],
            SECRETS: {"componentVersion": latest[SECRETS],
                      "configurationUpdate": {"merge": {"cloudSecrets": [{"arn": arn}]}}},
            BRIDGE: {"componentVersion": latest[BRIDGE], "configurationUpdate": {"merge": BRIDGE_MERGE}},
            AUTH: {"componentVersion": fid.base_components[AUTH]["componentVersion"],
                   "configurationUpdate": {"merge": AUTH_MERGE}}}))
        recipes, artifacts = lay_out(bundle / "local")
        update = {SECRET: {"MERGE": {"SecretArn": arn, "accessControl": {SECRETS: {
            f"{SECRET}:secrets:1": {"policyDescription": "Read the sample secret.",
                                    "operations": ["aws.greengrass#GetSecretValue"], "resources": [arn]}}}}}}
        inline = json.dumps(update)      # inline, as the PrintSecret instructions give it
        assert len(inline.encode()) > 255, len(inline)
        merges = [a for name in OURS for a in ("--merge", f"{name}=1.0.0")]
        out = cli(fid, "deployment", "create", "--recipeDir", str(recipes), "--artifactDir", str(artifacts), *merges,
                  "--update-config", inline).stdout
        yield Samples(fid, console, arn, ID.search(out).group(1))
    finally:
        e2e_gg.assert_clean_stop(running.stop(), running.run)


def test_the_local_deployment_of_the_six_components_succeeds(samples):
    def ended():
        lines = cli(samples.fid, "deployment", "status", "-i", samples.local_id).stdout.splitlines()
        return lines if lines[0].split(": ")[1] in ("SUCCEEDED", "FAILED", "CANCELED") else None
    lines = e2e_gg.wait_for(ended, kit.DEPLOY_TIMEOUT_S, "the local deployment to end", interval=0.2)
    assert lines[0] == f"{samples.local_id}: SUCCEEDED", (lines, samples.fid.run.run.output()[-3000:])
    for name in (PUB, SUB, LISTENER):
        samples.fid.wait_state(name, "RUNNING")
    for name in (SELF, TELEMETRY, SECRET):      # each does its work and exits 0
        samples.fid.wait_state(name, "FINISHED", timeout=WAIT_S)
    telemetry = samples.fid.installed()[TELEMETRY]
    # RequiresPrivilege beside Run is no step's: the nucleus ignores it, and so the core has nothing to report
    assert "RequiresPrivilege" not in telemetry.get("lifecycleStateDetails", ""), telemetry


def test_a_first_generation_client_subscriber_receives_the_publishers_messages(samples):
    got = [int(n) for n in samples.wait_log(SUB, r"^got 'sample message (\d+)'$", count=3)]
    assert "subscribed to samples/local/v1" in samples.log(SUB)
    assert got == sorted(got) and len(set(got)) == len(got), got        # in order, once each
    assert re.search(r"^published 'sample message 1' on samples/local/v1$", samples.log(PUB), re.M)


def test_the_zipped_v2_component_hears_its_ten_publishes_on_a_topic_with_a_leading_slash(samples):
    samples.fid.wait_state(SELF, "FINISHED", timeout=WAIT_S)
    log = samples.log(SELF)
    heard = re.findall(r"^heard on (\S+): (.*)$", log, re.M)
    assert heard == [("/samples/local/self", "Hello from the zipped component")] * 10, log[-2000:]
    assert "sent 10" in log and "missing echoes" not in log
    assert "/artifacts-unarchived/" in log                 # run from {artifacts:decompressedPath}


def test_first_generation_iot_core_publishes_reach_the_cloud(samples):
    topic = f"samples/{kit.CORE}/telemetry"
    msgs = samples.console.wait_messages(topic, WAIT_S, count=3)
    assert {m["source"] for m in msgs} == {f"component:{TELEMETRY}"}
    assert [e2e_gg.message_payload(m)["n"] for m in msgs] == [0, 1, 2]
    assert samples.wait_log(TELEMETRY, rf"^sent reading (\d) to {topic}$", count=3) == ["0", "1", "2"]


def test_the_secret_the_secret_manager_holds_is_printed(samples):
    (line,) = samples.wait_log(SECRET, r"^secret (.*)$")
    assert line == f"{samples.secret_arn} -> {json.dumps(SECRET_VALUE, sort_keys=True)}"


def test_client_device_messages_reach_the_v2_subscriber_and_iot_core(samples):
    samples.wait_log(LISTENER, r"^listening on clients/\+/hello/world$")
    topic = f"clients/{DEVICE}/hello/world"
    device = samples.fid.run.start_device("basic_discovery.py", DEVICE, "-t", topic, "-m", "publish",
                                          "-M", "Hello World!", "--count", "3", "--interval", "0.2")
    device.wait_for_line(r"Published topic", timeout=WAIT_S, count=3)
    got = samples.wait_log(LISTENER, rf"^from {re.escape(topic)}: (.*)$", count=3)
    assert [json.loads(g) for g in got] == [{"message": "Hello World!", "sequence": n} for n in range(3)]
    msgs = samples.console.wait_messages(topic, WAIT_S, count=3)
    assert [e2e_gg.message_payload(m)["sequence"] for m in msgs] == [0, 1, 2]


def test_a_client_device_made_with_boto3_while_the_run_is_up_discovers_and_connects(samples, tmp_path):
    """The tutorial's way of making a client device — CreateThing, CreateKeysAndCertificate, AttachThingPrincipal,
    BatchAssociateClientDeviceWithCoreDevice, with boto3 against the run's cloud — after the run started; the device
    runs the unmodified AWSIoTPythonSDK. Its bridge routes come with the core's next deployment (docs/ipc.md)."""
    from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
    from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

    run, thing = samples.fid.run, "SampleDevice2"
    iot = run.client("iot")
    iot.create_thing(thingName=thing)
    made = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName=thing, principal=made["certificateArn"])
    run.client("greengrassv2").batch_associate_client_device_with_core_device(
        coreDeviceThingName=kit.CORE, entries=[{"thingName": thing}])
    cert, key, ca = tmp_path / "device.pem.crt", tmp_path / "private.pem.key", tmp_path / "group-ca.pem"
    cert.write_text(made["certificatePem"])
    key.write_text(made["keyPair"]["PrivateKey"])
    discovery = DiscoveryInfoProvider()
    discovery.configureEndpoint("127.0.0.1", run.endpoint["discovery_port"])
    discovery.configureCredentials(str(run.certs_dir / "root-ca.pem"), str(cert), str(key))
    discovery.configureTimeout(10)
    info = discovery.discover(thing)
    group_id, group_ca = info.getAllCas()[0]
    assert group_id == f"greengrassV2-coreDevice-{kit.CORE}"
    ca.write_text(group_ca)
    conn = info.getAllCores()[0].connectivityInfoList[0]
    client = AWSIoTMQTTClient(thing)
    client.configureEndpoint(conn.host, conn.port)
    client.configureCredentials(str(ca), str(key), str(cert))
    client.configureConnectDisconnectTimeout(10)
    client.configureMQTTOperationTimeout(5)
    client.connect()       # True on any CONNACK: the PUBACK below says the broker took the session
    try:
        assert client.publish(f"clients/{thing}/hello/world", json.dumps({"message": "made with boto3"}), 1)
    finally:
        client.disconnect()
