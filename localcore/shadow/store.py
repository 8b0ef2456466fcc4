"""Shadow documents on disk: one JSON file per thing under a state directory (``<thing>.json``, the classic
shadow) and one per named shadow (``named/<thing>/<shadow name>.json``).

Writes go to a temporary file that replaces the old one atomically, so a crash leaves either
the old or the new document, never half of one.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from localcore.shadow.errors import ShadowStoreError
from localcore.shadow.state import Document, valid_shadow_name, valid_thing_name

log = logging.getLogger(__name__)


class ShadowStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, thing: str, shadow_name: str = "") -> Path:
        if shadow_name:
            return self.directory / "named" / thing / f"{shadow_name}.json"
        return self.directory / f"{thing}.json"

    def load_all(self) -> dict[str, Document]:
        documents: dict[str, Document] = {}
        if not self.directory.is_dir():
            return documents
        for path in sorted(self.directory.glob("*.json")):
            thing = path.stem
            if not valid_thing_name(thing):
                log.warning("ignoring %s: not a valid thing name", path)
                continue
            documents[thing] = _read(path)
        return documents

    def load_named(self) -> dict[tuple[str, str], Document]:
        """Every named shadow on disk, by (thing, shadow name)."""
        documents: dict[tuple[str, str], Document] = {}
        root = self.directory / "named"
        if not root.is_dir():
            return documents
        for path in sorted(root.glob("*/*.json")):
            thing, name = path.parent.name, path.stem
            if not valid_thing_name(thing) or not valid_shadow_name(name):
                log.warning("ignoring %s: not a valid thing and shadow name", path)
                continue
            documents[(thing, name)] = _read(path)
        return documents

    def save(self, thing: str, document: Document, shadow_name: str = "") -> None:
        path = self._path(thing, shadow_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(document.to_json(), fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _read(path: Path) -> Document:
    try:
        return Document.from_json(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ShadowStoreError(f"cannot read shadow document {path}: {exc}; fix or remove the file") from exc
