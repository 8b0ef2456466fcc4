"""Reading ``group.yaml`` into the typed model (:mod:`group.sections`): best-effort schema parsing that keeps every
valid section and list item (:func:`parse_partial`), schema errors as issues with the path inside the file and
a fix pointing at ``docs/group-yaml.md``, and issue ordering by position in the file (:func:`in_file_order`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import yaml
from pydantic import BaseModel, ValidationError

from . import yaml_io
from .errors import Issue
from .sections import Core, Group, GroupInfo, _model_of

def bundle_root(group_file: Path | str) -> Path:
    """The bundle root a group file's code paths (``lambdas/<name>``, ``libraries``, ``compose_file``,
    ``cloud/``) are relative to: the folder holding ``group/`` when the file is ``<bundle>/group/<file>``,
    else the file's own folder. The one rule of every command (validate, plan, deploy, run)."""
    group_file = Path(group_file).resolve()
    return group_file.parent.parent if group_file.parent.name == "group" else group_file.parent


def _join(base: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else str(key)


def _ancestors(path: str) -> List[str]:
    """``functions[1].memory_mb`` -> ``['functions', 'functions[1]', 'functions[1].memory_mb']``."""
    out = [path[:m.start()] for m in re.finditer(r"[.\[]", path) if m.start() > 0]
    return out + [path] if path else out


DOC = "docs/group-yaml.md"
_FIXES = {
    "extra_forbidden": "remove the key or check its spelling against {doc}",
    "missing": "add the key (see {doc})",
    "string_pattern_mismatch": "use only the allowed characters",
    "literal_error": "use one of the listed values",
    "dict_type": "write it as key: value pairs (a YAML mapping, e.g. {{fps: 4}}; see {doc})",
    "list_type": "write it as a list (- item lines or [a, b]; see {doc})",
    "tuple_type": "write it as a list (- item lines or [a, b]; see {doc})",
}
# every schema error gets a fix: the reference section of the model says what the key takes
_FIX_OTHERWISE = "give the value the type and range {doc} documents"


def doc_anchor(cls: type) -> str:
    """Where the reference documents the keys of model ``cls``: ``docs/group-yaml.md#<class name>``
    (every model class has a ``### <ClassName>`` section there)."""
    return f"{DOC}#{cls.__name__.lower()}"


def _loc(e: Dict[str, Any]) -> Tuple[Any, ...]:
    # pydantic adds validator tags (``function-after[...]``) to locations; they are not keys of the file
    return tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _issue_of(file: str, base: str, e: Dict[str, Any], cls: Optional[type] = None) -> Issue:
    loc = _loc(e)
    path = base
    for part in loc:
        path = _join(path, part)
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = f"unknown key '{loc[-1]}'"
    elif e["type"] == "string_pattern_mismatch":
        msg = f"{msg} (got {e.get('input')!r})"
    return Issue(file, path, msg, _FIXES.get(e["type"], _FIX_OTHERWISE).format(doc=doc_anchor(cls or Group)))


@dataclass
class Parsed:
    """What best-effort parsing learned besides the model: the schema issues, which paths of the file
    failed (``broken``), where kept list items sat in the file (``index``: a list's path -> the file
    index of each kept item) and the names declared by items that failed (``unchecked``: references to
    them are not reported again)."""

    issues: List[Issue] = field(default_factory=list)
    broken: Set[str] = field(default_factory=set)
    index: Dict[str, List[int]] = field(default_factory=dict)
    unchecked: Set[str] = field(default_factory=set)

    def at(self, container: str, i: int) -> str:
        """The file path of item ``i`` of the parsed list at ``container`` (items that failed are gone)."""
        idx = self.index.get(container)
        return f"{container}[{idx[i] if idx is not None else i}]"

    def ok(self, path: str) -> bool:
        """Whether nothing at ``path`` or above it failed the schema."""
        return not any(p in self.broken for p in _ancestors(path))


# names that an item of a list declares (references to a failed item are not reported again)
_DECLARES = {"functions": "name", "devices": "thing", "resources": "name", "connectors": "name"}


def _salvage(cls: type, raw: Any, path: str, file: str,
             out: Parsed) -> Tuple[Optional[BaseModel], Dict[str, Any]]:
    """Validate ``raw`` as ``cls``; on failure keep every key that is valid, report the others, and
    validate what is left. Lists of models are salvaged item by item (a failing item is dropped).
    Returns ``(model or None, the valid keys)``."""
    try:
        return cls.model_validate(raw), {}
    except ValidationError as err:
        errors = err.errors()
    if not isinstance(raw, dict):
        out.issues.extend(_issue_of(file, path, e, cls) for e in errors)
        out.broken.add(path)
        return None, {}
    clean: Dict[str, Any] = {}
    for key, value in raw.items():
        here = _join(path, key)
        info = cls.model_fields.get(key) if isinstance(key, str) else None
        if info is None:  # unknown key
            continue
        sub, many = _model_of(info.annotation)
        if sub is not None and many and isinstance(value, list):
            kept, idx = [], []
            for i, item in enumerate(value):
                model, _ = _salvage(sub, item, f"{here}[{i}]", file, out)
                if model is not None:
                    kept.append(model)
                    idx.append(i)
                elif isinstance(item, dict) and isinstance(item.get(_DECLARES.get(here, "")), str):
                    out.unchecked.add(item[_DECLARES[here]])
            if len(idx) != len(value):
                out.index[here] = idx
            clean[key] = tuple(kept)
        elif sub is not None and not many and isinstance(value, dict):
            model, _ = _salvage(sub, value, here, file, out)
            if model is None:
                out.broken.add(here)
            else:
                clean[key] = model
        else:
            mine = [e for e in errors if _loc(e)[:1] == (key,)]
            if mine:
                out.issues.extend(_issue_of(file, path, e, cls) for e in mine)
                out.broken.add(here)
            else:
                clean[key] = value
    # unknown keys and missing required keys of this model: reported from the whole-model errors
    for e in errors:
        loc = _loc(e)
        if e["type"] in ("extra_forbidden", "missing") and len(loc) == 1:
            out.issues.append(_issue_of(file, path, e, cls))
            if e["type"] == "missing":
                out.broken.add(_join(path, loc[0]))
    try:
        return cls.model_validate(clean), clean
    except ValidationError:
        out.broken.add(path)  # a required key is missing or invalid: reported above
        return None, clean


def parse(data: Any, file: str = "group.yaml") -> Tuple[Optional[Group], List[Issue]]:
    """Type-check ``data`` (already loaded YAML): ``(Group, [])`` when the schema holds.

    Otherwise ``(best-effort Group, schema issues)``: every valid section and list item, the failed
    items left out (their errors kept) — a Group for :func:`check` only, never for deploying. ``None``
    when the top is not a mapping. :func:`parse_partial` also returns what the checks need to know.
    """
    group, parsed = parse_partial(data, file)
    return group, parsed.issues


def parse_partial(data: Any, file: str = "group.yaml") -> Tuple[Optional[Group], Parsed]:
    """:func:`parse`, returning the :class:`Parsed` record (issues, broken paths, kept indices)."""
    parsed = Parsed()
    if not isinstance(data, dict):
        parsed.issues.append(Issue(file, "", "the file must hold a YAML mapping at the top",
                                   "start with 'group:'"))
        return None, parsed
    group, clean = _salvage(Group, data, "", file, parsed)
    if group is None:
        # group/core missing or invalid: stand-ins (the checks skip what depends on them)
        for key, cls in (("group", GroupInfo), ("core", Core)):
            if not isinstance(clean.get(key), cls):
                raw = data.get(key) if isinstance(data.get(key), dict) else {}
                _, fields = _salvage(cls, raw, key, file, Parsed())
                clean[key] = cls.model_construct(**{k: fields.get(k) for k in cls.model_fields
                                                    if k in fields or cls.model_fields[k].is_required()})
                parsed.broken.add(key)
                if key == "core" and isinstance(raw.get("thing"), str):
                    parsed.unchecked.add(raw["thing"])
        group = Group.model_construct(**clean)
    return group, parsed


def lines_of(text: str) -> Dict[str, Tuple[int, int]]:
    """``path -> (line, column)`` (1-based) of every key and list item of the YAML text."""
    out: Dict[str, Tuple[int, int]] = {}
    root = yaml_io.compose(text)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    here = _join(path, key.value)
                    out.setdefault(here, (key.start_mark.line + 1, key.start_mark.column + 1))
                    walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = _join(path, i)
                out.setdefault(here, (item.start_mark.line + 1, item.start_mark.column + 1))
                walk(item, here)

    if root is not None:
        out[""] = (root.start_mark.line + 1, root.start_mark.column + 1)
        walk(root, "")
    return out


def in_file_order(issues: List[Issue], lines: Dict[str, Tuple[int, int]]) -> List[Issue]:
    """``issues`` without duplicates, each with the ``line`` of its path (or of the nearest enclosing
    key that the file has), sorted by position in the file; the order found breaks ties."""
    seen: Set[Tuple[str, str, str]] = set()
    keyed = []
    for n, issue in enumerate(issues):
        key = (issue.severity, issue.path, issue.message)
        if key in seen:
            continue
        seen.add(key)
        pos = next((lines[p] for p in reversed(_ancestors(issue.path)) if p in lines), lines.get(""))
        if pos is not None and issue.line is None:
            issue = replace(issue, line=pos[0])
        keyed.append(((pos or (issue.line or 0, 0)), n, issue))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]
