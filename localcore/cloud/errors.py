"""Errors of the local cloud adapter.

``ApiError`` and its subclasses carry the AWS error code and HTTP status the real service would
answer with; the front turns them into the service's JSON error body (``x-amzn-ErrorType``
header + ``{"__type", "message"}``), which botocore parses into ``ClientError`` with that code.
State modules raise them too (as moto's models do), so a table-driven unit test can assert the
code without a socket.
"""

from __future__ import annotations

from typing import Any


class CloudError(Exception):
    """Base class of every error raised by ``localcore.cloud``."""


class CloudStartError(CloudError):
    """The local cloud could not start (port in use, moto failed, ...)."""


class ApiError(CloudError):
    """An error answer of an emulated AWS API."""

    status = 400
    code = "BadRequestException"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"__type": self.code, "message": self.message, "Message": self.message}
        if self.details:
            out["ErrorDetails"] = self.details
        return out


class BadRequest(ApiError):
    status = 400
    code = "BadRequestException"


class InvalidRequest(ApiError):
    status = 400
    code = "InvalidRequestException"


class NotFound(ApiError):
    status = 404
    code = "ResourceNotFoundException"


class IdNotFound(ApiError):
    """moto's (and Greengrass') answer for an unknown definition or group id."""

    status = 404
    code = "IdNotFoundException"


class VersionNotFound(ApiError):
    status = 404
    code = "VersionNotFoundException"


class AlreadyExists(ApiError):
    status = 409
    code = "ResourceAlreadyExistsException"
