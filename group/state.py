"""The deploy state file: what ``deploy`` made for one group on one target.

``.gg/state/<target>/<group>.json`` records every object deploy created, keyed ``<kind>:<name>``
(``thing:GG_Core``, ``function:producer``, ``subscription-definition:gg-bundle``), in creation
order, each with its id / ARN, the hash of the desired spec it was made from (``hash``, what
``plan`` compares) and the hash of the resolved payload last applied (``applied``, what ``deploy``
compares; ``None`` while a multi-call step is half done). The file is rewritten atomically
(temp file + ``os.replace``) after every step, so a deploy that fails half-way leaves an exact
record and a re-run converges. ``destroy`` removes objects in reverse and finally the file.

Pure: no AWS calls.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from .errors import GroupError

FORMAT = 1


def state_path(state_dir: Path | str, target: str, group_name: str) -> Path:
    return Path(state_dir) / "state" / target / f"{group_name}.json"


def recorded_groups(state_dir: Path | str, target: str) -> List[str]:
    """Names of the groups that have a state file for ``target`` (``_``-prefixed fleet-level
    states, such as the bulk deployment objects, excluded)."""
    d = Path(state_dir) / "state" / target
    return sorted(p.stem for p in d.glob("*.json") if not p.stem.startswith("_")) if d.is_dir() else []


class StateError(GroupError):
    """The state file is unreadable or from another format."""


class State:
    """Ordered ``key -> record`` mapping persisted as JSON. Records are plain dicts."""

    def __init__(self, path: Path | str, target: str, group: str,
                 objects: Optional[Dict[str, Dict[str, Any]]] = None,
                 meta: Optional[Dict[str, Any]] = None) -> None:
        self.path = Path(path)
        self.target = target
        self.group = group
        self.objects: Dict[str, Dict[str, Any]] = dict(objects or {})
        self.meta: Dict[str, Any] = dict(meta or {})  # e.g. region, endpoint of the last deploy

    # -- persistence -------------------------------------------------------------------------
    @classmethod
    def load(cls, state_dir: Path | str, target: str, group: str) -> "State":
        path = state_path(state_dir, target, group)
        if not path.exists():
            return cls(path, target, group)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read state file {path}: {exc} "
                             "(fix: restore it from backup or remove it; objects it listed must then "
                             "be deleted by hand)") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StateError(f"state file {path} has an unknown format (fix: remove it after deleting "
                             "the objects it lists by hand)")
        return cls(path, target, group, data.get("objects") or {}, data.get("meta") or {})

    def save(self) -> None:
        """Write atomically; an empty state removes the file."""
        if not self.objects:
            self.delete_file()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "target": self.target, "group": self.group, "meta": self.meta,
                "objects": self.objects}
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=str(self.path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=False)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def delete_file(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def reload(self) -> None:
        """Read the file again (after taking the lock: another run may have changed it)."""
        fresh = State.load(self.path.parent.parent.parent, self.target, self.group)
        self.objects, self.meta = fresh.objects, {**fresh.meta, **self.meta}

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock for this group and target; StateError if another run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(str(lock_path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateError(f"another deploy/destroy of group '{self.group}' on target '{self.target}' "
                                 f"is running (it holds {lock_path}); wait for it to finish") from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @property
    def exists(self) -> bool:
        return self.path.exists()

    # -- records -------------------------------------------------------------------------------
    def get(self, key: str) -> Optional[Dict[str, Any]]:
        return self.objects.get(key)

    def put(self, key: str, record: Dict[str, Any], save: bool = True) -> Dict[str, Any]:
        kind, _, name = key.partition(":")
        rec = {"kind": kind, "name": name, **record}
        self.objects[key] = rec
        if save:
            self.save()
        return rec

    def update(self, key: str, save: bool = True, **fields: Any) -> Dict[str, Any]:
        rec = self.objects[key]
        rec.update(fields)
        if save:
            self.save()
        return rec

    def remove(self, key: str, save: bool = True) -> None:
        self.objects.pop(key, None)
        if save:
            self.save()

    def __contains__(self, key: object) -> bool:
        return key in self.objects

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.objects))

    def __len__(self) -> int:
        return len(self.objects)


def state_target(target: str, platform: str = "v1") -> str:
    """The state folder of a platform on a target: V1 keeps ``local`` / ``aws`` (its files predate
    V2), V2 uses ``local-v2`` / ``aws-v2``, so both deployments of one group sit side by side."""
    return target if platform == "v1" else f"{target}-{platform}"
