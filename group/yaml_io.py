"""YAML reading for the files the tool parses (group files, recipes, GDK project configurations).

PyYAML's pure-Python parser costs ~30 ms for the seed ``group.yaml`` — and a group file is read by every command,
several times by a deploy — while its libyaml parser (in PyYAML's wheels) reads it in ~3 ms with the same
resolvers and constructors (only the parser is native). ``SafeLoader`` is that one where the installed PyYAML has
it, the pure-Python one otherwise. Writing stays on PyYAML's pure-Python emitter: exported files keep their layout.
"""
from __future__ import annotations

from typing import Any

import yaml

SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` on ``SafeLoader``."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def compose(text: str) -> Any:
    """``yaml.compose`` (the node tree, with each node's line and column) on ``SafeLoader``."""
    return yaml.compose(text, Loader=SafeLoader)
