"""Atomic JSON snapshots of the adapter's own state (moto itself keeps everything in memory)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

SAVE_INTERVAL_S = 0.5
STOP_TIMEOUT_S = 10.0


def load_json(path: Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when it does not exist; a corrupt file is logged and skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        log.error("ignoring corrupt state file %s (%s); starting empty", path, exc)
        return None


def save_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename in the same directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def previous_path(path: Path) -> Path:
    """Where ``write_bytes_durable(path, ..., keep_previous=True)`` keeps the file it replaced."""
    return path.with_name(path.name + ".prev")


def write_bytes_durable(
    path: Path, data: bytes, *, keep_previous: bool = False, mode: int = 0o600, sync_dir: bool = True
) -> None:
    """Write ``data`` to ``path`` so that a crash or power cut at any moment leaves a whole file.

    The bytes go to a temp file in the same directory, are fsynced, and the temp file is renamed
    over ``path``; the directory is fsynced so the rename itself survives a power cut. With
    ``keep_previous`` the file being replaced is first renamed to ``previous_path(path)``, so a
    reader that finds ``path`` unreadable (or missing, between the two renames) has the last good
    generation beside it. ``sync_dir=False`` leaves the directory fsync to the caller (one
    ``fsync_dir`` after writing several files).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if keep_previous:
            try:
                os.replace(path, previous_path(path))
            except FileNotFoundError:
                pass
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete the temp files a crashed ``write_bytes_durable(path, ...)`` left behind; returns them."""
    removed = []
    for stale in path.parent.glob(path.name + ".*.tmp"):
        try:
            stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
    return removed


def fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:  # some file systems do not open directories; the data itself is synced
        log.debug("cannot open %s to fsync it: %s", directory, exc)
        return
    try:
        os.fsync(dfd)
    except OSError as exc:
        log.debug("cannot fsync directory %s: %s", directory, exc)
    finally:
        os.close(dfd)


class DebouncedSaver:
    """Debounced JSON snapshots: ``mark()`` is cheap; a thread writes at most every interval."""

    def __init__(self, path: Path, snapshot: Callable[[], Any]) -> None:
        self.path = path
        self._snapshot = snapshot
        self._dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def mark(self) -> None:
        with self._lock:
            self._dirty = True
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"localcloud-save-{self.path.stem}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            self._stop.wait(SAVE_INTERVAL_S)  # gather a burst of changes into one write
            self.flush()

    def flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, False
        if dirty:
            try:
                save_json(self.path, self._snapshot())
            except OSError:
                log.exception("could not save %s", self.path)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
        self.flush()
