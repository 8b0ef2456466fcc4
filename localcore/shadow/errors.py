"""Errors of the shadow package."""
from __future__ import annotations


class ShadowError(Exception):
    """Base class of shadow errors."""


class BadShadowRequest(ShadowError, ValueError):
    """A call the shadow service cannot take (unknown action, invalid thing name)."""


class ShadowStoreError(ShadowError):
    """A persisted shadow document that cannot be read; the message names the file."""
