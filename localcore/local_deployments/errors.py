"""Errors of the core's local deployments (one tree, documented here).

* :class:`RequestError`: a ``CreateLocalDeployment`` request the core refuses before queuing it (a field of the
  wrong shape, a thing group name with a colon); the IPC operation answers ``InvalidArgumentsError`` with it.
* :class:`StoreError`: the recipes or artifacts of a local deployment could not be read or copied into the core's
  component store (a recipe that does not parse, a GDK project that cannot be used, a folder that cannot be
  read); the deployment ends FAILED with it, as the nucleus' ``copyRecipesAndArtifacts`` failure does.
"""
from __future__ import annotations

from typing import Sequence


class LocalDeploymentError(Exception):
    """Base class of every error of this package."""


class RequestError(LocalDeploymentError, ValueError):
    """A local deployment request that is not well formed (``where``: the request field)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class StoreError(LocalDeploymentError):
    """Recipes or artifacts that cannot be put into the component store. ``codes``: the nucleus'
    ``DeploymentErrorCode`` stack of the failure."""

    def __init__(self, message: str, codes: Sequence[str] = ("IO_ERROR", "IO_WRITE_ERROR")) -> None:
        super().__init__(message)
        self.codes = tuple(codes)
