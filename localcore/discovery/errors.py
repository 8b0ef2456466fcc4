"""Errors of the discovery package."""
from __future__ import annotations


class DiscoveryError(Exception):
    """Base class of discovery errors."""


class DiscoveryConfigError(DiscoveryError, ValueError):
    """Group information that cannot be served (the message says which field)."""
