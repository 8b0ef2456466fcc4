"""Shared fixtures of the functional tests.

* corekit (a small core of real services) and ``make_core``: broker, discovery and shadow tests;
* ``cloud`` (a real LocalCloud on port 0, moto + the Kinesis Video stand-in, one per module),
  ``clients``, ``bucket``, ``stream``: snapshot and cloud_lambdas tests. A folder may define its own
  ``cloud`` (tests/functional/cloud does); a local fixture wins over these.
* ``deploy_cloud(auto_complete=True)``: a fresh LocalCloud per test with ``<tmp>/.gg/endpoint.json`` written as
  ``deploy.py run`` does, so ``deploy.py --target local`` finds it; returns ``(cloud, state_dir)`` (stopped at
  teardown). ``local_cloud`` is that with deployments completing at once (deploy tests without a core).
"""
from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from localcore.cloud import LocalCloud

_path = Path(__file__).resolve().parent / "broker" / "corekit.py"
if "corekit" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("corekit", _path)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["corekit"] = _module
    _spec.loader.exec_module(_module)
corekit = sys.modules["corekit"]


@pytest.fixture
def make_core(tmp_path):
    cores = []

    def make(routes, members, discovery=False):
        core = corekit.Core(tmp_path, routes, members).start(discovery=discovery)
        cores.append(core)
        return core

    yield make
    for core in cores:
        core.stop()


CLOUD_REGION = "us-east-1"
CLOUD_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = LocalCloud(tmp_path_factory.mktemp("cloud"), region=CLOUD_REGION)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def clients(cloud):
    """``clients(service, endpoint=None)`` → a boto3 client on the local cloud (or ``endpoint``)."""
    def make(service: str, endpoint: str | None = None):
        return boto3.client(service, endpoint_url=endpoint or cloud.url, region_name=CLOUD_REGION, **CLOUD_KEYS)
    return make


@pytest.fixture(scope="module")
def bucket(clients):
    name = f"snapshots-{uuid.uuid4().hex[:8]}"
    clients("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def stream(clients):
    """A fresh Kinesis Video stream (1 h retention) with a unique name."""
    name = f"cam-{uuid.uuid4().hex[:8]}"
    clients("kinesisvideo").create_stream(StreamName=name, DataRetentionInHours=1)
    return name


@pytest.fixture
def deploy_cloud(tmp_path, monkeypatch):
    """A LocalCloud for control-plane tests, found by ``deploy.py --target local`` (see the module doc)."""
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    started = []

    def start(auto_complete: bool = True):
        state_dir = tmp_path / ".gg"
        cloud = LocalCloud(state_dir / "cloud", auto_complete_deployments=auto_complete, pki_dir=state_dir / "ca")
        cloud.start()
        started.append(cloud)
        (state_dir / "endpoint.json").write_text(json.dumps(
            {"cloud_url": cloud.url, "group_ids": {}, "pki_dir": str(state_dir / "ca")}))
        return cloud, state_dir

    yield start
    for cloud in started:
        cloud.stop()


@pytest.fixture
def local_cloud(deploy_cloud):
    """``deploy_cloud()`` with deployments completing at once."""
    return deploy_cloud(True)
