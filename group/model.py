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
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Set, Tuple, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import topics
from .errors import GroupValidationError, Issue

NAME_RE = r"^[A-Za-z0-9_\-]{1,128}$"
THING_RE = r"^[A-Za-z0-9:_\-]{1,128}$"
CLOUD = "cloud"
SHADOW_PREFIX = "shadow:"
MIN_MEMORY_MB = 16
SHADOW_TOPIC_RE = re.compile(r"^\$aws/things/([^/]+)/shadow/(.*)$")
# Topics a shadow service accepts requests on, and the ones it publishes.
SHADOW_REQUESTS = ("update", "get", "delete")
SHADOW_REPLIES = (
    "update/accepted", "update/rejected", "update/delta", "update/documents",
    "get/accepted", "get/rejected", "delete/accepted", "delete/rejected",
)
# Python runtimes of AWS Lambda. Greengrass V1 cores ran python3.7/3.8 (the local core runs any of these
# with this machine's interpreter); Lambda creates only python3.12+ today (2026), which is what a V2
# import needs: the default is the oldest one Lambda still creates (``validate --platform v2`` warns
# about the others, with the dates).
SUPPORTED_RUNTIMES = ("python3.7", "python3.8", "python3.9", "python3.10", "python3.11", "python3.12",
                      "python3.13")
DEFAULT_RUNTIME = "python3.12"
DOCKER_CONNECTOR = "DockerApplicationDeployment"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class GroupInfo(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,128}$")
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class Connectivity(_Model):
    host: str = Field(min_length=1)
    port: int = Field(default=8883, ge=0, le=65535)
    metadata: str = ""
    id: Optional[str] = None


class Core(_Model):
    thing: str = Field(pattern=THING_RE)
    connectivity: Tuple[Connectivity, ...] = (Connectivity(host="127.0.0.1", port=8883),)
    sync_shadow: bool = False
    ram_mb: int = Field(default=1024, ge=64, description="RAM of the core device; upper bound for functions")


class Device(_Model):
    thing: str = Field(pattern=THING_RE)
    sync_shadow: bool = False


class RunAs(_Model):
    uid: int = Field(ge=0)
    gid: int = Field(ge=0)


class ResourceAccess(_Model):
    ref: str
    permission: Literal["ro", "rw"] = "ro"


class Function(_Model):
    name: str = Field(pattern=NAME_RE)
    path: Optional[str] = None  # code directory; default lambdas/<name>
    code: Optional[Literal["pending"]] = None  # "pending": handler not written yet (warning)
    handler: str = Field(default="handler.function_handler", pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    runtime: str = DEFAULT_RUNTIME
    pinned: bool = False
    max_instances: Optional[int] = Field(default=None, ge=1, le=100)  # on-demand pool size
    memory_mb: Optional[int] = None
    timeout_s: int = 3
    encoding: Literal["json", "binary"] = "json"
    environment: Dict[str, str] = Field(default_factory=dict)
    isolation: Literal["GreengrassContainer", "NoContainer"] = "GreengrassContainer"
    run_as: Optional[RunAs] = None
    access_sysfs: bool = False
    resources: Tuple[ResourceAccess, ...] = ()
    # shared code folders (e.g. lambdas/_lib): their contents go to the package root / sys.path
    libraries: Tuple[str, ...] = ()

    def code_dir(self, root: Path) -> Path:
        return (root / (self.path or f"lambdas/{self.name}")).resolve()

    def library_dirs(self, root: Path) -> List[Path]:
        return [(root / lib).resolve() for lib in self.libraries]

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]


class Subscription(_Model):
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    topic: str
    id: Optional[str] = None


class Volume(_Model):
    source: str = Field(pattern=r"^/")
    dest: str = Field(pattern=r"^/")


class Resource(_Model):
    name: str = Field(pattern=NAME_RE)
    device: Optional[str] = Field(default=None, pattern=r"^/dev/")
    volume: Optional[Volume] = None
    group_owner: bool = True


class StreamManager(_Model):
    enabled: bool = True
    store_root: Optional[str] = None
    port: int = Field(default=8088, ge=0, le=65535)
    authenticate_client: bool = True
    exporter_thread_pool_size: Optional[int] = Field(default=None, ge=1)
    exporter_max_bandwidth_kbps: Optional[int] = Field(default=None, ge=1)  # kilobits/s, None = unlimited


