"""A component's configuration across deployments, as the nucleus resolves it (pure).

Follows ``KernelConfigResolver.resolveConfigurationToApply`` of aws-greengrass-nucleus and the merge rules of
its configuration store (``config/Topics.updateChild``, ``config/Topic.withNewerValue``):

1. start from the **running** configuration of the component (any version; ``None``: not installed → empty);
2. remove every key a ``reset`` pointer names (``""`` empties the whole configuration and ends the resets; a
   pointer that may name a list element — a segment that is an array index — is skipped with a note, as the
   nucleus logs and skips it);
3. merge the recipe's ``DefaultConfiguration`` *underneath*: a default only fills a key that is missing (the
   nucleus merges defaults with timestamp 1, older than any running value) — so a new version's defaults never
   overwrite running values, new keys are added, and only a reset brings a default back. Where the types differ
   (a running scalar where the default has a map, or the reverse) the default's node replaces it, as the
   store's ``updateChild`` does;
4. merge the deployment's ``merge`` document over it (maps key by key, lists and scalars replace).

Keys match case-insensitively (the nucleus' ``CaseInsensitiveString``); a key keeps the spelling it was
created with. ``merge`` arrives as a JSON string from the API; a dict is accepted too.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterable, Mapping

from .errors import ConfigurationError

_MISSING = object()
_ARRAY_INDEX = re.compile(r"^(0|[1-9][0-9]{0,9})$")


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


def _key(d: Mapping[str, Any], name: str) -> str | None:
    """The key of ``d`` that equals ``name`` ignoring case (the store's CaseInsensitiveString), or None."""
    if name in d:
        return name
    low = name.lower()
    return next((k for k in d if isinstance(k, str) and k.lower() == low), None)


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged over it: maps key by key, lists and scalars replace (a newer value wins).
    Inputs are not changed."""
    out = copy.deepcopy(dict(base))
    for k, v in patch.items():
        existing = _key(out, k)
        if isinstance(v, dict) and existing is not None and isinstance(out[existing], dict):
            out[existing] = deep_merge(out[existing], v)
        else:
            out[existing if existing is not None else k] = copy.deepcopy(v)
    return out


def merge_defaults(running: Mapping[str, Any], default: Mapping[str, Any]) -> dict[str, Any]:
    """``default`` merged *under* ``running``: only missing keys are added; a node whose type differs (map vs
    leaf) is replaced by the default's (``Topics.updateChild`` removes the existing child then)."""
    out = copy.deepcopy(dict(running))
    for k, dv in default.items():
        existing = _key(out, k)
        if existing is None:
            out[k] = copy.deepcopy(dv)
            continue
        cur = out[existing]
        if isinstance(dv, dict):
            out[existing] = merge_defaults(cur, dv) if isinstance(cur, dict) else copy.deepcopy(dv)
        elif isinstance(cur, dict):
            out[existing] = copy.deepcopy(dv)
    return out


def _remove(config: dict[str, Any], tokens: list[str]) -> None:
    parent: Any = config
    for tok in tokens[:-1]:
        k = _key(parent, tok) if isinstance(parent, dict) else None
        if k is None:
            return
        parent = parent[k]
    if isinstance(parent, dict):
        k = _key(parent, tokens[-1])
        if k is not None:
            del parent[k]


def parse_update(update: Mapping[str, Any] | None) -> tuple[list[str], dict[str, Any] | None]:
    """``(reset pointers, merge document or None)`` of a ``configurationUpdate``; ConfigurationError if malformed."""
    if not update:
        return [], None
    if not isinstance(update, Mapping):
        raise ConfigurationError("configurationUpdate must be a map with reset and/or merge")
    unknown = set(update) - {"reset", "merge"}
    if unknown:
        raise ConfigurationError(f"configurationUpdate has unknown keys {sorted(unknown)}; use reset and merge")
    resets = update.get("reset") or []
    if not isinstance(resets, list):
        raise ConfigurationError("configurationUpdate.reset must be a list of JSON pointers")
    for pointer in resets:
        parse_pointer(pointer)  # raises for a pointer that is not one
    merge = update.get("merge")
    if merge is None or merge == "":
        return list(resets), None
    if isinstance(merge, str):
        try:
            merge = json.loads(merge)
        except json.JSONDecodeError as e:
            raise ConfigurationError(f"configurationUpdate.merge is not valid JSON: {e}") from None
    if not isinstance(merge, dict):
        raise ConfigurationError("configurationUpdate.merge must be a JSON object")
    return list(resets), merge


def resolve_configuration(default: Mapping[str, Any], running: Mapping[str, Any] | None,
                          update: Mapping[str, Any] | None, notes: list[str] | None = None) -> dict[str, Any]:
    """The configuration a deployment gives a component (``KernelConfigResolver.resolveConfigurationToApply``).

    ``default``: the (new) recipe's DefaultConfiguration; ``running``: the configuration the component runs with
    now, whatever its version (None: not installed); ``update``: the deployment's ``configurationUpdate`` for it
    (None: the deployment does not update it, or it is not a root component of the deployment). Skipped resets
    are appended to ``notes`` when given."""
    resets, merge = parse_update(update)
    config = copy.deepcopy(dict(running or {}))
    for pointer in resets:
        tokens = parse_pointer(pointer)
        if not tokens:
            config = {}
            break  # the nucleus replaces the whole document and stops there
        if any(_ARRAY_INDEX.match(t) for t in tokens):
            if notes is not None:
                notes.append(f"reset {pointer!r} may point to an element of a list; the nucleus skips such a "
                             "reset (reset the whole list instead)")
            continue
        _remove(config, tokens)
    config = merge_defaults(config, default)
    return deep_merge(config, merge) if merge else config


def apply_update(default: Mapping[str, Any], current: Mapping[str, Any] | None,
                 update: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`resolve_configuration` without notes (``current`` None: a fresh install)."""
    return resolve_configuration(default, current, update)


def effective_configuration(default: Mapping[str, Any], updates: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """The configuration after a sequence of deployments' updates of one version, from a fresh install."""
    config: dict[str, Any] | None = None
    for u in updates:
        config = resolve_configuration(default, config, u)
    return merge_defaults({}, default) if config is None else config
