"""Kinesis Video stand-in, pure part: errors, records, fragment cutting/selection and ``KvsStore``
(the stream registry and archived fragments on disk under a state dir, bounded retention).
No sockets, no OpenCV. The wire is ``kvs_api``, the media ``kvs_media``, the ingest client
``kvs_client``; ``kvs`` re-exports them all."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from .errors import ApiError

log = logging.getLogger(__name__)

SERVICE_NAME = "kinesisvideo"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
INGEST_PREFIX = "/_local/kinesisvideo/streams/"  # unsigned /_local/<service>/ reaches us too
STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")
MAX_CLIP_FRAGMENTS = 200  # GetClip returns at most the first 200 fragments (KVS limits page)
MAX_CLIP_RANGE_S = 24 * 3600
SERVER_CLOCK_SLACK_S = 1.0  # callers on this host share our clock; allow rounding
SELECTOR_TYPES = ("PRODUCER_TIMESTAMP", "SERVER_TIMESTAMP")
API_NAMES = (
    "PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES",
)


# --------------------------------------------------------------------------------------- errors


class KvsError(ApiError):
    """An error the service answers with; ``code`` is the AWS error code botocore raises."""

    code = "InternalFailure"
    status = 500


class InvalidArgumentException(KvsError):
    code, status = "InvalidArgumentException", 400


class ResourceNotFoundException(KvsError):
    code, status = "ResourceNotFoundException", 404


class ResourceInUseException(KvsError):
    code, status = "ResourceInUseException", 400


class VersionMismatchException(KvsError):
    code, status = "VersionMismatchException", 400


class NoDataRetentionException(KvsError):
    code, status = "NoDataRetentionException", 400


class InvalidMediaFrameException(KvsError):
    code, status = "InvalidMediaFrameException", 400


# ---------------------------------------------------------------------------------- pure state


@dataclass(frozen=True)
class StreamRecord:
    region: str
    name: str
    arn: str
    creation_time: float
    retention_hours: int = 0
    version: int = 1
    device_name: str | None = None
    media_type: str | None = None
    kms_key_id: str | None = None
    status: str = "ACTIVE"

    def info(self) -> dict:
        """The AWS ``StreamInfo`` shape (timestamps as epoch seconds, as rest-json sends them)."""
        out = {
            "StreamName": self.name,
            "StreamARN": self.arn,
            "Version": str(self.version),
            "Status": self.status,
            "CreationTime": self.creation_time,
            "DataRetentionInHours": self.retention_hours,
        }
        for key, value in (("DeviceName", self.device_name), ("MediaType", self.media_type),
                           ("KmsKeyId", self.kms_key_id)):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class FragmentRecord:
    number: str
    producer_start: float
    server_start: float
    duration_ms: int
    frame_times: tuple[float, ...]
    width: int
    height: int
    size_bytes: int

    def start(self, selector_type: str) -> float:
        return self.producer_start if selector_type == "PRODUCER_TIMESTAMP" else self.server_start

    def info(self) -> dict:
        """The AWS ``Fragment`` shape of ListFragments."""
        return {
            "FragmentNumber": self.number,
            "FragmentSizeInBytes": self.size_bytes,
            "ProducerTimestamp": self.producer_start,
            "ServerTimestamp": self.server_start,
            "FragmentLengthInMilliseconds": self.duration_ms,
        }


@dataclass(frozen=True)
class Frame:
    """One ingested frame: producer timestamp (epoch seconds) and JPEG bytes."""

    timestamp: float
    jpeg: bytes


@dataclass(frozen=True)
class RetentionLimits:
    """Bounds on what one stream keeps on disk, on top of its DataRetentionInHours."""

    max_fragments: int = 2000
    max_bytes: int = 256 * 1024 * 1024
    fragment_seconds: float = 2.0  # an ingest batch is cut into fragments this long (KVS: 2 s GOPs)


def validate_stream_name(name: object, where: str = "StreamName") -> str:
    if not isinstance(name, str) or not STREAM_NAME_RE.match(name):
        raise InvalidArgumentException(
            f"{where} {name!r} must be 1-256 characters of [a-zA-Z0-9_.-]")
    return name


def parse_timestamp(value: object, where: str) -> float:
    """Epoch seconds from a rest-json timestamp (botocore sends numbers; ISO 8601 accepted too)."""
    if isinstance(value, bool):
        raise InvalidArgumentException(f"{where} must be a timestamp, got {value!r}")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_dt.timezone.utc)
            return parsed.timestamp()
    raise InvalidArgumentException(f"{where} must be a timestamp (epoch seconds), got {value!r}")


def split_fragments(times: Sequence[float], fragment_seconds: float) -> list[tuple[int, int]]:
    """Index ranges ``[a, b)`` cutting a sorted frame-time list into fragments of at most
    ``fragment_seconds`` (a fragment starts at its first frame)."""
    ranges: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(times)):
        if times[i] - times[start] >= fragment_seconds:
            ranges.append((start, i))
            start = i
    if times:
        ranges.append((start, len(times)))
    return ranges


def fragment_duration_ms(times: Sequence[float]) -> int:
    """Length of a fragment: span of its frames plus one typical frame interval."""
    if len(times) < 2:
        return 100
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return max(1, round((times[-1] - times[0] + gaps[len(gaps) // 2]) * 1000))


def select_fragments(fragments: Iterable[FragmentRecord], selector_type: str, start: float,
                     end: float, limit: int = MAX_CLIP_FRAGMENTS) -> list[FragmentRecord]:
    """Fragments whose start lies in ``[start, end]`` (both inclusive, as GetClip documents),
    ordered by that start. Duplicate producer timestamps keep the earliest-ingested fragment."""
    chosen: dict[float, FragmentRecord] = {}
    for frag in sorted(fragments, key=lambda f: (f.server_start, f.number)):
        ts = frag.start(selector_type)
        if start <= ts <= end and ts not in chosen:
            chosen[ts] = frag
    return [chosen[ts] for ts in sorted(chosen)][:limit]


class KvsStore:
    """Streams and their archived fragments, persisted under ``root``.

    Layout: ``root/streams.json`` and ``root/fragments/<region>/<stream>/<number>/`` holding
    ``meta.json`` and ``NNNNNN.jpg`` per frame. Thread-safe (the wire runs heavy calls in threads).
    """

    def __init__(self, root: str | os.PathLike, account_id: str = DEFAULT_ACCOUNT,
                 limits: RetentionLimits | None = None) -> None:
        self.root = Path(root)
        self.account_id = account_id
        self.limits = limits or RetentionLimits()
        self._lock = threading.RLock()
        self._streams: dict[tuple[str, str], StreamRecord] = {}
        self._fragments: dict[tuple[str, str], list[FragmentRecord]] = {}
        self._next_number = 1
        self._load()

    # persistence ------------------------------------------------------------------------

    def _stream_dir(self, region: str, name: str) -> Path:
        return self.root / "fragments" / region / name

    def _load(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        registry = self.root / "streams.json"
        if registry.exists():
            try:
                rows = json.loads(registry.read_text())
                for row in rows:
                    rec = StreamRecord(**row)
                    self._streams[(rec.region, rec.name)] = rec
            except (ValueError, TypeError) as exc:
                raise RuntimeError(f"{registry}: unreadable stream registry ({exc}); "
                                   f"delete it to start with no streams") from exc
        for key in self._streams:
            frags: list[FragmentRecord] = []
            sdir = self._stream_dir(*key)
            if sdir.is_dir():
                for fdir in sorted(sdir.iterdir()):
                    if fdir.name.startswith("."):
                        shutil.rmtree(fdir, ignore_errors=True)  # an ingest cut short
                        continue
                    try:
                        meta = json.loads((fdir / "meta.json").read_text())
                        meta["frame_times"] = tuple(meta["frame_times"])
                        frags.append(FragmentRecord(**meta))
                    except (OSError, ValueError, TypeError, KeyError) as exc:
                        log.warning("kvs: skipping unreadable fragment %s: %s", fdir, exc)
            self._fragments[key] = frags
            for frag in frags:
                self._next_number = max(self._next_number, int(frag.number) + 1)
        log.debug("kvs: loaded %d stream(s) from %s", len(self._streams), self.root)

    def _save_registry(self) -> None:
        registry = self.root / "streams.json"
        tmp = registry.with_suffix(".json.tmp")
        rows = [vars(rec) for rec in self._streams.values()]
        tmp.write_text(json.dumps(rows, indent=1, sort_keys=True))
        os.replace(tmp, registry)

    # control plane ---------------------------------------------------------------------

    def create_stream(self, region: str, name: str, retention_hours: int = 0,
                      device_name: str | None = None, media_type: str | None = None,
                      kms_key_id: str | None = None, now: float | None = None) -> StreamRecord:
        validate_stream_name(name)
        if isinstance(retention_hours, bool) or not isinstance(retention_hours, int) \
                or retention_hours < 0:
            raise InvalidArgumentException(
                f"DataRetentionInHours must be an integer >= 0, got {retention_hours!r}")
        now = time.time() if now is None else now
        with self._lock:
            if (region, name) in self._streams:
                raise ResourceInUseException(f"The stream {name} already exists.")
            arn = f"arn:aws:kinesisvideo:{region}:{self.account_id}:stream/{name}/{int(now * 1000)}"
            rec = StreamRecord(region=region, name=name, arn=arn, creation_time=round(now, 3),
                               retention_hours=retention_hours, device_name=device_name,
                               media_type=media_type, kms_key_id=kms_key_id)
            self._streams[(region, name)] = rec
            self._fragments[(region, name)] = []
            self._save_registry()
            return rec

    def find(self, region: str, name: str | None = None, arn: str | None = None) -> StreamRecord:
        """The stream named by ``name`` or ``arn`` (exactly one), or ResourceNotFoundException."""
        if (name is None) == (arn is None):
            raise InvalidArgumentException("Specify exactly one of StreamName or StreamARN")
        with self._lock:
            if name is not None:
                validate_stream_name(name)
                rec = self._streams.get((region, name))
            else:
                rec = next((s for s in self._streams.values() if s.arn == arn), None)
        if rec is None:
            raise ResourceNotFoundException(
                f"The requested stream is not found or not active: {name or arn}")
        return rec

    def list_streams(self, region: str, prefix: str | None = None) -> list[StreamRecord]:
        with self._lock:
            recs = [s for (r, _), s in self._streams.items() if r == region]
        if prefix:
            recs = [s for s in recs if s.name.startswith(prefix)]
        return sorted(recs, key=lambda s: s.name)

    def delete_stream(self, region: str, arn: str, current_version: str | None = None) -> None:
        with self._lock:
            rec = self.find(region, arn=arn)
            if current_version is not None and current_version != str(rec.version):
                raise VersionMismatchException(
                    f"CurrentVersion {current_version} does not match {rec.version}")
            del self._streams[(rec.region, rec.name)]
            self._fragments.pop((rec.region, rec.name), None)
            self._save_registry()
            shutil.rmtree(self._stream_dir(rec.region, rec.name), ignore_errors=True)

    def update_retention(self, rec: StreamRecord, operation: str, change: int,
                         current_version: str) -> StreamRecord:
        if operation not in ("INCREASE_DATA_RETENTION", "DECREASE_DATA_RETENTION"):
            raise InvalidArgumentException(f"Operation {operation!r} must be "
                                           f"INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION")
        if isinstance(change, bool) or not isinstance(change, int) or change < 1:
            raise InvalidArgumentException(
                f"DataRetentionChangeInHours must be an integer >= 1, got {change!r}")
        with self._lock:
            if current_version != str(rec.version):
                raise VersionMismatchException(
                    f"CurrentVersion {current_version} does not match {rec.version}")
            sign = 1 if operation == "INCREASE_DATA_RETENTION" else -1
            hours = rec.retention_hours + sign * change
            if hours < 0:
                raise InvalidArgumentException(
                    f"DataRetentionInHours would become {hours}; it cannot go below 0")
            new = replace(rec, retention_hours=hours, version=rec.version + 1)
            self._streams[(rec.region, rec.name)] = new
            self._save_registry()
            return new

    # data plane -------------------------------------------------------------------------

    def ingest(self, rec: StreamRecord, frames: Sequence[Frame], sizes: Sequence[tuple[int, int]],
               now: float | None = None) -> list[FragmentRecord]:
        """Store ``frames`` (sorted by timestamp; ``sizes`` their (width, height)) as fragments.
        A stream with DataRetentionInHours 0 archives nothing, as on AWS."""
        now = time.time() if now is None else now
        if not frames or rec.retention_hours == 0:
            return []
        times = [f.timestamp for f in frames]
        made: list[FragmentRecord] = []
        sdir = self._stream_dir(rec.region, rec.name)
        sdir.mkdir(parents=True, exist_ok=True)
        for a, b in split_fragments(times, self.limits.fragment_seconds):
            with self._lock:
                number = f"{self._next_number:020d}"
                self._next_number += 1
            tmp = sdir / f".{number}.tmp"
            tmp.mkdir()
            size = 0
            for i in range(a, b):
                (tmp / f"{i - a:06d}.jpg").write_bytes(frames[i].jpeg)
                size += len(frames[i].jpeg)
            width, height = sizes[a]
            frag = FragmentRecord(number=number, producer_start=times[a],
                                  # the batch is taken as streamed live up to its arrival
                                  server_start=round(now - (times[-1] - times[a]), 6),
                                  duration_ms=fragment_duration_ms(times[a:b]),
                                  frame_times=tuple(times[a:b]), width=width, height=height,
                                  size_bytes=size)
            meta = dict(vars(frag), frame_times=list(frag.frame_times))
            (tmp / "meta.json").write_text(json.dumps(meta))
            os.rename(tmp, sdir / number)
            made.append(frag)
        with self._lock:
            key = (rec.region, rec.name)
            if key not in self._streams:  # deleted while we were writing
                shutil.rmtree(sdir, ignore_errors=True)
                raise ResourceNotFoundException(f"The stream {rec.name} was deleted")
            self._fragments[key].extend(made)
        self.prune(now)
        return made

    def fragments(self, rec: StreamRecord) -> list[FragmentRecord]:
        with self._lock:
            return list(self._fragments.get((rec.region, rec.name), ()))

    def frame_paths(self, rec: StreamRecord, frag: FragmentRecord) -> list[tuple[float, Path]]:
        fdir = self._stream_dir(rec.region, rec.name) / frag.number
        return [(t, fdir / f"{i:06d}.jpg") for i, t in enumerate(frag.frame_times)]

    def prune(self, now: float | None = None) -> int:
        """Drop fragments past each stream's retention or over the caps; returns how many."""
        now = time.time() if now is None else now
        dropped = 0
        with self._lock:
            for key, frags in self._fragments.items():
                rec = self._streams[key]
                horizon = now - rec.retention_hours * 3600
                frags.sort(key=lambda f: (f.server_start, f.number))
                keep = [f for f in frags if f.server_start >= horizon]
                total = sum(f.size_bytes for f in keep)
                while keep and (len(keep) > self.limits.max_fragments
                                or total > self.limits.max_bytes):
                    total -= keep.pop(0).size_bytes
                gone = {f.number for f in frags} - {f.number for f in keep}
                for number in gone:
                    shutil.rmtree(self._stream_dir(*key) / number, ignore_errors=True)
                dropped += len(gone)
                self._fragments[key] = keep
        return dropped

    def status(self) -> dict:
        with self._lock:
            streams = {}
            for (region, name), rec in sorted(self._streams.items()):
                frags = self._fragments.get((region, name), [])
                streams[f"{region}/{name}"] = {
                    "retention_hours": rec.retention_hours,
                    "fragments": len(frags),
                    "bytes": sum(f.size_bytes for f in frags),
                    "newest_producer_timestamp": max((f.producer_start for f in frags), default=None),
                }
        return {"streams": streams, "state_dir": str(self.root)}
