"""Pinned Lambda ``webcam``: captures frames at ``FPS`` and saves every Nth as a JPEG in ``OUTPUT_DIR``.

Without a camera (or with ``CAMERA_MODE=synthetic``) it saves a moving test pattern instead and
logs that. With ``KVS_STREAM_NAME`` and a local cloud endpoint it also posts frames (with their
capture time) to that Kinesis Video stream through a background sink (``kvs_sink``).
See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from typing import Callable, Dict, Optional

from camera import encode_jpeg, open_source, write_file_atomic
from frames import FrameNamer, WebcamConfig, should_save
from gglambda import lifecycle
from kvs_frames import SinkConfig
from kvs_sink import KvsSink

LOG = logging.getLogger(__name__)


class Webcam(lifecycle.Worker):
    def __init__(self, config: WebcamConfig, clock: Callable[[], datetime] = datetime.now,
                 sink: Optional[KvsSink] = None) -> None:
        super(Webcam, self).__init__("webcam")
        self._config = config
        self._clock = clock
        self._sink = sink
        self._namer = FrameNamer()
        self._source_kind = None  # type: Optional[str]
        self._frames = 0
        self._saved = 0
        self._last_file = None  # type: Optional[str]

    def start(self) -> None:
        if self._thread is None and self._sink is not None:
            self._sink.start()
        super(Webcam, self).start()

    def stop(self, timeout: float = 5.0) -> None:
        super(Webcam, self).stop(timeout)
        if self._sink is not None:
            self._sink.stop(timeout)

    def status(self) -> Dict[str, object]:
        return {
            "function": "webcam",
            "running": self.running,
            "source": self._source_kind,
            "frames": self._frames,
            "saved": self._saved,
            "last_file": self._last_file,
            "last_error": self._last_error,
            "kvs": self._sink.status() if self._sink is not None else None,
        }

    def _run(self) -> None:
        config = self._config
        period = 1.0 / config.fps
        while not self._stop.is_set():
            try:
                source = open_source(config)
            except OSError as exc:
                self._last_error = str(exc)
                LOG.error("%s; retrying in 10 s", exc)
                self._stop.wait(10.0)
                continue
            self._source_kind = source.kind
            try:
                self._capture(source, period)
            finally:
                source.close()

    def _capture(self, source, period: float) -> None:
        """Capture until stopped; returns (to reopen the source) after 10 failed reads in a row."""
        config = self._config
        due, failures = time.monotonic(), 0
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due = max(due + period, time.monotonic() - period)
            frame = source.read()
            if frame is None:
                failures += 1
                if failures >= 10:
                    LOG.warning("10 failed reads from %s; reopening it", config.device)
                    return
                continue
            failures = 0
            captured = time.time()
            index = self._frames
            self._frames += 1
            save = should_save(index, config.save_every)
            post = self._sink is not None and should_save(index, self._sink.config.every)
            if not (save or post):
                continue
            try:
                jpeg = encode_jpeg(frame, config.jpeg_quality)  # one encoding for the file and the stream
            except ValueError as exc:
                self._last_error = str(exc)
                LOG.error("cannot encode frame %d: %s", index, exc)
                continue
            if post:
                self._sink.offer(captured, jpeg)
            if not save:
                continue
            name = self._namer.name_for(self._clock(), lambda n: os.path.exists(os.path.join(config.output_dir, n)))
            try:
                self._last_file = write_file_atomic(config.output_dir, name, jpeg)
                self._saved += 1
            except OSError as exc:
                self._last_error = str(exc)
                LOG.error("cannot save frame %s: %s", name, exc)


def _build() -> Webcam:
    config = WebcamConfig.from_env(os.environ)
    sink_config = SinkConfig.from_env(os.environ, config.save_every)
    if sink_config is None and os.environ.get("KVS_STREAM_NAME", "").strip():
        LOG.info("KVS_STREAM_NAME is set but no local ingest endpoint (KVS_ENDPOINT or "
                 "AWS_ENDPOINT_URL): not posting frames "
                 "(on AWS the KVS producer SDK feeds the stream)")
    return Webcam(config, sink=KvsSink(sink_config) if sink_config is not None else None)


main = lifecycle.start_once(_build)
function_handler = lifecycle.status_handler(main)

if os.environ.get("MY_FUNCTION_ARN"):
    main()
