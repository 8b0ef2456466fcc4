"""Local secrets store answering ``GGSecretManager`` (greengrasssdk ``secretsmanager`` client).

The store is one JSON file, by default ``<state_dir>/secrets.json``, read at every lookup (so
edits take effect without a restart)::

    {
      "secrets": {
        "MySecret": {
          "SecretString": "s3cr3t",                # or "SecretBinary": "<base64>"
          "ARN": "arn:aws:secretsmanager:...",     # optional; default built from name/region
          "VersionId": "...",                      # optional; default a stable UUID of the name
          "VersionStages": ["AWSCURRENT"],         # optional; default ["AWSCURRENT"]
          "CreatedDate": 1700000000000             # optional, epoch milliseconds; default file mtime
        }
      }
    }

A secret is found by its name or its ARN. The answer has the shape the SDK expects
(``CreatedDate`` in epoch milliseconds); a miss is ``{"Status": 404, "Message": ...}``.
A missing file means "no secrets".
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from .errors import SecretNotFound, SecretsFileError

DEFAULT_STAGE = "AWSCURRENT"


class SecretsStore:
    def __init__(self, path: str | os.PathLike, *, region: str = "us-east-1", account: str = "000000000000"):
        self.path = Path(path)
        self.region = region
        self.account = account

    def _load(self) -> tuple[dict, float]:
        try:
            text = self.path.read_text(encoding="utf-8")
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}, 0.0
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            raise SecretsFileError(
                f"{self.path}: not valid JSON ({e}); expected {{\"secrets\": {{...}}}}") from e
        secrets = document.get("secrets") if isinstance(document, dict) else None
        if not isinstance(secrets, dict):
            raise SecretsFileError(f"{self.path}: expected an object with a \"secrets\" object at the top")
        return secrets, mtime

    def names(self) -> list[str]:
        return sorted(self._load()[0])

    def get_secret_value(self, secret_id: str, version_stage: str = "") -> dict:
        secrets, mtime = self._load()
        stage = version_stage or DEFAULT_STAGE
        for name, entry in secrets.items():
            if not isinstance(entry, dict):
                raise SecretsFileError(f"{self.path}: secrets.{name} must be an object")
            arn = entry.get("ARN") or (
                f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{name}")
            if secret_id not in (name, arn):
                continue
            stages = entry.get("VersionStages") or [DEFAULT_STAGE]
            if stage not in stages:
                raise SecretNotFound(
                    f"Secrets Manager can't find the specified secret value for staging label: {stage}")
            answer = {
                "ARN": arn,
                "Name": name,
                "VersionId": entry.get("VersionId") or str(uuid.uuid5(uuid.NAMESPACE_URL, arn)),
                "VersionStages": stages,
                "CreatedDate": int(entry.get("CreatedDate") or mtime * 1000),
            }
            if "SecretString" in entry:
                answer["SecretString"] = entry["SecretString"]
            if "SecretBinary" in entry:
                answer["SecretBinary"] = entry["SecretBinary"]
            if "SecretString" not in answer and "SecretBinary" not in answer:
                raise SecretsFileError(
                    f"{self.path}: secrets.{name} has neither SecretString nor SecretBinary")
            return answer
        raise SecretNotFound(f"Secrets Manager can't find the specified secret: {secret_id}")
