"""The seed group wires the snapshot's source: the deployment creates its ``cloud.video_streams``
with data retention (a 0 h stream archives nothing, so GetClip would find nothing), and the webcam
posts to one of them."""
from __future__ import annotations

from pathlib import Path

import boto3

from group import v1 as aws
from group.model import load
from localcore.cloud import LocalCloud
from localcore.pki import LocalPKI

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "group" / "group.yaml"


def test_seed_webcam_feeds_a_deployed_video_stream():
    group, _ = load(SEED)
    webcam = next(f for f in group.functions if f.name == "webcam")
    assert webcam.environment.get("KVS_STREAM_NAME") in group.cloud.video_streams


def test_deploy_creates_video_streams_that_keep_data(tmp_path, monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    group, _ = load(SEED)
    state_dir = tmp_path / ".gg"
    cloud = LocalCloud(state_dir / "cloud", auto_complete_deployments=True, pki_dir=state_dir / "ca")
    cloud.start()
    try:
        pki = LocalPKI(state_dir / "ca")

        def issuer(thing):
            issued = pki.root.issue_client(thing)
            return issued.cert_pem, issued.key_pem

        aws.deploy_for_run(group, root=REPO, endpoint_url=cloud.url, region=group.group.region,
                           state_dir=state_dir, certificate_issuer=issuer, root_ca_pem=pki.root.cert_pem,
                           file=str(SEED), certs_dir=tmp_path / "certs")
        kv = boto3.client("kinesisvideo", endpoint_url=cloud.url, region_name=group.group.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        assert group.cloud.video_streams
        for name in group.cloud.video_streams:
            assert kv.describe_stream(StreamName=name)["StreamInfo"]["DataRetentionInHours"] >= 1
    finally:
        cloud.stop()
