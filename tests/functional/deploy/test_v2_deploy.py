"""``deploy.py plan/deploy/status/destroy --platform v2`` against the embedded LocalCloud (its greengrassv2
stand-in answers a real boto3 ``greengrassv2`` client, so botocore validates every request)."""
from __future__ import annotations

import json

import pytest


import deploy
from group.model import load
from group.state import State
from group.v2.apply import deploy_group, group_status
from localcore.pki import LocalPKI

SEED = "gg-bundle"



def _issuer(state_dir):
    pki = LocalPKI(state_dir / "ca")

    def issue(thing):
        issued = pki.root.issue_client(thing)
        return issued.cert_pem, issued.key_pem

    return issue, pki.root.cert_pem


def test_seed_group_deploys_as_v2_reruns_with_no_mutating_call_and_destroys(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    certs = tmp_path / "certs"
    common = ["--state-dir", str(state_dir), "--certs-dir", str(certs), "--platform", "v2"]
    assert deploy.main(["deploy", "--no-wait"] + common) == 0

    clients, log = h.counted_clients(cloud.url)
    gg = clients.greengrassv2
    state = State.load(state_dir, "local-v2", SEED)
    dep = state.get(f"deployment:{SEED}")
    got = gg.get_deployment(deploymentId=dep["id"])
    group_name = next(state.get(k)["id"] for k in state if k.startswith("thing-group:"))
    assert got["targetArn"].endswith(":thinggroup/" + group_name)
    components = got["components"]
    # one Lambda component per function, at a version derived from the published Lambda version
    group, _ = load(h.root / "group" / "group.yaml")
    for f in group.functions:
        rec = state.get(f"function:{f.name}")
        assert rec["version"] and rec["ref"].endswith(":" + rec["version"])  # versioned ARN, never $LATEST
    private = {c["componentName"] for c in gg.list_components(scope="PRIVATE")["components"]}
    assert len([n for n in private if n in components]) >= len(group.functions)
    for name in ("aws.greengrass.Nucleus", "aws.greengrass.LegacySubscriptionRouter",
                 "aws.greengrass.clientdevices.Auth", "aws.greengrass.clientdevices.mqtt.Bridge",
                 "aws.greengrass.ShadowManager", "aws.greengrass.StreamManager"):
        assert name in components, name
    associated = {d["thingName"] for d in gg.list_client_devices_associated_with_core_device(
        coreDeviceThingName="GG_Core")["associatedClientDevices"]}
    assert associated == {d.thing for d in group.devices}
    info = gg.get_connectivity_info(thingName="GG_Core")["connectivityInfo"]
    assert [(c["hostAddress"], c["portNumber"]) for c in info] == [("127.0.0.1", 8883)]
    assert clients.iot.describe_role_alias(roleAlias=state.get(
        next(k for k in state if k.startswith("role-alias:")))["id"])["roleAliasDescription"]["roleArn"]

    # nothing changed: read-only calls only, plan says 0
    issue, root_ca = _issuer(state_dir)
    again = deploy_group(group, root=h.root, clients=clients, state_dir=state_dir, target="local",
                         certs_dir=certs, certificate_issuer=issue, root_ca_pem=root_ca, wait=False)
    assert log.mutating == [] and again.changes == []
    assert again.deployment_id == dep["id"]
    assert deploy.main(["plan", "--exit-code"] + common) == 0
    st = group_status(SEED, clients=clients, state_dir=state_dir, target="local")
    assert st["deployment_id"] == dep["id"] and st["status"] in ("ACTIVE", "COMPLETED")
    assert deploy.main(["status"] + common) == 0

    assert deploy.main(["destroy"] + common) == 0
    assert not [c for c in gg.list_components(scope="PRIVATE")["components"] if c["componentName"] in components]
    with pytest.raises(clients.iot.exceptions.ResourceNotFoundException):  # made by this deploy: gone
        clients.iot.describe_thing(thingName="GG_Core")
    with pytest.raises(gg.exceptions.ResourceNotFoundException):
        gg.list_client_devices_associated_with_core_device(coreDeviceThingName="GG_Core")
    assert deploy.main(["plan", "--exit-code"] + common) == 2
    assert deploy.main(["destroy"] + common) == 0  # safe to re-run


def test_a_code_change_publishes_a_new_lambda_version_and_a_new_component_version(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    bundle = tmp_path / "bundle"
    (bundle / "group").mkdir(parents=True)
    code = bundle / "lambdas" / "hello"
    code.mkdir(parents=True)
    (code / "handler.py").write_text("def function_handler(event, context):\n    return 1\n")
    data = {"group": {"name": "v2-small", "region": "us-east-1"},
            "core": {"thing": "SmallCore", "connectivity": [{"host": "127.0.0.1", "port": 8883}]},
            "functions": [{"name": "hello", "pinned": True, "memory_mb": 64, "timeout_s": 3}],
            "subscriptions": [{"source": "hello", "target": "cloud", "topic": "small/out"}]}
    gf = bundle / "group" / "group.yaml"
    gf.write_text(json.dumps(data))
    common = ["--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs"), "--platform", "v2",
              "--group-file", str(gf)]
    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    first = State.load(state_dir, "local-v2", "v2-small")
    v1, comp1, dep1 = (first.get("function:hello")["version"], _component_version(first),
                       first.get("deployment:v2-small")["id"])
    (code / "handler.py").write_text("def function_handler(event, context):\n    return 2\n")
    assert deploy.main(["plan", "--exit-code"] + common) == 2
    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    second = State.load(state_dir, "local-v2", "v2-small")
    assert int(second.get("function:hello")["version"]) > int(v1)
    assert _component_version(second) != comp1
    assert second.get("deployment:v2-small")["id"] != dep1 or second.get("deployment:v2-small")["hash"] != \
        first.get("deployment:v2-small")["hash"]
    assert deploy.main(["plan", "--exit-code"] + common) == 0
    assert deploy.main(["destroy"] + common) == 0


def _component_version(state: State) -> str:
    return next(state.get(k)["version"] for k in state if k.startswith("component:"))


def test_v1_and_v2_deployments_of_one_group_sit_side_by_side(h, local_cloud, tmp_path):
    """V2 adopts the things, certificates, functions and cloud resources V1 made (devices keep their
    certificates); destroying V2 leaves V1 intact."""
    cloud, state_dir = local_cloud
    certs = tmp_path / "certs"
    common = ["--state-dir", str(state_dir), "--certs-dir", str(certs)]
    assert deploy.main(["deploy", "--platform", "v1", "--timeout", "30"] + common) == 0
    before = {t: (certs / t / "cert.pem").read_bytes() for t in ("GG_Core", "GG_TrafficLight")}
    assert deploy.main(["deploy", "--platform", "v2", "--no-wait"] + common) == 0
    v2 = State.load(state_dir, "local-v2", SEED)
    assert v2.get("thing:GG_TrafficLight")["owned"] is False
    assert v2.get("certificate:GG_TrafficLight")["owned"] is False
    v1 = State.load(state_dir, "local", SEED)
    assert v2.get("certificate:GG_TrafficLight")["id"] == v1.get("certificate:GG_TrafficLight")["id"]
    assert {t: (certs / t / "cert.pem").read_bytes() for t in before} == before
    assert deploy.main(["plan", "--exit-code", "--platform", "v2"] + common) == 0
    assert deploy.main(["plan", "--exit-code", "--platform", "v1"] + common) == 0

    assert deploy.main(["destroy", "--platform", "v2"] + common) == 0
    clients, _ = h.counted_clients(cloud.url)
    clients.iot.describe_thing(thingName="GG_TrafficLight")  # still there: V1's
    assert {t: (certs / t / "cert.pem").read_bytes() for t in before} == before
    assert deploy.main(["plan", "--exit-code", "--platform", "v1"] + common) == 0
    assert deploy.main(["destroy", "--platform", "v1"] + common) == 0


def test_target_aws_defaults_to_v2_and_refuses_v1(h, local_cloud, tmp_path, monkeypatch, capsys):
    cloud, state_dir = local_cloud
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    common = ["--target", "aws", "--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs")]
    assert deploy.main(["deploy", "--platform", "v1"] + common) == 1
    out = capsys.readouterr().out
    assert "discontinued Greengrass V1 on 2026-10-07" in out and "--platform v2" in out
    assert deploy.main(["deploy", "--no-wait"] + common) == 0   # v2 by default
    assert State.load(state_dir, "aws-v2", SEED).get(f"deployment:{SEED}")["id"]
    assert deploy.main(["plan", "--exit-code"] + common) == 0
    assert deploy.main(["destroy"] + common) == 0
    assert deploy.main(["plan", "--exit-code"] + common) == 2


