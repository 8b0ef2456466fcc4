"""Shadow documents on disk: one JSON file per thing under a state directory.

Writes go to a temporary file that replaces the old one atomically, so a crash leaves either
the old or the new document, never half of one.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from localcore.shadow.errors import ShadowStoreError
from localcore.shadow.state import Document, valid_thing_name

log = logging.getLogger(__name__)


class ShadowStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, thing: str) -> Path:
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
            try:
                documents[thing] = Document.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                raise ShadowStoreError(
                    f"cannot read shadow document {path}: {exc}; fix or remove the file") from exc
        return documents

    def save(self, thing: str, document: Document) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(thing)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(document.to_json(), fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
