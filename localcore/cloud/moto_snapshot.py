"""Keep moto's in-memory data across runs and crashes: snapshots of its backends on disk.

moto has no persistence of its own. Its data lives in region backends inside process-global
``BackendDict`` objects; each region backend is pickled on its own (one that cannot be pickled is
reported and left out, the rest still persist). Two things in moto's Lambda storage do not pickle
as they are, so the pickler here rewrites them: ``WeakValueDictionary`` indexes (written as plain
dicts and rebuilt; the values are the functions pickled beside them, so identity is kept) and
``defaultdict(lambda: {})`` (a lambda factory that makes an empty builtin becomes that builtin's
type, which behaves the same).

Crash safety (a ``kill -9`` or a power cut of the machine running the cloud):

* ``GatedApp`` wraps moto's WSGI app: every moto request, whichever way it arrives (the front's
  proxy, an adapter handler's ``MotoLink``, a client of ``moto_url``), runs inside the shared side
  of the process-wide ``GATE``, and a request that may change data bumps the gate's mutation
  counter before it leaves. A snapshot pickles the backends inside the gate's exclusive side, so
  it never sees a request half-applied (and never hits "dictionary changed size during
  iteration"); the pickling takes milliseconds, then the file is written outside the gate.
* ``SnapshotWriter`` (one thread per cloud) writes a snapshot when asked by ``commit()`` -- the
  front calls it for every mutating request and answers only once a snapshot holding that
  request's effect is on disk (group commit: requests that arrive while a snapshot is being
  taken share the next one) -- and otherwise within ``idle_interval_s`` of any change. So an
  acknowledged ``PutRecords`` survives a crash, which the stream manager's exporters rely on:
  they checkpoint right after the cloud's answer. Snapshot time is bounded to a share of the
  wall clock (``max_busy``) so a large state slows acknowledgements instead of eating a core.
* Files: ``write_bytes_durable`` (temp file, fsync, rename, directory fsync); the replaced file
  stays beside as ``<name>.prev``. A file starts with a magic line and the SHA-256 of the pickle,
  so a truncated or damaged file is recognised before unpickling; ``restore`` then falls back to
  ``<name>.prev`` and moves the bad file aside (``<name>.bad``) so the next save cannot rotate it
  over the good generation.

The snapshot is a pickle: loading it runs code named in it. It lives in the cloud's
``state_dir``, which already holds the CA private keys, so it has the same trust boundary. A
snapshot written by another moto version is not loaded.
"""

from __future__ import annotations

import collections
import concurrent.futures
import copyreg
import hashlib
import io
import logging
import os
import pickle
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import CloudError
from .persist import previous_path, remove_stale_temp_files, write_bytes_durable

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"localcloud-moto-snapshot 1\n"
_DIGEST = hashlib.sha256
_DIGEST_SIZE = _DIGEST().digest_size
_EXCLUSIVE_TIMEOUT_S = 10.0  # a snapshot waits this long for in-flight moto requests to finish
_REQUEST_WAIT_S = 30.0  # a moto request waits this long for a snapshot to release the gate
_STOP_TIMEOUT_S = 10.0
# Operations that only read, by name prefix (JSON protocols' X-Amz-Target, query protocols' Action).
_READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Scan", "Query", "Head", "Select")


# ---------------------------------------------------------------------------------- the pickler
def _rebuild_weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _reduce_defaultdict(d: collections.defaultdict) -> tuple:
    factory = d.default_factory
    if factory is not None and getattr(factory, "__name__", "") == "<lambda>":
        sample = factory()
        if type(sample) not in (dict, list, set, tuple, int, float, str) or sample:
            raise pickle.PicklingError(f"defaultdict factory {factory!r} cannot be pickled")
        factory = type(sample)
    return (collections.defaultdict, (factory,), None, None, iter(d.items()))


class _Pickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[weakref.WeakValueDictionary] = lambda d: (_rebuild_weak_values, (dict(d),))
    dispatch_table[collections.defaultdict] = _reduce_defaultdict


def _dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def _moto_version() -> str:
    import moto

    return str(getattr(moto, "__version__", "unknown"))


