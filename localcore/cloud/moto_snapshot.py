"""Keep moto's in-memory data across runs and crashes: snapshots of its backends on disk.

moto has no persistence of its own. Its data lives in region backends inside process-global
``BackendDict`` objects; each region backend is pickled on its own (one that cannot be pickled is
reported and left out, the rest still persist). Two things in moto's Lambda storage do not pickle
as they are, so the pickler here rewrites them: ``WeakValueDictionary`` indexes (written as plain
dicts and rebuilt; the values are the functions pickled beside them, so identity is kept) and
``defaultdict(lambda: {})`` (a lambda factory that makes an empty builtin becomes that builtin's
type, which behaves the same).

Crash safety (a ``kill -9`` of the run, a power cut of the machine):

* ``GatedApp`` wraps moto's WSGI dispatcher: every moto request, whichever way it arrives (the
  front's proxy, an adapter handler's ``MotoLink``, a client of ``moto_url``), runs inside the
  shared side of the process-wide ``GATE``, and a request that may change data is counted, with
  its moto service, before it leaves. A snapshot pickles backends inside the gate's exclusive
  side, so it never sees a request half-applied (nor "dictionary changed size during
  iteration"); that takes milliseconds, the files are written after the gate is released.
* ``SnapshotWriter`` (``moto_snapshot_writer.py``: a thread per cloud) saves when ``commit()`` asks -- the front calls it for
  every request that may change moto's data and answers only once a snapshot holding it is on
  disk (group commit: requests arriving during a save share the next one) -- and otherwise
  within ``idle_interval_s`` of a change. An acknowledged ``PutRecords`` thus survives a crash,
  which the stream manager's exporters rely on: they checkpoint right after the cloud's answer.
  Saves take at most ``max_busy`` of the wall clock (over about a second), so a large state or a
  flood of requests slows acknowledgements rather than eating a core.
* ``SnapshotStore`` (files): a small manifest at ``path`` (``moto.pickle``) names one
  content-addressed file per moto service in ``moto.pickle.d/``; an unchanged service (the
  uploaded frames in S3, the Lambda zips) is not written again. Large ``bytes`` / ``str`` values
  inside a backend (a Lambda function's zip and its base64 form, each published version sharing
  them) go to content-addressed files of their own, ``<sha256>.value``, named from the pickle by
  their digest: a changed service re-pickles its small objects only, a value already on disk is
  neither written nor, while the same object lives in moto, hashed again. Every file goes through
  ``write_bytes_durable`` (temp file, fsync, rename, directory fsync) and carries a magic line
  and the SHA-256 of its payload; the replaced manifest stays as ``moto.pickle.prev`` with its
  files. ``restore`` checks the manifest and all its files before replacing any backend, falls
  back to ``moto.pickle.prev`` when one is truncated or damaged, and moves the bad manifest to
  ``moto.pickle.bad`` so the next save cannot rotate it over the good generation. The snapshots
  of earlier versions still load: a whole-pickle ``moto.pickle`` (format 1) and manifests without
  value files (format 2).

The snapshot is made of pickles: loading one runs code named in it. It lives in the cloud's
``state_dir``, which already holds the CA private keys, so it has the same trust boundary. A
snapshot written by another moto version is not loaded.
"""

from __future__ import annotations

import collections
import copyreg
import hashlib
import io
import json
import logging
import os
import pickle
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import CloudError
from .persist import fsync_dir, previous_path, remove_stale_temp_files, write_bytes_durable

log = logging.getLogger(__name__)

FORMAT = 3  # 1: one whole pickle; 2: JSON manifest + one file per service; 3: + large values in files
_MANIFEST_FORMATS = (2, 3)
_LARGE = 32 * 1024  # bytes / str values at least this long are kept in a file of their own
_VALUE_SUFFIX = ".value"
MAGIC = b"localcloud-moto-snapshot 1\n"
_DIGEST = hashlib.sha256
_DIGEST_SIZE = _DIGEST().digest_size
_EXCLUSIVE_TIMEOUT_S = 10.0  # a snapshot waits this long for in-flight moto requests to finish
_REQUEST_WAIT_S = 30.0  # a moto request waits this long for a snapshot to release the gate
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


