"""The dashboard wired to a running local core, and everything it knows about this bundle's seed.

The core (``localcore/core.py``) is generic: it knows services, not panels. This module builds the
dashboard's sections from the core's services (``web.facade`` adapters) and holds the seed-specific
knowledge the panels need in one place: which function captures webcam frames and where they go,
which stream carries the S3 export statuses, which DynamoDB table the car aggregator writes. A group
without those functions simply shows empty panels.

``DashboardService(core, ...)`` has ``start()`` / ``stop()``; the run (``localcore/run.py``) starts it once the
core's services are up, while the deployment is acknowledged (nothing of the deployment waits for it), and
stops it first.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional, Sequence

from localcore import interfaces
from web.app import Dashboard
from web.facade import (Cached, CoreFacade, Polled, functions_section, platform_section, stream_tail,
                        streams_section, webcam_section)
from web.tap import MessageTap

log = logging.getLogger(__name__)

# The seed's functions and the settings the panels read from their environment (with the defaults
# the functions themselves use when the variable is absent).
WEBCAM_FUNCTION = "webcam"
WEBCAM_FRAMES_DIR = ("OUTPUT_DIR", "/tmp/s3_stream")
UPLOADER_FUNCTION = "s3_uploader"
UPLOADER_STATUS_STREAM = ("STATUS_STREAM_NAME", "S3ExportTaskStatus")
CAR_FUNCTION = "car_aggregator"
CAR_TABLE = ("TABLE_NAME", "CarStats")
CAR_STAT_KEYS = ("TotalTraffic", "TotalGreenlights", "MinCarsPassing", "MaxCarsPassing")


def _env(group: Any, function: str, setting: tuple) -> str:
    fn = group.function(function)
    key, default = setting
    return (fn.environment.get(key) if fn else None) or default


def car_stats(items: list) -> dict:
    """The car statistics as of the newest DynamoDB item the car aggregator wrote (every 3rd green)."""
    if not items:
        return {}
    newest = items[0]
    return {"as_of": newest.get("Time"), **{k: newest[k] for k in CAR_STAT_KEYS if k in newest}}


class DashboardService:
    """The dashboard of one running core: ``await start()`` after the core's services, ``await stop()``."""

    def __init__(self, core: Any, *, token: Optional[str] = None, host: str = "127.0.0.1",
                 port: Optional[int] = None, extra_sections: Optional[Mapping[str, Callable[[], Any]]] = None,
                 snapshot: Optional[Callable[[str], Any]] = None, public_routes: Sequence[tuple] = ()) -> None:
        self.core = core
        self.token, self.host = token, host
        self.port = core.cfg.ports.dashboard if port is None else port
        self._extra = dict(extra_sections or {})
        self._snapshot = snapshot
        self._public_routes = list(public_routes)
        self.dashboard: Optional[Dashboard] = None
        self.facade: Optional[CoreFacade] = None
        self._webcam_worker: Optional[Polled] = None

    @property
    def url(self) -> Optional[str]:
        return self.dashboard.url if self.dashboard is not None else None

    async def start(self) -> None:
        core = self.core
        # the console sees what reaches the cloud: the tap forwards to the core's cloud connection
        tap = MessageTap(inner=core.cloud_sink)
        core.router.attach(interfaces.CLOUD, tap)
        items = Cached(self._dynamodb_items, 5.0)
        if core.cfg.group.function(WEBCAM_FUNCTION) is not None:  # its handler answers with its worker's status
            async def webcam_worker():
                r = await core.runtime.invoke(WEBCAM_FUNCTION, b"")
                return None if r.function_error else r.json()

            self._webcam_worker = Polled(webcam_worker, 3.0)
        sections = {
            "group": self._group,
            "functions": lambda: functions_section(core.runtime.status()),
            "devices": self._devices,
            "streams": lambda: streams_section(core.streams.status()) if core.streams is not None else [],
            "shadows": self._shadows,
            "webcam": self._webcam,
            "connectors": core.connectors_status,
            "platform": self._platform,
            "dynamodb_items": items,
            "car_stats": lambda: car_stats(items()),
        }
        sections.update(self._extra)
        self.facade = CoreFacade(router=core.router, tap=tap, sections=sections, snapshot=self._snapshot)
        self.dashboard = Dashboard(self.facade, token=self.token, public_routes=self._public_routes)
        await self.dashboard.start(host=self.host, port=self.port)

    async def stop(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.stop()
        if self._webcam_worker is not None:
            await self._webcam_worker.aclose()
        if self.core.cloud_sink is not None:  # the cloud connection without the tap
            self.core.router.attach(interfaces.CLOUD, self.core.cloud_sink)

    # -- sections ----------------------------------------------------------------------------------
    def _group(self) -> dict:
        core = self.core
        return {"name": core.cfg.group.name, "id": core.cfg.group_id, "deployment": core.deployment.as_dict(),
                "core": core.lifecycle.status()}

    def _platform(self) -> dict:
        core = self.core
        ipc = getattr(core, "nucleus_ipc", None)   # V2: the nucleus IPC server (run_v2.py sets it)
        return platform_section(core.cfg.profile, core.deployment.as_dict(), core.broker.status(),
                                core_thing=core.cfg.group.core.thing, core_status=core.lifecycle.status(),
                                ipc_status=ipc.status() if ipc is not None else None)

    def _devices(self) -> list:
        connected = set(self.core.broker.connected())
        return [{"thing": d.thing, "connected": d.thing in connected} for d in self.core.cfg.group.devices]

    def _shadows(self) -> dict:
        out = {}
        for thing in self.core.cfg.group.things:
            doc = self.core.shadows.document(thing)
            if doc is not None:
                out[thing] = doc
        return out

    def _webcam(self) -> dict:
        core = self.core
        group = core.cfg.group
        status_stream = _env(group, UPLOADER_FUNCTION, UPLOADER_STATUS_STREAM)
        tail = stream_tail(core.streams.store, status_stream, 10) if core.streams is not None else []
        worker = self._webcam_worker() if self._webcam_worker is not None else None
        return webcam_section(_env(group, WEBCAM_FUNCTION, WEBCAM_FRAMES_DIR), tail, worker=worker)

    def _dynamodb_items(self) -> list:
        """Items of the car-statistics table (newest first), read from the cloud."""
        core = self.core
        if not core.cfg.cloud_url:
            return []
        table = _env(core.cfg.group, CAR_FUNCTION, CAR_TABLE)
        items = core.clients.client("dynamodb").scan(TableName=table, Limit=200).get("Items", [])
        plain = [{k: next(iter(v.values())) for k, v in item.items()} for item in items]
        return sorted(plain, key=lambda i: str(i.get("Time", "")), reverse=True)[:20]
