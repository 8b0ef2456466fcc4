"""Kinesis Video stand-in, wire: ``KinesisVideoStandIn.handle`` (a LocalCloud handler,
``CloudRequest -> CloudResponse | None``) answering the ``kinesisvideo`` and
``kinesis-video-archived-media`` rest-json operations plus the local ingest route, and
``mount(cloud)``. State lives in ``kvs_state.KvsStore``, clips come from ``kvs_media``."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import ApiError
from .kvs_media import assemble_clip, decode_size
from .kvs_state import (
    API_NAMES, DEFAULT_ACCOUNT, DEFAULT_REGION, INGEST_PREFIX, MAX_CLIP_RANGE_S, SELECTOR_TYPES,
    SERVER_CLOCK_SLACK_S, SERVICE_NAME, Frame, InvalidArgumentException, InvalidMediaFrameException,
    KvsStore, NoDataRetentionException, ResourceNotFoundException, RetentionLimits, StreamRecord,
    parse_timestamp, select_fragments, validate_stream_name,
)
from .wire import CloudRequest, CloudResponse, error_response, json_response

log = logging.getLogger(__name__)


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
