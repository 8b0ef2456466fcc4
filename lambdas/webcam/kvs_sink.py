"""Kinesis Video sink: a daemon thread posting queued JPEG frames to the local cloud's ingest route
(stdlib HTTP). ``offer`` never blocks the capture thread; a full queue drops its oldest frame.

On AWS, Kinesis Video is fed by the KVS producer SDK (or its GStreamer ``kvssink`` plugin) with
H.264 over PutMedia; this sink only talks to the local stand-in, so it is off unless an endpoint
(``KVS_ENDPOINT`` or ``AWS_ENDPOINT_URL``) is configured.
"""
from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Dict, Optional

from gglambda import lifecycle
from kvs_frames import FrameQueue, SinkConfig, batch_entries, build_body, frame_entry

LOG = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
IDLE_WAIT_S = 0.5


class SinkError(Exception):
    """A request to the ingest route failed; the message names the URL, status and error code."""


def post_json(url: str, body: bytes, timeout: float) -> dict:
    """POST ``body`` (JSON) to ``url``; the JSON answer, or SinkError."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        exc.close()
        try:
            doc = json.loads(detail)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            message = doc.get("Message") or doc.get("message") or detail
            detail = "{}: {}".format(doc.get("__type", ""), message)
        raise SinkError("POST {} -> HTTP {}: {}".format(url, exc.code, detail)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise SinkError("POST {}: {}".format(url, getattr(exc, "reason", exc))) from None
    try:
        doc = json.loads(raw.decode("utf-8") or "{}")
    except ValueError:
        raise SinkError("POST {}: the answer is not JSON: {!r}".format(url, raw[:100])) from None
    return doc if isinstance(doc, dict) else {}


class KvsSink(lifecycle.Worker):
    """Posts frames given to :meth:`offer` to ``config.url`` from its own thread.

    A failed request drops its frames (a live view wants the newest, not a backlog), counts them
    in ``failed`` and waits before the next request (1 s doubling to 30 s, reset by a success).
    """

    def __init__(self, config: SinkConfig) -> None:
        super(KvsSink, self).__init__("webcam-kvs")
        self.config = config
        self._queue = FrameQueue(config.queue_frames)
        self._lock = threading.Lock()
        self._sent = 0
        self._requests = 0
        self._failed = 0
        self._last_sent_time = None  # type: Optional[float]
        self._not_archived_logged = False

    def start(self) -> None:
        if self._thread is None:
            super(KvsSink, self).start()
            LOG.info("posting frames to Kinesis Video stream %s at %s", self.config.stream, self.config.url)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._queue.wake()
        super(KvsSink, self).stop(timeout)

    def offer(self, timestamp: float, jpeg: bytes) -> None:
        """Queue one frame (capture time in epoch seconds, JPEG bytes); never blocks."""
        if not self._queue.put(timestamp, jpeg) and self._queue.dropped in (1, 10, 100, 1000):
            LOG.warning("Kinesis Video sink is behind: %d frame(s) dropped so far", self._queue.dropped)

    def status(self) -> Dict[str, object]:
        with self._lock:
            return {
                "stream": self.config.stream,
                "url": self.config.url,
                "running": self.running,
                "queued": len(self._queue),
                "offered": self._queue.offered,
                "sent": self._sent,
                "requests": self._requests,
                "dropped": self._queue.dropped,
                "failed": self._failed,
                "last_sent_time": self._last_sent_time,
                "last_error": self._last_error,
            }

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stop.is_set():
            frames = self._queue.take(self.config.batch_frames, IDLE_WAIT_S)
            if not frames:
                continue
            try:
                sent = self._send_frames(frames)
            except Exception as exc:  # the thread's boundary: a bug must not end the sink silently
                LOG.exception("Kinesis Video sink: unexpected error")
                with self._lock:
                    self._failed += len(frames)
                    self._last_error = "{}: {}".format(type(exc).__name__, exc)
                sent = False
            if sent:
                backoff = BACKOFF_FIRST_S
            else:
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        # Stopping: one last pass over what is queued (bounded: queue size x request timeout).
        while True:
            frames = self._queue.take(self.config.batch_frames, 0.0)
            if not frames or not self._send_frames(frames):
                break

    def _send_frames(self, frames) -> bool:
        """Send ``frames`` in as many requests as the batch limits need; False after a failure
        (the rest of them are dropped and counted as failed)."""
        entries = [frame_entry(ts, jpeg) for ts, jpeg in frames]
        batches = batch_entries(entries, self.config.batch_frames, self.config.batch_bytes)
        for i, batch in enumerate(batches):
            if not self._send(batch):
                with self._lock:
                    self._failed += sum(len(b) for b in batches[i + 1:])
                return False
        with self._lock:
            self._last_sent_time = frames[-1][0]
        return True

    def _send(self, batch) -> bool:
        try:
            answer = post_json(self.config.url, build_body(batch), self.config.timeout_s)
        except SinkError as exc:
            with self._lock:
                self._failed += len(batch)
                first = self._last_error is None
                self._last_error = str(exc)
            log = LOG.warning if first else LOG.debug
            log("Kinesis Video sink: %s (%d frame(s) dropped)", exc, len(batch))
            return False
        with self._lock:
            self._sent += len(batch)
            self._requests += 1
            self._last_error = None
        if answer.get("Archived") is False and not self._not_archived_logged:
            self._not_archived_logged = True
            LOG.warning("Kinesis Video stream %s keeps no data (DataRetentionInHours 0): frames are not "
                        "archived and snapshots will find none", self.config.stream)
        return True
