"""com.ggbundle.CarStats, the pure part: its settings, what counts as a new green phase, the running totals and
what is written and published (no I/O, no clock, no randomness of its own). Python 3.7+.

The rules are the car_aggregator Lambda's (lambdas/car_aggregator), kept here on their own because a component
and a Lambda are separate deployables:

* a shadow ``documents`` message counts when the light *reports* green after reporting something else
  (``current.state.reported[<property>] == <green>`` and ``previous...`` differs); the switch's desired
  updates and repeated reports of green do not count;
* each green phase adds a number of cars (drawn by the caller) to the totals and the minimum / maximum;
* every ``greensPerWrite``-th green since the last write the statistics are written and published; lowering
  ``greensPerWrite`` while running writes at the next green once that many greens have passed since the last write.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Optional

__all__ = ["COMPONENT", "GreenPhase", "Settings", "SettingsError", "Totals", "changed_keys", "decode_documents",
           "documents_topic", "is_green_transition", "reported", "stats_item", "stats_message"]

COMPONENT = "com.ggbundle.CarStats"
_INTEGER = re.compile(r"^-?[0-9]+$")


class SettingsError(ValueError):
    """A configuration value the component cannot use; the message names the key and the value."""


def documents_topic(thing: str) -> str:
    """The topic the ShadowManager publishes a classic shadow's full documents on after each accepted update."""
    return "$aws/things/{}/shadow/update/documents".format(thing)


