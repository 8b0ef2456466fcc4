"""Fixtures for the dashboard tests: a facade over the real router, shadow service and tap.

The facade is ``web.facade.CoreFacade`` (product code) over the real ``localcore.router.Router``,
``localcore.shadow.ShadowService`` and ``web.tap.MessageTap``. The sections of services that
have no status provider of their own here yet (functions, devices, streams, webcam, car stats,
DynamoDB) are fixed dicts, and the snapshot API is a plain function: the facade is the
dashboard's own seam, so these stand for the services the lead wires in ``localcore/core.py``.
Aggregates are published in the reader Lambda's own format (``lambdas/reader/latest.py``).
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from localcore.interfaces import Message, Route
from localcore.pki import LocalPKI
from localcore.router import Router
from localcore.runtime.connectors import NO_COMPOSE
from localcore.shadow import ShadowService
from web.app import Dashboard
from web.facade import CoreFacade
from web.tap import MessageTap

# lambdas/reader/latest.py imports the shared library ``gglambda`` (packaged at its zip's root)
_LIBRARY = str(Path(__file__).resolve().parents[3] / "lambdas" / "_lib")
if _LIBRARY not in sys.path:
    sys.path.append(_LIBRARY)

from lambdas.reader.latest import LatestAggregates  # noqa: E402

LIGHT = "GG_TrafficLight"
SHADOW_UPDATE = f"$aws/things/{LIGHT}/shadow/update"
FUNCTION_TOKEN = "fn-token-4f1b2c9d8e7a6b5c"
CONTAINER_TOKEN = "container-auth-9a8b7c6d5e4f3a2b"
WAIT_S = 5.0
REPO = Path(__file__).resolve().parents[3]

ROUTES = [
    Route("function:reader", "cloud", "display/aggregates"),
    Route("device:HelloWorld_Publisher", "cloud", "hello/world"),
    Route("cloud", "function:stream_reader", "streams/read"),
    Route("cloud", "function:car_aggregator", "cars/#"),          # no sink attached: not running
    Route("device:GG_Switch", f"shadow:{LIGHT}", SHADOW_UPDATE),
    Route("cloud", f"shadow:{LIGHT}", SHADOW_UPDATE),
    Route(f"shadow:{LIGHT}", "cloud", SHADOW_UPDATE + "/#"),
]


class Collector:
    """A message sink standing for a running function: records what the router hands it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()

    def deliver(self, message: Message) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Message]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages within {timeout} s, got {self.messages!r}")
            return list(self.messages)


@dataclass
class Core:
    router: Router
    tap: MessageTap
    shadows: ShadowService
    facade: CoreFacade
    stream_reader: Collector
    jpeg: Path
    jpeg_bytes: bytes
    private_key_pem: str
    secrets: list[str] = field(default_factory=list)
    reader_state: LatestAggregates = field(default_factory=LatestAggregates)

    def publish_aggregates(self, *records: dict) -> int:
        """Publish as the reader Lambda does: its snapshot of the newest window per location."""
        for record in records:
            self.reader_state.update(0, record)
        payload = json.dumps(self.reader_state.snapshot(now_ms=int(time.time() * 1000)), sort_keys=True)
        return self.router.publish(Message("function:reader", "display/aggregates", payload.encode()))

    def set_light(self, light: str) -> int:
        """Report ``G``/``Y``/``R`` with the traffic-light device's own payload builder."""
        payload = _light_states().reported_update(light).encode()
        return self.router.publish(Message("device:GG_Switch", SHADOW_UPDATE, payload))


