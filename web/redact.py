"""Remove secrets from status documents before they reach the page (pure).

Keys are matched case-insensitively after dropping ``-`` and ``_``: anything naming a token,
secret, password, private key, credential or authorization is replaced by ``"[redacted]"``, at
any depth, as are string values that hold a PEM private key wherever they appear.
"""
from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
_SECRET_KEY_PARTS = ("token", "secret", "password", "passwd", "privatekey", "credential",
                     "authorization", "accesskey", "sessionkey", "apikey")
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    flat = key.lower().replace("_", "").replace("-", "")
    return any(part in flat for part in _SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with secret keys and PEM private keys replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str) and _PEM_PRIVATE.search(value):
        return REDACTED
    if isinstance(value, (bytes, bytearray)) and _PEM_PRIVATE.search(value.decode("latin-1")):
        return REDACTED
    return value
