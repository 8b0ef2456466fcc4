"""The thread that keeps moto's snapshot on disk (``moto_snapshot.py`` has the gate, the pickler and the files):
``commit()`` answers once a snapshot holding every change made so far is on disk (group commit), and it
saves within ``idle_interval_s`` of any other change, taking at most ``max_busy`` of the wall clock.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import threading
import time
from typing import Any, Callable

from .errors import CloudError
from .moto_snapshot import GATE, LargeValues, MotoGate, SnapshotReport, SnapshotStore, capture

log = logging.getLogger(__name__)

_STOP_TIMEOUT_S = 10.0
_BUSY_WINDOW_S = 1.0  # SnapshotWriter's max_busy is a share of about this much wall clock
_SMALL_FILE = 256 * 1024  # services whose file is this small are pickled at every save
# Services moto changes in-process when a request to another one runs (the rest are caught by
# the periodic full save): shadows live on the IoT thing, Lambda writes its logs, Firehose
# delivers to S3.
_ALSO_CHANGES: dict[str, tuple[str, ...]] = {"iot-data": ("iot",), "lambda": ("logs",), "firehose": ("s3",)}

class SnapshotWriter:
    """Keeps the snapshot at ``path`` (a ``SnapshotStore``) up to date while moto's data changes.

    ``commit()`` returns a future that completes once a snapshot holding every mutation counted
    so far is on disk (with the mutation count it holds; with ``CloudError`` if that save
    failed or the writer stopped). Without a ``commit()`` a change is saved within
    ``idle_interval_s``.

    A save pickles the services requests changed (and those moto changes along with them, see
    ``_ALSO_CHANGES``), every service whose file is small, and services not saved yet; every
    ``full_interval_s`` while changes go on, and at ``stop()``, it pickles all of them, which
    bounds what a change moto makes in a third service could miss. ``max_busy``: the most of the
    wall clock saves may take, averaged over about a second (the time spent saving decays with
    ``_BUSY_WINDOW_S``; while it is above ``max_busy`` of the window the next save waits), so a
    lone client's request is saved at once and a flood of them is batched.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gate: MotoGate = GATE,
        idle_interval_s: float = 1.0,
        full_interval_s: float = 10.0,
        max_busy: float = 0.25,
    ) -> None:
        if not 0 < max_busy <= 1:
            raise ValueError(f"SnapshotWriter max_busy must be in (0, 1], got {max_busy}")
        self.store = SnapshotStore(path)
        self._values = LargeValues()  # digests of large values, kept from one save to the next (this thread's)
        self.path = self.store.path
        self.idle_interval_s = idle_interval_s
        self.full_interval_s = full_interval_s
        self.max_busy = max_busy
        self._gate = gate
        self._cond = threading.Condition()
        self._saved_seq = gate.seq
        self._dirty_since: float | None = None
        self._dirty: set[str | None] = set()
        self._last_full: float | None = None
        self._waiters: list[tuple[int, concurrent.futures.Future[int]]] = []
        self._next_allowed = 0.0
        self._busy = 0.0  # seconds spent saving, decayed over _BUSY_WINDOW_S
        self._busy_at = time.monotonic()
        self._state = "new"
        self._thread: threading.Thread | None = None
        self.saves = 0
        self.full_saves = 0
        self.failures = 0
        self.last_seconds: float | None = None
        self.last_bytes: int | None = None
        self.last_saved_at: float | None = None
        self.last_error: str | None = None
        self.last_report: SnapshotReport | None = None

    def start(self) -> None:
        """Take the current moto data as saved (it was just restored) and start watching changes."""
        with self._cond:
            if self._state != "new":
                raise CloudError(f"SnapshotWriter.start() called in state {self._state}")
            self._state = "started"
            self._saved_seq = self._gate.seq
        self.store.remove_stale()
        self.store.load_refs()
        self._gate.add_listener(self._on_mutation)
        self._thread = threading.Thread(target=self._run, name=f"moto-snapshot-{self.path.name}", daemon=True)
        self._thread.start()

    def commit(self) -> concurrent.futures.Future[int]:
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        target = self._gate.seq
        with self._cond:
            if target <= self._saved_seq:
                fut.set_result(self._saved_seq)
            elif self._state != "started":
                why = f"moto snapshot writer is {self._state}: {self.path} not written"
                fut.set_exception(CloudError(why))
            else:
                self._waiters.append((target, fut))
                self._cond.notify_all()
        return fut

    def stop(self) -> SnapshotReport | None:
        """Stop the thread, then write a last snapshot of every service."""
        with self._cond:
            if self._state != "started":
                self._state = "stopped"
                return self.last_report
            self._state = "stopping"
            self._cond.notify_all()
        self._gate.remove_listener(self._on_mutation)
        if self._thread is not None:
            self._thread.join(timeout=_STOP_TIMEOUT_S)
            if self._thread.is_alive():
                log.error("moto snapshot thread did not stop within %s s", _STOP_TIMEOUT_S)
        self._save_once(full=True)
        with self._cond:
            self._state = "stopped"
            waiters, self._waiters = self._waiters, []
        _fail(waiters, CloudError(f"moto snapshot writer stopped: {self.path} may miss the last change"))
        return self.last_report

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "state": self._state,
                "path": str(self.path),
                "saves": self.saves,
                "full_saves": self.full_saves,
                "failures": self.failures,
                "last_ms": None if self.last_seconds is None else round(self.last_seconds * 1000, 1),
                "last_bytes_written": self.last_bytes,
                "last_saved_at": self.last_saved_at,
                "last_error": self.last_error,
                "pending": self._gate.seq - self._saved_seq,
                "waiting": len(self._waiters),
            }

    # ------------------------------------------------------------------ internals
    def _on_mutation(self, service: str | None) -> None:
        with self._cond:
            self._dirty.add(service)
            if self._dirty_since is None:
                self._dirty_since = time.monotonic()
                self._cond.notify_all()

    def _run(self) -> None:
        while self._wait_until_due():
            self._save_once()

    def _wait_until_due(self) -> bool:
        """Block until a save is due (True) or the writer stops (False)."""
        with self._cond:
            while self._state == "started":
                now = time.monotonic()
                if self._waiters:
                    due = self._next_allowed
                elif self._dirty_since is not None:
                    due = max(self._dirty_since + self.idle_interval_s, self._next_allowed)
                else:
                    due = None
                if due is not None and now >= due:
                    self._dirty_since = None  # changes from here on are seen by this save or marked again
                    return True
                self._cond.wait(None if due is None else due - now)
            return False

    def _selector(self, dirty: set[str | None], full: bool) -> Callable[[str], bool] | None:
        if full or None in dirty:
            return None
        wanted = {s for s in dirty if s is not None}
        for service in list(wanted):
            wanted.update(_ALSO_CHANGES.get(service, ()))
        refs = self.store.refs

        def select(service: str) -> bool:
            ref = refs.get(service)
            return service in wanted or ref is None or ref["size"] <= _SMALL_FILE

        return select

    def _save_once(self, full: bool = False) -> None:
        t0 = time.monotonic()
        with self._cond:
            dirty, self._dirty = self._dirty, set()
        full = full or self._last_full is None or t0 - self._last_full >= self.full_interval_s
        try:
            cap = capture(self._gate, self._selector(dirty, full), self._values)
            seq, blobs, report = cap.seq, cap.files, cap.report
            report.written = self.store.write(blobs, cap.present, cap.values, cap.uses)
        except Exception as exc:  # noqa: BLE001 — a save that fails (a bug included) must not stop the writer:
            # its waiters hear it at once and the next save retries, instead of every change waiting out its timeout
            took = time.monotonic() - t0
            if isinstance(exc, (OSError, CloudError)):
                log.error("moto snapshot %s not written: %s", self.path, exc)
            else:
                log.exception("moto snapshot %s not written", self.path)
            with self._cond:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._dirty |= dirty
                waiters, self._waiters = self._waiters, []
                if self._dirty_since is None:
                    self._dirty_since = time.monotonic()  # retried after idle_interval_s
                self._next_allowed = self._pace(took, minimum=self.idle_interval_s)
            _fail(waiters, CloudError(f"moto snapshot {self.path} not written: {exc}"))
            return
        took = time.monotonic() - t0
        if full:
            self._last_full = t0
        with self._cond:
            self._saved_seq = max(self._saved_seq, seq)
            done = [(t, f) for t, f in self._waiters if t <= seq]
            self._waiters = [(t, f) for t, f in self._waiters if t > seq]
            self.saves += 1
            self.full_saves += int(full)
            self.last_seconds = took
            self.last_bytes = sum(len(blobs[s]) for s in report.written)
            self.last_saved_at = time.time()
            self.last_error = None
            self.last_report = report
            self._next_allowed = self._pace(took)
        for _, fut in done:
            _resolve(fut, seq)


    def _pace(self, took: float, minimum: float = 0.0) -> float:
        """When the next save may start, given that the last one took ``took`` (call under the lock)."""
        now = time.monotonic()
        self._busy = self._busy * math.exp(-(now - self._busy_at) / _BUSY_WINDOW_S) + took
        self._busy_at = now
        budget = self.max_busy * _BUSY_WINDOW_S
        wait = _BUSY_WINDOW_S * math.log(self._busy / budget) if self._busy > budget else 0.0
        return now + max(wait, minimum)


def _resolve(fut: concurrent.futures.Future[int], value: int) -> None:
    try:
        fut.set_result(value)
    except concurrent.futures.InvalidStateError:  # the caller stopped waiting (cancelled)
        pass


def _fail(waiters: list[tuple[int, concurrent.futures.Future[int]]], exc: BaseException) -> None:
    for _, fut in waiters:
        try:
            fut.set_exception(exc)
        except concurrent.futures.InvalidStateError:
            pass