def _light_states():
    """``devices/light_states.py`` (device scripts import it as a top-level sibling module)."""
    module = sys.modules.get("light_states")
    if module is None:
        spec = importlib.util.spec_from_file_location("light_states", REPO / "devices" / "light_states.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["light_states"] = module
    return module


def _snapshot(stream_name: str) -> dict:
    if stream_name != "webcam":
        raise LookupError(f"no Kinesis video stream named {stream_name!r}")
    return {"url": "http://127.0.0.1:9/gg-bundle-snapshots/webcam/latest.jpg?X-Amz-Signature=abc",
            "bucket": "gg-bundle-snapshots", "key": "webcam/latest.jpg"}


def build_core(tmp: Path) -> Core:
    pki_dir = tmp / "pki"
    device = LocalPKI(pki_dir).root.issue_client(LIGHT)
    pem = device.key_pem.decode()
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :, 0] = np.linspace(0, 255, 160, dtype=np.uint8)
    image[40:80, 50:110] = (40, 200, 240)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    jpeg = tmp / "frames" / "frame-000003.jpg"
    jpeg.parent.mkdir()
    jpeg.write_bytes(encoded.tobytes())

    router = Router(ROUTES)
    tap = MessageTap()
    router.attach("cloud", tap)
    shadows = ShadowService(tmp / "shadows")
    shadows.load()
    shadows.attach(router)
    stream_reader = Collector()
    router.attach("function:stream_reader", stream_reader)

    def shadow_docs() -> dict:
        doc = shadows.document(LIGHT)
        return {LIGHT: doc} if doc else {}

    sections = {
        "group": lambda: {"name": "gg-bundle", "id": "grp-0001",
                          "deployment": {"id": "dep-0001", "status": "Success", "version": "ver-7"}},
        "functions": lambda: [
            {"name": "reader", "pinned": True, "state": "running", "invocations": 1, "errors": 0,
             "last_log_lines": ["reader started", "read 4 aggregates"], "token": FUNCTION_TOKEN,
             "environment": {"AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_TOKEN,
                             "STREAM_NAME": "SensorAggregates"}},
            {"name": "stream_reader", "pinned": False, "state": "idle", "invocations": 0, "errors": 0,
             "last_log_lines": []},
        ],
        "devices": lambda: [
            {"thing": LIGHT, "connected": True, "private_key": pem},
            {"thing": "GG_Switch", "connected": False, "tls": {"key_pem": pem}},
        ],
        "streams": lambda: [
            {"name": "SensorAggregates", "oldest": 0, "newest": 41, "bytes": 5120,
             "strategy": "OverwriteOldestData",
             "exporters": [{"id": "AggregateKinesisExport", "kind": "kinesis", "position": 40, "lag": 1}]},
            {"name": "S3UploadStatus", "oldest": None, "newest": None, "bytes": 0,
             "strategy": "RejectNewData", "exporters": []},
        ],
        "shadows": shadow_docs,
        "car_stats": lambda: {"cars_passed": 12, "min_cars": 1, "max_cars": 5},
        "dynamodb_items": lambda: [{"Time": {"S": "2026-11-23T12:00:00Z"}, "Stat": {"S": "Total"},
                                    "Count": {"N": "12"}}],
        "webcam": lambda: {"latest_jpeg_path": str(jpeg), "captured": 12, "saved": 3, "uploaded": 2,
                           "export_statuses": [{"status": "Success", "key": "frames/frame-000002.jpg"}]},
        "connectors": lambda: [{"name": "docker-app", "state": "not-run", "reason": NO_COMPOSE,
                                "arn": "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"}],
    }
    facade = CoreFacade(router=router, tap=tap, sections=sections, snapshot=_snapshot)
    secret_key_line = pem.strip().splitlines()[1]
    return Core(router, tap, shadows, facade, stream_reader, jpeg, encoded.tobytes(), pem,
                [FUNCTION_TOKEN, CONTAINER_TOKEN, "PRIVATE KEY", secret_key_line])


@pytest.fixture
def core(tmp_path: Path) -> Core:
    return build_core(tmp_path)


@pytest.fixture
async def dashboard(core: Core):
    dash = Dashboard(core.facade, status_interval=0.1)
    await dash.start(port=0)
    try:
        yield dash
    finally:
        await dash.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as session:
        yield session


class EventReader:
    """Parses a ``text/event-stream`` response; every read is bounded."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, event: str | None = None, predicate=None, timeout: float = WAIT_S) -> tuple[str, dict]:
        async def read() -> tuple[str, dict]:
            name, data = "message", []
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise AssertionError("event stream ended")
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    continue
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    parsed = json.loads("\n".join(data))
                    if (event is None or name == event) and (predicate is None or predicate(parsed)):
                        return name, parsed
                    name, data = "message", []
        return await asyncio.wait_for(read(), timeout)


@pytest.fixture
def make_core(tmp_path: Path):
    """build_core for tests that change a section before starting their own Dashboard."""
    return lambda: build_core(tmp_path)


@pytest.fixture
def open_events(http):
    """``await open_events(dashboard)`` → (response, EventReader, client id from the hello event)."""
    opened = []

    async def open_(dashboard):
        resp = await http.get(f"http://127.0.0.1:{dashboard.port}/api/events",
                              params={"token": dashboard.token}, timeout=aiohttp.ClientTimeout(total=None))
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        opened.append(resp)
        reader = EventReader(resp)
        _, hello = await reader.next("hello")
        return resp, reader, hello["client"]

    yield open_
    for resp in opened:
        resp.close()


@pytest.fixture(scope="module")
def browser_core(tmp_path_factory) -> Core:
    """One core for a module of browser tests (one server, one browser)."""
    return build_core(tmp_path_factory.mktemp("browser-core"))


@pytest.fixture(scope="module")
def driver():
    """Headless Chromium for a module's browser tests (the module skips itself without one)."""
    from tests import browser

    b = browser.Browser()
    try:
        yield b.driver
    finally:
        b.quit()