class StreamDoc(_Model):
    """Documentation of a stream a Lambda creates (the Lambda owns the definition)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_ ,.\-]{1,255}$")
    created_by: Optional[str] = None
    max_size_mb: Optional[int] = Field(default=None, ge=1)
    strategy: Literal["RejectNewData", "OverwriteOldestData"] = "RejectNewData"
    persistence: Literal["File", "Memory"] = "File"
    export: Optional[str] = None
    priority: Optional[int] = Field(default=None, ge=1, le=10)
    description: str = ""


class Logger(_Model):
    component: Literal["GreengrassSystem", "Lambda"]
    type: Literal["FileSystem", "AWSCloudWatch"]
    level: Literal["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] = "INFO"
    space_kb: Optional[int] = Field(default=None, ge=128)
    id: Optional[str] = None


class Connector(_Model):
    name: str = Field(pattern=NAME_RE)
    arn: str = Field(pattern=r"^arn:aws[a-z\-]*:greengrass:[a-z0-9\-]*::/connectors/[A-Za-z0-9]+/versions/\d+$")
    parameters: Dict[str, Any] = Field(default_factory=dict)
    # Docker application deployment connector: the compose file deploy uploads to
    # DockerComposeFileS3Bucket/Key (path relative to the bundle root; not sent to Greengrass)
    compose_file: Optional[str] = None

    @property
    def kind(self) -> str:
        return self.arn.split("/connectors/")[1].split("/")[0]


class CloudFunction(_Model):
    """A Lambda that runs in the cloud, not on the core (e.g. the snapshot API)."""

    name: str = Field(pattern=NAME_RE)
    path: Optional[str] = None
    handler: str = Field(default="handler.lambda_handler", pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    runtime: str = "python3.12"
    memory_mb: int = Field(default=512, ge=128, le=10240)
    timeout_s: int = Field(default=10, ge=1, le=900)
    environment: Dict[str, str] = Field(default_factory=dict)
    route: Optional[str] = Field(default=None, pattern=r"^(GET|POST|PUT|DELETE|ANY) /[\w/{}\-]*$")

    def code_dir(self, root: Path) -> Path:
        return (root / (self.path or f"cloud/{self.name}")).resolve()


class Table(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{3,255}$")
    hash_key: str
    hash_key_type: Literal["S", "N", "B"] = "S"


class KinesisStream(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    shards: int = Field(default=1, ge=1)


class CloudResources(_Model):
    tables: Tuple[Table, ...] = ()
    buckets: Tuple[str, ...] = ()
    kinesis_streams: Tuple[KinesisStream, ...] = ()
    iotanalytics_channels: Tuple[str, ...] = ()
    video_streams: Tuple[str, ...] = ()
    functions: Tuple[CloudFunction, ...] = ()


COMPONENT_DIR_RE = r"^components/[A-Za-z0-9_.\-]+/?$"
RECIPE_SUFFIXES = (".yaml", ".yml", ".json")


class ConfigurationUpdate(_Model):
    """The deployment's ``configurationUpdate`` of a generic component (applied over its recipe's
    ``DefaultConfiguration``: ``reset`` first, then ``merge``)."""

    merge: Dict[str, Any] = Field(default_factory=dict)
    reset: Tuple[str, ...] = ()  # JSON pointers ("" = the whole configuration)


class ComponentRunWith(_Model):
    posix_user: str = Field(pattern=r"^[^:\s]+(:[^:\s]+)?$")  # user or user:group


class Component(_Model):
    """A V2 generic component of the bundle: a folder ``components/<dir>`` with its recipe and the
    artifact files the recipe names (platform v2 only; V1 ignores it)."""

    path: str = Field(pattern=COMPONENT_DIR_RE)
    name: Optional[str] = Field(default=None, pattern=r"^[a-zA-Z0-9\-_.]{1,128}$")  # must equal ComponentName
    recipe: Optional[str] = Field(default=None, pattern=r"^[^/\\]+\.(yaml|yml|json)$")  # file in the folder
    configuration_update: Optional[ConfigurationUpdate] = None
    run_with: Optional[ComponentRunWith] = None

    def folder(self, root: Path) -> Path:
        return (root / self.path).resolve()

    def recipe_file(self, root: Path) -> Tuple[Optional[Path], str]:
        """``(recipe path, "")``, or ``(None, what is wrong)``: ``recipe`` if given, else the one file of the
        folder (``.yaml``/``.yml``/``.json``) that has a ``RecipeFormatVersion`` key."""
        folder = self.folder(root)
        if not folder.is_dir():
            return None, f"component folder {self.path} does not exist"
        if self.recipe is not None:
            f = folder / self.recipe
            return (f, "") if f.is_file() else (None, f"recipe file {self.path.rstrip('/')}/{self.recipe} "
                                                       "does not exist")
        found = []
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix.lower() in RECIPE_SUFFIXES:
                try:
                    text = f.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if re.search(r"recipeformatversion", text, re.IGNORECASE):
                    found.append(f)
        if len(found) == 1:
            return found[0], ""
        if not found:
            return None, f"{self.path} holds no recipe (a .yaml/.yml/.json file with RecipeFormatVersion)"
        return None, (f"{self.path} holds {len(found)} recipe files ({', '.join(f.name for f in found)}); "
                      "name the one to use with 'recipe:'")


class Group(_Model):
    group: GroupInfo
    core: Core
    devices: Tuple[Device, ...] = ()
    functions: Tuple[Function, ...] = ()
    subscriptions: Tuple[Subscription, ...] = ()
    resources: Tuple[Resource, ...] = ()
    stream_manager: StreamManager = StreamManager()
    streams: Tuple[StreamDoc, ...] = ()
    loggers: Tuple[Logger, ...] = ()
    connectors: Tuple[Connector, ...] = ()
    cloud: CloudResources = CloudResources()
    components: Tuple[Component, ...] = ()  # V2 generic components (platform v2 only)

    # -- lookups -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.group.name

    def function(self, name: str) -> Optional[Function]:
        return next((f for f in self.functions if f.name == name), None)

    def resource(self, name: str) -> Optional[Resource]:
        return next((r for r in self.resources if r.name == name), None)

    @property
    def things(self) -> List[str]:
        """Every thing of the group: the core first, then the devices."""
        return [self.core.thing] + [d.thing for d in self.devices]

    def endpoint(self, symbol: str) -> Optional[str]:
        """Resolve a subscription source/target to its canonical endpoint (see localcore/interfaces.py)."""
        if symbol == CLOUD:
            return CLOUD
        if symbol.startswith(SHADOW_PREFIX):
            thing = symbol[len(SHADOW_PREFIX):]
            return symbol if thing in self.things else None
        if self.function(symbol) is not None:
            return f"function:{symbol}"
        if any(d.thing == symbol for d in self.devices):
            return f"device:{symbol}"
        return None

    def routes(self) -> List[Tuple[str, str, str, str]]:
        """The subscription table as ``(id, source endpoint, target endpoint, topic filter)``."""
        out = []
        for i, s in enumerate(self.subscriptions):
            out.append((s.id or f"sub-{i}", self.endpoint(s.source), self.endpoint(s.target), s.topic))
        return out


# ---- loading and validation ------------------------------------------------------------------


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
}


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
    return Issue(file, path, msg, _FIXES.get(e["type"], "").format(doc=doc_anchor(cls or Group)))


def _model_of(annotation: Any) -> Tuple[Optional[type], bool]:
    """``(model class, is a tuple of it)`` for a field annotation, or ``(None, False)``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = [a for a in get_args(annotation) if a is not type(None) and a is not Ellipsis]
    origin = get_origin(annotation)
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], origin in (tuple, Tuple)
    return None, False


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
        data = yaml.safe_load(text)
        lines = _lines_of(text)
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


