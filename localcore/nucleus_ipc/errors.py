"""Errors of the nucleus IPC package (one tree, documented here).

* :class:`FramingError`: bytes that are not a well-formed eventstream message (what and at which offset).
* :class:`ProtocolError`: a well-formed message that breaks the RPC rules (missing ``:message-type``, a stream id
  out of order, ...). The connection is closed after either.
* :class:`IpcError` and its subclasses: the *modeled* errors of the ``aws.greengrass`` service model, sent to the
  component as ``APPLICATION_ERROR`` with ``service-model-type: aws.greengrass#<Name>`` (the Python SDK raises the
  class of the same name from ``awsiot.greengrasscoreipc.model``). Handlers raise them; the connection encodes them.
* :class:`ConfigurationError`: the server or the authorization module was given unusable input.

Modeled error names and which side they blame follow awsiotsdk 1.31.0 ``greengrasscoreipc/model.py``
(aws/aws-iot-device-sdk-python-v2) and the nucleus' translation of unexpected exceptions into ``ServiceError``
(aws-greengrass/aws-greengrass-nucleus ``ipc/common/ExceptionUtil``).
"""
from __future__ import annotations

from typing import Any, Optional


class NucleusIpcError(Exception):
    """Base class of every error of this package."""


class FramingError(NucleusIpcError):
    """Bytes that do not form a valid eventstream message."""


class ProtocolError(NucleusIpcError):
    """A valid eventstream message that the RPC protocol does not allow here."""


class ConfigurationError(NucleusIpcError, ValueError):
    """Unusable configuration given to the server or to the authorization module."""


SERVICE = "aws.greengrass#GreengrassCoreIPC"


class IpcError(NucleusIpcError):
    """A modeled error of the ``aws.greengrass`` service (sent to the component, not raised in the core)."""

    name = "ServiceError"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = {k: v for k, v in fields.items() if v is not None}

    @property
    def model_type(self) -> str:
        return f"aws.greengrass#{self.name}"

    def payload(self) -> dict:
        """The JSON body the Java nucleus writes: the shape's fields plus the base class' ``_``-fields."""
        return {"message": self.message, **self.fields,
                "_message": self.message, "_errorCode": self.name, "_service": SERVICE}


class ServiceError(IpcError):
    name = "ServiceError"

    def __init__(self, message: str, context: Optional[dict] = None) -> None:
        super().__init__(message, context=context)


class UnauthorizedError(IpcError):
    name = "UnauthorizedError"


class InvalidArgumentsError(IpcError):
    name = "InvalidArgumentsError"


class ResourceNotFoundError(IpcError):
    name = "ResourceNotFoundError"

    def __init__(self, message: str, resource_type: Optional[str] = None,
                 resource_name: Optional[str] = None) -> None:
        super().__init__(message, resourceType=resource_type, resourceName=resource_name)


class ConflictError(IpcError):
    name = "ConflictError"


class FailedUpdateConditionCheckError(IpcError):
    name = "FailedUpdateConditionCheckError"


class ComponentNotFoundError(IpcError):
    name = "ComponentNotFoundError"


class InvalidTokenError(IpcError):
    name = "InvalidTokenError"
