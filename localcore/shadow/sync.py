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
