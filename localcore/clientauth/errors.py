"""Errors of the client-device auth package (``aws.greengrass.clientdevices.Auth`` on the local core)."""
from __future__ import annotations


class ClientAuthError(Exception):
    """Base class of client-device auth errors."""


class AuthConfigError(ClientAuthError, ValueError):
    """A ``deviceGroups`` configuration the Auth component would refuse (its service errors and the V2
    deployment fails). ``path`` locates the bad value (``deviceGroups.definitions.Cams.selectionRule``),
    ``reason`` says why; ``str()`` gives both."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
