"""Settings from environment variables. A bad value raises :class:`ConfigError` naming the variable.

Every helper treats an unset or blank variable as "use the default" and strips whitespace.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple


class ConfigError(ValueError):
    """An environment variable has a value the function cannot use; the message names it."""


def text(env: Mapping[str, str], name: str, default: str) -> str:
    """The stripped value, or ``default`` when unset or blank."""
    return env.get(name, "").strip() or default


def choice(env: Mapping[str, str], name: str, default: str, choices: Tuple[str, ...]) -> str:
    """One of ``choices``, matched case-insensitively and returned as spelled in ``choices``."""
    value = text(env, name, default)
    for option in choices:
        if value.lower() == option.lower():
            return option
    raise ConfigError("{} must be one of {}, got {!r}".format(name, ", ".join(choices), value))


def _bound(minimum, maximum) -> str:
    return ">= {}".format(minimum) if maximum is None else "in {}..{}".format(minimum, maximum)


def integer(env: Mapping[str, str], name: str, default: int, minimum: Optional[int] = None,
            maximum: Optional[int] = None) -> int:
    """An int within ``minimum``..``maximum`` (either may be None: unbounded on that side).

    Errors: ``NAME must be an integer, got 'x'``, ``NAME must be >= 1, got 0``,
    ``NAME must be in 0..59000, got 60000`` (the parsed value).
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError("{} must be an integer, got {!r}".format(name, raw)) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is None:
            raise ConfigError("{} must be <= {}, got {}".format(name, maximum, value))
        raise ConfigError("{} must be {}, got {}".format(name, _bound(minimum, maximum), value))
    return value


def number(env: Mapping[str, str], name: str, default, kind=float, minimum=None, maximum=None):
    """A ``kind`` (float or int) within ``minimum``..``maximum`` (None: unbounded on that side).

    Errors quote the text as given: ``NAME must be a float number, got 'fast'``,
    ``NAME must be >= 1, got '0'``, ``NAME must be in 0..59000, got '60000'``.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError("{} must be a {} number, got {!r}".format(name, kind.__name__, raw)) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is None:
            raise ConfigError("{} must be <= {}, got {!r}".format(name, maximum, raw))
        raise ConfigError("{} must be {}, got {!r}".format(name, _bound(minimum, maximum), raw))
    return value
