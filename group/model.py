"""The group model: ``group/group.yaml`` as typed, frozen objects, validated before any AWS call.

``load(path)`` parses and validates everything and returns ``(Group, issues)``; it raises
:class:`GroupValidationError` carrying **all** errors at once. Each issue names the file, the path
inside it (``functions[2].memory_mb``) and the fix.

Symbolic references only: subscriptions name devices by thing name, functions by their name,
``cloud``, and ``shadow:<thing>``; function resources name resources by ``ref``. ARNs are made by
``group/aws.py``, never typed by hand.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple

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
SUPPORTED_RUNTIMES = ("python3.7", "python3.8")
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
    runtime: str = "python3.7"
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


def _path(loc: Tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_FIXES = {
    "extra_forbidden": "remove the key or check its spelling against docs/group-yaml.md",
    "missing": "add the key",
    "string_pattern_mismatch": "use only the allowed characters",
    "literal_error": "use one of the listed values",
}


def _pydantic_issues(file: str, err: ValidationError) -> List[Issue]:
    issues = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'"
        elif e["type"] == "string_pattern_mismatch":
            msg = f"{msg} (got {e.get('input')!r})"
        issues.append(Issue(file, _path(loc), msg, _FIXES.get(e["type"], "")))
    return issues


def parse(data: Any, file: str = "group.yaml") -> Tuple[Optional[Group], List[Issue]]:
    """Type-check ``data`` (already loaded YAML). Returns the model or the issues."""
    if not isinstance(data, dict):
        return None, [Issue(file, "", "the file must hold a YAML mapping at the top", "start with 'group:'")]
    try:
        return Group.model_validate(data), []
    except ValidationError as err:
        return None, _pydantic_issues(file, err)


def load(path: Path | str, root: Optional[Path] = None) -> Tuple[Group, List[Issue]]:
    """Load and fully validate a group file; raise GroupValidationError with every error found.

    ``root`` is the bundle root that code paths are relative to (default: the file's parent's parent
    when the file is ``group/group.yaml``, else the file's directory).
    """
    path = Path(path)
    file = str(path)
    if root is None:
        root = path.parent.parent if path.parent.name == "group" else path.parent
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GroupValidationError([Issue(file, "", f"cannot read the file: {exc.strerror}",
                                          "pass --group-file with an existing file")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GroupValidationError([Issue(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                          "fix the YAML syntax")]) from None
    group, issues = parse(data, file)
    if group is None:
        raise GroupValidationError(issues)
    issues = check(group, file, root)
    if any(i.severity == "error" for i in issues):
        raise GroupValidationError(issues)
    return group, issues


def check(g: Group, file: str, root: Path) -> List[Issue]:
    """Cross-reference and semantic rules that a schema cannot express."""
    issues: List[Issue] = []

    def err(path: str, msg: str, fix: str = "") -> None:
        issues.append(Issue(file, path, msg, fix))

    def warn(path: str, msg: str, fix: str = "") -> None:
        issues.append(Issue(file, path, msg, fix, "warning"))

    # duplicates ------------------------------------------------------------------------------
    def dupes(items, key, what, where) -> None:
        seen: Dict[str, int] = {}
        for i, item in enumerate(items):
            k = key(item)
            if k in seen:
                err(f"{where}[{i}]", f"duplicate {what} '{k}' (first at {where}[{seen[k]}])",
                    f"give each {what} a unique name")
            else:
                seen[k] = i

    dupes(g.functions, lambda f: f.name, "function name", "functions")
    dupes(g.devices, lambda d: d.thing, "device thing", "devices")
    dupes(g.resources, lambda r: r.name, "resource name", "resources")
    dupes(g.connectors, lambda c: c.name, "connector name", "connectors")
    dupes(g.streams, lambda s: s.name, "stream name", "streams")
    dupes(g.cloud.functions, lambda f: f.name, "cloud function name", "cloud.functions")
    dupes(g.loggers, lambda lg: f"{lg.component}/{lg.type}", "logger (component, type)", "loggers")
    for i, d in enumerate(g.devices):
        if d.thing == g.core.thing:
            err(f"devices[{i}].thing", f"'{d.thing}' is the core's thing name", "use another thing name")
        if g.function(d.thing) is not None:
            err(f"devices[{i}].thing", f"'{d.thing}' is also a function name; subscriptions would be ambiguous",
                "rename the device or the function")

    # resources ---------------------------------------------------------------------------------
    for i, r in enumerate(g.resources):
        if (r.device is None) == (r.volume is None):
            err(f"resources[{i}]", f"resource '{r.name}' must have exactly one of 'device' or 'volume'",
                "keep one of the two keys")

    # functions ---------------------------------------------------------------------------------
    for i, f in enumerate(g.functions):
        p = f"functions[{i}]"
        if f.runtime not in SUPPORTED_RUNTIMES:
            err(f"{p}.runtime", f"runtime '{f.runtime}' is not a Greengrass V1 Python runtime",
                f"use one of {', '.join(SUPPORTED_RUNTIMES)}")
        if f.timeout_s <= 0:
            err(f"{p}.timeout_s", f"timeout must be > 0 seconds (got {f.timeout_s})", "set timeout_s to 1 or more")
        if f.pinned and f.max_instances is not None:
            err(f"{p}.max_instances", "a pinned (long-lived) function has exactly one instance; "
                "max_instances is for on-demand functions", "remove max_instances or set pinned: false")
        if f.isolation == "NoContainer":
            if f.memory_mb is not None:
                err(f"{p}.memory_mb", "NoContainer functions cannot have a memory limit",
                    "remove memory_mb or use isolation: GreengrassContainer")
            for j, ra in enumerate(f.resources):
                res = g.resource(ra.ref)
                if res is not None and res.device is not None:
                    err(f"{p}.resources[{j}]", f"NoContainer functions cannot use device resource '{ra.ref}'",
                        "use isolation: GreengrassContainer")
        else:
            if f.memory_mb is None:
                kind = "pinned" if f.pinned else "containerized"
                err(f"{p}.memory_mb", f"{kind} function '{f.name}' needs memory_mb (MemorySize)",
                    "set memory_mb, e.g. 128")
        if f.memory_mb is not None and not (MIN_MEMORY_MB <= f.memory_mb <= g.core.ram_mb):
            err(f"{p}.memory_mb", f"memory {f.memory_mb} MB is outside {MIN_MEMORY_MB}..{g.core.ram_mb} MB "
                "(core.ram_mb)", f"use a value between {MIN_MEMORY_MB} and {g.core.ram_mb}")
        if f.run_as is not None and f.run_as.uid == 0 and f.isolation == "GreengrassContainer":
            err(f"{p}.run_as", "running as root is only allowed with isolation: NoContainer",
                "use a non-root uid or NoContainer")
        for j, ra in enumerate(f.resources):
            if g.resource(ra.ref) is None:
                err(f"{p}.resources[{j}].ref", f"unknown resource '{ra.ref}'",
                    f"declare it under resources: or use one of {[r.name for r in g.resources]}")
        for j, lib in enumerate(f.libraries):
            if not (root / lib).is_dir():
                err(f"{p}.libraries[{j}]", f"library folder {lib} does not exist",
                    "create it or fix the path (relative to the bundle root)")
        code_dir = f.code_dir(root)
        module_file = code_dir / (f.handler_module.replace(".", "/") + ".py")
        if f.code == "pending":
            if module_file.exists():
                warn(f"{p}.code", f"'code: pending' but {module_file.relative_to(root)} exists",
                     "remove 'code: pending'")
            else:
                warn(f"{p}.code", f"function '{f.name}' has no code yet ({_rel(module_file, root)} is missing)",
                     "write the handler and remove 'code: pending'")
        elif not module_file.exists():
            err(f"{p}.handler", f"handler file {_rel(module_file, root)} for '{f.handler}' does not exist",
                "create the file, fix 'handler'/'path', or mark the function 'code: pending'")

    # subscriptions -----------------------------------------------------------------------------
    seen_subs: Dict[Tuple[str, str, str], int] = {}
    for i, s in enumerate(g.subscriptions):
        p = f"subscriptions[{i}]"
        for problem in topics.filter_problems(s.topic):
            err(f"{p}.topic", f"invalid topic filter '{s.topic[:80]}': {problem}")
        src, dst = g.endpoint(s.source), g.endpoint(s.target)
        for key, sym, ep in (("source", s.source, src), ("target", s.target, dst)):
            if ep is None:
                err(f"{p}.{key}", f"'{sym}' is not a device, function, 'cloud' or 'shadow:<thing>' of this group",
                    "add it under devices:/functions: or fix the name")
        k = (s.source, s.target, s.topic)
        if k in seen_subs:
            err(p, f"duplicate subscription (same as subscriptions[{seen_subs[k]}])", "remove one of them")
        else:
            seen_subs[k] = i
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
    # functions nobody can reach (warning only: pinned ones may be self-driven)
    targets = {s.target for s in g.subscriptions}
    for i, f in enumerate(g.functions):
        if not f.pinned and f.name not in targets:
            warn(f"functions[{i}]", f"on-demand function '{f.name}' is the target of no subscription; "
                 "nothing will ever invoke it", "add a subscription or make it pinned")

    # stream manager, connectors, cloud -----------------------------------------------------------
    if g.stream_manager.store_root is not None and not g.stream_manager.store_root.startswith("/") \
            and not g.stream_manager.store_root.startswith("."):
        err("stream_manager.store_root", "store_root must be absolute (or relative to the state dir with './')",
            "e.g. /greengrass/v2/work/streams or ./streams")
    for i, c in enumerate(g.connectors):
        if c.compose_file is not None:
            if c.kind != DOCKER_CONNECTOR:
                err(f"connectors[{i}].compose_file", "compose_file is only for the Docker application "
                    "deployment connector", "remove it")
            elif not (root / c.compose_file).is_file():
                err(f"connectors[{i}].compose_file", f"compose file {c.compose_file} does not exist",
                    "fix the path (relative to the bundle root)")
        if c.kind == DOCKER_CONNECTOR:
            for required in ("DockerComposeFileS3Bucket", "DockerComposeFileS3Key", "DockerUserId"):
                if required not in c.parameters:
                    err(f"connectors[{i}].parameters", f"Docker application deployment connector needs '{required}'",
                        f"add {required} under parameters")
    for i, cf in enumerate(g.cloud.functions):
        module_file = cf.code_dir(root) / (cf.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not module_file.exists():
            err(f"cloud.functions[{i}].handler", f"handler file {_rel(module_file, root)} does not exist",
                "create it or fix 'path'/'handler'")
    return issues


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _can_reach_shadow(topic_filter: str, thing: str, suffixes: Tuple[str, ...]) -> bool:
    """Whether some topic under ``$aws/things/<thing>/shadow/<suffix>`` matches the filter."""
    return any(topics.filters_overlap(topic_filter, f"$aws/things/{thing}/shadow/{sfx}") for sfx in suffixes)