def _lines_of(text: str) -> Dict[str, Tuple[int, int]]:
    """``path -> (line, column)`` (1-based) of every key and list item of the YAML text."""
    out: Dict[str, Tuple[int, int]] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)

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


def check(g: Group, file: str, root: Path, parsed: Optional[Parsed] = None) -> List[Issue]:
    """Cross-reference and semantic rules that a schema cannot express.

    With ``parsed`` (from :func:`parse_partial`), ``g`` may be a best-effort Group: paths name the
    items' places in the file, nothing is reported at a path whose schema check failed, and
    references to items that failed to parse are not reported again.
    """
    pp = parsed or Parsed()
    at = pp.at
    issues: List[Issue] = []

    def err(path: str, msg: str, fix: str = "") -> None:
        if pp.ok(path):
            issues.append(Issue(file, path, msg, fix))

    def warn(path: str, msg: str, fix: str = "") -> None:
        if pp.ok(path):
            issues.append(Issue(file, path, msg, fix, "warning"))

    # duplicates ------------------------------------------------------------------------------
    def dupes(items, key, what, where) -> None:
        seen: Dict[str, str] = {}
        for i, item in enumerate(items):
            k = key(item)
            if k in seen:
                err(at(where, i), f"duplicate {what} '{k}' (first at {seen[k]})",
                    f"give each {what} a unique name")
            else:
                seen[k] = at(where, i)

    dupes(g.functions, lambda f: f.name, "function name", "functions")
    dupes(g.devices, lambda d: d.thing, "device thing", "devices")
    dupes(g.resources, lambda r: r.name, "resource name", "resources")
    dupes(g.connectors, lambda c: c.name, "connector name", "connectors")
    dupes(g.streams, lambda s: s.name, "stream name", "streams")
    dupes(g.cloud.functions, lambda f: f.name, "cloud function name", "cloud.functions")
    dupes(g.loggers, lambda lg: f"{lg.component}/{lg.type}", "logger (component, type)", "loggers")
    for i, d in enumerate(g.devices):
        if pp.ok("core.thing") and d.thing == g.core.thing:
            err(f"{at('devices', i)}.thing", f"'{d.thing}' is the core's thing name",
                "use another thing name")
        if g.function(d.thing) is not None:
            err(f"{at('devices', i)}.thing", f"'{d.thing}' is also a function name; subscriptions would be "
                "ambiguous", "rename the device or the function")

    # resources ---------------------------------------------------------------------------------
    for i, r in enumerate(g.resources):
        p = at("resources", i)
        if pp.ok(f"{p}.device") and pp.ok(f"{p}.volume") and (r.device is None) == (r.volume is None):
            err(p, f"resource '{r.name}' must have exactly one of 'device' or 'volume'",
                "keep one of the two keys")

    # functions ---------------------------------------------------------------------------------
    ram_known = pp.ok("core.ram_mb")
    for i, f in enumerate(g.functions):
        p = at("functions", i)
        kind_known = pp.ok(f"{p}.isolation") and pp.ok(f"{p}.pinned")
        if f.runtime not in SUPPORTED_RUNTIMES:
            err(f"{p}.runtime", f"runtime '{f.runtime}' is not an AWS Lambda Python runtime",
                f"use one of {', '.join(SUPPORTED_RUNTIMES)}")
        if f.timeout_s <= 0:
            err(f"{p}.timeout_s", f"timeout must be > 0 seconds (got {f.timeout_s})", "set timeout_s to 1 or more")
        if f.pinned and f.max_instances is not None and pp.ok(f"{p}.pinned"):
            err(f"{p}.max_instances", "a pinned (long-lived) function has exactly one instance; "
                "max_instances is for on-demand functions", "remove max_instances or set pinned: false")
        if not kind_known:
            pass  # isolation or pinned failed the schema: the rules that depend on them would guess
        elif f.isolation == "NoContainer":
            if f.memory_mb is not None:
                err(f"{p}.memory_mb", "NoContainer functions cannot have a memory limit",
                    "remove memory_mb or use isolation: GreengrassContainer")
            for j, ra in enumerate(f.resources):
                res = g.resource(ra.ref)
                if res is not None and res.device is not None:
                    err(at(f"{p}.resources", j),
                        f"NoContainer functions cannot use device resource '{ra.ref}'",
                        "use isolation: GreengrassContainer")
        elif f.memory_mb is None:
            kind = "pinned" if f.pinned else "containerized"
            err(f"{p}.memory_mb", f"{kind} function '{f.name}' needs memory_mb (MemorySize)",
                "set memory_mb, e.g. 128")
        if f.memory_mb is not None:
            top = g.core.ram_mb if ram_known else None
            if f.memory_mb < MIN_MEMORY_MB or (top is not None and f.memory_mb > top):
                bound = (f"{MIN_MEMORY_MB}..{top} MB (core.ram_mb)" if top is not None
                         else f"{MIN_MEMORY_MB}.. MB")
                err(f"{p}.memory_mb", f"memory {f.memory_mb} MB is outside {bound}",
                    f"use a value between {MIN_MEMORY_MB} and {top if top is not None else 'core.ram_mb'}")
        if f.run_as is not None and f.run_as.uid == 0 and f.isolation == "GreengrassContainer" \
                and pp.ok(f"{p}.isolation"):
            err(f"{p}.run_as", "running as root is only allowed with isolation: NoContainer",
                "use a non-root uid or NoContainer")
        for j, ra in enumerate(f.resources):
            if g.resource(ra.ref) is None and ra.ref not in pp.unchecked:
                err(f"{at(f'{p}.resources', j)}.ref", f"unknown resource '{ra.ref}'",
                    f"declare it under resources: or use one of {[r.name for r in g.resources]}")
        for j, lib in enumerate(f.libraries):
            if not (root / lib).is_dir():
                err(f"{p}.libraries[{j}]", f"library folder {lib} does not exist",
                    "create it or fix the path (relative to the bundle root)")
        if not all(pp.ok(f"{p}.{k}") for k in ("handler", "path", "code")):
            continue  # where the code is failed the schema
        code_dir = f.code_dir(root)
        module_file = code_dir / (f.handler_module.replace(".", "/") + ".py")
        if f.code == "pending":
            if module_file.exists():
                warn(f"{p}.code", f"'code: pending' but {_rel(module_file, root)} exists",
                     "remove 'code: pending'")
            else:
                warn(f"{p}.code", f"function '{f.name}' has no code yet ({_rel(module_file, root)} is missing)",
                     "write the handler and remove 'code: pending'")
        elif not module_file.exists():
            err(f"{p}.handler", f"handler file {_rel(module_file, root)} for '{f.handler}' does not exist",
                "create the file, fix 'handler'/'path', or mark the function 'code: pending'")

    # subscriptions -----------------------------------------------------------------------------
    def unchecked(symbol: str) -> bool:
        name = symbol[len(SHADOW_PREFIX):] if symbol.startswith(SHADOW_PREFIX) else symbol
        return name in pp.unchecked

    seen_subs: Dict[Tuple[str, str, str], str] = {}
    for i, s in enumerate(g.subscriptions):
        p = at("subscriptions", i)
        for problem in topics.filter_problems(s.topic):
            err(f"{p}.topic", f"invalid topic filter '{s.topic[:80]}': {problem}")
        src, dst = g.endpoint(s.source), g.endpoint(s.target)
        for key, sym, ep in (("source", s.source, src), ("target", s.target, dst)):
            if ep is None and not unchecked(sym):
                err(f"{p}.{key}", f"'{sym}' is not a device, function, 'cloud' or 'shadow:<thing>' of this group",
                    "add it under devices:/functions: or fix the name")
        k = (s.source, s.target, s.topic)
        if k in seen_subs:
            err(p, f"duplicate subscription (same as {seen_subs[k]})", "remove one of them")
        else:
            seen_subs[k] = p
        if src is None or dst is None:
            continue
        if src == dst:
            err(p, f"source and target are both '{s.source}'; a subscription never routes back to its sender",
                "change the target")
        if src == CLOUD and dst == CLOUD:
            err(p, "cloud → cloud never passes through the core", "remove the subscription")
        if src.startswith(SHADOW_PREFIX) and dst.startswith(SHADOW_PREFIX):
            err(p, "shadow → shadow can never fire", "remove the subscription")
        for key, ep in (("target", dst), ("source", src)):
            if ep.startswith(SHADOW_PREFIX):
                thing = ep[len(SHADOW_PREFIX):]
                allowed = SHADOW_REQUESTS if key == "target" else SHADOW_REPLIES
                if not _can_reach_shadow(s.topic, thing, allowed):
                    what = "requests to" if key == "target" else "messages from"
                    err(f"{p}.topic", f"topic '{s.topic}' can never carry {what} the shadow of '{thing}'",
                        f"use $aws/things/{thing}/shadow/" + ("update|get|delete" if key == "target"
                                                              else "update/accepted|update/delta|..."))
    # functions nobody can reach (warning only: pinned ones may be self-driven); not when a
    # subscription failed the schema (it may be the one that targets the function)
    targets = {s.target for s in g.subscriptions}
    if pp.ok("subscriptions") and "subscriptions" not in pp.index:
        for i, f in enumerate(g.functions):
            if not f.pinned and f.name not in targets and pp.ok(f"{at('functions', i)}.pinned"):
                warn(at("functions", i), f"on-demand function '{f.name}' is the target of no subscription; "
                     "nothing will ever invoke it", "add a subscription or make it pinned")

    # stream manager, connectors, cloud -----------------------------------------------------------
    if g.stream_manager.store_root is not None and not g.stream_manager.store_root.startswith("/") \
            and not g.stream_manager.store_root.startswith("."):
        err("stream_manager.store_root", "store_root must be absolute (or relative to the state dir with './')",
            "e.g. /greengrass/v2/work/streams or ./streams")
    for i, c in enumerate(g.connectors):
        p = at("connectors", i)
        if c.compose_file is not None:
            if c.kind != DOCKER_CONNECTOR:
                err(f"{p}.compose_file", "compose_file is only for the Docker application "
                    "deployment connector", "remove it")
            elif not (root / c.compose_file).is_file():
                err(f"{p}.compose_file", f"compose file {c.compose_file} does not exist",
                    "fix the path (relative to the bundle root)")
        if c.kind == DOCKER_CONNECTOR and pp.ok(f"{p}.parameters"):
            for required in ("DockerComposeFileS3Bucket", "DockerComposeFileS3Key", "DockerUserId"):
                if required not in c.parameters:
                    err(f"{p}.parameters", f"Docker application deployment connector needs '{required}'",
                        f"add {required} under parameters")
    _check_components(g, root, err, warn, at, pp)
    for i, cf in enumerate(g.cloud.functions):
        p = at("cloud.functions", i)
        if not (pp.ok(f"{p}.handler") and pp.ok(f"{p}.path")):
            continue
        module_file = cf.code_dir(root) / (cf.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not module_file.exists():
            err(f"{p}.handler", f"handler file {_rel(module_file, root)} does not exist",
                "create it or fix 'path'/'handler'")
    return issues


def _check_components(g: Group, root: Path, err, warn, at, pp: Parsed) -> None:
    """Platform-independent rules of ``components:`` (the recipe itself is checked by ``validate --platform
    v2``: it parses, names its artifacts, clashes with no other component)."""
    if not g.components:
        return
    warn("components", f"{len(g.components)} generic component(s): they run only with --platform v2; "
         "Greengrass V1 (validate/deploy/run --platform v1) ignores them",
         "use --platform v2 to deploy or run them (see docs/group-yaml.md#component)")
    seen: Dict[str, str] = {}
    for i, c in enumerate(g.components):
        p = at("components", i)
        key = c.path.rstrip("/")
        if key in seen:
            err(f"{p}.path", f"duplicate component folder '{key}' (first at {seen[key]})",
                "give each component its own folder")
        else:
            seen[key] = p
        if pp.ok(f"{p}.path") and pp.ok(f"{p}.recipe"):
            _, problem = c.recipe_file(root)
            if problem:
                err(f"{p}.recipe" if c.recipe else f"{p}.path", problem,
                    "create the folder with its recipe, or fix 'path'/'recipe' (relative to the bundle root)")
        cu = c.configuration_update
        if cu is not None:
            for j, ptr in enumerate(cu.reset):
                if ptr and not ptr.startswith("/"):
                    err(f"{p}.configuration_update.reset[{j}]", f"'{ptr}' is not a JSON pointer",
                        "start it with '/' (e.g. /streamName), or use \"\" for the whole configuration")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _can_reach_shadow(topic_filter: str, thing: str, suffixes: Tuple[str, ...]) -> bool:
    """Whether some topic under ``$aws/things/<thing>/shadow/<suffix>`` matches the filter."""
    return any(topics.filters_overlap(topic_filter, f"$aws/things/{thing}/shadow/{sfx}") for sfx in suffixes)