# ---------------------------------------------------------------------------------- the gate
def is_mutating(method: str, target: str | None = None, action: str | None = None) -> bool:
    """Whether a request to moto may change its data, judged as cheaply as the front can.

    ``target``: the ``X-Amz-Target`` header (JSON protocols, e.g. ``Kinesis_20131202.GetRecords``);
    ``action``: the query string's ``Action`` (query protocols). GET/HEAD/OPTIONS and operations
    named Describe*/Get*/List*/... only read; anything else counts as a change (a read that is
    counted costs one snapshot, a change that is not counted would be lost).
    """
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return False
    op = (target or "").rsplit(".", 1)[-1] or (action or "")
    return not (op and op.startswith(_READ_PREFIXES))


class MotoGate:
    """Moto requests (shared, counted) against snapshots (exclusive), process-wide.

    moto's backends are process-global, so there is one gate (``GATE``) for every moto server
    of the process. A waiting snapshot goes before new requests (it holds the gate for the few
    milliseconds of pickling); every wait is bounded.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._exclusive = False
        self._exclusive_waiting = 0
        self._seq = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def seq(self) -> int:
        """How many mutating moto requests have completed in this process."""
        with self._cond:
            return self._seq

    def add_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` runs after each mutation (on the request's thread: it must not block)."""
        with self._cond:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._cond:
            self._listeners = [x for x in self._listeners if x is not listener]

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            free = self._cond.wait_for(
                lambda: not self._exclusive and not self._exclusive_waiting, _REQUEST_WAIT_S
            )
            if not free:  # a snapshot stuck for 30 s is a bug; serve rather than hang the cloud
                log.error("moto request proceeds while a snapshot holds the gate for %s s", _REQUEST_WAIT_S)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if self._active == 0:
                    self._cond.notify_all()

    def mutated(self) -> None:
        """Count one completed mutating request; call it inside ``request()``."""
        with self._cond:
            self._seq += 1
            listeners = self._listeners
        for listener in listeners:
            listener()

    @contextmanager
    def exclusive(self, timeout: float = _EXCLUSIVE_TIMEOUT_S) -> Iterator[int]:
        """Hold off every moto request; yields the mutation count the held state includes."""
        with self._cond:
            self._exclusive_waiting += 1
            try:
                ok = self._cond.wait_for(lambda: not self._exclusive and self._active == 0, timeout)
            finally:
                self._exclusive_waiting -= 1
            if not ok:
                self._cond.notify_all()  # requests held back by this waiter may go on
                raise CloudError(
                    f"moto requests still running after {timeout:.0f} s: snapshot not taken (retried later)"
                )
            self._exclusive = True
            seq = self._seq
        try:
            yield seq
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


GATE = MotoGate()


