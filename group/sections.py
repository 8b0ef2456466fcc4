"""The typed sections of ``group/group.yaml``: frozen pydantic models, one per section of the file, with the
limits one key can state (patterns, ranges, unknown keys). Schema only: reading a file is :mod:`group.loading`,
the rules across the file :mod:`group.checks`; :mod:`group.model` is where callers import them all from.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

NAME_RE = r"^[A-Za-z0-9_\-]{1,128}$"
THING_RE = r"^[A-Za-z0-9:_\-]{1,128}$"
CLOUD = "cloud"
SHADOW_PREFIX = "shadow:"
PUBSUB = "pubsub"  # the V2 local pub/sub bus (nucleus IPC); only the V2 reader's routes name it, never group.yaml
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
        if symbol in (CLOUD, PUBSUB):
            return symbol
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


def _model_of(annotation: Any) -> Tuple[Optional[type], bool]:
    """``(model class, is a tuple of it)`` for a field annotation, or ``(None, False)``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = [a for a in get_args(annotation) if a is not type(None) and a is not Ellipsis]
    origin = get_origin(annotation)
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], origin in (tuple, Tuple)
    return None, False
