"""A whole LocalCore (ephemeral ports, tmp state dir) deployed for real: a LocalCloud, a tmp bundle
whose Lambdas run the unmodified greengrasssdk, ``group.v1.deploy_for_run`` as ``deploy.py run``
calls it, then the V1 run's ``DeploymentFollower`` (``localcore/run_v1.py``) acknowledging that deployment and every later one."""
from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml

from group import v1 as aws
from group.model import load
from localcore.cloud import LocalCloud
from localcore.core import CoreConfig, LocalCore, Ports
from localcore.pki import LocalPKI
from localcore.run_v1 import DeploymentFollower

ECHO = Path(__file__).resolve().parents[1] / "runtime" / "lambdas" / "echo"
REGION = "us-east-1"


def base_group(name: str) -> dict:
    """Two pinned echo functions; Sensor → alpha; both → Observer."""
    return {
        "group": {"name": name, "region": REGION},
        "core": {"thing": f"{name}Core"},
        "devices": [{"thing": "Sensor"}, {"thing": "Observer"}],
        "functions": [
            {"name": "alpha", "pinned": True, "memory_mb": 64, "environment": {"OUT_TOPIC": "alpha/out"}},
            {"name": "beta", "pinned": True, "memory_mb": 64, "environment": {"OUT_TOPIC": "beta/out"}},
        ],
        "subscriptions": [
            {"source": "Sensor", "target": "alpha", "topic": "in/alpha"},
            {"source": "alpha", "target": "Observer", "topic": "alpha/out"},
            {"source": "beta", "target": "Observer", "topic": "beta/#"},
        ],
        "stream_manager": {"enabled": False},
    }


@dataclass
class Deployed:
    cloud: LocalCloud
    core: LocalCore
    bundle: Path
    state_dir: Path
    group_id: str

    @property
    def group_file(self) -> Path:
        return self.bundle / "group" / "group.yaml"

    def write_group(self, data: dict) -> None:
        self.group_file.write_text(yaml.safe_dump(data, sort_keys=False))

    def greengrass(self):
        return boto3.client("greengrass", region_name=REGION, endpoint_url=self.cloud.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    async def wait_status(self, deployment_id: str, timeout: float = 20.0) -> dict:
        """Poll boto3 get_deployment_status until it is final (clients have no event for it); bounded."""
        gg = self.greengrass()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            resp = await asyncio.to_thread(gg.get_deployment_status, GroupId=self.group_id,
                                           DeploymentId=deployment_id)
            if resp["DeploymentStatus"] in ("Success", "Failure"):
                return resp
            assert loop.time() < deadline, f"deployment {deployment_id} still {resp['DeploymentStatus']}"
            await asyncio.sleep(0.05)

    def cli(self, *args: str) -> list:
        return [*args, "--target", "local", "--group-file", str(self.group_file), "--state-dir",
                str(self.state_dir), "--certs-dir", str(self.bundle / "certs")]


@pytest.fixture
def bundle(tmp_path) -> Path:
    root = tmp_path / "bundle"
    (root / "group").mkdir(parents=True)
    for name in ("alpha", "beta"):
        shutil.copytree(ECHO, root / "lambdas" / name)
    return root


@pytest.fixture
async def deployed(tmp_path, bundle, monkeypatch):
    """``make(group_dict)`` → a running, deployed core (its first deployment acknowledged)."""
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    state_dir = tmp_path / ".gg"
    cloud = LocalCloud(state_dir / "cloud", port=0, pki_dir=state_dir / "ca")
    await cloud.astart()
    cores: list[LocalCore] = []

    async def make(data: dict, before_start=None) -> Deployed:
        group_file = bundle / "group" / "group.yaml"
        group_file.write_text(yaml.safe_dump(data, sort_keys=False))
        group, _ = load(group_file)
        pki = LocalPKI(state_dir / "ca")

        def issuer(thing: str):
            issued = pki.root.issue_client(thing)
            return issued.cert_pem, issued.key_pem

        result = await asyncio.to_thread(
            aws.deploy_for_run, group, root=bundle, endpoint_url=cloud.url, region=REGION,
            state_dir=state_dir, certificate_issuer=issuer, root_ca_pem=pki.root.cert_pem,
            file=str(group_file), certs_dir=bundle / "certs")
        env = Deployed(cloud, None, bundle, state_dir, result["group_id"])  # type: ignore[arg-type]
        if before_start is not None:
            await asyncio.to_thread(before_start, env)
        cfg = CoreConfig(group=group, root=bundle, state_dir=state_dir, group_id=result["group_id"],
                         region=REGION, cloud_url=cloud.url, account=cloud.account_id,
                         ports=Ports(0, 0, 0, 0, 0), certs_dir=bundle / "certs")
        core = LocalCore(cfg)
        await core.start()
        cores.append(core)
        follower = DeploymentFollower(core, cloud, group_file)
        follower.start()
        core.add_follower(follower)
        env.core = core
        first = await env.wait_status(result["deployment_id"])
        assert first["DeploymentStatus"] == "Success", first
        # what `deploy.py run` writes: `deploy.py deploy --target local` finds the cloud through it
        (state_dir / "endpoint.json").write_text(json.dumps({
            "cloud_url": cloud.url, "state_dir": str(state_dir), "pki_dir": str(state_dir / "ca"),
            "group_id": result["group_id"]}))
        return env

    yield make
    for core in cores:
        await core.stop()
    await cloud.astop()