class LargeValues:
    """The digests of the large values pickled so far, by object, across saves.

    ``bytes`` and ``str`` never change, so while moto holds the same object its SHA-256 is the one
    computed the first time. An entry holds its object (so its ``id`` cannot be reused) until the
    service that used it is pickled again without it or is gone.
    """

    def __init__(self) -> None:
        self._by_service: dict[str, dict[int, tuple[Any, str]]] = {}
        self._known: dict[int, tuple[Any, str]] = {}

    def pickler(self, buf: io.BytesIO, service: str, found: dict[str, Any]) -> "_ValuePickler":
        """A pickler for ``service`` that puts large values in ``found`` (sha256 -> value)."""
        return _ValuePickler(buf, self, service, found)

    def digest(self, obj: Any, seen: dict[int, tuple[Any, str]]) -> str:
        hit = seen.get(id(obj)) or self._known.get(id(obj))
        if hit is None or hit[0] is not obj:
            hit = (obj, hashlib.sha256(_value_bytes(obj)).hexdigest())
        seen[id(obj)] = hit
        return hit[1]

    def pickled(self, service: str, seen: dict[int, tuple[Any, str]]) -> None:
        self._by_service[service] = seen

    def keep_only(self, services: set[str]) -> None:
        """Forget the values of services moto no longer has, and what nothing uses any more."""
        for gone in self._by_service.keys() - services:
            del self._by_service[gone]
        known: dict[int, tuple[Any, str]] = {}
        for seen in self._by_service.values():
            known.update(seen)
        self._known = known


class _ValuePickler(_Pickler):
    def __init__(self, buf: io.BytesIO, values: LargeValues, service: str, found: dict[str, Any]) -> None:
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        self._values = values
        self._found = found
        self.seen: dict[int, tuple[Any, str]] = {}

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if (kind is bytes or kind is str) and len(obj) >= _LARGE:
            sha = self._values.digest(obj, self.seen)
            self._found[sha] = obj
            return ("b" if kind is bytes else "s", sha)
        return None


class _ValueUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, values: dict[str, bytes]) -> None:
        super().__init__(io.BytesIO(data))
        self._values = values
        self._strs: dict[str, str] = {}

    def persistent_load(self, pid: Any) -> Any:
        try:
            kind, sha = pid
            raw = self._values[sha]
        except (TypeError, ValueError, KeyError):
            raise pickle.UnpicklingError(f"unknown large value {pid!r}") from None
        if kind == "b":
            return raw
        if sha not in self._strs:
            self._strs[sha] = raw.decode("utf-8", "surrogatepass")
        return self._strs[sha]


def _value_bytes(obj: Any) -> bytes:
    return obj if type(obj) is bytes else obj.encode("utf-8", "surrogatepass")


def value_file(sha: str) -> str:
    """The file name of the large value whose payload has SHA-256 ``sha`` (hex)."""
    return sha + _VALUE_SUFFIX


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
    of the process. A waiting snapshot goes before new requests (it holds the gate for the
    milliseconds of pickling), and the requests held back by a snapshot go before the next one,
    so neither side starves; every wait is bounded.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._exclusive = False
        self._exclusive_waiting = 0
        self._epoch = 0  # snapshots released so far
        self._held: dict[int, int] = {}  # epoch a request started waiting in -> how many wait
        self._seq = 0
        self._listeners: list[Callable[[str | None], None]] = []

    @property
    def seq(self) -> int:
        """How many mutating moto requests have completed in this process."""
        with self._cond:
            return self._seq

    def add_listener(self, listener: Callable[[str | None], None]) -> None:
        """``listener(service)`` runs after each mutation, with the moto service the request went
        to (``None``: unknown). It runs on the request's thread and must not block."""
        with self._cond:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Callable[[str | None], None]) -> None:
        with self._cond:
            # a bound method is a new object at each access: compare by equality, not identity
            self._listeners = [x for x in self._listeners if x != listener]

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            if self._exclusive or self._exclusive_waiting:
                epoch = self._epoch
                self._held[epoch] = self._held.get(epoch, 0) + 1
                try:
                    free = self._cond.wait_for(
                        lambda: not self._exclusive and (not self._exclusive_waiting or self._epoch > epoch),
                        _REQUEST_WAIT_S,
                    )
                finally:
                    self._held[epoch] -= 1
                    if not self._held[epoch]:
                        del self._held[epoch]
                if not free:  # a snapshot stuck for 30 s is a bug; serve rather than hang the cloud
                    log.error("moto request goes on: a snapshot held the gate for %s s", _REQUEST_WAIT_S)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if self._active == 0:
                    self._cond.notify_all()

    def mutated(self, service: str | None = None) -> None:
        """Count one completed mutating request to moto ``service``; call it inside ``request()``."""
        with self._cond:
            self._seq += 1
            listeners = self._listeners
        for listener in listeners:
            listener(service)

    @contextmanager
    def exclusive(self, timeout: float = _EXCLUSIVE_TIMEOUT_S) -> Iterator[int]:
        """Hold off every moto request; yields the mutation count the held state includes."""
        with self._cond:
            self._exclusive_waiting += 1
            try:
                ok = self._cond.wait_for(self._exclusive_may_start, timeout)
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
                self._epoch += 1
                self._cond.notify_all()

    def _exclusive_may_start(self) -> bool:
        # no request running, none held back by an earlier snapshot still waiting to go in
        return not self._exclusive and self._active == 0 and all(e >= self._epoch for e in self._held)


