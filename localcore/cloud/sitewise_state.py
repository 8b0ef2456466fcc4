"""IoT SiteWise stand-in: asset property values put with ``BatchPutAssetPropertyValue`` (pure state).

Entries are validated as the real service does per entry, and bad ones come back as
``errorEntries`` (the good ones of the same request are still stored). There is no asset model
here: any ``assetId``/``propertyId`` pair or ``propertyAlias`` is accepted.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from .errors import InvalidRequest

MAX_ENTRIES = 10
MAX_VALUES = 10
# The real service accepts timestamps up to 7 days in the past and 10 minutes in the future.
MAX_AGE_S = 7 * 24 * 3600
MAX_FUTURE_S = 10 * 60
MAX_KEPT = 50_000
_ENTRY_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_VARIANTS = ("stringValue", "integerValue", "doubleValue", "booleanValue", "nullValue")
_QUALITIES = ("GOOD", "BAD", "UNCERTAIN")


def _entry_error(entry_id: str, code: str, message: str, timestamps: list[Any]) -> dict[str, Any]:
    return {
        "entryId": entry_id,
        "errors": [{"errorCode": code, "errorMessage": message, "timestamps": timestamps}],
    }


def check_entry(entry: dict[str, Any], now: float) -> tuple[str, str] | None:
    """``(errorCode, message)`` for a bad entry, ``None`` for a good one."""
    has_ids = bool(entry.get("assetId")) and bool(entry.get("propertyId"))
    if not has_ids and not entry.get("propertyAlias"):
        return "InvalidRequestException", "give assetId and propertyId, or propertyAlias"
    if has_ids and entry.get("propertyAlias"):
        return "InvalidRequestException", "give assetId and propertyId, or propertyAlias, not both"
    values = entry.get("propertyValues")
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
        return "InvalidRequestException", f"propertyValues must hold 1..{MAX_VALUES} values"
    for i, v in enumerate(values):
        where = f"propertyValues[{i}]"
        if not isinstance(v, dict):
            return "InvalidRequestException", f"{where} must be an object"
        value = v.get("value")
        kinds = [k for k in _VARIANTS if isinstance(value, dict) and k in value]
        if len(kinds) != 1:
            return "InvalidRequestException", f"{where}.value must hold exactly one of {', '.join(_VARIANTS)}"
        if "quality" in v and v["quality"] not in _QUALITIES:
            return "InvalidRequestException", f"{where}.quality must be one of {', '.join(_QUALITIES)}"
        ts = v.get("timestamp")
        if not isinstance(ts, dict) or not isinstance(ts.get("timeInSeconds"), int):
            return "InvalidRequestException", f"{where}.timestamp.timeInSeconds is required"
        offset = ts.get("offsetInNanos", 0)
        if not isinstance(offset, int) or not 0 <= offset <= 999_999_999:
            return "InvalidRequestException", f"{where}.timestamp.offsetInNanos must be 0..999999999"
        t = ts["timeInSeconds"] + offset / 1e9
        if t < now - MAX_AGE_S or t > now + MAX_FUTURE_S:
            return (
                "TimestampOutOfRangeException",
                f"{where}.timestamp is outside [now - 7 days, now + 10 minutes]",
            )
    return None


class SiteWiseState:
    """Stored entries in arrival order, thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.time, keep: int = MAX_KEPT) -> None:
        self._clock = clock
        self._keep = keep
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.on_change: Callable[[], None] | None = None

    def batch_put(self, entries: Any) -> list[dict[str, Any]]:
        """Store the good entries; return ``errorEntries`` for the bad ones."""
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
            raise InvalidRequest(f"entries must be a list of 1..{MAX_ENTRIES} entries")
        ids = [e.get("entryId") if isinstance(e, dict) else None for e in entries]
        for i, eid in enumerate(ids):
            if not isinstance(eid, str) or not _ENTRY_ID.match(eid):
                raise InvalidRequest(f"entries[{i}].entryId must match ^[a-zA-Z0-9_-]+$ (1..64)")
        if len(set(ids)) != len(ids):
            raise InvalidRequest("entryId values must be unique within a request")
        now = self._clock()
        errors: list[dict[str, Any]] = []
        good: list[dict[str, Any]] = []
        for entry in entries:
            problem = check_entry(entry, now)
            if problem is not None:
                stamps = [
                    v.get("timestamp")
                    for v in entry.get("propertyValues") or []
                    if isinstance(v, dict) and isinstance(v.get("timestamp"), dict)
                ]
                errors.append(_entry_error(entry["entryId"], problem[0], problem[1], stamps))
            else:
                good.append({**entry, "receivedAt": now})
        if good:
            with self._lock:
                self._entries.extend(good)
                if len(self._entries) > self._keep:
                    del self._entries[: len(self._entries) - self._keep]
            if self.on_change is not None:
                self.on_change()
        return errors

    def entries(
        self,
        *,
        property_alias: str | None = None,
        asset_id: str | None = None,
        property_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored entries, optionally only those of one alias or asset / property."""
        with self._lock:
            out = list(self._entries)
        if property_alias is not None:
            out = [e for e in out if e.get("propertyAlias") == property_alias]
        if asset_id is not None:
            out = [e for e in out if e.get("assetId") == asset_id]
        if property_id is not None:
            out = [e for e in out if e.get("propertyId") == property_id]
        return out

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"entries": len(self._entries)}

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"entries": list(self._entries)}

    def load_json(self, data: dict[str, Any]) -> None:
        with self._lock:
            self._entries = list(data.get("entries", []))
