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


def _parsed(env: Mapping[str, str], name: str, default, kind, what: str, minimum, maximum, quote: bool):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError("{} must be {}, got {!r}".format(name, what, raw)) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is None:
            bound = "<= {}".format(maximum)
        elif maximum is None:
            bound = ">= {}".format(minimum)
        else:
            bound = "in {}..{}".format(minimum, maximum)
        raise ConfigError("{} must be {}, got {}".format(name, bound, repr(raw) if quote else value))
    return value


def integer(env: Mapping[str, str], name: str, default: int, minimum: Optional[int] = None,
            maximum: Optional[int] = None) -> int:
    """An int within ``minimum``..``maximum`` (either may be None: unbounded on that side).

    Errors: ``NAME must be an integer, got 'x'``, ``NAME must be >= 1, got 0``,
    ``NAME must be in 0..59000, got 60000`` (the parsed value).
    """
    return _parsed(env, name, default, int, "an integer", minimum, maximum, quote=False)


def number(env: Mapping[str, str], name: str, default, kind=float, minimum=None, maximum=None,
           what: Optional[str] = None):
    """A ``kind`` (float or int) within ``minimum``..``maximum`` (None: unbounded on that side).

    Errors quote the text as given: ``NAME must be a float number, got 'fast'``,
    ``NAME must be >= 1, got '0'``, ``NAME must be in 0..59000, got '60000'``. ``what`` replaces
    ``a <kind> number`` in the first one (e.g. ``"an integer"``: ``NAME must be an integer, got 'x'``).
    """
    if what is None:
        what = "a {} number".format(kind.__name__)
    return _parsed(env, name, default, kind, what, minimum, maximum, quote=True)
