"""Errors of the shadow package."""
from __future__ import annotations


class ShadowError(Exception):
    """Base class of shadow errors."""


class BadShadowRequest(ShadowError, ValueError):
    """A call the shadow service cannot take (unknown action, invalid thing name)."""


class ShadowStoreError(ShadowError):
    """A persisted shadow document that cannot be read; the message names the file."""


class ShadowManagerConfigError(ShadowError, ValueError):
    """A configuration of ``aws.greengrass.ShadowManager`` the component refuses (the message is its text)."""


class ThrottledRequest(ShadowError):
    """A local shadow request over the ShadowManager's ``rateLimits`` (the message is the component's)."""
