"""The local core as the Greengrass V2 core device of the group (``deploy.py run --platform v2``): what V2
does differently by design, and deployments applied while running.

* a client device's publish / subscribe is decided by the clientdevices.Auth policy the converter wrote
  (least privilege from the subscription table): outside it, nothing gets through — the subscribe is
  refused (SUBACK 0x80, the SDK's ``subackError``) and a QoS 1 publish gets no PUBACK, as Moquette does;
* a certificate of a thing that is not a client device of the core is refused at discovery and connect;
* a new deployment to the thing group is applied as V2 applies it (only what changed restarts), and a
  deployment naming a component version the cloud does not have FAILS with the reason while the running
  configuration keeps running; ``deploy.py status --platform v2`` says why.

The shared run's v2 instance (``group_run``): these tests change its deployment, so they come after the shared
run's other tests but test_webcam's (collection order), which does not depend on the deployment.
"""
import json
from pathlib import Path

import pytest
import yaml
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import (DiscoveryDataNotFoundException, publishTimeoutException,
                                                        subackError)
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

import e2e_gg

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("platform", ["v2"], indirect=True)]

PUBLISHER, SUBSCRIBER = "HelloWorld_Publisher", "HelloWorld_Subscriber"


@pytest.fixture
def v2_run(group_run):
    return group_run


def _discover(run, thing: str, cert_dir: Path):
    provider = DiscoveryInfoProvider()
    provider.configureEndpoint("127.0.0.1", run.endpoint["discovery_port"])
    provider.configureCredentials(str(run.certs_dir / "root-ca.pem"), str(cert_dir / "cert.pem"),
                                  str(cert_dir / "private.key"))
    provider.configureTimeout(10)
    return provider.discover(thing)


def _client(run, thing: str, tmp_path: Path) -> AWSIoTMQTTClient:
    info = _discover(run, thing, run.certs_dir / thing)
    group = info.getAllGroups()[0]
    assert group.groupId == "greengrassV2-coreDevice-GG_Core"  # what a V2 core's discovery calls the group
    ca = tmp_path / f"{thing}-ca.pem"
    ca.write_text(group.caList[0])
    conn = group.coreConnectivityInfoList[0].connectivityInfoList[0]
    client = AWSIoTMQTTClient(thing)
    client.configureEndpoint(conn.host, conn.port)
    client.configureCredentials(str(ca), str(run.certs_dir / thing / "private.key"),
                                str(run.certs_dir / thing / "cert.pem"))
    client.configureMQTTOperationTimeout(3)
    client.configureConnectDisconnectTimeout(10)
    assert client.connect()
    return client


def test_devices_talk_exactly_as_their_policy_lets_them(v2_run, tmp_path):
    sub, pub = _client(v2_run, SUBSCRIBER, tmp_path), _client(v2_run, PUBLISHER, tmp_path)
    try:
        got = []
        assert sub.subscribe("hello/world/pubsub", 1, lambda c, u, m: got.append(m.payload))
        # outside its policy: the subscribe is refused (SUBACK 0x80)
        with pytest.raises(subackError):
            sub.subscribe("hello/world/other", 1, lambda c, u, m: got.append(b"leak:" + m.payload))
        assert pub.publish("hello/world/pubsub", b"allowed", 1)
        e2e_gg.wait_for(lambda: b"allowed" in got, 10, "the allowed publish")
        # outside its policy: a QoS 1 publish gets no PUBACK and reaches no one
        with pytest.raises(publishTimeoutException):
            pub.publish("hello/world/other", b"refused", 1)
        # the subscriber may not publish on the publisher's topic either
        with pytest.raises(publishTimeoutException):
            sub.publish("hello/world/pubsub", b"from-the-subscriber", 1)
        assert pub.publish("hello/world/pubsub", b"after", 1)
        e2e_gg.wait_for(lambda: b"after" in got, 10, "the publish after the refusals")
        assert not [p for p in got if p.startswith(b"leak:") or p in (b"refused", b"from-the-subscriber")]
    finally:
        for c in (sub, pub):
            c.disconnect()