GATE = MotoGate()


class GatedApp:
    """moto's ``DomainDispatcherApplication`` inside ``gate``: see the module docstring.

    It picks the service's app as the dispatcher itself does (``get_application``), so a mutation
    is counted against that moto service. The response body is read inside the gate (moto builds
    it in memory anyway), so no part of a request runs while a snapshot is pickling.
    """

    def __init__(self, dispatcher: Any, gate: MotoGate = GATE) -> None:
        self.dispatcher = dispatcher
        self.gate = gate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        mutating = is_mutating(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("HTTP_X_AMZ_TARGET"),
            _query_action(environ.get("QUERY_STRING", "")),
        )
        with self.gate.request():
            app = self.dispatcher.get_application(environ)
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if mutating:
                self.gate.mutated(_backend_name(getattr(app, "service", None)))
        return [body]


_BACKEND_NAMES: dict[str, str | None] = {}


def _backend_name(app_service: str | None) -> str | None:
    """The ``BackendDict.service_name`` of moto's app name (``awslambda`` -> ``lambda``,
    ``iotdata`` -> ``iot-data``); ``None`` when there is none (a save then pickles everything)."""
    if app_service is None:
        return None
    if app_service not in _BACKEND_NAMES:
        from moto.backends import get_backend
        from moto.core.base_backend import BackendDict

        try:
            bdict = get_backend(app_service)  # type: ignore[call-overload]
        except (KeyError, ValueError, ModuleNotFoundError, AttributeError):
            bdict = None
        _BACKEND_NAMES[app_service] = bdict.service_name if isinstance(bdict, BackendDict) else None
    return _BACKEND_NAMES[app_service]


def _query_action(query: str) -> str | None:
    for part in query.split("&"):
        if part.startswith("Action="):
            return part[len("Action=") :]
    return None


# ---------------------------------------------------------------------------------- the files
@dataclass
class SnapshotReport:
    """What a save or a restore did, for ``LocalCloud.status()`` and the logs."""

    backends: list[str] = field(default_factory=list)  # "service/account/region" pickled / loaded
    skipped: dict[str, str] = field(default_factory=dict)  # "service/account/region" -> why
    error: str | None = None  # restore: nothing could be loaded, and why
    source: str | None = None  # restore: the manifest loaded (``moto.pickle`` or ``moto.pickle.prev``)
    problems: list[str] = field(default_factory=list)  # restore: files passed over, and why
    written: list[str] = field(default_factory=list)  # save: services whose file was (re)written
    full: bool = True  # save: every backend was pickled (not only the changed ones)

    def to_json(self) -> dict[str, Any]:
        return {
            "backends": len(self.backends),
            "skipped": dict(self.skipped),
            "error": self.error,
            "source": self.source,
            "problems": list(self.problems),
            "written": list(self.written),
            "full": self.full,
        }


def encode(payload: bytes) -> bytes:
    """A file's bytes: magic line, SHA-256 of the payload, the payload."""
    return MAGIC + _DIGEST(payload).digest() + payload


