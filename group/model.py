"""The group model: ``group/group.yaml`` as typed, frozen objects, validated before any AWS call.

``load(path)`` parses and validates everything and returns ``(Group, issues)``; it raises
:class:`GroupValidationError` carrying **all** errors at once: schema errors and the rules across the
file together (the checks run on whatever parsed, see :func:`parse_partial`), deduplicated, in file
order. Each issue names the file, the line, the path inside it (``functions[2].memory_mb``) and the fix;
fixes point at the key's section of ``docs/group-yaml.md``. Code paths resolve against
:func:`bundle_root` of the file, for every command.

Symbolic references only: subscriptions name devices by thing name, functions by their name,
``cloud``, and ``shadow:<thing>``; function resources name resources by ``ref``. ARNs are made by
``group/v1/`` and ``group/v2/``, never typed by hand.

The public surface of three modules, each one thing: :mod:`group.sections` (the typed sections),
:mod:`group.loading` (schema parsing, issues, file order) and :mod:`group.checks` (the rules across the file);
:func:`load` puts them together.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import yaml

from . import yaml_io
from .checks import check
from .errors import GroupValidationError, Issue
from .loading import DOC, Parsed, bundle_root, doc_anchor, in_file_order, lines_of, parse, parse_partial
from .sections import (CLOUD, COMPONENT_DIR_RE, DEFAULT_RUNTIME, DOCKER_CONNECTOR, MIN_MEMORY_MB, NAME_RE,
                       RECIPE_SUFFIXES, SHADOW_PREFIX, SHADOW_REPLIES, SHADOW_REQUESTS, SHADOW_TOPIC_RE,
                       SUPPORTED_RUNTIMES, THING_RE, CloudFunction, CloudResources, Component, ComponentRunWith,
                       ConfigurationUpdate, Connectivity, Connector, Core, Device, Function, Group, GroupInfo,
                       KinesisStream, Logger, Resource, ResourceAccess, RunAs, StreamDoc, StreamManager,
                       Subscription, Table, Volume)


def load(path: Path | str, root: Optional[Path] = None) -> Tuple[Group, List[Issue]]:
    """Load and fully validate a group file; raise GroupValidationError with every error found.

    Schema and semantic errors come together, without duplicates, in the order of the file (each
    issue carries its ``line``). ``root`` is the bundle root that code paths are relative to
    (default: :func:`bundle_root` of the file).
    """
    path = Path(path)
    file = str(path)
    if root is None:
        root = bundle_root(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GroupValidationError([Issue(file, "", f"cannot read the file: {exc.strerror}",
                                          "pass --group-file with an existing file")]) from None
    try:
        data = yaml_io.safe_load(text)
        lines = lines_of(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        line = mark.line + 1 if mark else None
        raise GroupValidationError([Issue(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                          "fix the YAML syntax", line=line)]) from None
    group, parsed = parse_partial(data, file)
    issues = list(parsed.issues)
    if group is not None:
        issues += check(group, file, root, parsed)
    issues = in_file_order(issues, lines)
    if group is None or any(i.severity == "error" for i in issues):
        raise GroupValidationError(issues)
    return group, issues


__all__ = [
    "CLOUD", "COMPONENT_DIR_RE", "DEFAULT_RUNTIME", "DOC", "DOCKER_CONNECTOR", "MIN_MEMORY_MB", "NAME_RE",
    "RECIPE_SUFFIXES", "SHADOW_PREFIX", "SHADOW_REPLIES", "SHADOW_REQUESTS", "SHADOW_TOPIC_RE",
    "SUPPORTED_RUNTIMES", "THING_RE", "CloudFunction", "CloudResources", "Component", "ComponentRunWith",
    "ConfigurationUpdate", "Connectivity", "Connector", "Core", "Device", "Function", "Group", "GroupInfo",
    "GroupValidationError", "Issue", "KinesisStream", "Logger", "Parsed", "Resource", "ResourceAccess", "RunAs",
    "StreamDoc", "StreamManager", "Subscription", "Table", "Volume", "bundle_root", "check", "doc_anchor",
    "in_file_order", "lines_of", "load", "parse", "parse_partial",
]
