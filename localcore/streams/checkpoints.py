"""Per-exporter export checkpoints on disk. Pure: no sockets, no asyncio.

``<dir>/<encoded stream>/<encoded export identifier>.json`` holds the next sequence number to
export plus counters. A checkpoint is saved only after the cloud accepted a batch, so after a
restart an exporter resumes at or before the first unexported message: delivery is at least
once (a batch accepted just before a crash may be sent again). Writes go to a temp file and are
renamed into place, so a crash leaves the old or the new checkpoint, never a torn one; they are
not fsynced (losing the newest checkpoint to a power cut only means re-sending, never losing).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .store import encode_dir_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    next_sequence_number: int
    exported_messages: int = 0
    exported_bytes: int = 0
    last_export_time_ms: int | None = None


class CheckpointStore:
    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, stream: str, identifier: str) -> Path:
        return self.directory / encode_dir_name(stream) / f"{encode_dir_name(identifier)}.json"

    def load(self, stream: str, identifier: str) -> Checkpoint | None:
        path = self._path(stream, identifier)
        try:
            data = json.loads(path.read_text())
            return Checkpoint(
                int(data["next_sequence_number"]),
                int(data.get("exported_messages", 0)),
                int(data.get("exported_bytes", 0)),
                data.get("last_export_time_ms"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error(
                "checkpoint %s is unreadable (%s); the exporter starts from its startSequenceNumber", path, e
            )
            return None

    def save(self, stream: str, identifier: str, checkpoint: Checkpoint) -> None:
        path = self._path(stream, identifier)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(checkpoint)))
        os.replace(tmp, path)

    def delete(self, stream: str, identifier: str | None = None) -> None:
        """Forget one exporter's checkpoint, or all of a stream's (``identifier=None``)."""
        if identifier is None:
            shutil.rmtree(self.directory / encode_dir_name(stream), ignore_errors=True)
            return
        try:
            self._path(stream, identifier).unlink()
        except FileNotFoundError:
            pass
