"""The Docker application deployment connector on the local core: the compose file comes from the
local cloud's S3 (as the real connector downloads it), lands under the state dir, and is run by
``docker compose`` only where that works — otherwise the connectors status says why."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import boto3
import pytest

import deploy
from localcore.runtime import DockerComposeApp
from tests.functional.core.conftest import REGION, base_group

SEED_COMPOSE = Path(__file__).resolve().parents[3] / "docker" / "docker-compose.yml"
BUCKET, KEY = "core-test-compose", "apps/docker-compose.yml"


def docker_group(name: str) -> dict:
    g = base_group(name)
    g["connectors"] = [{
        "name": "docker-app",
        "arn": f"arn:aws:greengrass:{REGION}::/connectors/DockerApplicationDeployment/versions/7",
        "parameters": {"DockerComposeFileS3Bucket": BUCKET, "DockerComposeFileS3Key": KEY,
                       "DockerComposeFileDestinationPath": "/home/ggc_user/compose", "DockerUserId": "1000",
                       "DockerPullBeforeUp": "false"}}]
    g["cloud"] = {"buckets": [BUCKET]}
    return g


def s3(env):
    return boto3.client("s3", region_name=REGION, endpoint_url=env.cloud.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def upload(body: bytes):
    """What deploy does for the connector (see the decision on the compose file upload)."""
    return lambda env: s3(env).put_object(Bucket=BUCKET, Key=KEY, Body=body)


@pytest.fixture
async def no_docker():
    """The reason ``docker compose`` cannot run here; these tests cover machines without it."""
    ok, detail = await DockerComposeApp("unused.yml", "unused").available()
    if ok:
        pytest.skip(f"docker compose works here ({detail}); the connector would really run")
    return detail


async def docker_row(core) -> dict:
    await core.docker_app.wait_started(10.0)  # the core starts it in the background
    [row] = [r for r in core.status()["connectors"] if r["name"] == "docker-app"]
    return row


async def test_compose_file_is_fetched_from_local_s3_and_status_says_why_it_does_not_run(deployed, no_docker):
    seed = SEED_COMPOSE.read_bytes()
    env = await deployed(docker_group("DockerApp"), before_start=upload(seed))
    row = await docker_row(env.core)

    assert row["state"] == "not-run" and row["reason"] == no_docker
    assert row["source"] == f"s3://{BUCKET}/{KEY}"
    compose = Path(row["compose_file"])
    assert compose == env.state_dir / "connectors" / "docker-app" / "home/ggc_user/compose/docker-compose.yml"
    assert compose.read_bytes() == seed and row["sha256"] == hashlib.sha256(seed).hexdigest()
    assert [r["state"] for r in env.core.status()["connectors"]] == ["not-run"]

    # a new deployment fetches the compose file again (the real connector does so on each one)
    changed = seed + b"# v2\n"
    await asyncio.to_thread(s3(env).put_object, Bucket=BUCKET, Key=KEY, Body=changed)
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--redeploy", "--timeout", "20")) == 0
    row = await docker_row(env.core)
    assert compose.read_bytes() == changed and row["sha256"] == hashlib.sha256(changed).hexdigest()
    assert row["state"] == "not-run" and row["reason"] == no_docker


async def test_missing_compose_object_is_reported_not_fatal(deployed):
    env = await deployed(docker_group("DockerMissing"))  # nobody uploaded the compose file
    row = await docker_row(env.core)
    assert row["state"] == "failed"
    assert f"s3://{BUCKET}/{KEY}" in row["reason"] and "NoSuchKey" in row["reason"]
    assert (await env.core.runtime.invoke("alpha", {})).function_error == ""  # the core runs on


async def test_docker_missing_binary_is_named(tmp_path):
    app = DockerComposeApp(str(tmp_path / "docker-compose.yml"), "p", docker=str(tmp_path / "no-docker"))
    await app.start()
    status = app.status()
    assert status["state"] == "not-run" and status["reason"] == f"{tmp_path / 'no-docker'} is not installed"
