"""A component's configuration: ``DefaultConfiguration`` and a deployment's ``configurationUpdate`` (pure).

Semantics of the V2 developer guide ("Update component configurations"): **reset runs before merge**.
Each ``reset`` entry is a JSON pointer; ``""`` resets the whole configuration to the default; any other
pointer sets that key back to its default value, or deletes it when the default has none. ``merge`` is
then deep-merged: maps merge key by key, everything else (lists included) replaces. The API sends
``merge`` as a JSON string; a dict is accepted too.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping

from .errors import ConfigurationError

_MISSING = object()
_ABSENT = object()


def parse_pointer(pointer: str) -> list[str]:
    """Split an RFC 6901 JSON pointer into its unescaped tokens (``""`` → ``[]``)."""
    if not isinstance(pointer, str):
        raise ConfigurationError(f"JSON pointer {pointer!r} is not a string")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ConfigurationError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def resolve_pointer(doc: Any, pointer: str, default: Any = _MISSING) -> Any:
    """The value at ``pointer`` in ``doc`` (maps by key, lists by index); ``default`` (or KeyError) if absent."""
    cur = doc
    for tok in parse_pointer(pointer):
        if isinstance(cur, dict) and tok in cur:
            cur = cur[tok]
        elif isinstance(cur, list) and tok.isdigit() and int(tok) < len(cur):
            cur = cur[int(tok)]
        else:
            if default is _MISSING:
                raise KeyError(pointer)
            return default
    return cur


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in: maps recursively, lists and scalars replace. Inputs are not changed."""
    out = copy.deepcopy(dict(base))
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _reset(config: dict[str, Any], default: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    tokens = parse_pointer(pointer)
    if not tokens:
        return copy.deepcopy(dict(default))
    parent = config
    for tok in tokens[:-1]:
        nxt = parent.get(tok) if isinstance(parent, dict) else None
        if isinstance(nxt, list):
            raise ConfigurationError(f"reset {pointer!r} points inside a list; reset the whole list instead")
        if not isinstance(nxt, dict):
            return config  # nothing there to reset
        parent = nxt
    if not isinstance(parent, dict):
        return config
    value = resolve_pointer(default, pointer, _ABSENT)
    if value is _ABSENT:
        parent.pop(tokens[-1], None)
    else:
        parent[tokens[-1]] = copy.deepcopy(value)
    return config


def apply_update(default: Mapping[str, Any], current: Mapping[str, Any] | None,
                 update: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configuration after one ``configurationUpdate`` (``{"reset": [...], "merge": ...}``) on ``current``.

    ``current`` is the configuration already on the device (``None``: a fresh install, i.e. the default).
    """
    config = copy.deepcopy(dict(default if current is None else current))
    if not update:
        return config
    unknown = set(update) - {"reset", "merge"}
    if unknown:
        raise ConfigurationError(f"configurationUpdate has unknown keys {sorted(unknown)}; use reset and merge")
    resets = update.get("reset") or []
    if not isinstance(resets, list):
        raise ConfigurationError("configurationUpdate.reset must be a list of JSON pointers")
    for pointer in resets:
        config = _reset(config, default, pointer)
    merge = update.get("merge")
    if merge is None or merge == "":
        return config
    if isinstance(merge, str):
        try:
            merge = json.loads(merge)
        except json.JSONDecodeError as e:
            raise ConfigurationError(f"configurationUpdate.merge is not valid JSON: {e}") from None
    if not isinstance(merge, dict):
        raise ConfigurationError("configurationUpdate.merge must be a JSON object")
    return deep_merge(config, merge)


def effective_configuration(default: Mapping[str, Any], updates: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """The configuration after a sequence of deployments' updates, starting from a fresh install."""
    config: dict[str, Any] | None = None
    for u in updates:
        config = apply_update(default, config, u)
    return copy.deepcopy(dict(default)) if config is None else config
