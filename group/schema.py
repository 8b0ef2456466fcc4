"""The JSON Schema of the group file, generated from the model: ``python -m group.schema``.

Writes ``group/group.schema.json`` (pydantic's ``model_json_schema()`` of :class:`group.model.Group`,
pretty, sorted keys, trailing newline) so editors (``# yaml-language-server: $schema=group.schema.json``
on top of the group file) complete and check the file as it is typed. ``--check`` exits 1 when the
file on disk differs from what the model gives (a unit test does the same). The schema holds what one
key can say (types, patterns, ranges, unknown keys); rules across the file stay in ``model.check``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .model import DOC, Group

SCHEMA_FILE = Path(__file__).resolve().with_name("group.schema.json")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema() -> Dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a group file."""
    out = Group.model_json_schema()
    out["$schema"] = DIALECT
    out["title"] = "Greengrass group bundle: group.yaml"
    out["description"] = ("One Greengrass group: core, devices, functions, subscriptions, resources. "
                          f"Reference: {DOC}")
    return out


def render() -> str:
    """The schema file's exact text: 2-space indent, sorted keys, UTF-8 as is, a trailing newline."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m group.schema", description=__doc__.split("\n\n")[0])
    p.add_argument("--output", type=Path, default=SCHEMA_FILE,
                   help=f"where to write (default {SCHEMA_FILE.name})")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is stale")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        try:
            current = args.output.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"{args.output}: cannot read it ({exc.strerror}); run: python -m group.schema",
                  file=sys.stderr)
            return 1
        if current != text:
            print(f"{args.output} is stale (the model changed); run: python -m group.schema", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
