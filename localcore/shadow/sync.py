"""Local → cloud shadow sync for things marked ``sync_shadow: true`` (GGC's shadow synchronization).

Every change of a synced thing's local document is sent to the cloud shadow as an update of its
``desired`` / ``reported`` state; keys removed locally since the last successful sync are sent as
``null`` so the cloud deletes them too, and a local delete deletes the cloud shadow. Changes are
coalesced per thing (only the newest state is sent) and retried with back-off while the cloud is
unreachable; nothing blocks the shadow service. Cloud → local sync is not done (see decisions).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Dict, Iterable, Optional

log = logging.getLogger(__name__)

_DELETE = object()


def removed_as_null(previous: Any, current: Any) -> Any:
    """``current`` plus ``None`` for every key of ``previous`` it no longer has (recursively)."""
    if not isinstance(previous, dict) or not isinstance(current, dict):
        return current
    out = dict(current)
    for key, old in previous.items():
        if key not in current:
            out[key] = None
        else:
            out[key] = removed_as_null(old, current[key])
    return out


def update_payload(previous_state: Optional[dict], current_state: dict) -> bytes:
    """The cloud update for a local state ``{"desired": ..., "reported": ...}``."""
    state = removed_as_null(previous_state or {}, {k: v for k, v in current_state.items() if k in ("desired", "reported")})
    return json.dumps({"state": state}, separators=(",", ":")).encode()


class CloudShadowSync:
    """Background sender. ``changed(thing, document)`` is ShadowService's ``on_change``.

    ``update(thing, payload_bytes)`` and ``delete(thing)`` talk to the cloud (blocking; e.g. boto3
    ``iot-data``); an exception means "cloud unreachable: retry later".
    """

    def __init__(self, things: Iterable[str], update: Callable[[str, bytes], Any], delete: Callable[[str], Any],
                 retry_initial_s: float = 1.0, retry_max_s: float = 30.0) -> None:
        self.things = frozenset(things)
        self._update, self._delete = update, delete
        self._pending: Dict[str, Any] = {}
        self._synced: Dict[str, dict] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread: Optional[threading.Thread] = None
        self._retry = (retry_initial_s, retry_max_s)
        self.counts = {"sent": 0, "failed": 0, "coalesced": 0}
        self.last_error: Optional[str] = None

    def changed(self, thing: str, document: Optional[dict]) -> None:
        if thing not in self.things:
            return
        with self._cond:
            if thing in self._pending:
                self.counts["coalesced"] += 1
            self._pending[thing] = _DELETE if document is None else document.get("state", {})
            self._cond.notify()

    def sent_desired(self, thing: str) -> Any:
        """The ``desired`` state last sent to the cloud for ``thing`` (None if nothing yet)."""
        with self._cond:
            return (self._synced.get(thing) or {}).get("desired")

    def has_pending(self, thing: str) -> bool:
        with self._cond:
            return thing in self._pending

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shadow-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is pending (for tests and orderly shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending or self._stop, timeout)

    def _run(self) -> None:
        delay = self._retry[0]
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop)
                if self._stop:
                    return
                thing, state = next(iter(self._pending.items()))
            try:
                if state is _DELETE:
                    self._delete(thing)
                    synced = None
                else:
                    self._update(thing, update_payload(self._synced.get(thing), state))
                    synced = state
            except Exception as exc:  # the cloud is down or refuses: keep the change, retry with back-off
                self.counts["failed"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("shadow sync of %s failed (%s); retrying in %.0f s", thing, self.last_error, delay)
                with self._cond:
                    self._cond.wait_for(lambda: self._stop, delay)
                delay = min(delay * 2, self._retry[1])
                continue
            delay = self._retry[0]
            with self._cond:
                self.counts["sent"] += 1
                if synced is None:
                    self._synced.pop(thing, None)
                else:
                    self._synced[thing] = synced
                if self._pending.get(thing) is state:  # not replaced meanwhile
                    del self._pending[thing]
                self._cond.notify_all()

    def status(self) -> dict:
        with self._cond:
            return {"things": sorted(self.things), "pending": sorted(self._pending), **self.counts,
                    "last_error": self.last_error}


class CloudDesiredPoller:
    """Cloud → local: a ``desired`` state set in the cloud shadow (AWS console, cloud API) is applied
    to the local shadow, which then sends deltas to the device as usual.

    The core has no MQTT session with the cloud here, so it polls the data plane
    (``get(thing) -> document or None``) every ``interval_s``. Only a cloud version it has not seen,
    whose ``desired`` differs from the local one, becomes a local update; the local → cloud sync
    then brings the cloud up to the same state, so nothing ping-pongs.
    """

    def __init__(self, things: Iterable[str], get: Callable[[str], Optional[dict]],
                 apply_desired: Callable[[str, bytes], Any], local_desired: Callable[[str], Optional[dict]],
                 interval_s: float = 2.0, outbound: Optional[CloudShadowSync] = None) -> None:
        """``outbound``: the local → cloud sync. A cloud state equal to what it last sent is our own
        echo, and while it still has a local change to send the local shadow is ahead: both are
        skipped, so a stale cloud state never overwrites a newer local one."""
        self.things = sorted(things)
        self._outbound = outbound
        self._get, self._apply, self._local = get, apply_desired, local_desired
        self.interval_s = interval_s
        self._seen: Dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.counts = {"polls": 0, "applied": 0, "failed": 0}
        self.last_error: Optional[str] = None

    def poll_once(self) -> int:
        """One pass over the things; returns how many cloud changes were applied locally."""
        applied = 0
        for thing in self.things:
            try:
                doc = self._get(thing)
            except Exception as exc:  # cloud unreachable: try again next pass
                self.counts["failed"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                continue
            if not doc or not isinstance(doc.get("version"), int) or doc["version"] <= self._seen.get(thing, -1):
                continue
            if self._outbound is not None and self._outbound.has_pending(thing):
                continue  # local is ahead; look again once its change is in the cloud
            self._seen[thing] = doc["version"]
            desired = (doc.get("state") or {}).get("desired")
            local = self._local(thing)
            if desired is None or desired == local:
                continue
            if self._outbound is not None and desired == self._outbound.sent_desired(thing):
                continue  # our own earlier state coming back, already superseded locally
            patch = removed_as_null(local or {}, desired)
            self._apply(thing, json.dumps({"state": {"desired": patch}}, separators=(",", ":")).encode())
            applied += 1
        self.counts["polls"] += 1
        self.counts["applied"] += applied
        return applied

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shadow-cloud-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll_once()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict:
        return {"things": self.things, **self.counts, "last_error": self.last_error}
