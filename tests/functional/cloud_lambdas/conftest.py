"""The snapshot Lambda (cloud/snapshot, unmodified) in a CloudFunctionRunner worker pointed at the
shared LocalCloud fixture (``cloud``, ``bucket`` in tests/functional/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from localcore.cloud_lambdas import CloudFunctionRunner, local_environment

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def snapshot_runner(cloud, bucket, tmp_path):
    """The deployment zip's layout: ``snapshot/`` at the root (``cloud/``), handler
    ``snapshot.handler.lambda_handler``, 512 MB, 20 s, as cloud/snapshot/README.md says."""
    tmp = tmp_path / "lambda-tmp"
    tmp.mkdir()
    env = local_environment({"SNAPSHOT_BUCKET": bucket, "SNAPSHOT_TMP_DIR": str(tmp)}, cloud.url, cloud.region)
    runner = CloudFunctionRunner("snapshot", REPO / "cloud", "snapshot.handler.lambda_handler",
                                 environment=env, timeout_s=20, memory_mb=512)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
    assert list(tmp.iterdir()) == [], "the Lambda left temp files behind"
