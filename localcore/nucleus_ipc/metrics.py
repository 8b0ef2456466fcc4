"""``PutComponentMetric``: AWS components report metrics to the nucleus' telemetry (accepted, counted, shown).

Follows aws-greengrass/aws-greengrass-nucleus ``builtin/services/telemetry/ComponentMetricIPCEventStreamAgent``:

* the caller's name must start with ``aws.`` (``Principal <c> is not authorized to perform
  aws.greengrass.ipc.componentmetric:aws.greengrass#PutComponentMetric ``, the nucleus' text with its trailing
  space);
* ``Null or Empty list of metrics found in PutComponentMetricRequest``; a metric with no name, a name over 32
  bytes, no unit or a negative value: ``Invalid argument found in PutComponentMetricRequest``;
* each metric name is authorized (service ``aws.greengrass.ipc.componentmetric``, resource the metric name), except
  for ``aws.greengrass.StreamManager``;
* the unit is matched ignoring case and non-alphanumerics (``BYTES_PER_SECOND`` = ``BytesPerSecond``): an unknown
  one is ``Invalid telemetry unit: No matching TelemetryUnit type found``;
* metrics aggregate as a sum per (component, name) — the nucleus' ``TelemetryAggregation.Sum`` in the caller's
  namespace. The local core keeps them for :meth:`status` (nothing is sent to the cloud).
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from .authorization import COMPONENT_METRIC
from .errors import InvalidArgumentsError, UnauthorizedError
from .service import Call, IpcService

SERVICE = COMPONENT_METRIC
EXEMPT = ("aws.greengrass.StreamManager",)
MAX_NAME_BYTES = 32
#: the units the IPC model names, as the nucleus' TelemetryUnit matches them (case and separators ignored)
UNITS = {"BYTES": "Bytes", "BYTESPERSECOND": "BytesPerSecond", "COUNT": "Count", "COUNTPERSECOND": "CountPerSecond",
         "MEGABYTES": "Megabytes", "SECONDS": "Seconds"}
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def unit_of(value: Any) -> str:
    if not value or not isinstance(value, str):
        raise InvalidArgumentsError("Invalid telemetry unit: Found null or empty value")
    unit = UNITS.get(_NON_ALNUM.sub("", value).upper())
    if unit is None:
        raise InvalidArgumentsError("Invalid telemetry unit: No matching TelemetryUnit type found")
    return unit


def _valid(metric: Any) -> bool:
    if not isinstance(metric, dict):
        return False
    name, unit, value = metric.get("name"), metric.get("unit"), metric.get("value")
    return (isinstance(name, str) and bool(name) and len(name.encode()) <= MAX_NAME_BYTES and bool(unit)
            and isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0)


class ComponentMetrics:
    def __init__(self, access: Any, clock: Callable[[], float] = time.time) -> None:
        self.access = access
        self.clock = clock
        self._lock = threading.Lock()
        self._metrics: dict[str, dict[str, dict]] = {}
        self.requests = 0

    def wire(self, service: IpcService) -> None:
        service.wire("PutComponentMetric", self.put_component_metric)

    def put_component_metric(self, call: Call, body: dict) -> None:
        caller, op = call.component, call.operation.name
        if not caller.startswith("aws."):
            raise UnauthorizedError(f"Principal {caller} is not authorized to perform {SERVICE}:{op} ")
        metrics = body.get("metrics")
        if not metrics or not isinstance(metrics, list):
            raise InvalidArgumentsError("Null or Empty list of metrics found in PutComponentMetricRequest")
        for metric in metrics:
            if not _valid(metric):
                raise InvalidArgumentsError("Invalid argument found in PutComponentMetricRequest")
            if caller not in EXEMPT:
                self.access.check(caller, op, metric["name"])
        units = [unit_of(m["unit"]) for m in metrics]
        now = self.clock()
        with self._lock:
            self.requests += 1
            mine = self._metrics.setdefault(caller, {})
            for metric, unit in zip(metrics, units):
                entry = mine.setdefault(metric["name"], {"unit": unit, "sum": 0.0, "count": 0, "last": None})
                entry.update(unit=unit, sum=entry["sum"] + float(metric["value"]), count=entry["count"] + 1,
                             last=float(metric["value"]), timestamp=now)
        call.respond({})

    def status(self) -> dict:
        with self._lock:
            return {"requests": self.requests,
                    "metrics": {c: {n: dict(e) for n, e in sorted(m.items())} for c, m in sorted(self._metrics.items())}}
