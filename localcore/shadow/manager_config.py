"""The configuration of ``aws.greengrass.ShadowManager``, parsed in one place (pure).

Read by the V2 reader (a deployment whose ShadowManager configuration does not parse fails) and by the
ShadowManager's emulation in ``localcore/nucleus_ipc/shadows.py`` (applied at every deployment, as the component's
configuration watcher applies a change). Follows aws-greengrass/aws-greengrass-shadow-manager:
``configuration/RateLimitsConfiguration``, ``configuration/ShadowDocSizeConfiguration``,
``model/configuration/ShadowSyncConfiguration``, ``sync/model/Direction``, ``sync/strategy/model/Strategy``,
``util/Validator``, ``model/Constants``:

* ``synchronize.coreThing`` (the core device's thing), ``synchronize.shadowDocuments`` (a list of
  ``{thingName, classic, namedShadows}``) and ``synchronize.shadowDocumentsMap`` (thing name → ``{classic,
  namedShadows}``) name the shadows that sync; ``classic`` defaults to **true**; unknown keys are ignored;
* ``synchronize.direction``: ``betweenDeviceAndCloud`` (default), ``deviceToCloud``, ``cloudToDevice`` (any case);
* ``strategy`` (beside ``synchronize``, not inside it): ``{type: realTime}`` (default) or ``{type: periodic, delay:
  <seconds>}``;
* ``rateLimits``: ``maxOutboundSyncUpdatesPerSecond`` (100), ``maxTotalLocalRequestsRate`` (200),
  ``maxLocalRequestsPerSecondPerThing`` (20), each greater than 0;
* ``shadowDocumentSizeLimitBytes``: 0 or absent → 8192; at most 30720.

Values are coerced as the nucleus' ``Coerce`` does (``"5"`` → 5, ``"yes"`` → true). The texts of the errors are
the component's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, FrozenSet, Mapping, Optional, Tuple

from localcore.shadow.errors import ShadowManagerConfigError

BETWEEN_DEVICE_AND_CLOUD = "betweenDeviceAndCloud"
DEVICE_TO_CLOUD = "deviceToCloud"
CLOUD_TO_DEVICE = "cloudToDevice"
DIRECTIONS = (BETWEEN_DEVICE_AND_CLOUD, DEVICE_TO_CLOUD, CLOUD_TO_DEVICE)
REAL_TIME, PERIODIC = "realTime", "periodic"

DEFAULT_DOCUMENT_SIZE = 8 * 1024
MAX_SHADOW_DOCUMENT_SIZE = 30 * 1024
DEFAULT_MAX_OUTBOUND_SYNC_UPDATES_PS = 100
DEFAULT_TOTAL_LOCAL_REQUESTS_RATE = 200
DEFAULT_LOCAL_REQUESTS_RATE = 20

_PATTERN = "[a-zA-Z0-9:_-]+"
_NAME = re.compile(r"^[a-zA-Z0-9:_-]+$")
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")

#: a synced shadow: (thing name, shadow name); "" is the classic shadow
ShadowKey = Tuple[str, str]


@dataclass(frozen=True)
class Strategy:
    type: str = REAL_TIME
    delay_s: int = 0


@dataclass(frozen=True)
class RateLimits:
    max_outbound_updates_per_second: int = DEFAULT_MAX_OUTBOUND_SYNC_UPDATES_PS
    max_total_local_requests_rate: int = DEFAULT_TOTAL_LOCAL_REQUESTS_RATE
    max_local_requests_per_second_per_thing: int = DEFAULT_LOCAL_REQUESTS_RATE


@dataclass(frozen=True)
class ShadowManagerConfig:
    synced: FrozenSet[ShadowKey] = frozenset()
    direction: str = BETWEEN_DEVICE_AND_CLOUD
    strategy: Strategy = field(default_factory=Strategy)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    max_document_bytes: int = DEFAULT_DOCUMENT_SIZE
    #: ``synchronize.coreThing`` was given (resolved with the core's thing name, if known)
    syncs_core_thing: bool = False

    def classic_things(self) -> FrozenSet[str]:
        """The things whose classic shadow syncs."""
        return frozenset(t for t, n in self.synced if not n)


# -- the nucleus' Coerce --------------------------------------------------------------------------
def coerce_int(value: Any) -> int:
    """``Coerce.toInt``: booleans 1/0, numbers truncated, a string's leading integer, anything else 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    if value is not None:
        m = _LEADING_INT.match(str(value))
        if m:
            return int(m.group(1))
    return 0


