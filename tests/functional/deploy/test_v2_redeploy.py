"""Idempotency that survives teardown (#22.1): CreateDeployment's client token belongs to one request, not to
the deployment's content, so a deploy after a destroy (or ``--redeploy``) makes a new deployment, while a deploy
whose answer was lost repeats the request and gets the same deployment back. A core started with no deployment
for it says what to run (one line, exit 1, no traceback).

The LocalCloud's greengrassv2 stand-in keeps client tokens for 8 hours, as AWS does: the deleted deployment
would come back under a content-derived token, locally and on AWS.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from botocore.exceptions import EndpointConnectionError

import deploy
from group.model import load
from group.state import State
from group.v2.apply import deploy_group
from localcore.cloud import LocalCloud
from localcore.pki import LocalPKI

NAME = "redeploy"


def _deployments(gg, target_arn):
    return [d["deploymentId"] for d in gg.list_deployments(targetArn=target_arn, historyFilter="ALL")["deployments"]]


@pytest.mark.parametrize("target", ["local", "aws"])
def test_a_deploy_after_destroy_makes_a_new_deployment(h, local_cloud, tmp_path, monkeypatch, target):
    cloud, state_dir = local_cloud
    gf = h.small_bundle(tmp_path / "bundle", NAME)
    common = ["--platform", "v2", "--target", target, "--state-dir", str(state_dir),
              "--certs-dir", str(tmp_path / "certs"), "--group-file", str(gf)]
    if target == "aws":  # the same cloud as "AWS": its clientToken window is AWS's (8 h)
        monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients, _ = h.counted_clients(cloud.url)
    gg = clients.greengrassv2
    state_target = "local-v2" if target == "local" else "aws-v2"

    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    first = State.load(state_dir, state_target, NAME).get(f"deployment:{NAME}")
    assert deploy.main(["destroy"] + common) == 0
    with pytest.raises(gg.exceptions.ResourceNotFoundException):
        gg.get_deployment(deploymentId=first["id"])

    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    second = State.load(state_dir, state_target, NAME).get(f"deployment:{NAME}")
    assert second["id"] != first["id"], "the deploy after destroy got the deleted deployment back"
    got = gg.get_deployment(deploymentId=second["id"])
    assert got["deploymentStatus"] in ("ACTIVE", "COMPLETED") and got["isLatestForTarget"]
    assert "pending_deployment_request" not in State.load(state_dir, state_target, NAME).meta

    # --redeploy of the same content: a new deployment too (a content token would return the current one)
    assert deploy.main(["deploy", "--no-wait", "--redeploy"] + common) == 0
    third = State.load(state_dir, state_target, NAME).get(f"deployment:{NAME}")
    assert third["id"] != second["id"]
    assert third["id"] in _deployments(gg, third["target_arn"])
    assert deploy.main(["destroy"] + common) == 0


def test_a_deploy_whose_answer_was_lost_gets_the_same_deployment_on_the_rerun(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    gf = h.small_bundle(tmp_path / "bundle", NAME)
    group, _ = load(gf)
    pki = LocalPKI(state_dir / "ca")

    def issue(thing):
        issued = pki.root.issue_client(thing)
        return issued.cert_pem, issued.key_pem

    kw = dict(root=gf.parent.parent, state_dir=state_dir, target="local", certs_dir=tmp_path / "certs",
              certificate_issuer=issue, root_ca_pem=pki.root.cert_pem, wait=False)
    lossy, _ = h.counted_clients(cloud.url)

    def drop_the_answer(**_):  # the request reached the service; the connection broke before the answer
        raise EndpointConnectionError(endpoint_url=cloud.url)

    lossy.session.events.register("after-call.greengrassv2.CreateDeployment", drop_the_answer)
    with pytest.raises(Exception) as failed:
        deploy_group(group, clients=lossy, **kw)
    assert "deployment" in str(failed.value)
    pending = State.load(state_dir, "local-v2", NAME).meta["pending_deployment_request"]

    clients, _ = h.counted_clients(cloud.url)
    again = deploy_group(group, clients=clients, **kw)
    rec = State.load(state_dir, "local-v2", NAME).get(f"deployment:{NAME}")
    # one deployment: the rerun repeated the lost request (same token) and got its answer
    assert _deployments(clients.greengrassv2, rec["target_arn"]) == [again.deployment_id]
    assert pending["token"] and "pending_deployment_request" not in State.load(state_dir, "local-v2", NAME).meta


def test_a_core_started_with_no_deployment_for_it_says_what_to_run(h, tmp_path):
    """The core device was taken out of its thing group while the run was stopped: the deploy step has
    nothing to change, the core finds no deployment — one line with the fix, exit 1, no traceback."""
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    gf = h.small_bundle(tmp_path / "bundle", NAME)
    common = ["--platform", "v2", "--state-dir", str(state_dir), "--certs-dir", str(certs), "--group-file", str(gf)]
    cloud = LocalCloud(state_dir / "cloud", pki_dir=state_dir / "ca")  # the cloud `run` starts on this state
    cloud.start()
    try:
        (state_dir / "endpoint.json").write_text(json.dumps({"cloud_url": cloud.url, "pki_dir": str(state_dir / "ca")}))
        assert deploy.main(["deploy", "--no-wait"] + common) == 0
        clients, _ = h.counted_clients(cloud.url)
        clients.iot.remove_thing_from_thing_group(thingGroupName=NAME, thingName="SmallCore")
    finally:
        cloud.stop()
        (state_dir / "endpoint.json").unlink()
    done = subprocess.run([sys.executable, str(h.root / "deploy.py"), "run", *common, "--ephemeral-ports",
                           "--no-devices", "--no-dashboard", "--exit-after-ready"],
                          capture_output=True, text=True, timeout=90, cwd=str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("error")]
    assert len(errors) == 1, done.stdout
    assert "no deployment targets core device SmallCore" in errors[0]
    assert "python deploy.py run --platform v2 --clean" in errors[0]
