"""The Hello World message and its settings (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


class ConfigError(ValueError):
    """An environment variable has a value hello_world cannot use; the message names it."""


@dataclass(frozen=True)
class HelloConfig:
    topic: str = "hello/world"
    interval_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "HelloConfig":
        raw = env.get("INTERVAL_SECONDS", "").strip()
        try:
            interval = float(raw) if raw else cls.interval_s
        except ValueError:
            raise ConfigError("INTERVAL_SECONDS must be a number, got {!r}".format(raw)) from None
        if not interval > 0:
            raise ConfigError("INTERVAL_SECONDS must be > 0, got {!r}".format(raw))
        topic = env.get("TOPIC", "").strip() or cls.topic
        if any(ch in topic for ch in "+#"):
            raise ConfigError("TOPIC must be a topic name without wildcards, got {!r}".format(topic))
        return cls(topic=topic, interval_s=interval)


def greeting(platform_text: str) -> str:
    return "Hello world! Sent from Greengrass Core running on platform: {}".format(platform_text)


def next_due(previous_due: float, now: float, interval: float) -> float:
    """Next due time of a fixed-rate loop; restart from ``now`` when more than one interval behind."""
    due = previous_due + interval
    if due < now - interval:
        return now
    return due