class GatedApp:
    """moto's WSGI app inside ``gate``: see the module docstring.

    The response body is read inside the gate (moto builds it in memory anyway), so no part of a
    request runs while a snapshot is pickling.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], gate: MotoGate = GATE) -> None:
        self.app = app
        self.gate = gate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        mutating = is_mutating(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("HTTP_X_AMZ_TARGET"),
            _query_action(environ.get("QUERY_STRING", "")),
        )
        with self.gate.request():
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if mutating:
                self.gate.mutated()
        return [body]


def _query_action(query: str) -> str | None:
    for part in query.split("&"):
        if part.startswith("Action="):
            return part[len("Action=") :]
    return None


# ---------------------------------------------------------------------------------- snapshots
@dataclass
class SnapshotReport:
    """What a save or a restore did, for ``LocalCloud.status()`` and the logs."""

    backends: list[str] = field(default_factory=list)  # "service/account/region"
    skipped: dict[str, str] = field(default_factory=dict)  # "service/account/region" -> why
    error: str | None = None  # restore: nothing could be loaded, and why
    source: str | None = None  # restore: the file loaded (``moto.pickle`` or ``moto.pickle.prev``)
    problems: list[str] = field(default_factory=list)  # restore: files passed over, and why

    def to_json(self) -> dict[str, Any]:
        return {
            "backends": len(self.backends),
            "skipped": dict(self.skipped),
            "error": self.error,
            "source": self.source,
            "problems": list(self.problems),
        }


def capture(gate: MotoGate = GATE) -> tuple[int, bytes, SnapshotReport]:
    """Pickle every region backend moto has created in this process, consistently.

    Returns the gate's mutation count the snapshot includes, the file's bytes and a report.
    Raises ``CloudError`` when in-flight requests did not finish within the bound.
    """
    from moto.core.base_backend import BackendDict

    report = SnapshotReport()
    entries: list[tuple[str, str, str, bytes]] = []
    with gate.exclusive() as seq:
        for bdict in list(BackendDict._instances):  # the backends in use since the last reset
            for account, region, backend in bdict.iter_backends():
                key = f"{bdict.service_name}/{account}/{region}"
                try:
                    entries.append((bdict.service_name, account, region, _dumps(backend)))
                    report.backends.append(key)
                except (pickle.PicklingError, TypeError, AttributeError, RecursionError, RuntimeError) as exc:
                    report.skipped[key] = f"{type(exc).__name__}: {exc}"
    for key, why in report.skipped.items():
        log.warning("moto backend %s is not persisted: %s", key, why)
    return seq, encode(_dumps({"format": FORMAT, "moto": _moto_version(), "entries": entries})), report


def encode(payload: bytes) -> bytes:
    """The file's bytes: magic line, SHA-256 of the pickle, the pickle."""
    return MAGIC + _DIGEST(payload).digest() + payload


def decode(raw: bytes) -> Any:
    """The snapshot object in a file's bytes; ``ValueError`` saying what is wrong otherwise.

    Files without the magic line are read as the bare pickles of earlier versions.
    """
    if raw.startswith(MAGIC):
        head = len(MAGIC) + _DIGEST_SIZE
        if len(raw) < head:
            raise ValueError(f"truncated: {len(raw)} bytes, the header alone is {head}")
        digest, payload = raw[len(MAGIC) : head], raw[head:]
        if _DIGEST(payload).digest() != digest:
            raise ValueError(f"checksum mismatch over {len(payload)} bytes (truncated or damaged)")
        raw = payload
    try:
        return pickle.loads(raw)
    except Exception as exc:  # unpickling garbage raises anything at all
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def save(path: Path, gate: MotoGate = GATE) -> SnapshotReport:
    """Capture moto's backends and write them to ``path`` durably (previous file kept beside)."""
    _, data, report = capture(gate)
    write_bytes_durable(path, data, keep_previous=True)
    return report


def restore(path: Path) -> SnapshotReport:
    """Load ``path`` (or, if it is unreadable, ``<path>.prev``) into moto's freshly reset backends.

    Nothing there restores nothing. An unreadable ``path`` is logged, moved to ``<path>.bad`` and
    reported in ``problems``; ``error`` is set when no file could be loaded.
    """
    report = SnapshotReport()
    found_any = False
    for candidate in (path, previous_path(path)):
        try:
            raw = candidate.read_bytes()
        except FileNotFoundError:
            continue
        found_any = True
        problem = _check(candidate, raw)
        if isinstance(problem, str):
            report.problems.append(problem)
            log.error("moto snapshot not restored: %s", problem)
            if candidate == path:
                bad = path.with_name(path.name + ".bad")
                try:
                    os.replace(path, bad)
                    log.error("kept the unreadable snapshot as %s", bad)
                except OSError as exc:
                    log.error("could not move %s aside: %s", path, exc)
            continue
        _load_entries(problem["entries"], report)
        report.source = candidate.name
        if report.problems:
            log.warning("moto data restored from the previous snapshot %s", candidate)
        return report
    if found_any:
        report.error = "; ".join(report.problems)
    return report


def _check(path: Path, raw: bytes) -> dict[str, Any] | str:
    """The snapshot in ``raw``, or why it cannot be loaded."""
    try:
        snap = decode(raw)
    except ValueError as exc:
        return f"cannot read {path}: {exc}"
    if not isinstance(snap, dict) or snap.get("format") != FORMAT or snap.get("moto") != _moto_version():
        written_by = snap.get("moto") if isinstance(snap, dict) else "?"
        return f"{path} was written by moto {written_by}, this is moto {_moto_version()}: not restored"
    return snap


