"""Pinned Lambda ``webcam``: captures frames at ``FPS`` and saves every Nth as a JPEG in ``OUTPUT_DIR``.

Without a camera (or with ``CAMERA_MODE=synthetic``) it saves a moving test pattern instead and
logs that. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import datetime
from typing import Callable, Dict, Optional

from camera import encode_jpeg, open_source, write_file_atomic
from frames import FrameNamer, WebcamConfig, should_save

LOG = logging.getLogger(__name__)


class Webcam:
    def __init__(self, config: WebcamConfig, clock: Callable[[], datetime] = datetime.now) -> None:
        self._config = config
        self._clock = clock
        self._namer = FrameNamer()
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._source_kind = None  # type: Optional[str]
        self._frames = 0
        self._saved = 0
        self._last_file = None  # type: Optional[str]
        self._last_error = None  # type: Optional[str]

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webcam", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> Dict[str, object]:
        return {
            "function": "webcam",
            "running": self._thread is not None and self._thread.is_alive(),
            "source": self._source_kind,
            "frames": self._frames,
            "saved": self._saved,
            "last_file": self._last_file,
            "last_error": self._last_error,
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
            index = self._frames
            self._frames += 1
            if not should_save(index, config.save_every):
                continue
            name = self._namer.name_for(self._clock(), lambda n: os.path.exists(os.path.join(config.output_dir, n)))
            try:
                self._last_file = write_file_atomic(config.output_dir, name, encode_jpeg(frame, config.jpeg_quality))
                self._saved += 1
            except (OSError, ValueError) as exc:
                self._last_error = str(exc)
                LOG.error("cannot save frame %s: %s", name, exc)


_lock = threading.Lock()
_worker = None  # type: Optional[Webcam]


def main() -> Webcam:
    """Start the capture once per process (idempotent) and return it."""
    global _worker
    with _lock:
        if _worker is None:
            logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
            _worker = Webcam(WebcamConfig.from_env(os.environ))
            _worker.start()
            atexit.register(_worker.stop)
        return _worker


def function_handler(event, context):
    """Pinned functions take no work from subscriptions; an invocation reports the worker's status."""
    return main().status()


if os.environ.get("MY_FUNCTION_ARN"):
    main()
