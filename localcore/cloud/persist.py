"""Atomic JSON snapshots of the adapter's own state (moto itself keeps everything in memory)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
