"""The V2 reader's fetching part against a real LocalCloud: the seed group deployed through the V2 path,
read back as the core device GG_Core reads it (device-side route, real boto3 ``greengrassv2`` client,
Lambda artifacts downloaded and unzipped), then reported back so ``deploy.py status --platform v2`` shows it."""
from __future__ import annotations

from pathlib import Path

import pytest

import deploy
from group.clients import Clients
from group.model import load
from group.state import State
from group.v2.apply import deploy_group, group_status
from localcore.pki import LocalPKI
from localcore.readers.errors import DeploymentFailed, NoDeployment
from localcore.readers.v2_fetch import installed_components, read_core_deployment, report, report_failure

ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
KEYS = ("testing", "testing")
CREDS = {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
SEED = "gg-bundle"
CORE = "GG_Core"


@pytest.fixture()
def deployed(tmp_path, deploy_cloud):
    cloud, state_dir = deploy_cloud(auto_complete=False)  # nobody completes the deployment but the core
    clients = Clients.create(REGION, cloud.url, KEYS)
    # before anything is deployed the core has nothing to read
    with pytest.raises(NoDeployment):
        read_core_deployment(cloud.url, CORE, REGION, tmp_path / "work", CREDS)
    pki = LocalPKI(state_dir / "ca")

    def issue(thing):
        issued = pki.root.issue_client(thing)
        return issued.cert_pem, issued.key_pem

    group, _ = load(ROOT / "group" / "group.yaml")
    deploy_group(group, root=ROOT, clients=clients, state_dir=state_dir, target="local",
                 certs_dir=tmp_path / "certs", certificate_issuer=issue, root_ca_pem=pki.root.cert_pem,
                 wait=False)
    yield cloud, clients, state_dir, group


def test_core_reads_its_deployment_and_reports_success_then_a_deleted_version_fails(deployed, tmp_path, capsys):
    cloud, clients, state_dir, group = deployed
    dep = State.load(state_dir, "local-v2", SEED).get(f"deployment:{SEED}")
    st = group_status(SEED, clients=clients, state_dir=state_dir, target="local")
    assert st["device_status"] != "SUCCEEDED"  # nobody completes it but the core

    work = tmp_path / "work"
    dep_id, setup = read_core_deployment(cloud.url, CORE, REGION, work, CREDS, base=group)
    assert dep_id == dep["id"] and setup.profile.deployment_id == dep_id
    assert [f.name for f in setup.group.functions] == [f.name for f in group.functions]
    for f in setup.group.functions:
        code = setup.profile.code_dirs[f.name]
        assert (code / "handler.py").is_file(), f.name  # the published Lambda version's package, unzipped
        assert work / "packages" in code.parents and f.code_dir(ROOT) == code
    assert setup.group.devices == group.devices  # the Auth device groups
    assert set(setup.profile.client_devices) == {d.thing for d in group.devices}  # associated devices
    assert [(c.host, c.port) for c in setup.group.core.connectivity] == [("127.0.0.1", 8883)]  # connectivity info
    assert ("hello_world", "cloud", "hello/world") in {(s.source, s.target, s.topic) for s in setup.group.subscriptions}

    report(cloud.url, CORE, dep_id, "SUCCEEDED", components=installed_components(setup))
    st = group_status(SEED, clients=clients, state_dir=state_dir, target="local")
    assert st["device_status"] == "SUCCEEDED" and st["core_device_status"] == "HEALTHY"
    lambdas = [c for c in setup.profile.components if c.kind == "lambda"]
    assert len(lambdas) == len(group.functions)
    for c in lambdas:
        assert st["components"][c.name]["state"] == "RUNNING"
        assert st["components"][c.name]["version"] == c.version
    capsys.readouterr()
    assert deploy.main(["status", "--platform", "v2", "--state-dir", str(state_dir)]) == 0
    out = capsys.readouterr().out
    assert "SUCCEEDED" in out and lambdas[0].name in out

    # a Lambda component version deleted from the cloud: the core fails the deployment as V2 reports it
    gg = clients.greengrassv2
    victim = lambdas[0]
    account = gg.get_deployment(deploymentId=dep_id)["targetArn"].split(":")[4]
    gg.delete_component(arn=f"arn:aws:greengrass:{REGION}:{account}:components:{victim.name}"
                            f":versions:{victim.version}")
    with pytest.raises(DeploymentFailed) as info:
        read_core_deployment(cloud.url, CORE, REGION, work, CREDS, base=group)
    err = info.value
    assert err.code == "NO_AVAILABLE_COMPONENT_VERSION"
    assert err.reason == f"Failed to negotiate component {victim.name} version {victim.version} with cloud"
    report_failure(cloud.url, CORE, dep_id, err)
    st = group_status(SEED, clients=clients, state_dir=state_dir, target="local")
    assert st["device_status"] == "FAILED" and victim.name in (st["reason"] or "")

