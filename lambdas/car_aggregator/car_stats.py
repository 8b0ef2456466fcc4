"""Car statistics fed by the traffic light's shadow documents (pure; thread-safe state)."""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, Mapping, Optional

from gglambda.env import ConfigError, integer, text

__all__ = ["CarConfig", "CarStats", "ConfigError", "GreenPhase", "decode_event", "is_green_transition", "reported",
           "stats_item"]


@dataclass(frozen=True)
class CarConfig:
    table_name: str = "CarStats"
    light_property: str = "property"
    green: str = "G"
    write_every: int = 3
    min_cars: int = 1
    max_cars: int = 20
    random_seed: Optional[int] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CarConfig":
        min_cars = integer(env, "MIN_CARS", cls.min_cars, 0)
        seed = env.get("RANDOM_SEED", "").strip()
        return cls(
            table_name=text(env, "TABLE_NAME", cls.table_name),
            light_property=text(env, "LIGHT_PROPERTY", cls.light_property),
            green=text(env, "GREEN_VALUE", cls.green),
            write_every=integer(env, "WRITE_EVERY_GREENS", cls.write_every, 1),
            min_cars=min_cars,
            max_cars=integer(env, "MAX_CARS", cls.max_cars, min_cars),
            random_seed=integer(env, "RANDOM_SEED", 0, -(2 ** 63)) if seed else None,
        )


def decode_event(event: object) -> Dict[str, object]:
    """The shadow ``documents`` message as a dict, whether the runtime passed JSON text, bytes or a dict."""
    if isinstance(event, (bytes, bytearray)):
        event = event.decode("utf-8")
    if isinstance(event, str):
        event = json.loads(event)
    if not isinstance(event, dict):
        raise ValueError("expected a shadow documents object, got {}".format(type(event).__name__))
    return event


def reported(document: object, prop: str) -> Optional[object]:
    """``document.state.reported[prop]`` or None when any level is missing."""
    for key in ("state", "reported", prop):
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def is_green_transition(documents: Mapping[str, object], prop: str, green: str) -> bool:
    """True when this documents message is the light *reporting* ``green`` after something else.

    The documents topic also fires for the switch's desired updates and for repeated reports;
    those do not count as new green phases.
    """
    return reported(documents.get("current"), prop) == green and reported(documents.get("previous"), prop) != green


@dataclass(frozen=True)
class GreenPhase:
    cars: int
    total_traffic: int
    total_greenlights: int
    min_cars: int
    max_cars: int
    write: bool


class CarStats:
    """Running totals over green phases; ``record_green`` is atomic under an internal lock."""

    def __init__(self, config: CarConfig) -> None:
        self._config = config
        self._rng = random.Random(config.random_seed)
        self._lock = threading.Lock()
        self._total_traffic = 0
        self._total_greenlights = 0
        self._min = None  # type: Optional[int]
        self._max = None  # type: Optional[int]

    def observe(self, documents: Mapping[str, object]) -> Optional[GreenPhase]:
        """Record a green phase if ``documents`` is a transition to green; None otherwise."""
        if not is_green_transition(documents, self._config.light_property, self._config.green):
            return None
        return self.record_green()

    def record_green(self) -> GreenPhase:
        with self._lock:
            cars = self._rng.randint(self._config.min_cars, self._config.max_cars)
            self._total_traffic += cars
            self._total_greenlights += 1
            self._min = cars if self._min is None else min(self._min, cars)
            self._max = cars if self._max is None else max(self._max, cars)
            return GreenPhase(
                cars=cars,
                total_traffic=self._total_traffic,
                total_greenlights=self._total_greenlights,
                min_cars=self._min,
                max_cars=self._max,
                write=self._total_greenlights % self._config.write_every == 0,
            )


def stats_item(phase: GreenPhase, now: datetime) -> Dict[str, object]:
    """The DynamoDB item (hash key ``Time``, a string) in the attribute names of the AWS tutorial."""
    return {
        "Time": now.isoformat(),
        "TotalTraffic": phase.total_traffic,
        "TotalGreenlights": phase.total_greenlights,
        "MinCarsPassing": phase.min_cars,
        "MaxCarsPassing": phase.max_cars,
    }
