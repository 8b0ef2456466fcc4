"""The embedded local cloud: a moto server plus an adapter for what moto lacks.

Public surface: :class:`LocalCloud`, the handler values :class:`CloudRequest` /
:class:`CloudResponse` / :func:`json_response`, and the errors in :mod:`.errors`.
"""

from .errors import ApiError, CloudError, CloudStartError
from .server import LocalCloud
from .wire import CloudRequest, CloudResponse, error_response, json_response

__all__ = [
    "LocalCloud",
    "CloudRequest",
    "CloudResponse",
    "json_response",
    "error_response",
    "ApiError",
    "CloudError",
    "CloudStartError",
]
