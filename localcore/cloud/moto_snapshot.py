"""Keep moto's in-memory data across runs: pickle its backends at stop, restore them at start.

moto has no persistence of its own. Its data lives in region backends inside process-global
``BackendDict`` objects; each region backend is pickled on its own (one that cannot be pickled is
reported and left out, the rest still persist). Two things in moto's Lambda storage do not pickle
as they are, so the pickler here rewrites them: ``WeakValueDictionary`` indexes (written as plain
dicts and rebuilt; the values are the functions pickled beside them, so identity is kept) and
``defaultdict(lambda: {})`` (a lambda factory that makes an empty builtin becomes that builtin's
type, which behaves the same).

The snapshot is a pickle: loading it runs code named in it. It lives in the cloud's
``state_dir``, which already holds the CA private keys, so it has the same trust boundary. A
snapshot written by another moto version is not loaded.
"""

from __future__ import annotations

import collections
import copyreg
import io
import logging
import os
import pickle
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1


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


@dataclass
class SnapshotReport:
    """What a save or a restore did, for ``LocalCloud.status()`` and the logs."""

    backends: list[str] = field(default_factory=list)  # "service/account/region"
    skipped: dict[str, str] = field(default_factory=dict)  # "service/account/region" -> why
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"backends": len(self.backends), "skipped": dict(self.skipped), "error": self.error}


def save(path: Path) -> SnapshotReport:
    """Pickle every region backend moto has created in this process into ``path`` (atomically)."""
    from moto.core.base_backend import BackendDict

    report = SnapshotReport()
    entries: list[tuple[str, str, str, bytes]] = []
    for bdict in list(BackendDict._instances):  # the backends in use since the last reset
        for account, region, backend in bdict.iter_backends():
            key = f"{bdict.service_name}/{account}/{region}"
            try:
                entries.append((bdict.service_name, account, region, _dumps(backend)))
                report.backends.append(key)
            # RuntimeError: another LocalCloud of this process changed the backend meanwhile
            except (pickle.PicklingError, TypeError, AttributeError, RecursionError, RuntimeError) as exc:
                report.skipped[key] = f"{type(exc).__name__}: {exc}"
                log.warning("moto backend %s is not persisted: %s", key, exc)
    data = _dumps({"format": FORMAT, "moto": _moto_version(), "entries": entries})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


def restore(path: Path) -> SnapshotReport:
    """Load ``path`` into moto's (freshly reset) backends. A missing file restores nothing."""
    from moto.backends import get_backend

    report = SnapshotReport()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return report
    try:
        snap = pickle.loads(raw)
    except Exception as exc:  # unreadable snapshot: say so and start empty, never crash the cloud
        report.error = f"cannot read {path}: {type(exc).__name__}: {exc}"
        log.error("moto snapshot not restored: %s", report.error)
        return report
    if not isinstance(snap, dict) or snap.get("format") != FORMAT or snap.get("moto") != _moto_version():
        report.error = (
            f"{path} was written by moto {snap.get('moto') if isinstance(snap, dict) else '?'}, "
            f"this is moto {_moto_version()}: not restored"
        )
        log.error("moto snapshot not restored: %s", report.error)
        return report
    for service, account, region, data in snap["entries"]:
        key = f"{service}/{account}/{region}"
        try:
            bdict = get_backend(service)
            backend = pickle.loads(data)
            bdict[account][region] = backend
            report.backends.append(key)
        except Exception as exc:  # one bad backend must not lose the others
            report.skipped[key] = f"{type(exc).__name__}: {exc}"
            log.warning("moto backend %s not restored: %s", key, exc)
    return report
