"""Exporters (placeholder until the export slice lands)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class CloudConfig:
    endpoint_url: str | None = None
    region: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)


class ExportManager:
    def __init__(self, store: Any, checkpoint_dir: Path, cloud: CloudConfig, threads: int = 4,
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def status(self, name: str) -> list:
        return []

    def export_statuses(self, name: str) -> list:
        return []
