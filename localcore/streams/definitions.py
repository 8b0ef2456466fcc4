"""MessageStreamDefinition and export configs: parsing from the wire form, validation, defaults.

Pure: no I/O. The wire form is the camelCase dict the client sends (``definition`` of a
CreateMessageStream / UpdateMessageStream request). Limits are the client's own
(``greengrasssdk.stream_manager.data`` 1.6.1 ``_validations_map``); the server checks them again
because another client may not. Unknown keys are ignored, as the client's ``from_dict`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InvalidDefinition

NAME_RE = re.compile(r"^[\w ,.\-_]*$")
MAX_INT64 = 9223372036854775807
MAX_TTL = 9223372036854

DEFAULT_MAX_SIZE = 268435456  # 256 MiB, as the client
DEFAULT_SEGMENT_SIZE = 16777216  # 16 MiB, as the client

REJECT_NEW_DATA = 0
OVERWRITE_OLDEST_DATA = 1
FILE = 0
MEMORY = 1

STRATEGIES = {REJECT_NEW_DATA: "RejectNewData", OVERWRITE_OLDEST_DATA: "OverwriteOldestData"}
PERSISTENCES = {FILE: "File", MEMORY: "Memory"}

# Wire key of each export list → (required keys, default batch size, max batch size).
KINESIS = "kinesis"
IOT_ANALYTICS = "iotAnalytics"
IOT_SITEWISE = "IotSitewise"  # sic: the client spells this one key with a capital I and lower-case w
HTTP = "http"
S3_TASK = "s3TaskExecutor"
EXPORT_KINDS = (KINESIS, IOT_ANALYTICS, IOT_SITEWISE, HTTP, S3_TASK)
_MAX_BATCH = {KINESIS: 500, IOT_ANALYTICS: 100, IOT_SITEWISE: 10, HTTP: 500, S3_TASK: 1}
LOWEST_PRIORITY = 10
MIN_MULTIPART_THRESHOLD = 5242880


def _check_int(where: str, value: Any, lo: int, hi: int) -> int:
    if type(value) is not int:
        raise InvalidDefinition(f"{where}: must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidDefinition(f"{where}: must be between {lo} and {hi}, got {value}")
    return value


def _check_name(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidDefinition(f"{where}: must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 255 or not NAME_RE.fullmatch(value):
        raise InvalidDefinition(
            f"{where}: must be 1..255 characters of letters, digits, space, ',', '.', '-', '_'; got {value!r}"
        )
    return value


def _check_str(where: str, value: Any, max_len: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidDefinition(f"{where}: must be a non-empty string")
    if max_len is not None and len(value) > max_len:
        raise InvalidDefinition(f"{where}: must be at most {max_len} characters, got {len(value)}")
    return value


def _check_bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidDefinition(f"{where}: must be true or false, got {value!r}")
    return value


def check_stream_name(value: Any, where: str = "name") -> str:
    """Validate a stream name as the client does; raise InvalidDefinition naming ``where``."""
    return _check_name(where, value)


@dataclass(frozen=True)
class ExportConfig:
    """One export config of a stream. ``kind`` is its wire list key (``kinesis``, ``IotSitewise`` ...)."""

    kind: str
    identifier: str
    batch_size: int
    batch_interval_millis: int | None = None
    priority: int = LOWEST_PRIORITY
    start_sequence_number: int = 0
    disabled: bool = False
    # Kind-specific wire keys (kinesisStreamName, iotChannel, iotMsgIdPrefix, uri, exportFormat,
    # sizeThresholdForMultipartUploadBytes, statusConfig), as received.
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict:
        d: dict[str, Any] = {"identifier": self.identifier}
        d.update(self.params)
        if self.kind != S3_TASK:
            d["batchSize"] = self.batch_size
            if self.batch_interval_millis is not None:
                d["batchIntervalMillis"] = self.batch_interval_millis
            d["startSequenceNumber"] = self.start_sequence_number
        d["priority"] = self.priority
        d["disabled"] = self.disabled
        return d


@dataclass(frozen=True)
class StreamDefinition:
    name: str
    max_size: int = DEFAULT_MAX_SIZE
    stream_segment_size: int = DEFAULT_SEGMENT_SIZE
    time_to_live_millis: int | None = None
    strategy_on_full: int = REJECT_NEW_DATA
    persistence: int = FILE
    flush_on_write: bool = False
    exports: tuple[ExportConfig, ...] = ()

    def to_wire(self) -> dict:
        """The full definition with defaults filled in, as DescribeMessageStream echoes it."""
        d: dict[str, Any] = {
            "name": self.name,
            "maxSize": self.max_size,
            "streamSegmentSize": self.stream_segment_size,
            "strategyOnFull": self.strategy_on_full,
            "persistence": self.persistence,
            "flushOnWrite": self.flush_on_write,
        }
        if self.time_to_live_millis is not None:
            d["timeToLiveMillis"] = self.time_to_live_millis
        if self.exports:
            exp: dict[str, list] = {}
            for e in self.exports:
                exp.setdefault(e.kind, []).append(e.to_wire())
            d["exportDefinition"] = exp
        return d

    def summary(self) -> dict:
        """Human-facing summary for status pages."""
        return {
            "maxSize": self.max_size,
            "streamSegmentSize": self.stream_segment_size,
            "timeToLiveMillis": self.time_to_live_millis,
            "strategyOnFull": STRATEGIES[self.strategy_on_full],
            "persistence": PERSISTENCES[self.persistence],
            "flushOnWrite": self.flush_on_write,
        }


def _parse_export(kind: str, where: str, d: Any) -> ExportConfig:
    if not isinstance(d, Mapping):
        raise InvalidDefinition(f"{where}: must be a map")
    if "identifier" not in d:
        raise InvalidDefinition(f"{where}.identifier: required")
    identifier = _check_name(f"{where}.identifier", d["identifier"])
    params: dict[str, Any] = {}
    if kind == KINESIS:
        if "kinesisStreamName" not in d:
            raise InvalidDefinition(f"{where}.kinesisStreamName: required")
        params["kinesisStreamName"] = _check_str(f"{where}.kinesisStreamName", d["kinesisStreamName"])
    elif kind == IOT_ANALYTICS:
        if "iotChannel" not in d:
            raise InvalidDefinition(f"{where}.iotChannel: required")
        params["iotChannel"] = _check_str(f"{where}.iotChannel", d["iotChannel"])
        if "iotMsgIdPrefix" in d:
            prefix = d["iotMsgIdPrefix"]
            if not isinstance(prefix, str) or len(prefix) > 32:
                raise InvalidDefinition(f"{where}.iotMsgIdPrefix: must be a string of at most 32 characters")
            params["iotMsgIdPrefix"] = prefix
    elif kind == HTTP:
        if "uri" not in d:
            raise InvalidDefinition(f"{where}.uri: required")
        params["uri"] = _check_str(f"{where}.uri", d["uri"])
        if "exportFormat" in d:
            params["exportFormat"] = _check_int(f"{where}.exportFormat", d["exportFormat"], 0, 1)
    elif kind == S3_TASK:
        if "sizeThresholdForMultipartUploadBytes" in d:
            params["sizeThresholdForMultipartUploadBytes"] = _check_int(
                f"{where}.sizeThresholdForMultipartUploadBytes",
                d["sizeThresholdForMultipartUploadBytes"],
                MIN_MULTIPART_THRESHOLD,
                MAX_INT64,
            )
        if "statusConfig" in d:
            sc = d["statusConfig"]
            if not isinstance(sc, Mapping):
                raise InvalidDefinition(f"{where}.statusConfig: must be a map")
            out: dict[str, Any] = {}
            if "statusLevel" in sc:
                out["statusLevel"] = _check_int(f"{where}.statusConfig.statusLevel", sc["statusLevel"], 0, 4)
            if "statusStreamName" in sc:
                out["statusStreamName"] = _check_name(
                    f"{where}.statusConfig.statusStreamName", sc["statusStreamName"]
                )
            params["statusConfig"] = out
    batch_size = _MAX_BATCH[kind]
    interval = None
    start = 0
    if kind != S3_TASK:
        if "batchSize" in d:
            batch_size = _check_int(f"{where}.batchSize", d["batchSize"], 1, _MAX_BATCH[kind])
        if "batchIntervalMillis" in d:
            interval = _check_int(f"{where}.batchIntervalMillis", d["batchIntervalMillis"], 60000, MAX_TTL)
        if "startSequenceNumber" in d:
            start = _check_int(f"{where}.startSequenceNumber", d["startSequenceNumber"], 0, MAX_INT64)
    priority = LOWEST_PRIORITY
    if "priority" in d:
        priority = _check_int(f"{where}.priority", d["priority"], 1, 10)
    disabled = _check_bool(f"{where}.disabled", d["disabled"]) if "disabled" in d else False
    return ExportConfig(kind, identifier, batch_size, interval, priority, start, disabled, params)


def parse_definition(d: Any, where: str = "definition") -> StreamDefinition:
    """Wire dict → StreamDefinition. Raises InvalidDefinition naming the offending key path."""
    if not isinstance(d, Mapping):
        raise InvalidDefinition(f"{where}: must be a map")
    if "name" not in d:
        raise InvalidDefinition(f"{where}.name: required")
    name = _check_name(f"{where}.name", d["name"])
    if "strategyOnFull" not in d:
        raise InvalidDefinition(
            f"{where}.strategyOnFull: required (0 RejectNewData or 1 OverwriteOldestData)"
        )
    strategy = _check_int(f"{where}.strategyOnFull", d["strategyOnFull"], 0, 1)
    max_size = DEFAULT_MAX_SIZE
    if "maxSize" in d:
        max_size = _check_int(f"{where}.maxSize", d["maxSize"], 1024, MAX_INT64)
    segment = DEFAULT_SEGMENT_SIZE
    if "streamSegmentSize" in d:
        segment = _check_int(f"{where}.streamSegmentSize", d["streamSegmentSize"], 1024, 2147483647)
    ttl = None
    if "timeToLiveMillis" in d:
        ttl = _check_int(f"{where}.timeToLiveMillis", d["timeToLiveMillis"], 60000, MAX_TTL)
    persistence = FILE
    if "persistence" in d:
        persistence = _check_int(f"{where}.persistence", d["persistence"], 0, 1)
    flush = _check_bool(f"{where}.flushOnWrite", d["flushOnWrite"]) if "flushOnWrite" in d else False
    exports: list[ExportConfig] = []
    if "exportDefinition" in d:
        ed = d["exportDefinition"]
        if not isinstance(ed, Mapping):
            raise InvalidDefinition(f"{where}.exportDefinition: must be a map")
        seen: set[str] = set()
        for kind in EXPORT_KINDS:
            if kind not in ed:
                continue
            items = ed[kind]
            if not isinstance(items, list):
                raise InvalidDefinition(f"{where}.exportDefinition.{kind}: must be a list")
            for i, item in enumerate(items):
                cfg = _parse_export(kind, f"{where}.exportDefinition.{kind}[{i}]", item)
                if cfg.identifier in seen:
                    raise InvalidDefinition(
                        f"{where}.exportDefinition.{kind}[{i}].identifier: {cfg.identifier!r} is used twice "
                        "in this stream; export identifiers must be unique"
                    )
                seen.add(cfg.identifier)
                exports.append(cfg)
    return StreamDefinition(name, max_size, segment, ttl, strategy, persistence, flush, tuple(exports))