def decode(raw: bytes) -> bytes:
    """The payload of a file written with ``encode``; ``ValueError`` saying what is wrong otherwise.

    Files without the magic line are returned whole (the bare pickles of earlier versions).
    """
    if not raw.startswith(MAGIC):
        return raw
    head = len(MAGIC) + _DIGEST_SIZE
    if len(raw) < head:
        raise ValueError(f"truncated: {len(raw)} bytes, the header alone is {head}")
    digest, payload = raw[len(MAGIC) : head], raw[head:]
    if _DIGEST(payload).digest() != digest:
        raise ValueError(f"checksum mismatch over {len(payload)} bytes (truncated or damaged)")
    return payload


def backends_dir(path: Path) -> Path:
    """Where the per-service files of the manifest ``path`` live."""
    return path.with_name(path.name + ".d")


@dataclass
class Capture:
    """What ``capture`` took: the mutation count it holds, ``{service: file bytes}`` for the services
    it pickled, the names of every service moto has backends for, the large values the pickled
    services use (``{sha256: bytes | str}``) and which ones each uses, and a report."""

    seq: int
    files: dict[str, bytes]
    present: set[str]
    report: SnapshotReport
    values: dict[str, Any] = field(default_factory=dict)
    uses: dict[str, set[str]] = field(default_factory=dict)


def capture(
    gate: MotoGate = GATE, select: Callable[[str], bool] | None = None, values: LargeValues | None = None
) -> Capture:
    """Pickle moto's region backends consistently (inside the gate's exclusive side).

    ``select(service)`` picks the services to pickle (default: all); ``values`` remembers the
    digests of large values from one save to the next (default: computed afresh). Raises
    ``CloudError`` when in-flight requests did not finish within the bound.
    """
    from moto.core.base_backend import BackendDict

    values = values if values is not None else LargeValues()
    report = SnapshotReport(full=select is None)
    entries: dict[str, list[tuple[str, str, str, bytes]]] = {}
    present: set[str] = set()
    found: dict[str, Any] = {}
    uses: dict[str, set[str]] = {}
    with gate.exclusive() as seq:
        for bdict in list(BackendDict._instances):  # the backends in use since the last reset
            name = bdict.service_name
            present.add(name)
            if select is not None and not select(name):
                continue
            mine = entries.setdefault(name, [])
            seen: dict[int, tuple[Any, str]] = {}
            for account, region, backend in bdict.iter_backends():
                key = f"{name}/{account}/{region}"
                buf = io.BytesIO()
                pickler = values.pickler(buf, name, found)
                try:
                    pickler.dump(backend)
                    mine.append((name, account, region, buf.getvalue()))
                    report.backends.append(key)
                    seen.update(pickler.seen)
                except (pickle.PicklingError, TypeError, AttributeError, RecursionError, RuntimeError) as exc:
                    report.skipped[key] = f"{type(exc).__name__}: {exc}"
            values.pickled(name, seen)
            uses[name] = {sha for _, sha in seen.values()}
    values.keep_only(present)
    for key, why in report.skipped.items():
        log.warning("moto backend %s is not persisted: %s", key, why)
    files = {name: encode(_dumps(e)) for name, e in entries.items()}
    return Capture(seq, files, present, report, found, uses)


