"""Errors of ``localcore.cloud_lambdas`` (cloud Lambdas run locally, SAM-local style)."""
from __future__ import annotations


class CloudFunctionError(Exception):
    """Base class."""


class FunctionConfigError(CloudFunctionError, ValueError):
    """The function cannot run as configured (code dir, handler, timeout, memory, environment);
    the message names the function and the offending setting."""


class FunctionStartError(CloudFunctionError):
    """The worker process did not come up: the handler module failed to import (the message
    carries Lambda's ``Runtime.ImportModuleError`` text) or the interpreter died at start."""


class RunnerNotStarted(CloudFunctionError):
    """``invoke`` before ``start()`` or after ``stop()``."""


class SnapshotFailed(CloudFunctionError):
    """The snapshot API answered with an error (``status`` is its HTTP status, ``body`` its JSON)."""

    def __init__(self, message: str, status: int = 502, body: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class KvsPutError(CloudFunctionError):
    """``deploy.py kvs-put`` cannot proceed; the message says what to do."""
