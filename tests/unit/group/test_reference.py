"""The group file reference (docs/group-yaml.md) and the JSON Schema stay true to the model.

Issue #12, item 2:

* every model class reachable from ``Group`` has a ``### <ClassName>`` section whose table has exactly one
  row per field (``| `field` |``), required fields marked **required**, and a YAML example that the
  model accepts;
* every ``docs/group-yaml.md#anchor`` that a fix text or the doc itself names is a real heading;
* ``group/group.schema.json`` is what ``python -m group.schema`` writes today, it accepts the seed
  ``group/group.yaml`` and rejects a misspelt key, and the seed's first line points editors at it.
"""
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

import group.sections as model  # the module that defines the model classes
from group import schema as group_schema
from group.errors import GroupValidationError
from group.model import Group, doc_anchor, load, parse

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "group-yaml.md"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|")
BASE = {"group": {"name": "doc"}, "core": {"thing": "Doc_Core"}}


def models(cls=Group, seen=None):
    """Every model class reachable from ``cls`` through its fields, ``cls`` first."""
    seen = [] if seen is None else seen
    if cls in seen:
        return seen
    seen.append(cls)
    for info in cls.model_fields.values():
        sub, _ = model._model_of(info.annotation)
        if sub is not None:
            models(sub, seen)
    return seen


def sections():
    """``heading text -> lines`` of every ``###`` section of the doc (up to the next heading)."""
    out, current = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            current = line[4:].strip() if line.startswith("### ") else None
            if current is not None:
                assert current not in out, f"two sections named {current!r}"
                out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def rows(lines):
    """``field -> cells`` of the section's table rows that start with a key in backticks."""
    out = {}
    for line in lines:
        m = ROW.match(line)
        if m:
            assert m.group(1) not in out, f"two rows for {m.group(1)!r}"
            out[m.group(1)] = [c.strip() for c in line.strip().strip("|").split(" | ")]
    return out


def yaml_blocks(lines):
    text, out, block = "\n".join(lines), [], None
    for line in text.splitlines():
        if block is None and line.strip() == "```yaml":
            block = []
        elif block is not None and line.strip() == "```":
            out.append("\n".join(block))
            block = None
        elif block is not None:
            block.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_walk_reaches_every_model_class_of_the_module():
    defined = {obj for obj in vars(model).values()
               if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == model.__name__
               and obj is not model._Model}
    assert set(models()) == defined
    assert len(defined) >= 19


@pytest.mark.parametrize("cls", models(), ids=lambda c: c.__name__)
def test_every_field_has_a_row_in_its_models_section(cls):
    doc = sections()
    assert cls.__name__ in doc, f"docs/group-yaml.md has no '### {cls.__name__}' section"
    table = rows(doc[cls.__name__])
    fields = set(cls.model_fields)
    missing, extra = sorted(fields - set(table)), sorted(set(table) - fields)
    assert not missing, f"{cls.__name__}: keys missing from the doc: {missing}"
    assert not extra, f"{cls.__name__}: the doc lists keys the model lacks: {extra}"
    for name, info in cls.model_fields.items():
        cells = table[name]
        where = f"{cls.__name__}.{name}"
        assert len(cells) == 6, f"{where}: want 6 cells (key, type, default, limits, V1, V2): {cells}"
        assert (cells[2] == "**required**") == info.is_required(), f"{where}: default cell {cells[2]!r}"
        assert all(cells), f"{where}: empty cell"


@pytest.mark.parametrize("cls", models(), ids=lambda c: c.__name__)
def test_every_models_section_has_an_example_the_model_accepts(cls):
    blocks = yaml_blocks(sections()[cls.__name__])
    assert blocks, f"### {cls.__name__} has no ```yaml example"
    for text in blocks:
        data = yaml.safe_load(text)
        assert isinstance(data, dict), text
        _, issues = parse({**BASE, **data}, "docs/group-yaml.md")
        assert issues == [], "\n".join(map(str, issues)) + "\n" + text


def test_the_whole_file_example_is_valid():
    text = DOC.read_text(encoding="utf-8")
    whole = text.split("## A whole file", 1)[1]
    [block] = yaml_blocks(whole.split("\n## ", 1)[0].splitlines())
    g, issues = parse(yaml.safe_load(block))
    assert issues == [] and g.functions[0].name == "collector"


def test_every_anchor_named_by_fixes_and_links_is_a_heading():
    text = DOC.read_text(encoding="utf-8")
    anchors = {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"^#{1,6} ", line)}
    named = set()
    for module in ("model.py", "sections.py", "loading.py", "checks.py"):  # group/model.py and its parts
        named |= set(re.findall(r"docs/group-yaml\.md#([\w\-]+)", (ROOT / "group" / module).read_text()))
    named |= {doc_anchor(cls).split("#", 1)[1] for cls in models()}
    named |= set(re.findall(r"\]\(#([\w\-]+)\)", text))
    assert named - anchors == set(), f"anchors with no heading: {sorted(named - anchors)}"
    assert "function" in named and "runas" in named


def test_a_fix_text_sends_the_user_to_the_models_section(tmp_path):
    (tmp_path / "group").mkdir()
    f = tmp_path / "group" / "group.yaml"
    f.write_text("group: {name: g}\ncore: {thing: C, colour: red}\nloggers: [{component: Lambda}]\n")
    with pytest.raises(GroupValidationError) as exc:
        load(f)
    fixes = {i.path: i.fix for i in exc.value.issues}
    assert fixes["core.colour"].endswith("docs/group-yaml.md#core")
    assert fixes["loggers[0].type"] == "add the key (see docs/group-yaml.md#logger)"
    headings = sections()
    assert "Core" in headings and "Logger" in headings


def test_the_schema_file_is_what_the_model_gives():
    assert group_schema.SCHEMA_FILE == ROOT / "group" / "group.schema.json"
    assert group_schema.SCHEMA_FILE.read_text(encoding="utf-8") == group_schema.render(), \
        "group/group.schema.json is stale: run python -m group.schema"


def test_the_generator_writes_and_checks(tmp_path, capsys):
    out = tmp_path / "schema.json"
    assert group_schema.main(["--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text == group_schema.render() and text.endswith("}\n")
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert group_schema.main(["--output", str(out), "--check"]) == 0
    out.write_text(text.replace('"title"', '"Title"', 1), encoding="utf-8")
    assert group_schema.main(["--output", str(out), "--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_the_schema_accepts_the_seed_and_rejects_a_misspelt_key():
    doc = json.loads(group_schema.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    validator = jsonschema.Draft202012Validator(doc)
    seed = yaml.safe_load((ROOT / "group" / "group.yaml").read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(seed)] == []
    seed["functions"][0]["memroy_mb"] = 128
    seed["subscriptions"][0]["topic"] = 7
    errors = sorted((list(e.path), e.validator) for e in validator.iter_errors(seed))
    assert errors == [(["functions", 0], "additionalProperties"), (["subscriptions", 0, "topic"], "type")]


def test_the_seed_group_file_points_editors_at_the_schema():
    first = (ROOT / "group" / "group.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=group.schema.json"
    assert (ROOT / "group" / first.split("$schema=", 1)[1]).is_file()