# -------------------------------------------------------------------------------------------- settings
def _text(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError("configuration key {!r} must be a non-empty string, got {!r}".format(key, value))
    return value.strip()


def _integer(config: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = config.get(key, default)
    # the configuration is JSON: numbers may come as 3 or 3.0, and a deployment's merge may give "3"
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.match(value.strip()):
        number = int(value.strip())
    else:
        number = None
    if number is None or number < minimum:
        raise SettingsError("configuration key {!r} must be an integer of at least {}, got {!r}".format(
            key, minimum, value))
    return number


def _topic(config: Mapping[str, Any], key: str, default: str) -> str:
    topic = _text(config, key, default)
    if "+" in topic or "#" in topic:
        raise SettingsError("configuration key {!r} must be a topic without wildcards, got {!r}".format(key, topic))
    if "{" in topic:
        # a recipe variable the nucleus did not replace (interpolateComponentConfiguration off)
        raise SettingsError("configuration key {!r} still holds a recipe variable: {!r} (turn on the nucleus' "
                            "interpolateComponentConfiguration, or set the topic in the deployment)".format(key, topic))
    return topic


@dataclass(frozen=True)
class Settings:
    """The component's configuration (recipe ``DefaultConfiguration`` keys in parentheses)."""

    thing_name: str = "GG_TrafficLight"     # thingName: whose shadow documents are counted
    table_name: str = "CarStatsV2"          # tableName: the DynamoDB table written every greensPerWrite greens
    stats_topic: str = "ggbundle/carstats"  # statsTopic: the IoT Core topic the same statistics are published on
    greens_per_write: int = 3               # greensPerWrite
    light_property: str = "property"        # lightProperty: the reported key holding the light's colour
    green_value: str = "G"                  # greenValue
    min_cars: int = 1                       # minCars, maxCars: the cars passing in one green phase are drawn
    max_cars: int = 20                      #   uniformly from minCars..maxCars
    random_seed: Optional[int] = None       # randomSeed: "" or absent for an unseeded draw

    @classmethod
    def from_configuration(cls, config: Mapping[str, Any]) -> "Settings":
        """Settings from a GetConfiguration value (unknown keys, e.g. accessControl, are ignored).
        Raises :class:`SettingsError` naming the first bad key."""
        if not isinstance(config, Mapping):
            raise SettingsError("the configuration must be a JSON object, got {}".format(type(config).__name__))
        min_cars = _integer(config, "minCars", cls.min_cars, 0)
        seed = config.get("randomSeed")
        return cls(
            thing_name=_text(config, "thingName", cls.thing_name),
            table_name=_text(config, "tableName", cls.table_name),
            stats_topic=_topic(config, "statsTopic", cls.stats_topic),
            greens_per_write=_integer(config, "greensPerWrite", cls.greens_per_write, 1),
            light_property=_text(config, "lightProperty", cls.light_property),
            green_value=_text(config, "greenValue", cls.green_value),
            min_cars=min_cars,
            max_cars=_integer(config, "maxCars", cls.max_cars, min_cars),
            random_seed=None if seed is None or seed == "" else _integer(config, "randomSeed", 0, -(2 ** 63)),
        )

    @property
    def documents_topic(self) -> str:
        return documents_topic(self.thing_name)


# -------------------------------------------------------------------------------------------- documents
def decode_documents(payload: Any) -> Dict[str, Any]:
    """A shadow ``documents`` message as a dict, from the JSON object, text or bytes the bus delivered.
    Raises ValueError for anything else."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError("the message is not UTF-8 text: {}".format(e)) from None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as e:
            raise ValueError("the message is not JSON: {}".format(e)) from None
    if not isinstance(payload, dict):
        raise ValueError("expected a shadow documents object, got {}".format(type(payload).__name__))
    return payload


def reported(document: Any, prop: str) -> Any:
    """``document["state"]["reported"][prop]``, or None when a level is missing or not an object."""
    for key in ("state", "reported", prop):
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def is_green_transition(documents: Mapping[str, Any], prop: str, green: str) -> bool:
    """True when this documents message is the light reporting ``green`` after reporting something else."""
    return (reported(documents.get("current"), prop) == green
            and reported(documents.get("previous"), prop) != green)


# -------------------------------------------------------------------------------------------- totals
@dataclass(frozen=True)
class GreenPhase:
    cars: int
    total_traffic: int
    total_greenlights: int
    min_cars: int
    max_cars: int
    write: bool     # this green completes greensPerWrite greens since the last write


class Totals:
    """Running totals over green phases. :meth:`record` is atomic (an internal lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._traffic = 0
        self._greens = 0
        self._since_write = 0
        self._min = None  # type: Optional[int]
        self._max = None  # type: Optional[int]

    def record(self, cars: int, greens_per_write: int) -> GreenPhase:
        if cars < 0:
            raise ValueError("cars must not be negative, got {}".format(cars))
        if greens_per_write < 1:
            raise ValueError("greens_per_write must be at least 1, got {}".format(greens_per_write))
        with self._lock:
            self._traffic += cars
            self._greens += 1
            self._since_write += 1
            self._min = cars if self._min is None else min(self._min, cars)
            self._max = cars if self._max is None else max(self._max, cars)
            write = self._since_write >= greens_per_write
            if write:
                self._since_write = 0
            return GreenPhase(cars, self._traffic, self._greens, self._min, self._max, write)


# -------------------------------------------------------------------------------------------- output
def stats_item(phase: GreenPhase, time_iso: str, core_device: str) -> Dict[str, Any]:
    """The DynamoDB item: hash key ``Time`` (a string, as the Lambda's table), the Lambda's attribute names, and
    ``CoreDevice`` / ``Writer`` saying which core and which deployable wrote it."""
    return {
        "Time": time_iso,
        "TotalTraffic": phase.total_traffic,
        "TotalGreenlights": phase.total_greenlights,
        "MinCarsPassing": phase.min_cars,
        "MaxCarsPassing": phase.max_cars,
        "CoreDevice": core_device,
        "Writer": COMPONENT,
    }


def stats_message(item: Mapping[str, Any], table_name: str) -> bytes:
    """The IoT Core message: the item and the table it went to, as compact sorted JSON."""
    body = dict(item)
    body["Table"] = table_name
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def changed_keys(old: Settings, new: Settings) -> Dict[str, Any]:
    """The settings that differ, as {field: new value} (for the log of a configuration update)."""
    out = {}
    for f in fields(Settings):
        if getattr(old, f.name) != getattr(new, f.name):
            out[f.name] = getattr(new, f.name)
    return out

