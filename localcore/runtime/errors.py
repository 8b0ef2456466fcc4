"""Errors of the Lambda runtime."""
from __future__ import annotations


class RuntimeError_(Exception):
    """Base class (named with a trailing underscore so it does not shadow the builtin)."""


class FunctionConfigError(RuntimeError_):
    """A function cannot be started as configured (missing code dir or handler module, bad encoding).

    The message names every function and path involved, one problem per line.
    """


class UnknownFunctionError(RuntimeError_, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown function"


class RuntimeNotStarted(RuntimeError_):
    pass


class ConnectorError(RuntimeError_):
    """A connector cannot be set up (bad parameters, its file cannot be fetched). Names the connector."""
