"""Kinesis Video Streams stand-in for the local cloud.

moto's kinesisvideo backend answers the control plane but hands out a real AWS host from
GetDataEndpoint and cannot serve GetClip (see /work/shared/reference/moto-coverage.md). This
module fills that gap with three layers, each usable on its own:

* ``KvsStore`` -- pure state (no sockets): the stream registry and the archived fragments, kept
  under ``state_dir`` with bounded retention (DataRetentionInHours, a fragment cap and a byte cap).
* ``assemble_clip`` -- turns the JPEG frames of selected fragments into a real MP4 (OpenCV mp4v).
* ``KinesisVideoStandIn`` -- the wire: a LocalCloud handler (``CloudRequest -> CloudResponse |
  None``, mounted by ``mount(cloud)``) for the requests signed as service ``kinesisvideo`` (the
  ``kinesisvideo`` and ``kinesis-video-archived-media`` clients both sign with that name). It
  answers CreateStream, DescribeStream, ListStreams, DeleteStream, UpdateDataRetention,
  GetDataEndpoint (with the front's own URL), GetClip and ListFragments in the rest-json shapes
  of botocore's service models, plus a local ingest route
  ``POST /_local/kinesisvideo/streams/<name>/frames`` that replaces PutMedia (MKV). Anything
  else returns ``None`` so the front falls through to moto.

``put_frames`` is the client side of the ingest route (SigV4-signed, so a front that routes by
credential scope sends it here); ``synthetic_frames`` and ``frames_from_file`` make its input.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .errors import ApiError
from .wire import CloudRequest, CloudResponse, error_response, json_response

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


# ------------------------------------------------------------------------------------ media


def decode_size(jpeg: bytes) -> tuple[int, int] | None:
    """(width, height) of a decodable JPEG, else None."""
    import cv2  # noqa: PLC0415 -- opencv is heavy; only media paths need it
    import numpy as np  # noqa: PLC0415

    if len(jpeg) < 4 or jpeg[:2] != b"\xff\xd8":
        return None
    img = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return int(img.shape[1]), int(img.shape[0])


def clip_fps(times: Sequence[float]) -> float:
    """A constant frame rate for an MP4 of frames taken at ``times`` (median gap, 1..60 fps)."""
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    if not gaps:
        return 10.0
    return float(min(60.0, max(1.0, round(1.0 / gaps[len(gaps) // 2], 3))))


def assemble_clip(frames: Sequence[tuple[float, Path]], size: tuple[int, int],
                  tmp_dir: str | os.PathLike | None = None) -> bytes:
    """A real MP4 (MPEG-4 Part 2, 'mp4v': the codec the opencv wheel can encode) holding the JPEG
    files ``frames`` in order, each resized to ``size`` if it differs."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    width, height = size
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="kvs-clip-", dir=tmp_dir)
    os.close(fd)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"),
                             clip_fps([t for t, _ in frames]), (width, height))
    try:
        if not writer.isOpened():
            raise InvalidMediaFrameException("the mp4v encoder could not be opened")
        written = 0
        for ts, jpg in frames:
            img = cv2.imdecode(np.fromfile(str(jpg), dtype=np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("kvs: frame %s (t=%.3f) is unreadable; left out of the clip", jpg, ts)
                continue
            if (img.shape[1], img.shape[0]) != (width, height):
                img = cv2.resize(img, (width, height))
            writer.write(img)
            written += 1
        writer.release()
        if not written:
            raise InvalidMediaFrameException("no frame of the selected fragments could be decoded")
        return Path(path).read_bytes()
    finally:
        writer.release()
        os.unlink(path)


# ------------------------------------------------------------------------------------- wire


def _json(payload: dict, status: int = 200) -> CloudResponse:
    return json_response(payload, status)


class KinesisVideoStandIn:
    """The Kinesis Video wire, mounted on the LocalCloud front by :func:`mount`.

    ``handle(request: CloudRequest) -> CloudResponse | None`` is a plain (blocking) function: the
    front runs it on a worker thread, which suits clip assembly. It answers the control-plane and
    archived-media paths listed in the module docstring plus the local ingest route, and returns
    ``None`` for anything else (the front then proxies to moto). ``public_url`` is what
    GetDataEndpoint returns; when ``None`` it is ``http://<Host header>`` of the request, i.e. the
    address the caller already reached the front on (right for a Lambda in a container too).
    """

    def __init__(self, state_dir: str | os.PathLike, public_url: str | Callable[[], str] | None = None,
                 *, account_id: str = DEFAULT_ACCOUNT, default_region: str = DEFAULT_REGION,
                 limits: RetentionLimits | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.public_url = public_url
        self.default_region = default_region
        self.store = KvsStore(self.state_dir, account_id=account_id, limits=limits)
        self._tmp_dir = self.state_dir / "tmp"
        self._requests = 0
        self._count_lock = threading.Lock()  # handle() runs on the front's worker threads
        self._ops = {
            "/createStream": self._create_stream,
            "/describeStream": self._describe_stream,
            "/listStreams": self._list_streams,
            "/deleteStream": self._delete_stream,
            "/updateDataRetention": self._update_retention,
            "/getDataEndpoint": self._get_data_endpoint,
            "/getClip": self._get_clip,
            "/listFragments": self._list_fragments,
        }
        self._clean_tmp()

    def _clean_tmp(self) -> None:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp_dir.iterdir():  # clips of a run that was killed
            leftover.unlink(missing_ok=True)

    async def start(self) -> None:
        """Nothing to start: the stand-in has no socket of its own (the front owns it)."""

    async def stop(self) -> None:
        """Nothing runs in the background; fragments are already on disk."""

    def status(self) -> dict:
        return {"service": SERVICE_NAME, "requests": self._requests, **self.store.status()}

    # dispatch -----------------------------------------------------------------------------

    def handle(self, request: CloudRequest) -> CloudResponse | None:
        path = request.path
        ingest = path.startswith(INGEST_PREFIX)
        op = self._ops.get(path) if request.method == "POST" else None
        if op is None and not ingest:
            return None
        with self._count_lock:
            self._requests += 1
        region = request.region or self.default_region
        try:
            if ingest:
                return self._ingest(request, region)
            try:
                params = json.loads(request.body) if request.body.strip() else {}
            except ValueError as exc:
                raise InvalidArgumentException(f"request body is not JSON: {exc}") from exc
            if not isinstance(params, dict):
                raise InvalidArgumentException("request body must be a JSON object")
            return op(request, region, params)
        except ApiError as err:
            log.debug("kvs: %s %s -> %s: %s", request.method, path, err.code, err.message)
            return error_response(err)

    def _endpoint(self, request: CloudRequest) -> str:
        url = self.public_url() if callable(self.public_url) else self.public_url
        if not url:
            host = request.headers.get("Host")
            if not host:
                raise InvalidArgumentException("no Host header to build the DataEndpoint from")
            url = f"http://{host}"
        return url.rstrip("/")

    def _stream(self, region: str, params: dict) -> StreamRecord:
        return self.store.find(region, name=params.get("StreamName"), arn=params.get("StreamARN"))

    # control plane -----------------------------------------------------------------------

    def _create_stream(self, request, region, params):
        rec = self.store.create_stream(
            region, validate_stream_name(params.get("StreamName")),
            retention_hours=params.get("DataRetentionInHours", 0),
            device_name=params.get("DeviceName"), media_type=params.get("MediaType"),
            kms_key_id=params.get("KmsKeyId"))
        return _json({"StreamARN": rec.arn})

    def _describe_stream(self, request, region, params):
        return _json({"StreamInfo": self._stream(region, params).info()})

    def _list_streams(self, request, region, params):
        cond = params.get("StreamNameCondition") or {}
        if cond and cond.get("ComparisonOperator") != "BEGINS_WITH":
            raise InvalidArgumentException("StreamNameCondition.ComparisonOperator must be BEGINS_WITH")
        recs = self.store.list_streams(region, cond.get("ComparisonValue"))
        limit = params.get("MaxResults", 10000)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise InvalidArgumentException(f"MaxResults must be 1..10000, got {limit!r}")
        token = params.get("NextToken")
        if token:
            recs = [r for r in recs if r.name > token]
        page = recs[:limit]
        out = {"StreamInfoList": [r.info() for r in page]}
        if len(recs) > limit:
            out["NextToken"] = page[-1].name
        return _json(out)

    def _delete_stream(self, request, region, params):
        arn = params.get("StreamARN")
        if not arn:
            raise InvalidArgumentException("StreamARN is required")
        self.store.delete_stream(region, arn, params.get("CurrentVersion"))
        return _json({})

    def _update_retention(self, request, region, params):
        rec = self._stream(region, params)
        self.store.update_retention(rec, params.get("Operation"),
                                    params.get("DataRetentionChangeInHours"),
                                    str(params.get("CurrentVersion")))
        return _json({})

    def _get_data_endpoint(self, request, region, params):
        api = params.get("APIName")
        if api not in API_NAMES:
            raise InvalidArgumentException(f"APIName {api!r} must be one of {', '.join(API_NAMES)}")
        self._stream(region, params)
        return _json({"DataEndpoint": self._endpoint(request)})

    # archived media ----------------------------------------------------------------------

    @staticmethod
    def _range(selector: object, where: str) -> tuple[str, float, float]:
        if not isinstance(selector, dict):
            raise InvalidArgumentException(f"{where} is required")
        kind = selector.get("FragmentSelectorType")
        if kind not in SELECTOR_TYPES:
            raise InvalidArgumentException(
                f"{where}.FragmentSelectorType {kind!r} must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP")
        rng = selector.get("TimestampRange")
        if not isinstance(rng, dict):
            raise InvalidArgumentException(f"{where}.TimestampRange is required")
        start = parse_timestamp(rng.get("StartTimestamp"), f"{where}.TimestampRange.StartTimestamp")
        end = parse_timestamp(rng.get("EndTimestamp"), f"{where}.TimestampRange.EndTimestamp")
        if end <= start:
            raise InvalidArgumentException("EndTimestamp must be later than StartTimestamp")
        return kind, start, end

    def _get_clip(self, request, region, params):
        rec = self._stream(region, params)
        kind, start, end = self._range(params.get("ClipFragmentSelector"), "ClipFragmentSelector")
        if end - start > MAX_CLIP_RANGE_S:
            raise InvalidArgumentException("EndTimestamp must be within 24 hours of StartTimestamp")
        if kind == "SERVER_TIMESTAMP" and end > time.time() + SERVER_CLOCK_SLACK_S:
            raise InvalidArgumentException("EndTimestamp must be in the past for SERVER_TIMESTAMP")
        if rec.retention_hours == 0:
            raise NoDataRetentionException(
                f"The stream {rec.name} does not retain data (DataRetentionInHours is 0)")
        self.store.prune()  # nothing past retention is served, even with no ingest since
        chosen = select_fragments(self.store.fragments(rec), kind, start, end)
        if not chosen:
            raise ResourceNotFoundException("No fragments found in the requested time range.")
        frames = [fp for frag in chosen for fp in self.store.frame_paths(rec, frag)]
        try:
            mp4 = assemble_clip(frames, (chosen[0].width, chosen[0].height), self._tmp_dir)
        except FileNotFoundError as exc:  # pruned between selection and reading
            raise ResourceNotFoundException(f"fragment data went away: {exc}") from exc
        return CloudResponse(200, mp4, {"Content-Type": "video/mp4"})

    def _list_fragments(self, request, region, params):
        rec = self._stream(region, params)
        self.store.prune()
        frags = self.store.fragments(rec)
        if params.get("FragmentSelector") is not None:
            kind, start, end = self._range(params["FragmentSelector"], "FragmentSelector")
            frags = select_fragments(frags, kind, start, end, limit=len(frags))
        limit = params.get("MaxResults", 1000)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidArgumentException(f"MaxResults must be 1..1000, got {limit!r}")
        offset = int(params["NextToken"]) if str(params.get("NextToken", "")).isdigit() else 0
        page = frags[offset:offset + limit]
        out = {"Fragments": [f.info() for f in page]}
        if offset + limit < len(frags):
            out["NextToken"] = str(offset + limit)
        return _json(out)

    # local ingest ------------------------------------------------------------------------

    def _ingest(self, request, region):
        name, _, tail = request.path[len(INGEST_PREFIX):].partition("/")
        if request.method != "POST" or tail.rstrip("/") != "frames":
            raise InvalidArgumentException(
                f"{request.method} {request.path}: the ingest route is POST {INGEST_PREFIX}<stream>/frames")
        rec = self.store.find(region, name=name)
        try:
            doc = json.loads(request.body)
            items = doc["frames"]
            if not isinstance(items, list):
                raise TypeError("'frames' must be a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentException(
                'body must be JSON {"frames": [{"producer_timestamp": <epoch s>, "jpeg_b64": "..."}]}'
                f": {exc}") from exc
        frames: list[Frame] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidArgumentException(f"frames[{i}] must be an object")
            ts = parse_timestamp(item.get("producer_timestamp"), f"frames[{i}].producer_timestamp")
            try:
                jpeg = base64.b64decode(item.get("jpeg_b64", ""), validate=True)
            except (ValueError, TypeError) as exc:
                raise InvalidArgumentException(f"frames[{i}].jpeg_b64 is not base64: {exc}") from exc
            if frames and ts < frames[-1].timestamp:
                raise InvalidArgumentException(f"frames[{i}].producer_timestamp {ts} goes back in "
                                               f"time (previous {frames[-1].timestamp})")
            frames.append(Frame(ts, jpeg))
        sizes = [decode_size(f.jpeg) for f in frames]
        for i, size in enumerate(sizes):
            if size is None:
                raise InvalidMediaFrameException(f"frames[{i}] is not a decodable JPEG")
        made = self.store.ingest(rec, frames, sizes)  # type: ignore[arg-type]
        return _json({
            "StreamName": rec.name,
            "Frames": len(frames),
            "Fragments": [f.info() for f in made],
            "Archived": rec.retention_hours > 0,
        })


def mount(cloud) -> KinesisVideoStandIn:
    """Hook LocalCloud calls at start: serve ``kinesisvideo`` from ``cloud.state_dir/"kvs"``."""
    standin = KinesisVideoStandIn(Path(cloud.state_dir) / "kvs", account_id=cloud.account_id,
                                  default_region=cloud.region)
    cloud.register(SERVICE_NAME, standin.handle)
    return standin


# ------------------------------------------------------------------------------ ingest client


@dataclass
class PutResult:
    frames: int = 0
    requests: int = 0
    fragments: list = field(default_factory=list)
    archived: bool = True


def _signed_post(url: str, body: bytes, region: str, credentials, timeout: float) -> dict:
    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415

    req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, SERVICE_NAME, region).add_auth(req)
    prepared = urllib.request.Request(url, data=body, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        try:
            doc = json.loads(detail)
            detail = f"{doc.get('__type', '')}: {doc.get('Message', detail)}"
        except ValueError:
            pass
        raise KvsClientError(f"POST {url} -> HTTP {exc.code}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise KvsClientError(f"POST {url}: {exc.reason}") from exc


class KvsClientError(Exception):
    """The ingest request failed; the message names the URL, status and AWS error code."""


def put_frames(url: str, stream: str, frames: Iterable[tuple[float, bytes]] | Iterable[Frame], *,
               region: str = DEFAULT_REGION, credentials=None, timeout: float = 30.0,
               max_request_bytes: int = 768 * 1024) -> PutResult:
    """Send JPEG ``frames`` ((producer timestamp in epoch seconds, JPEG bytes), in time order) to
    the stand-in at ``url`` (the local cloud's base URL). Requests are SigV4-signed as service
    ``kinesisvideo`` (``credentials``: botocore credentials; default: the usual chain, else dummy
    local keys) and batched to stay under ``max_request_bytes``. Raises KvsClientError."""
    validate_stream_name(stream, "stream")
    if credentials is None:
        from botocore.credentials import Credentials  # noqa: PLC0415
        from botocore.session import Session  # noqa: PLC0415

        credentials = Session().get_credentials() or Credentials("local", "local")
    target = f"{url.rstrip('/')}{INGEST_PREFIX}{stream}/frames"
    result = PutResult()
    batch: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if not batch:
            return
        body = ('{"frames": [' + ",".join(batch) + "]}").encode()
        doc = _signed_post(target, body, region, credentials, timeout)
        result.requests += 1
        result.frames += doc.get("Frames", 0)
        result.fragments.extend(doc.get("Fragments", []))
        result.archived = bool(doc.get("Archived", True))
        batch, size = [], 0

    for item in frames:
        ts, jpeg = (item.timestamp, item.jpeg) if isinstance(item, Frame) else item
        entry = json.dumps({"producer_timestamp": float(ts),
                            "jpeg_b64": base64.b64encode(jpeg).decode("ascii")})
        if batch and size + len(entry) > max_request_bytes:
            flush()
        batch.append(entry)
        size += len(entry) + 1
    flush()
    return result


def synthetic_frames(count: int = 30, fps: float = 10.0, end_time: float | None = None,
                     size: tuple[int, int] = (320, 240), quality: int = 85) -> Iterator[Frame]:
    """``count`` numbered test-card frames at ``fps`` whose last one is at ``end_time`` (now)."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    end_time = time.time() if end_time is None else end_time
    width, height = size
    for i in range(count):
        img = np.zeros((height, width, 3), dtype=np.uint8)
        img[:] = ((i * 37) % 200 + 30, (i * 91) % 200 + 30, (i * 53) % 200 + 30)
        cv2.putText(img, str(i), (width // 8, height * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX,
                    height / 80, (255, 255, 255), max(2, height // 60))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        yield Frame(end_time - (count - 1 - i) / fps, buf.tobytes())


def frames_from_file(path: str | os.PathLike, end_time: float | None = None,
                     quality: int = 85) -> list[Frame]:
    """Frames of a video (any format OpenCV reads) or a single image, timed so that the last frame
    is at ``end_time`` (default now) -- a snapshot of the last seconds then sees the file's end."""
    import cv2  # noqa: PLC0415

    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    end_time = time.time() if end_time is None else end_time
    image = cv2.imread(path, cv2.IMREAD_COLOR) if path.lower().endswith(
        (".jpg", ".jpeg", ".png", ".bmp")) else None
    raw: list[tuple[float, object]] = []
    if image is not None:
        raw.append((0.0, image))
    else:
        cap = cv2.VideoCapture(path)
        try:
            fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
            n = 0
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                raw.append((pos if pos > 0 or n == 0 else n / fps, img))
                n += 1
        finally:
            cap.release()
    if not raw:
        raise ValueError(f"{path}: OpenCV read no frame (not a video or image it can decode)")
    shift = end_time - raw[-1][0]
    out = []
    for t, img in raw:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError(f"{path}: frame at {t:.3f} s could not be encoded as JPEG")
        out.append(Frame(t + shift, buf.tobytes()))
    return out