def test_a_thing_that_is_not_a_client_device_is_refused(v2_run, tmp_path):
    from localcore.pki import LocalPKI

    issued = LocalPKI(v2_run.state_dir / "ca").root.issue_client("Intruder")  # chains to the trusted root
    cert_dir = tmp_path / "Intruder"
    cert_dir.mkdir()
    (cert_dir / "cert.pem").write_bytes(issued.cert_pem)
    (cert_dir / "private.key").write_bytes(issued.key_pem)
    with pytest.raises(DiscoveryDataNotFoundException):  # 404: not associated with the core device
        _discover(v2_run, "Intruder", cert_dir)
    # nor connect with another device's client id: CONNACK 4, as Moquette refuses a certificate that is not
    # the client id's thing (raw MQTT: the SDK's connect() returns True on any CONNACK)
    assert _connack(v2_run, cert_dir, PUBLISHER) == 4
    assert _connack(v2_run, v2_run.certs_dir / PUBLISHER, PUBLISHER) == 0  # its own certificate: accepted


def _connack(run, cert_dir: Path, client_id: str) -> int:
    import socket
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the client's side of TLS is what is tested
    ctx.load_cert_chain(str(cert_dir / "cert.pem"), str(cert_dir / "private.key"))
    with socket.create_connection(("127.0.0.1", run.endpoint["mqtt_port"]), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            cid = client_id.encode()
            body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
            s.sendall(bytes([0x10, len(body)]) + body)
            answer = b""
            while len(answer) < 4:
                chunk = s.recv(4 - len(answer))
                if not chunk:
                    break
                answer += chunk
    assert answer[:2] == b"\x20\x02", answer
    return answer[3]


def _status(run) -> dict:
    done = run.deploy_cli("status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_a_new_deployment_restarts_only_what_changed(v2_run):
    before = _status(v2_run)
    data = yaml.safe_load(v2_run.group_file.read_text())
    hello = next(f for f in data["functions"] if f["name"] == "hello_world")
    hello["environment"]["INTERVAL_SECONDS"] = "7"
    v2_run.group_file.write_text(yaml.safe_dump(data, sort_keys=False))
    done = v2_run.deploy_cli("deploy", "--no-wait")
    assert done.returncode == 0, done.stdout + done.stderr
    after = e2e_gg.wait_for(lambda: _applied(v2_run, before["deployment_id"]), 60, "the new deployment applied")
    assert after["device_status"] == "SUCCEEDED", after
    assert after["components"]["gg-bundle-hello_world"]["version"] != \
        before["components"]["gg-bundle-hello_world"]["version"]
    assert after["components"]["gg-bundle-producer"]["version"] == before["components"]["gg-bundle-producer"]["version"]
    applied = v2_run.api("GET", "/api/status")["group"]["deployment"]
    assert applied["id"] == after["deployment_id"]
    assert applied["changes"]["functions"]["restarted"] == ["hello_world"], applied["changes"]
    assert not applied["changes"]["functions"]["started"] and not applied["changes"]["functions"]["stopped"]


def test_a_deployment_the_core_cannot_take_fails_and_the_core_keeps_running(v2_run, console_v2):
    gg = v2_run.client("greengrassv2")
    ours = _status(v2_run)
    current = gg.get_deployment(deploymentId=ours["deployment_id"])
    components = dict(current["components"])
    components["gg-bundle-nonexistent"] = {"componentVersion": "1.0.0"}
    bad = gg.create_deployment(targetArn=current["targetArn"], deploymentName=current["deploymentName"],
                               components=components)["deploymentId"]
    entry = e2e_gg.wait_for(lambda: _effective(gg, bad), 30, "the core device's report")
    assert entry["coreDeviceExecutionStatus"] == "FAILED", entry
    assert "gg-bundle-nonexistent" in entry.get("reason", ""), entry
    # status says why: the thing group's latest deployment is not deploy.py's, and it FAILED on the device
    st = _status(v2_run)
    assert st["latest_deployment"]["id"] == bad and st["latest_deployment"]["device_status"] == "FAILED", st
    assert "gg-bundle-nonexistent" in st["latest_deployment"]["reason"]
    # the running configuration keeps running: hello world still reaches the cloud
    console_v2.subscribe("hello/world")
    console_v2.wait_messages("hello/world", timeout=20, count=1)
    assert v2_run.api("GET", "/api/status")["group"]["deployment"]["status"] == "FAILED"


@pytest.fixture
def console_v2(console):
    return console


def _effective(gg, deployment_id):
    for e in gg.list_effective_deployments(coreDeviceThingName="GG_Core")["effectiveDeployments"]:
        if e["deploymentId"] == deployment_id and e["coreDeviceExecutionStatus"] not in ("QUEUED", "IN_PROGRESS"):
            return e
    return None


def _applied(run, old_id):
    st = _status(run)
    return st if st["deployment_id"] != old_id and st.get("device_status") in ("SUCCEEDED", "FAILED") else None

