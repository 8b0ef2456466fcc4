"""Simulated sensor readings, the producer's settings and its stream definition (pure: no I/O)."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

from greengrasssdk.stream_manager import (
    ExportDefinition,
    IoTAnalyticsConfig,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    StrategyOnFull,
)

from gglambda.env import ConfigError, choice, number, text
from gglambda.lifecycle import next_due
from gglambda.streams import check_definition

__all__ = ["ConfigError", "ProducerConfig", "ReadingGenerator", "encode_reading", "next_due", "stream_definition"]

MIB = 1024 * 1024
EXPORT_TARGETS = ("kinesis", "iotanalytics", "none")
STRATEGIES = ("OverwriteOldestData", "RejectNewData")
PERSISTENCES = ("File", "Memory")


@dataclass(frozen=True)
class ProducerConfig:
    """Everything the producer needs; build it with :meth:`from_env`."""

    stream_name: str = "SomeStream"
    max_size_bytes: int = 256 * MIB
    strategy_on_full: str = "OverwriteOldestData"
    persistence: str = "File"
    export_target: str = "kinesis"
    export_destination: str = "MyKinesisStream"
    export_identifier: str = "KinesisExport"
    export_priority: int = 10
    locations: Tuple[str, ...] = ("kitchen", "garage", "porch")
    device_id_prefix: str = "sensor"
    value_min: float = 15.0
    value_max: float = 30.0
    interval_s: float = 1.0
    random_seed: Optional[int] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ProducerConfig":
        target = choice(env, "EXPORT_TARGET", "kinesis", EXPORT_TARGETS)
        if target == "iotanalytics":
            destination = text(env, "IOT_ANALYTICS_CHANNEL", "my_channel")
            identifier = text(env, "EXPORT_IDENTIFIER", "IoTAnalyticsExport")
        else:
            destination = text(env, "KINESIS_STREAM_NAME", "MyKinesisStream")
            identifier = text(env, "EXPORT_IDENTIFIER", "KinesisExport")
        locations = tuple(p.strip() for p in text(env, "LOCATIONS", "kitchen,garage,porch").split(",") if p.strip())
        value_min = number(env, "VALUE_MIN", 15.0)
        value_max = number(env, "VALUE_MAX", 30.0, minimum=value_min)
        seed_raw = env.get("RANDOM_SEED", "").strip()
        priority = number(env, "EXPORT_PRIORITY", 10, int, minimum=1)
        if priority > 10:
            raise ConfigError("EXPORT_PRIORITY must be 1..10 (10 = lowest), got {}".format(priority))
        interval = number(env, "INTERVAL_SECONDS", 1.0, minimum=0.0)
        if interval <= 0:
            raise ConfigError("INTERVAL_SECONDS must be > 0, got {!r}".format(interval))
        config = cls(
            stream_name=text(env, "STREAM_NAME", "SomeStream"),
            max_size_bytes=number(env, "STREAM_MAX_SIZE_BYTES", 256 * MIB, int, minimum=1024),
            strategy_on_full=choice(env, "STREAM_STRATEGY_ON_FULL", "OverwriteOldestData", STRATEGIES),
            persistence=choice(env, "STREAM_PERSISTENCE", "File", PERSISTENCES),
            export_target=target,
            export_destination=destination,
            export_identifier=identifier,
            export_priority=priority,
            locations=locations or ("kitchen",),
            device_id_prefix=text(env, "DEVICE_ID_PREFIX", "sensor"),
            value_min=value_min,
            value_max=value_max,
            interval_s=interval,
            random_seed=number(env, "RANDOM_SEED", 0, int) if seed_raw else None,
        )
        check_definition(stream_definition(config))
        return config


class ReadingGenerator:
    """Makes one reading per call; deterministic for a given seed and clock values.

    Not thread-safe: the producer's single worker thread owns it.
    """

    def __init__(self, config: ProducerConfig) -> None:
        self._config = config
        self._rng = random.Random(config.random_seed)

    def next_reading(self, now_ms: int) -> Dict[str, object]:
        location = self._rng.choice(self._config.locations)
        value = round(self._rng.uniform(self._config.value_min, self._config.value_max), 2)
        return {
            "device_id": "{}-{}".format(self._config.device_id_prefix, location),
            "location": location,
            "value": value,
            "timestamp": int(now_ms),
        }


def encode_reading(reading: Mapping[str, object]) -> bytes:
    """The stream payload: compact UTF-8 JSON with sorted keys (stable bytes for a given reading)."""
    return json.dumps(reading, sort_keys=True, separators=(",", ":")).encode("utf-8")


def stream_definition(config: ProducerConfig) -> MessageStreamDefinition:
    """The MessageStreamDefinition the producer creates when its stream is absent."""
    export = None
    if config.export_target == "kinesis":
        export = ExportDefinition(kinesis=[KinesisConfig(
            identifier=config.export_identifier,
            kinesis_stream_name=config.export_destination,
            priority=config.export_priority,
        )])
    elif config.export_target == "iotanalytics":
        export = ExportDefinition(iot_analytics=[IoTAnalyticsConfig(
            identifier=config.export_identifier,
            iot_channel=config.export_destination,
            priority=config.export_priority,
        )])
    return MessageStreamDefinition(
        name=config.stream_name,
        max_size=config.max_size_bytes,
        strategy_on_full=StrategyOnFull[config.strategy_on_full],
        persistence=Persistence[config.persistence],
        export_definition=export,
    )