def coerce_bool(value: Any) -> bool:
    """``Coerce.toBoolean``: numbers are true when not 0; strings true, yes, on, t, y, Y."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return int(value) != 0
    return value is not None and str(value) in ("true", "yes", "on", "t", "y", "Y")


def _type_name(value: Any) -> str:
    """The Java type the nucleus' configuration would hold for a JSON value (for the component's texts)."""
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, Mapping):
        return "java.util.LinkedHashMap"
    if isinstance(value, (list, tuple)):
        return "java.util.ArrayList"
    return type(value).__name__


# -- names (util/Validator) -----------------------------------------------------------------------
def _check_thing(name: Any) -> str:
    if not name:
        raise ShadowManagerConfigError("ThingName is missing")
    name = str(name)
    if len(name) > 128:
        raise ShadowManagerConfigError("ThingName has a maximum length of 128")
    if not _NAME.match(name):
        raise ShadowManagerConfigError(f"ThingName must match pattern {_PATTERN}")
    return name


def _check_shadow(name: str) -> None:
    if len(name) > 64:
        raise ShadowManagerConfigError("ShadowName has a maximum length of 64")
    if not _NAME.match(name):
        raise ShadowManagerConfigError(f"ShadowName must match pattern {_PATTERN}")


# -- synchronize ----------------------------------------------------------------------------------
def _thing_shadows(thing_cfg: Mapping[str, Any], thing: str, out: set) -> None:
    thing = _check_thing(thing)
    classic = True
    for key, value in thing_cfg.items():
        if key == "classic":
            classic = coerce_bool(value)
        elif key == "namedShadows":
            if not isinstance(value, (list, tuple)):
                raise ShadowManagerConfigError(f"Unexpected type in namedShadows: {_type_name(value)}")
            for name in value:
                name = "" if name is None else str(name)
                if name:
                    _check_shadow(name)
                out.add((thing, name))
    if classic:
        out.add((thing, ""))


def _entry(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ShadowManagerConfigError(f"Unexpected type in {where}: {_type_name(value)}")
    return value


def parse_synchronize(sync: Any, core_thing: Optional[str]) -> Tuple[FrozenSet[ShadowKey], str, bool]:
    """``synchronize`` → (the synced shadows, the direction, whether ``coreThing`` is given). With ``core_thing``
    None the core's entry is checked but not resolved."""
    if sync is None:
        sync = {}
    if not isinstance(sync, Mapping):
        raise ShadowManagerConfigError(f"Unexpected type in synchronize: {_type_name(sync)}")
    out: set = set()
    core = sync.get("coreThing")
    has_core = "coreThing" in sync and core is not None
    if has_core:
        entry = _entry(core, "coreThing")
        _thing_shadows(entry, core_thing or "placeholder", out if core_thing else set())
    if "shadowDocumentsMap" in sync and sync["shadowDocumentsMap"] is not None:
        docs_map = sync["shadowDocumentsMap"]
        if not isinstance(docs_map, Mapping):
            raise ShadowManagerConfigError(f"Unexpected type in shadowDocumentsMap: {_type_name(docs_map)}")
        for thing, cfg in docs_map.items():
            _thing_shadows(_entry(cfg, "shadowDocumentsMap"), thing, out)
    if "shadowDocuments" in sync and sync["shadowDocuments"] is not None:
        docs = sync["shadowDocuments"]
        if not isinstance(docs, (list, tuple)):
            raise ShadowManagerConfigError(f"Unexpected type in shadowDocuments: {_type_name(docs)}")
        for doc in docs:
            doc = _entry(doc, "shadowDocuments")
            name = doc.get("thingName")
            if not isinstance(name, str):
                raise ShadowManagerConfigError(
                    f"Unexpected type in thingName: {None if name is None else _type_name(name)}")
            if not name:
                raise ShadowManagerConfigError("Unexpected value in thingName: ")
            _thing_shadows(doc, name, out)
    direction = parse_direction(sync.get("direction"))
    return frozenset(out), direction, has_core


