"""The Hello World message and its settings (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from gglambda.env import ConfigError, text
from gglambda.lifecycle import next_due

__all__ = ["ConfigError", "HelloConfig", "greeting", "next_due"]


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
        topic = text(env, "TOPIC", cls.topic)
        if any(ch in topic for ch in "+#"):
            raise ConfigError("TOPIC must be a topic name without wildcards, got {!r}".format(topic))
        return cls(topic=topic, interval_s=interval)


def greeting(platform_text: str) -> str:
    return "Hello world! Sent from Greengrass Core running on platform: {}".format(platform_text)
