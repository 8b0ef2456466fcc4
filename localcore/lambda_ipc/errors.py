"""Errors of the IPC daemon. Each carries the HTTP status the daemon answers with."""
from __future__ import annotations


class IPCError(Exception):
    status = 400


class Unauthorized(IPCError):
    status = 401


class Forbidden(IPCError):
    status = 403


class UnknownFunction(IPCError):
    status = 404


class UnknownInvocation(IPCError):
    status = 404


class QueueFull(IPCError):
    status = 429


class BadRequest(IPCError):
    status = 400


class SecretNotFound(IPCError):
    status = 404


class SecretsFileError(IPCError):
    """The secrets file exists but cannot be used (bad JSON, wrong shape)."""

    status = 500
