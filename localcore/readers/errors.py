"""Errors of the configuration readers."""
from __future__ import annotations

from typing import Sequence, Tuple

# The nucleus's DeploymentErrorCode → DeploymentErrorType (aws-greengrass-nucleus
# deployment/errorcode/DeploymentErrorCode.java) for the codes a reader raises; NONE types are not reported.
ERROR_TYPES = {
    "DEPLOYMENT_FAILURE": "NONE",
    "NO_AVAILABLE_COMPONENT_VERSION": "NONE",
    "ARTIFACT_DOWNLOAD_ERROR": "NONE",
    "DOWNLOAD_GREENGRASS_ARTIFACT_ERROR": "HTTP_ERROR",
    "IO_UNZIP_ERROR": "DEVICE_ERROR",
    "COMPONENT_CONFIGURATION_NOT_VALID": "NONE",
    "RECIPE_PARSE_ERROR": "COMPONENT_RECIPE_ERROR",
    "DEPLOYMENT_DOCUMENT_NOT_VALID": "NONE",
    "CLOUD_API_ERROR": "NONE",
    "RESOURCE_NOT_FOUND": "REQUEST_ERROR",
    "NETWORK_ERROR": "NETWORK_ERROR",
}


class ReaderError(Exception):
    """Base of the readers' errors."""


class DeploymentFailed(ReaderError):
    """The deployment cannot be applied; the core reports it FAILED with this reason.

    ``error_stack`` holds the nucleus's ``DeploymentErrorCode`` names, outermost first (what a V2 core
    reports as ``statusDetails.errorStack``, e.g. ``["DEPLOYMENT_FAILURE", "NO_AVAILABLE_COMPONENT_VERSION"]``);
    ``error_types`` the ``DeploymentErrorType`` categories of those codes (``statusDetails.errorTypes``,
    ``NONE`` left out)."""

    def __init__(self, reason: str, error_stack: Sequence[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        stack = list(error_stack)
        if not stack or stack[0] != "DEPLOYMENT_FAILURE":
            stack.insert(0, "DEPLOYMENT_FAILURE")
        self.error_stack: Tuple[str, ...] = tuple(stack)

    @property
    def error_types(self) -> Tuple[str, ...]:
        out = []
        for code in self.error_stack:
            kind = ERROR_TYPES.get(code, "NONE")
            if kind != "NONE" and kind not in out:
                out.append(kind)
        return tuple(out)

    @property
    def code(self) -> str:
        """The innermost error code (what went wrong)."""
        return self.error_stack[-1]


class NoDeployment(ReaderError):
    """The cloud has no deployment for the core device (neither for its thing nor its thing groups)."""
