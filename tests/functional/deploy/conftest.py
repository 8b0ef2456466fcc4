"""Fixtures for the control plane against real servers: a moto server (port 0) and group files.

``--target aws`` + ``AWS_ENDPOINT_URL`` pointed at a plain ``ThreadedMotoServer``: only what moto
supports goes into these group files (thing names without ``_``, no loggers / connectors, no
connectivity, no service role association). The full seed group goes to the LocalCloud.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from group import package
from group.clients import Clients
from tests.moto_server import moto_server as moto_endpoint

ROOT = Path(__file__).resolve().parents[3]
PRODUCER = ROOT / "lambdas" / "producer"
REGION = "us-east-1"
KEYS = ("testing", "testing")
READ_ONLY = ("Get", "List", "Describe", "Head")  # HeadObject: S3's read-only existence check


@pytest.fixture(scope="session")
def moto_server():
    with moto_endpoint() as url:
        yield url


@pytest.fixture()
def moto_url(moto_server, monkeypatch):
    """The session's moto server (warm backends; every test uses its own names), and the
    environment the CLI reads (AWS_ENDPOINT_URL, dummy keys)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS[1])
    monkeypatch.setenv("AWS_REGION", REGION)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return moto_server


@pytest.fixture(scope="session")
def producer_package() -> package.Package:
    """Built once per session: every test group's functions use the producer's code."""
    return package.build("producer", PRODUCER)


class CallLog:
    """Every AWS operation a Clients makes, seen through botocore's ``before-call`` event."""

    def __init__(self) -> None:
        self.calls: List[str] = []

    def __call__(self, model: Any = None, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    @property
    def mutating(self) -> List[str]:
        return [c for c in self.calls if not c.split(".", 1)[1].startswith(READ_ONLY)]


def counted_clients(endpoint: str) -> tuple[Clients, CallLog]:
    clients = Clients.create(REGION, endpoint, KEYS)
    log = CallLog()
    clients.session.events.register("before-call", log)  # before any client exists: all inherit it
    return clients, log


def moto_group(prefix: str, *, functions=("producer",), loggers: bool = False,
               cloud_function: bool = False) -> Dict[str, Any]:
    """A group moto can take: thing names without '_', no loggers/connectors/connectivity."""
    data: Dict[str, Any] = {
        "group": {"name": f"{prefix}-grp", "region": REGION},
        "core": {"thing": f"{prefix}Core", "connectivity": []},
        "devices": [{"thing": f"{prefix}Sensor", "sync_shadow": True}],
        "functions": [{"name": f, "path": str(PRODUCER), "pinned": True, "memory_mb": 128, "timeout_s": 3,
                       "environment": {"STREAM_NAME": f"{prefix}Readings"},
                       "resources": [{"ref": "frames", "permission": "rw"}]} for f in functions],
        "subscriptions": [
            {"source": functions[0], "target": "cloud", "topic": f"{prefix}/out"},
            {"source": f"{prefix}Sensor", "target": functions[0], "topic": f"{prefix}/in"},
            {"source": f"{prefix}Sensor", "target": f"shadow:{prefix}Sensor",
             "topic": f"$aws/things/{prefix}Sensor/shadow/update"},
        ],
        "resources": [{"name": "frames", "volume": {"source": "/tmp/frames", "dest": "/tmp/frames"}}],
        "cloud": {"tables": [{"name": f"{prefix}Table", "hash_key": "Time"}],
                  "buckets": [f"{prefix.lower()}-bucket"],
                  "kinesis_streams": [{"name": f"{prefix}-raw"}],
                  "video_streams": [f"{prefix}-cam"]},
    }
    if cloud_function:  # a cloud-side Lambda (as the snapshot API): its folder only, no SDK vendored
        data["cloud"]["functions"] = [{"name": "snap", "path": str(ROOT / "cloud"),
                                       "handler": "snapshot.handler.lambda_handler", "runtime": "python3.12",
                                       "memory_mb": 512, "timeout_s": 20,
                                       "environment": {"SNAPSHOT_BUCKET": f"{prefix.lower()}-bucket"}}]
    if loggers:
        data["loggers"] = [{"component": "Lambda", "type": "FileSystem", "level": "INFO", "space_kb": 128}]
    return data


def small_bundle(directory: Path, name: str, *, region: str = REGION, core: str = "SmallCore",
                 functions=("hello",), devices=(), cloud: Dict[str, Any] | None = None,
                 components: List[Dict[str, Any]] | None = None, extra: Dict[str, Any] | None = None) -> Path:
    """A bundle of its own under ``directory`` (``lambdas/<f>/handler.py``, ``group/group.yaml``) for the
    LocalCloud: a small V1/V2 group that deploys in seconds; returns the group file."""
    for f in functions:
        code = directory / "lambdas" / f
        code.mkdir(parents=True, exist_ok=True)
        (code / "handler.py").write_text("def function_handler(event, context):\n    return 1\n")
    data: Dict[str, Any] = {
        "group": {"name": name, "region": region},
        "core": {"thing": core, "connectivity": [{"host": "127.0.0.1", "port": 8883}]},
        "devices": [{"thing": d, "sync_shadow": False} for d in devices],
        "functions": [{"name": f, "pinned": True, "memory_mb": 64, "timeout_s": 3} for f in functions],
        "subscriptions": [{"source": f, "target": "cloud", "topic": f"{name}/{f}/out"} for f in functions],
    }
    if cloud:
        data["cloud"] = cloud
    if components:
        data["components"] = components
    data.update(extra or {})
    gf = directory / "group" / "group.yaml"
    gf.parent.mkdir(parents=True, exist_ok=True)
    gf.write_text(yaml.safe_dump(data, sort_keys=False))
    return gf


def write_group(directory: Path, data: Dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{data['group']['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


class Helpers:
    """The helpers above, handed to tests as a fixture (test modules cannot import conftest)."""

    root = ROOT
    region = REGION
    keys = KEYS
    counted_clients = staticmethod(counted_clients)
    moto_group = staticmethod(moto_group)
    write_group = staticmethod(write_group)
    small_bundle = staticmethod(small_bundle)
    read_json = staticmethod(read_json)


@pytest.fixture()
def h() -> type:
    return Helpers


@pytest.fixture()
def region_cloud(tmp_path, monkeypatch):
    """``region_cloud(region, public_components=None)``: a LocalCloud serving ``region`` (as ``deploy.py run``
    starts one for a group of that region), found by ``deploy.py --target local`` through
    ``<tmp>/.gg/endpoint.json``; ``(cloud, state_dir)``, deployments completing at once. ``public_components``: the
    table its greengrassv2 stand-in publishes instead of the catalog (its state built in-process before the start)."""
    from localcore.cloud import LocalCloud
    from localcore.cloud.greengrassv2_state import GreengrassV2State

    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    started = []

    def start(region: str, public_components=None):
        state_dir = tmp_path / ".gg"
        cloud = LocalCloud(state_dir / "cloud", region=region, auto_complete_deployments=True,
                           pki_dir=state_dir / "ca")
        if public_components is not None:
            cloud.greengrassv2 = GreengrassV2State(region, cloud.account_id, auto_complete_deployments=True,
                                                   public_components=public_components)
        cloud.start()
        started.append(cloud)
        (state_dir / "endpoint.json").write_text(json.dumps({"cloud_url": cloud.url, "pki_dir": str(state_dir / "ca")}))
        return cloud, state_dir

    yield start
    for cloud in started:
        cloud.stop()
