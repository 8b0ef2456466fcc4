"""Tumbling-window aggregation of readings per location, and the aggregator's settings.

Pure: no I/O. The whole state (open windows + next sequence number to read) round-trips through
JSON so that :mod:`checkpoint` can persist it and a restart neither skips nor repeats input.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from greengrasssdk.stream_manager import (
    ExportDefinition,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    StrategyOnFull,
)

from gglambda.env import ConfigError, integer, text
from gglambda.streams import check_definition

__all__ = ["AggregationState", "AggregatorConfig", "ConfigError", "Reading", "parse_reading", "target_definition"]

MIB = 1024 * 1024


@dataclass(frozen=True)
class AggregatorConfig:
    source_stream: str = "SomeStream"
    target_stream: str = "AggregateStream"
    target_max_size_bytes: int = 128 * MIB
    kinesis_stream_name: str = "MyAggregateKinesisStream"
    export_identifier: str = "AggregateKinesisExport"
    export_priority: int = 1
    window_seconds: int = 10
    idle_flush_seconds: int = 30
    checkpoint_dir: str = ""  # default: <temp dir>/aggregator, resolved in from_env
    read_batch: int = 100
    read_timeout_ms: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "AggregatorConfig":
        config = cls(
            source_stream=text(env, "SOURCE_STREAM_NAME", cls.source_stream),
            target_stream=text(env, "TARGET_STREAM_NAME", cls.target_stream),
            target_max_size_bytes=integer(env, "TARGET_MAX_SIZE_BYTES", cls.target_max_size_bytes, 1024),
            kinesis_stream_name=text(env, "KINESIS_STREAM_NAME", cls.kinesis_stream_name),
            export_identifier=text(env, "EXPORT_IDENTIFIER", cls.export_identifier),
            export_priority=integer(env, "EXPORT_PRIORITY", cls.export_priority, 1, 10),
            window_seconds=integer(env, "WINDOW_SECONDS", cls.window_seconds, 1),
            idle_flush_seconds=integer(env, "IDLE_FLUSH_SECONDS", cls.idle_flush_seconds, 1),
            checkpoint_dir=text(env, "CHECKPOINT_DIR", "") or os.path.join(tempfile.gettempdir(), "aggregator"),
            read_batch=integer(env, "READ_BATCH", cls.read_batch, 1),
            # The client refuses read timeouts above its 60 s request timeout.
            read_timeout_ms=integer(env, "READ_TIMEOUT_MS", cls.read_timeout_ms, 0, 59000),
        )
        check_definition(target_definition(config))
        return config


def target_definition(config: AggregatorConfig) -> MessageStreamDefinition:
    """Stream 2: aggregates, exported to Kinesis ahead of the raw readings (lower number = sooner)."""
    return MessageStreamDefinition(
        name=config.target_stream,
        max_size=config.target_max_size_bytes,
        strategy_on_full=StrategyOnFull.OverwriteOldestData,
        persistence=Persistence.File,
        export_definition=ExportDefinition(kinesis=[KinesisConfig(
            identifier=config.export_identifier,
            kinesis_stream_name=config.kinesis_stream_name,
            priority=config.export_priority,
        )]),
    )


@dataclass(frozen=True)
class Reading:
    location: str
    value: float
    timestamp_ms: int


def parse_reading(payload: bytes) -> Reading:
    """Decode one producer payload; ValueError says what is wrong with it."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("payload is not UTF-8 JSON: {}".format(exc)) from None
    if not isinstance(data, dict):
        raise ValueError("payload is JSON {} , expected an object".format(type(data).__name__))
    location, value, timestamp = data.get("location"), data.get("value"), data.get("timestamp")
    if not isinstance(location, str) or not location:
        raise ValueError("field 'location' must be a non-empty string, got {!r}".format(location))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("field 'value' must be a number, got {!r}".format(value))
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("field 'timestamp' must be epoch milliseconds (int >= 0), got {!r}".format(timestamp))
    return Reading(location, float(value), timestamp)


class _Window:
    __slots__ = ("count", "minimum", "maximum", "total")

    def __init__(self, count: int = 0, minimum: float = 0.0, maximum: float = 0.0, total: float = 0.0) -> None:
        self.count, self.minimum, self.maximum, self.total = count, minimum, maximum, total

    def add(self, value: float) -> None:
        if self.count == 0:
            self.minimum = self.maximum = value
        else:
            self.minimum = min(self.minimum, value)
            self.maximum = max(self.maximum, value)
        self.count += 1
        self.total += value