class SnapshotStore:
    """moto's data on disk: a manifest at ``path`` and one file per service beside it.

    The manifest (JSON inside ``encode``) names, per moto service, a file in ``backends_dir(path)``
    whose name carries the SHA-256 of its bytes; a service whose pickle did not change is not
    written again, so a large S3 or Lambda backend costs nothing while only Kinesis changes. A
    service's large values are files of their own (``<sha256>.value``, named by the service's
    ``values``), written once. A save writes the new files (fsynced) before the manifest (fsynced,
    previous one kept as ``.prev``), and deletes only files neither manifest names: a crash at any
    point leaves a manifest whose files are all there.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.dir = backends_dir(self.path)
        self.refs: dict[str, dict[str, Any]] = {}  # service -> {"file", "sha256", "size", "values"?}
        self._prev_files: set[str] = set()

    def load_refs(self) -> None:
        """Learn what the manifests on disk name (no service file is read)."""
        self.refs = _manifest_refs(self.path) or {}
        self._prev_files = _ref_files(_manifest_refs(previous_path(self.path)) or {})

    def remove_stale(self) -> None:
        """Delete the temp files of saves a crash interrupted."""
        stale = remove_stale_temp_files(self.path)
        if self.dir.is_dir():
            for tmp in self.dir.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
                stale.append(tmp)
        for path in stale:
            log.info("removed %s, left by a save that did not finish", path)

    def write(
        self,
        blobs: dict[str, bytes],
        present: set[str],
        values: dict[str, Any] | None = None,
        uses: dict[str, set[str]] | None = None,
    ) -> list[str]:
        """Write the changed ``blobs`` (service files) and a manifest naming a file for every
        ``present`` service; ``values`` (sha256 -> bytes | str) are the large values the services
        in ``blobs`` use, ``uses`` which ones each uses (see ``capture``)."""
        values = values or {}
        uses = uses or {}
        refs: dict[str, dict[str, Any]] = {}
        written = []
        named = self._prev_files | _ref_files(self.refs)
        wrote_any = False
        for sha in sorted({sha for s in blobs for sha in uses.get(s, ())}):
            name = value_file(sha)
            if name not in named and not (self.dir / name).exists():
                write_bytes_durable(self.dir / name, encode(_value_bytes(values[sha])), sync_dir=False)
                wrote_any = True
        for service, data in blobs.items():
            sha = hashlib.sha256(data).hexdigest()
            old = self.refs.get(service)
            used = sorted(uses.get(service, ()))
            if old is not None and old["sha256"] == sha and old.get("values", []) == used:
                refs[service] = old
                continue
            name = f"{_file_safe(service)}.{sha[:32]}.pickle"
            if not (self.dir / name).exists():
                write_bytes_durable(self.dir / name, data, sync_dir=False)
                wrote_any = True
            refs[service] = {"file": name, "sha256": sha, "size": len(data)}
            if used:
                refs[service]["values"] = used
            written.append(service)
        if wrote_any:
            fsync_dir(self.dir)  # the files' names are durable before the manifest names them
        for service in present - refs.keys():
            if service in self.refs:
                refs[service] = self.refs[service]
        if refs == self.refs and self.path.exists():
            return written  # nothing changed: keep the manifest, and the previous one as it is
        manifest = {"format": FORMAT, "moto": _moto_version(), "services": refs}
        payload = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        write_bytes_durable(self.path, encode(payload), keep_previous=True)
        self._prev_files = _ref_files(self.refs)
        self.refs = refs
        self._collect()
        return written

    def _collect(self) -> None:
        keep = self._prev_files | _ref_files(self.refs)
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            if name not in keep and name.endswith((".pickle", _VALUE_SUFFIX)):
                try:
                    os.unlink(self.dir / name)
                except FileNotFoundError:
                    pass


def _ref_files(refs: dict[str, dict[str, Any]]) -> set[str]:
    """Every file a manifest's service references name: service files and large values."""
    names = set()
    for ref in refs.values():
        names.add(ref["file"])
        names.update(value_file(sha) for sha in ref.get("values", ()))
    return names


def _file_safe(service: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in service)


def _manifest_refs(path: Path) -> dict[str, dict[str, Any]] | None:
    try:
        payload = decode(path.read_bytes())
        manifest = json.loads(payload)
        return dict(manifest["services"])
    except (OSError, ValueError, KeyError, TypeError):  # absent, legacy pickle or damaged: names nothing
        return None


def save(path: Path, gate: MotoGate = GATE) -> SnapshotReport:
    """Capture every moto backend and write them under ``path`` (see ``SnapshotStore``)."""
    store = SnapshotStore(path)
    store.load_refs()
    cap = capture(gate)
    cap.report.written = store.write(cap.files, cap.present, cap.values, cap.uses)
    return cap.report