def _load_entries(entries: list[tuple[str, str, str, bytes]], report: SnapshotReport) -> None:
    from moto.backends import get_backend

    for service, account, region, data in entries:
        key = f"{service}/{account}/{region}"
        try:
            bdict = get_backend(service)
            bdict[account][region] = pickle.loads(data)
            report.backends.append(key)
        except Exception as exc:  # one bad backend must not lose the others
            report.skipped[key] = f"{type(exc).__name__}: {exc}"
            log.warning("moto backend %s not restored: %s", key, exc)


# ---------------------------------------------------------------------------------- the writer
class SnapshotWriter:
    """Writes ``path`` while moto's data changes; see the module docstring.

    ``commit()`` returns a future that completes once a snapshot holding every mutation counted
    so far is on disk (with the mutation count it holds; with ``CloudError`` if that save
    failed or the writer stopped). Without a ``commit()`` a change is saved within
    ``idle_interval_s``. ``max_busy``: the most of the wall clock snapshots may take (after a
    snapshot that took T, the next waits at least T * (1/max_busy - 1)).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gate: MotoGate = GATE,
        idle_interval_s: float = 1.0,
        max_busy: float = 0.25,
    ) -> None:
        if not 0 < max_busy <= 1:
            raise ValueError(f"SnapshotWriter max_busy must be in (0, 1], got {max_busy}")
        self.path = Path(path)
        self.idle_interval_s = idle_interval_s
        self.max_busy = max_busy
        self._gate = gate
        self._cond = threading.Condition()
        self._saved_seq = gate.seq
        self._dirty_since: float | None = None
        self._waiters: list[tuple[int, concurrent.futures.Future[int]]] = []
        self._next_allowed = 0.0
        self._state = "new"
        self._thread: threading.Thread | None = None
        self.saves = 0
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
        for stale in remove_stale_temp_files(self.path):
            log.info("removed %s, left by a save that did not finish", stale)
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
                fut.set_exception(CloudError(f"moto snapshot writer is {self._state}: {self.path} not written"))
            else:
                self._waiters.append((target, fut))
                self._cond.notify_all()
        return fut

    def stop(self) -> SnapshotReport | None:
        """Stop the thread, then write a last snapshot (whether or not anything changed)."""
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
        self._save_once()
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
                "failures": self.failures,
                "last_ms": None if self.last_seconds is None else round(self.last_seconds * 1000, 1),
                "last_bytes": self.last_bytes,
                "last_saved_at": self.last_saved_at,
                "last_error": self.last_error,
                "pending": self._gate.seq - self._saved_seq,
                "waiting": len(self._waiters),
            }

    # ------------------------------------------------------------------ internals
    def _on_mutation(self) -> None:
        with self._cond:
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

    def _save_once(self) -> None:
        t0 = time.monotonic()
        try:
            seq, data, report = capture(self._gate)
            write_bytes_durable(self.path, data, keep_previous=True)
        except (OSError, CloudError) as exc:
            took = time.monotonic() - t0
            log.error("moto snapshot %s not written: %s", self.path, exc)
            with self._cond:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                waiters, self._waiters = self._waiters, []
                if self._dirty_since is None:
                    self._dirty_since = time.monotonic()  # retried after idle_interval_s
                self._next_allowed = time.monotonic() + max(took / self.max_busy, self.idle_interval_s)
            _fail(waiters, CloudError(f"moto snapshot {self.path} not written: {exc}"))
            return
        took = time.monotonic() - t0
        with self._cond:
            self._saved_seq = max(self._saved_seq, seq)
            done = [(t, f) for t, f in self._waiters if t <= seq]
            self._waiters = [(t, f) for t, f in self._waiters if t > seq]
            self.saves += 1
            self.last_seconds = took
            self.last_bytes = len(data)
            self.last_saved_at = time.time()
            self.last_error = None
            self.last_report = report
            self._next_allowed = time.monotonic() + took * (1.0 / self.max_busy - 1.0)
        for _, fut in done:
            _resolve(fut, seq)


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