def test_export_cli_writes_the_v2_files_deterministically_without_aws(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing may be called
    first, second = tmp_path / "a", tmp_path / "b"
    assert deploy.main(["export", "--out", str(first), "--state-dir", str(tmp_path / ".gg")]) == 0
    assert deploy.main(["export", "--platform", "v2", "--out", str(second), "--state-dir", str(tmp_path / ".gg")]) == 0
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    for required in ("deployment.json", "config.yaml", "MIGRATION.md", "policies/device-iot-policy.json",
                     "policies/token-exchange-role-policy.json"):
        assert required in files, required
    assert sum(1 for f in files if f.startswith("recipes/")) >= 9
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    doc = json.loads((first / "deployment.json").read_text())
    assert doc["targetArn"].endswith(":thinggroup/gg-bundle")
    assert deploy.main(["export", "--platform", "v1", "--out", str(tmp_path / "c")]) == 1


def test_validate_v2_lists_what_v2_cannot_carry_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # no AWS call: validation only
    bundle = tmp_path / "bundle"
    (bundle / "group").mkdir(parents=True)
    (bundle / "lambdas" / "f").mkdir(parents=True)
    (bundle / "lambdas" / "f" / "handler.py").write_text("def function_handler(event, context):\n    return 1\n")
    data = {"group": {"name": "bad-v2", "region": "us-east-1"},
            "core": {"thing": "BadCore", "connectivity": [{"host": "10.0.0.5", "port": 8883}]},
            "functions": [{"name": "f", "pinned": True, "memory_mb": 64}],
            # a V1 connector with no V2 equivalent (only the Docker one has a documented replacement)
            "connectors": [{"name": "sms", "arn": "arn:aws:greengrass:us-east-1::/connectors/TwilioNotifications/"
                                                  "versions/5", "parameters": {"TwilioAccountSid": "x"}}]}
    gf = bundle / "group" / "group.yaml"
    gf.write_text(json.dumps(data))
    assert deploy.main(["validate", "--platform", "v1", "--group-file", str(gf)]) == 0  # fine as a V1 group
    capsys.readouterr()
    assert deploy.main(["validate", "--platform", "v2", "--group-file", str(gf)]) == 1
    out = capsys.readouterr().out
    assert "connectors[0]" in out and "fix:" in out and "nothing was called" in out, out
    assert deploy.main(["deploy", "--platform", "v2", "--group-file", str(gf), "--state-dir",
                        str(tmp_path / ".gg")]) == 1  # refused before any call