def restore(path: Path) -> SnapshotReport:
    """Load the snapshot at ``path`` (or, if it is unreadable, ``<path>.prev``) into moto's
    freshly reset backends.

    Nothing there restores nothing. Every file a manifest names is read and checked before any
    backend is replaced, so a damaged snapshot falls back whole. An unreadable ``path`` is logged,
    moved to ``<path>.bad`` and reported in ``problems``; ``error`` is set when nothing could be
    loaded.
    """
    report = SnapshotReport()
    found_any = False
    for candidate in (path, previous_path(path)):
        try:
            raw = candidate.read_bytes()
        except FileNotFoundError:
            continue
        found_any = True
        try:
            entries, values = _read_snapshot(candidate, raw, backends_dir(path))
        except ValueError as exc:
            problem = str(exc)
            report.problems.append(problem)
            log.error("moto snapshot not restored: %s", problem)
            if candidate == path:
                bad = path.with_name(path.name + ".bad")
                try:
                    os.replace(path, bad)
                    log.error("kept the unreadable snapshot as %s", bad)
                except OSError as err:
                    log.error("could not move %s aside: %s", path, err)
            continue
        _load_entries(entries, values, report)
        report.source = candidate.name
        if report.problems:
            log.warning("moto data restored from the previous snapshot %s", candidate)
        return report
    if found_any:
        report.error = "; ".join(report.problems)
    return report


def _read_snapshot(
    path: Path, raw: bytes, files_dir: Path
) -> tuple[list[tuple[str, str, str, bytes]], dict[str, bytes]]:
    """Every backend entry of the snapshot whose manifest (``path``) is ``raw`` and whose files are
    in ``files_dir``, and the large values they use (sha256 -> bytes); ``ValueError`` saying why not."""
    try:
        payload = decode(raw)
    except ValueError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if payload.startswith(b"{"):
        try:
            manifest = json.loads(payload)
            version, services = manifest.get("moto"), dict(manifest["services"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"cannot read {path}: not a snapshot manifest ({exc})") from None
        _check_version(path, version, manifest.get("format"), _MANIFEST_FORMATS)
        entries = []
        values: dict[str, bytes] = {}
        for service, ref in sorted(services.items()):
            file = files_dir / str(ref.get("file"))
            try:
                raw_file = file.read_bytes()
                if hashlib.sha256(raw_file).hexdigest() != ref.get("sha256"):
                    raise ValueError("its SHA-256 is not the one the manifest names")
                entries.extend(_unpickle(decode(raw_file)))
                for sha in ref.get("values", ()):
                    if sha not in values:
                        file = files_dir / value_file(str(sha))
                        values[sha] = _read_value(file, str(sha))
            except (OSError, ValueError, TypeError) as exc:
                raise ValueError(f"cannot read {path}: service {service}: {file.name}: {exc}") from None
        return entries, values
    try:  # a whole pickle (the format before the manifest)
        snap = _unpickle(payload)
    except ValueError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(snap, dict):
        raise ValueError(f"cannot read {path}: not a snapshot")
    _check_version(path, snap.get("moto"), snap.get("format"), (1,))
    return list(snap["entries"]), {}


def _read_value(file: Path, sha: str) -> bytes:
    raw = file.read_bytes()
    if not raw.startswith(MAGIC):
        raise ValueError("not a value file")
    value = decode(raw)  # checks the digest in its header
    if raw[len(MAGIC) : len(MAGIC) + _DIGEST_SIZE].hex() != sha:
        raise ValueError("its SHA-256 is not the one the manifest names")
    return value


def _check_version(path: Path, version: Any, fmt: Any, want: tuple[int, ...]) -> None:
    if fmt not in want or version != _moto_version():
        raise ValueError(
            f"{path} was written by moto {version}, this is moto {_moto_version()}: not restored"
        )


def _unpickle(data: bytes) -> Any:
    try:
        return pickle.loads(data)
    except Exception as exc:  # unpickling garbage raises anything at all
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def _load_entries(
    entries: list[tuple[str, str, str, bytes]], values: dict[str, bytes], report: SnapshotReport
) -> None:
    from moto.backends import get_backend

    for service, account, region, data in entries:
        key = f"{service}/{account}/{region}"
        try:
            bdict = get_backend(service)
            bdict[account][region] = _ValueUnpickler(data, values).load()
            report.backends.append(key)
        except Exception as exc:  # one bad backend must not lose the others
            report.skipped[key] = f"{type(exc).__name__}: {exc}"
            log.warning("moto backend %s not restored: %s", key, exc)
