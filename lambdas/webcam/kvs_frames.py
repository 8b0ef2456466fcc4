"""Kinesis Video sink, pure part (no I/O): its configuration, the bounded drop-oldest frame queue,
batching and the JSON body of the local ingest route.

The local cloud's Kinesis Video stand-in takes frames at
``POST <endpoint>/_local/kinesisvideo/streams/<stream>/frames`` with the body
``{"frames": [{"producer_timestamp": <epoch s>, "jpeg_b64": "..."}]}`` (timestamps not going back).
"""
from __future__ import annotations

import base64
import collections
import json
import re
import threading
import time
from typing import Deque, List, Mapping, Optional, Tuple

from gglambda.env import ConfigError, number, text

INGEST_PREFIX = "/_local/kinesisvideo/streams/"
STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")
MIN_TIME_STEP = 1e-6  # the ingest route refuses a batch whose timestamps go back
_INTEGER = "an integer"  # the parse error says "must be an integer, got 'x'"; bound errors quote the text

# (producer timestamp in epoch seconds, JPEG bytes)
TimedJpeg = Tuple[float, bytes]


class SinkConfig(object):
    """Where and how often frames go to Kinesis Video. Environment variables:

    ``KVS_STREAM_NAME``     stream to feed; empty (default) turns the sink off
    ``KVS_ENDPOINT``        base URL of the local cloud (default ``AWS_ENDPOINT_URL``); with
                            neither set the sink is off (on AWS the KVS producer SDK feeds the stream)
    ``KVS_EVERY_N_FRAMES``  post captured frames 0, N, 2N... (default: ``SAVE_EVERY_N_FRAMES``,
                            i.e. exactly the frames saved as files)
    ``KVS_QUEUE_FRAMES``    frames waiting to be sent before the oldest is dropped (default 32)
    ``KVS_BATCH_FRAMES``    frames per request at most (default 10)
    ``KVS_BATCH_BYTES``     JSON bytes per request at most, a single frame excepted (default 786432)
    ``KVS_TIMEOUT_S``       per-request timeout in seconds (default 5)
    """

    def __init__(self, stream, endpoint, every, queue_frames=32, batch_frames=10,
                 batch_bytes=768 * 1024, timeout_s=5.0):
        # type: (str, str, int, int, int, int, float) -> None
        self.stream = stream
        self.endpoint = endpoint.rstrip("/")
        self.every = every
        self.queue_frames = queue_frames
        self.batch_frames = batch_frames
        self.batch_bytes = batch_bytes
        self.timeout_s = timeout_s

    @property
    def url(self) -> str:
        return ingest_url(self.endpoint, self.stream)

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_every: int) -> "Optional[SinkConfig]":
        """The sink's configuration, or ``None`` when it is off (no stream or no endpoint).
        A bad value raises ConfigError naming the variable."""
        stream = text(env, "KVS_STREAM_NAME", "")
        if stream and not STREAM_NAME_RE.match(stream):
            raise ConfigError("KVS_STREAM_NAME must be 1-256 characters of [a-zA-Z0-9_.-], got {!r}"
                              .format(stream))
        endpoint = text(env, "KVS_ENDPOINT", "") or text(env, "AWS_ENDPOINT_URL", "")
        if endpoint and not endpoint.startswith(("http://", "https://")):
            name = "KVS_ENDPOINT" if text(env, "KVS_ENDPOINT", "") else "AWS_ENDPOINT_URL"
            raise ConfigError("{} must be an http:// or https:// URL, got {!r}".format(name, endpoint))
        config = cls(
            stream=stream,
            endpoint=endpoint,
            every=number(env, "KVS_EVERY_N_FRAMES", default_every, int, 1, 1000000, what=_INTEGER),
            queue_frames=number(env, "KVS_QUEUE_FRAMES", 32, int, 1, 10000, what=_INTEGER),
            batch_frames=number(env, "KVS_BATCH_FRAMES", 10, int, 1, 1000, what=_INTEGER),
            batch_bytes=number(env, "KVS_BATCH_BYTES", 768 * 1024, int, 1024, 64 * 1024 * 1024, what=_INTEGER),
            timeout_s=number(env, "KVS_TIMEOUT_S", 5.0, float, 0.1, 300.0, what="a number"),
        )
        return config if stream and endpoint else None


def ingest_url(endpoint: str, stream: str) -> str:
    return "{}{}{}/frames".format(endpoint.rstrip("/"), INGEST_PREFIX, stream)


def frame_entry(timestamp: float, jpeg: bytes) -> str:
    """One frame of the ingest body, as JSON text."""
    return json.dumps({"producer_timestamp": round(float(timestamp), 6),
                       "jpeg_b64": base64.b64encode(jpeg).decode("ascii")})


def build_body(entries: List[str]) -> bytes:
    """The ingest body holding ``entries`` (from :func:`frame_entry`), in order."""
    return ('{"frames": [' + ",".join(entries) + "]}").encode("ascii")


def batch_entries(entries: List[str], max_frames: int, max_bytes: int) -> List[List[str]]:
    """Split ``entries`` in order into batches of at most ``max_frames`` whose body stays within
    ``max_bytes`` (a single entry larger than that goes alone)."""
    batches = []  # type: List[List[str]]
    current = []  # type: List[str]
    size = len(build_body([]))
    for entry in entries:
        extra = len(entry) + (1 if current else 0)
        if current and (len(current) >= max_frames or size + extra > max_bytes):
            batches.append(current)
            current, size, extra = [], len(build_body([])), len(entry)
        current.append(entry)
        size += extra
    if current:
        batches.append(current)
    return batches


class FrameQueue(object):
    """A bounded, thread-safe FIFO of timed JPEGs that never blocks the producer: when full, the
    oldest frame is dropped and counted. Timestamps come out strictly increasing (a clock stepped
    back is moved forward by a microsecond past the last one)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1, got {!r}".format(capacity))
        self._items = collections.deque()  # type: Deque[TimedJpeg]
        self._capacity = capacity
        self._cond = threading.Condition()
        self._last_time = None  # type: Optional[float]
        self.dropped = 0
        self.offered = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, timestamp: float, jpeg: bytes) -> bool:
        """Queue a frame; returns False when the oldest one had to be dropped for it."""
        with self._cond:
            if self._last_time is not None and timestamp <= self._last_time:
                timestamp = self._last_time + MIN_TIME_STEP
            self._last_time = timestamp
            self.offered += 1
            kept = True
            if len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
                kept = False
            self._items.append((timestamp, jpeg))
            self._cond.notify()
            return kept

    def take(self, max_frames: int, timeout: float) -> List[TimedJpeg]:
        """Up to ``max_frames`` oldest frames, waiting at most ``timeout`` seconds for the first
        one (``[]`` when none came)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            out = []
            while self._items and len(out) < max_frames:
                out.append(self._items.popleft())
            return out

    def wake(self) -> None:
        """Wake a waiting ``take`` (used when stopping)."""
        with self._cond:
            self._cond.notify_all()