class AggregationState:
    """Open windows keyed by (window start, location) plus the next input sequence number.

    A window [start, start + width) closes once a reading at or after its end has been consumed
    (event time, so replaying the stream gives the same aggregates), or by :meth:`flush_idle`
    when the input has gone quiet. Readings for an already closed window are counted as late
    and dropped. Not thread-safe: one worker owns it.
    """

    def __init__(self, window_ms: int, next_sequence: int = 0) -> None:
        if window_ms <= 0:
            raise ValueError("window_ms must be > 0")
        self.window_ms = window_ms
        self.next_sequence = next_sequence
        self.closed_until_ms = None  # type: Optional[int]
        self.late = 0
        self.rejected = 0
        self._open = {}  # type: Dict[Tuple[int, str], _Window]
        self._ready = []  # type: List[Dict[str, object]]

    def window_start(self, timestamp_ms: int) -> int:
        return timestamp_ms - timestamp_ms % self.window_ms

    def consume(self, sequence_number: int, payload: bytes) -> Optional[str]:
        """Take one stream message; returns a problem description when the payload was skipped.

        Messages below ``next_sequence`` were already consumed and are ignored (never counted twice).
        """
        if sequence_number < self.next_sequence:
            return "sequence {} already consumed".format(sequence_number)
        self.next_sequence = sequence_number + 1
        try:
            reading = parse_reading(payload)
        except ValueError as exc:
            self.rejected += 1
            return "sequence {}: {}".format(sequence_number, exc)
        start = self.window_start(reading.timestamp_ms)
        if self.closed_until_ms is not None and start < self.closed_until_ms:
            self.late += 1
            return "sequence {}: late reading for closed window {}".format(sequence_number, start)
        self._open.setdefault((start, reading.location), _Window()).add(reading.value)
        self._close_before(start)
        return None

    def flush_idle(self, now_ms: int, grace_ms: int) -> None:
        """Close windows that ended at least ``grace_ms`` before ``now_ms`` (input went quiet)."""
        cutoff = self.window_start(max(0, now_ms - grace_ms))
        if self._open and cutoff > min(start for start, _ in self._open):
            self._close_before(cutoff)

    def take_closed(self) -> List[Dict[str, object]]:
        """Aggregates closed since the last call, oldest window first, locations sorted."""
        ready, self._ready = self._ready, []
        return ready

    def _close_before(self, cutoff_ms: int) -> None:
        closing = sorted(key for key in self._open if key[0] < cutoff_ms)
        for start, location in closing:
            window = self._open.pop((start, location))
            self._ready.append({
                "location": location,
                "window_start": start,
                "window_end": start + self.window_ms,
                "count": window.count,
                "min": window.minimum,
                "max": window.maximum,
                "mean": round(window.total / window.count, 6),
            })
        if self.closed_until_ms is None or cutoff_ms > self.closed_until_ms:
            self.closed_until_ms = cutoff_ms

    @property
    def open_windows(self) -> int:
        return len(self._open)

    def to_json(self) -> Dict[str, object]:
        """Checkpoint form. Aggregates not yet taken are not part of it: take them first."""
        if self._ready:
            raise RuntimeError("take_closed() before checkpointing, or closed aggregates would be lost")
        return {
            "version": 1,
            "window_ms": self.window_ms,
            "next_sequence": self.next_sequence,
            "closed_until_ms": self.closed_until_ms,
            "late": self.late,
            "rejected": self.rejected,
            "open": [
                {"start": start, "location": location, "count": w.count, "min": w.minimum,
                 "max": w.maximum, "total": w.total}
                for (start, location), w in sorted(self._open.items())
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object], window_ms: int) -> "AggregationState":
        """Restore a checkpoint. A different window width keeps the position but drops open windows."""
        try:
            state = cls(window_ms, int(data["next_sequence"]))  # type: ignore[arg-type]
            state.late = int(data.get("late", 0))  # type: ignore[arg-type]
            state.rejected = int(data.get("rejected", 0))  # type: ignore[arg-type]
            if data.get("window_ms") == window_ms:
                closed = data.get("closed_until_ms")
                state.closed_until_ms = None if closed is None else int(closed)  # type: ignore[arg-type]
                for item in data.get("open", []):  # type: ignore[union-attr]
                    state._open[(int(item["start"]), str(item["location"]))] = _Window(
                        int(item["count"]), float(item["min"]), float(item["max"]), float(item["total"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("checkpoint is malformed: {!r}".format(exc)) from None
        return state
