"""Fixtures: one LocalCloud (moto + the Kinesis Video stand-in) per module, on port 0."""
from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from localcore.cloud import LocalCloud

_spec = importlib.util.spec_from_file_location("snapshot_media", Path(__file__).with_name("snapshot_media.py"))
media = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("snapshot_media", media)
_spec.loader.exec_module(media)

REGION = media.REGION
CREDS = media.CREDS


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
        return boto3.client(service, endpoint_url=endpoint or cloud.url, region_name=REGION, **CREDS)
    return make


@pytest.fixture
def stream(clients):
    """A fresh stream (1 h retention) with a unique name."""
    name = f"cam-{uuid.uuid4().hex[:8]}"
    clients("kinesisvideo").create_stream(StreamName=name, DataRetentionInHours=1)
    return name


@pytest.fixture(scope="module")
def bucket(clients):
    name = f"snapshots-{uuid.uuid4().hex[:8]}"
    clients("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def now() -> float:
    return time.time()
