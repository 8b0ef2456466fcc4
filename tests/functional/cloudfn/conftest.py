"""A real LocalCloud (moto S3 + the Kinesis Video stand-in) on port 0, and the snapshot Lambda
(cloud/snapshot, unmodified) in a CloudFunctionRunner worker pointed at it."""
from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from localcore.cloud import LocalCloud
from localcore.cloudfn import CloudFunctionRunner, local_environment

REPO = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = LocalCloud(tmp_path_factory.mktemp("cloud"), region=REGION)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def clients(cloud):
    def make(service: str, endpoint: str | None = None):
        return boto3.client(service, endpoint_url=endpoint or cloud.url, region_name=REGION, **KEYS)
    return make


@pytest.fixture(scope="module")
def bucket(clients):
    name = f"snapshots-{uuid.uuid4().hex[:8]}"
    clients("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def stream(clients):
    name = f"cam-{uuid.uuid4().hex[:8]}"
    clients("kinesisvideo").create_stream(StreamName=name, DataRetentionInHours=1)
    return name


@pytest.fixture
async def snapshot_runner(cloud, bucket, tmp_path):
    """The deployment zip's layout: ``snapshot/`` at the root (``cloud/``), handler
    ``snapshot.handler.lambda_handler``, 512 MB, 20 s, as cloud/snapshot/README.md says."""
    tmp = tmp_path / "lambda-tmp"
    tmp.mkdir()
    env = local_environment({"SNAPSHOT_BUCKET": bucket, "SNAPSHOT_TMP_DIR": str(tmp)}, cloud.url, REGION)
    runner = CloudFunctionRunner("snapshot", REPO / "cloud", "snapshot.handler.lambda_handler",
                                 environment=env, timeout_s=20, memory_mb=512)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
    assert list(tmp.iterdir()) == [], "the Lambda left temp files behind"
