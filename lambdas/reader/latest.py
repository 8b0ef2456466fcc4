"""The newest aggregate per location, and the reader's settings (pure: no I/O)."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

from gglambda.env import ConfigError, integer, text

__all__ = ["AGGREGATE_FIELDS", "ConfigError", "LatestAggregates", "ReaderConfig", "parse_aggregate"]

AGGREGATE_FIELDS = ("location", "window_start", "window_end", "count", "min", "max", "mean")


@dataclass(frozen=True)
class ReaderConfig:
    source_stream: str = "AggregateStream"
    display_topic: str = "display/aggregates"
    snapshot_path: str = ""  # default: <temp dir>/reader/latest_aggregates.json, resolved in from_env
    read_batch: int = 100
    read_timeout_ms: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ReaderConfig":
        return cls(
            source_stream=text(env, "SOURCE_STREAM_NAME", cls.source_stream),
            display_topic=text(env, "DISPLAY_TOPIC", cls.display_topic),
            snapshot_path=text(env, "SNAPSHOT_PATH", "")
            or os.path.join(tempfile.gettempdir(), "reader", "latest_aggregates.json"),
            read_batch=integer(env, "READ_BATCH", cls.read_batch, 1, 10000),
            read_timeout_ms=integer(env, "READ_TIMEOUT_MS", cls.read_timeout_ms, 0, 59000),
        )


def parse_aggregate(payload: bytes) -> Dict[str, object]:
    """Decode one aggregate from stream 2; ValueError names the missing or bad field."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("payload is not UTF-8 JSON: {}".format(exc)) from None
    if not isinstance(data, dict):
        raise ValueError("payload is JSON {}, expected an object".format(type(data).__name__))
    missing = [name for name in AGGREGATE_FIELDS if name not in data]
    if missing:
        raise ValueError("aggregate lacks field(s) {}".format(", ".join(missing)))
    if not isinstance(data["location"], str) or not isinstance(data["window_start"], int):
        raise ValueError("aggregate needs a string 'location' and an integer 'window_start'")
    return {name: data[name] for name in AGGREGATE_FIELDS}


class LatestAggregates:
    """Keeps, per location, the aggregate of the newest window seen. Not thread-safe."""

    def __init__(self) -> None:
        self._latest = {}  # type: Dict[str, Dict[str, object]]
        self.last_sequence = None  # type: Optional[int]

    def update(self, sequence_number: int, aggregate: Mapping[str, object]) -> bool:
        """True when this aggregate replaced what the location showed (older or repeated ones do not)."""
        self.last_sequence = sequence_number
        location = str(aggregate["location"])
        current = self._latest.get(location)
        if current is not None and int(current["window_start"]) >= int(aggregate["window_start"]):  # type: ignore[arg-type]
            return False
        self._latest[location] = dict(aggregate)
        return True

    def snapshot(self, now_ms: int) -> Dict[str, object]:
        """The JSON document published on the display topic and written to the snapshot file."""
        return {
            "updated_at": now_ms,
            "last_sequence": self.last_sequence,
            "locations": {name: dict(self._latest[name]) for name in sorted(self._latest)},
        }
