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
    Util,
    ValidationException,
)

MIB = 1024 * 1024
EXPORT_TARGETS = ("kinesis", "iotanalytics", "none")
STRATEGIES = ("OverwriteOldestData", "RejectNewData")
PERSISTENCES = ("File", "Memory")


class ConfigError(ValueError):
    """An environment variable has a value the producer cannot use; the message names it."""


def check_definition(definition: MessageStreamDefinition) -> MessageStreamDefinition:
    """The SDK's own validation, run at start-up so a bad name fails there, not on every retry."""
    try:
        Util.validate_and_serialize_to_json_bytes(definition)
    except ValidationException as exc:
        raise ConfigError("the stream definition for {!r} from the environment is invalid: {}".format(
            definition.name, exc)) from None
    return definition


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _number(env: Mapping[str, str], name: str, default: float, kind=float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError("{} must be a {} number, got {!r}".format(name, kind.__name__, raw)) from None
    if value < minimum:
        raise ConfigError("{} must be >= {}, got {!r}".format(name, minimum, raw))
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: Tuple[str, ...]) -> str:
    value = _text(env, name, default)
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigError("{} must be one of {}, got {!r}".format(name, ", ".join(choices), value))


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
        target = _choice(env, "EXPORT_TARGET", "kinesis", EXPORT_TARGETS)
        if target == "iotanalytics":
            destination = _text(env, "IOT_ANALYTICS_CHANNEL", "my_channel")
            identifier = _text(env, "EXPORT_IDENTIFIER", "IoTAnalyticsExport")
        else:
            destination = _text(env, "KINESIS_STREAM_NAME", "MyKinesisStream")
            identifier = _text(env, "EXPORT_IDENTIFIER", "KinesisExport")
        locations = tuple(p.strip() for p in _text(env, "LOCATIONS", "kitchen,garage,porch").split(",") if p.strip())
        value_min = _number(env, "VALUE_MIN", 15.0, minimum=float("-inf"))
        value_max = _number(env, "VALUE_MAX", 30.0, minimum=value_min)
        seed_raw = env.get("RANDOM_SEED", "").strip()
        priority = int(_number(env, "EXPORT_PRIORITY", 10, kind=int, minimum=1))
        if priority > 10:
            raise ConfigError("EXPORT_PRIORITY must be 1..10 (10 = lowest), got {}".format(priority))
        interval = _number(env, "INTERVAL_SECONDS", 1.0)
        if interval <= 0:
            raise ConfigError("INTERVAL_SECONDS must be > 0, got {!r}".format(interval))
        config = cls(
            stream_name=_text(env, "STREAM_NAME", "SomeStream"),
            max_size_bytes=int(_number(env, "STREAM_MAX_SIZE_BYTES", 256 * MIB, kind=int, minimum=1024)),
            strategy_on_full=_choice(env, "STREAM_STRATEGY_ON_FULL", "OverwriteOldestData", STRATEGIES),
            persistence=_choice(env, "STREAM_PERSISTENCE", "File", PERSISTENCES),
            export_target=target,
            export_destination=destination,
            export_identifier=identifier,
            export_priority=priority,
            locations=locations or ("kitchen",),
            device_id_prefix=_text(env, "DEVICE_ID_PREFIX", "sensor"),
            value_min=value_min,
            value_max=value_max,
            interval_s=interval,
            random_seed=int(_number(env, "RANDOM_SEED", 0, kind=int, minimum=float("-inf"))) if seed_raw else None,
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


def next_due(previous_due: float, now: float, interval: float) -> float:
    """The next due time of a fixed-rate loop (no drift); restart from ``now`` when far behind.

    A loop that fell more than one interval behind (a stalled stream manager) does not burst to
    catch up.
    """
    due = previous_due + interval
    if due < now - interval:
        return now
    return due


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
