"""A JSON checkpoint file, replaced atomically so a crash leaves either the old or the new one."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Dict, Optional


class CheckpointStore:
    """Stores one JSON object at ``<directory>/<name>.checkpoint.json``."""

    def __init__(self, directory: str, name: str) -> None:
        self.path = os.path.join(directory, "{}.checkpoint.json".format(name))

    def load(self) -> Optional[Dict[str, object]]:
        """The saved object, or None when there is no checkpoint yet.

        A file that is not a JSON object raises ValueError naming the file: silently starting over
        would repeat everything already aggregated.
        """
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError("checkpoint {} is not JSON: {}".format(self.path, exc)) from None
        if not isinstance(data, dict):
            raise ValueError("checkpoint {} holds {}, expected a JSON object".format(self.path, type(data).__name__))
        return data

    def save(self, data: Dict[str, object]) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