def parse_direction(value: Any) -> str:
    if value is None:
        return BETWEEN_DEVICE_AND_CLOUD
    for d in DIRECTIONS:
        if str(value).lower() == d.lower():
            return d
    raise ShadowManagerConfigError("Unknown direction value.")


def parse_strategy(value: Any) -> Strategy:
    if value is None or (isinstance(value, Mapping) and not value):
        return Strategy()
    if not isinstance(value, Mapping):
        raise ShadowManagerConfigError(f"Unexpected type in strategy: {_type_name(value)}")
    kind = value.get("type")
    if kind is None:
        # the component builds a strategy without a type and cannot start its sync with it
        raise ShadowManagerConfigError("Unexpected value null for strategy type configuration")
    if str(kind) not in (REAL_TIME, PERIODIC):
        raise ShadowManagerConfigError(f"Unexpected value {kind} for strategy type configuration")
    delay = coerce_int(value.get("delay"))
    if str(kind) == PERIODIC and delay <= 0:
        # scheduleAtFixedRate refuses a period <= 0, and the component errors
        raise ShadowManagerConfigError(f"strategy periodic needs a delay greater than 0 seconds, got {value.get('delay')!r}")
    return Strategy(str(kind), delay)


def parse_rate_limits(value: Any) -> RateLimits:
    limits = value if isinstance(value, Mapping) else {}
    total = coerce_int(limits.get("maxTotalLocalRequestsRate", DEFAULT_TOTAL_LOCAL_REQUESTS_RATE))
    if total <= 0:
        raise ShadowManagerConfigError(f"Maximum total local shadow request rate per second provided {total} is "
                                       "invalid. It should be greater than 0.")
    per_thing = coerce_int(limits.get("maxLocalRequestsPerSecondPerThing", DEFAULT_LOCAL_REQUESTS_RATE))
    if per_thing <= 0:
        raise ShadowManagerConfigError(f"Maximum local shadow requests per thing per second provided {per_thing} is "
                                       "invalid. It should be greater than 0.")
    outbound = coerce_int(limits.get("maxOutboundSyncUpdatesPerSecond", DEFAULT_MAX_OUTBOUND_SYNC_UPDATES_PS))
    if outbound <= 0:
        raise ShadowManagerConfigError(f"Maximum outbound sync update per second provided {outbound} is invalid. "
                                       "It should be greater than 0.")
    return RateLimits(outbound, total, per_thing)


def parse_document_size(value: Any) -> int:
    size = coerce_int(DEFAULT_DOCUMENT_SIZE if value is None else value)
    if size == 0:
        return DEFAULT_DOCUMENT_SIZE
    if size < 0 or size > MAX_SHADOW_DOCUMENT_SIZE:
        raise ShadowManagerConfigError(f"Maximum shadow size provided {size} is either less than 0 or exceeds "
                                       f"default maximum shadow size of {MAX_SHADOW_DOCUMENT_SIZE}")
    return size


def parse(configuration: Optional[Mapping[str, Any]], core_thing: Optional[str] = None) -> ShadowManagerConfig:
    """The ShadowManager's whole configuration. Raises :class:`ShadowManagerConfigError` with the component's text
    (prefixed with the key it concerns)."""
    cfg = configuration or {}
    if not isinstance(cfg, Mapping):
        raise ShadowManagerConfigError(f"the configuration must be a map, got {_type_name(cfg)}")
    sections = (("rateLimits", lambda: parse_rate_limits(cfg.get("rateLimits"))),
                ("shadowDocumentSizeLimitBytes", lambda: parse_document_size(cfg.get("shadowDocumentSizeLimitBytes"))),
                ("synchronize", lambda: parse_synchronize(cfg.get("synchronize"), core_thing)),
                ("strategy", lambda: parse_strategy(cfg.get("strategy"))))
    got = {}
    for key, read in sections:
        try:
            got[key] = read()
        except ShadowManagerConfigError as e:
            raise ShadowManagerConfigError(f"{key}: {e}") from None
    synced, direction, has_core = got["synchronize"]
    return ShadowManagerConfig(synced=synced, direction=direction, strategy=got["strategy"],
                               rate_limits=got["rateLimits"], max_document_bytes=got["shadowDocumentSizeLimitBytes"],
                               syncs_core_thing=has_core)
