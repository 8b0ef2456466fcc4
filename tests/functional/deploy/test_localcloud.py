"""The full seed group/group.yaml against the embedded LocalCloud (``--target local``)."""
from __future__ import annotations

import stat

from cryptography import x509

import deploy
from group import v1 as aws
from group.clients import Clients
from group.v1 import deploy_group, group_status
from group.model import load
from localcore.pki import LocalPKI



def test_seed_group_deploys_to_success_and_destroys(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    certs = tmp_path / "certs"
    common = ["--state-dir", str(state_dir), "--certs-dir", str(certs)]  # default: --target local, seed file
    assert deploy.main(["deploy", "--timeout", "30"] + common) == 0

    clients = Clients.create("us-east-1", cloud.url, h.keys)
    st = group_status("gg-bundle", clients=clients, state_dir=state_dir, target="local")
    assert st["status"] == "Success" and st["group_id"]
    # certificates come from the local root CA, the one the local core trusts
    root = LocalPKI(state_dir / "ca").root
    assert (certs / "root-ca.pem").read_bytes() == root.cert_pem
    for thing in ("GG_Core", "GG_TrafficLight", "HelloWorld_Publisher"):
        cert = x509.load_pem_x509_certificate((certs / thing / "cert.pem").read_bytes())
        cert.verify_directly_issued_by(root.cert)
        assert stat.S_IMODE((certs / thing / "private.key").stat().st_mode) == 0o600
    # the adapter's parts are in the group version: loggers, connectors, subscriptions with '_' things
    gg = clients.greengrass
    ver = gg.get_group_version(GroupId=st["group_id"], GroupVersionId=st["group_version_id"])["Definition"]
    assert {"LoggerDefinitionVersionArn", "ConnectorDefinitionVersionArn",
            "SubscriptionDefinitionVersionArn"} <= set(ver)
    assert gg.get_service_role_for_account()["RoleArn"].endswith("gg-bundle-gg-service-role")
    info = gg.get_connectivity_info(ThingName="GG_Core")["ConnectivityInfo"]
    assert [(c["HostAddress"], c["PortNumber"]) for c in info] == [("127.0.0.1", 8883)]

    # nothing changed: read-only calls only
    group, _ = load(h.root / "group" / "group.yaml")
    pki = LocalPKI(state_dir / "ca")
    counted, log = h.counted_clients(cloud.url)
    def issuer(thing):
        issued = pki.root.issue_client(thing)
        return issued.cert_pem, issued.key_pem

    again = deploy_group(group, root=h.root, clients=counted, state_dir=state_dir, target="local",
                         certs_dir=certs, certificate_issuer=issuer, root_ca_pem=pki.root.cert_pem)
    assert log.mutating == [] and again.changes == [] and again.status == "Success"
    assert deploy.main(["plan", "--exit-code"] + common) == 0
    assert deploy.main(["status"] + common) == 0

    assert deploy.main(["destroy"] + common) == 0
    assert gg.list_groups()["Groups"] == []
    assert deploy.main(["plan", "--exit-code"] + common) == 2
    assert deploy.main(["destroy"] + common) == 0


def test_deploy_for_run_as_localcore_run_calls_it(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    path = h.write_group(tmp_path / "bundle", h.moto_group("Run"))
    group, _ = load(path)
    pki = LocalPKI(state_dir / "ca")

    def issuer(thing):  # localcore/run.py hands PEM strings
        issued = pki.root.issue_client(thing)
        return issued.cert_pem.decode(), issued.key_pem.decode()

    kw = dict(root=path.parent, endpoint_url=cloud.url, region="us-east-1", state_dir=state_dir,
              certificate_issuer=issuer, root_ca_pem=pki.root.cert_pem.decode(), file=str(path))
    first = aws.deploy_for_run(group, **kw)
    assert first["group_id"] and first["group_version"] and first["deployment_id"] and first["changes"] > 10
    assert (path.parent / "certs" / "RunCore" / "cert.pem").exists()
    assert (path.parent / "certs" / "root-ca.pem").read_bytes() == pki.root.cert_pem
    again = aws.deploy_for_run(group, **kw)
    assert again["changes"] == 0 and again["deployment_id"] == first["deployment_id"]
    assert again["status"] == "Success"  # auto-completed by this cloud
    fresh = aws.deploy_for_run(group, redeploy=True, **kw)  # e.g. a core that starts again
    assert fresh["deployment_id"] != first["deployment_id"]
    assert fresh["group_version"] == first["group_version"]


def test_fleet_bulk_deployment(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    files = [h.write_group(tmp_path / "fleet", h.moto_group(p)) for p in ("BulkA", "BulkB")]
    common = ["--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs")]
    for f in files:
        common += ["--group-file", str(f)]
    assert deploy.main(["deploy", "--bulk", "--timeout", "20"] + common) == 0
    clients = Clients.create("us-east-1", cloud.url, h.keys)
    gg = clients.greengrass
    assert len(gg.list_bulk_deployments()["BulkDeployments"]) == 1
    for name in ("BulkA-grp", "BulkB-grp"):
        st = group_status(name, clients=clients, state_dir=state_dir, target="local")
        assert st["status"] == "Success" and st["deployment_id"]
    # nothing changed: no bulk deployment, no mutating call
    results = []
    counted, log = h.counted_clients(cloud.url)
    pki = LocalPKI(state_dir / "ca")
    for f in files:
        group, _ = load(f)
        results.append(deploy_group(group, root=f.parent, clients=counted, state_dir=state_dir,
                                    target="local", certs_dir=tmp_path / "certs", root_ca_pem=pki.root.cert_pem,
                                    deploy=False, certificate_issuer=lambda t: _issue(pki, t)))
    assert all(r.pending is None for r in results)
    assert aws.bulk_deploy(results, clients=counted, state_dir=state_dir, target="local") == results
    assert log.mutating == []
    # destroying the whole fleet also removes the bulk deployment's bucket and role
    bucket = next(b["Name"] for b in clients.s3.list_buckets()["Buckets"] if b["Name"].startswith("gg-bulk-"))
    assert deploy.main(["destroy"] + common) == 0
    assert bucket not in [b["Name"] for b in clients.s3.list_buckets()["Buckets"]]
    assert not (state_dir / "state" / "local" / "_bulk.json").exists()


def _issue(pki, thing):
    issued = pki.root.issue_client(thing)
    return issued.cert_pem, issued.key_pem
