"""Errors of the snapshot Lambda. Each maps to one HTTP status and a JSON ``{"error": ...}``."""
from __future__ import annotations


class SnapshotError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 500

    def __init__(self, message, cause=None):
        super(SnapshotError, self).__init__(message)
        self.message = message
        self.cause = cause

    def body(self):
        out = {"error": self.message}
        if self.cause:
            out["cause"] = self.cause
        return out


class BadRequest(SnapshotError):
    """The request is malformed (missing or invalid stream_name, wrong method)."""

    status = 400


class NotFound(SnapshotError):
    """Unknown stream, or nothing to show in the window."""

    status = 404


class MethodNotAllowed(SnapshotError):
    status = 405


class UpstreamError(SnapshotError):
    """Kinesis Video or S3 failed; ``cause`` carries their error code and message."""

    status = 502


class ConfigError(SnapshotError):
    """The function's environment is wrong (e.g. SNAPSHOT_BUCKET unset): the operator must fix it."""

    status = 500
