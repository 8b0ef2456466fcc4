"""Pinned Lambda ``hello_world``: publishes a greeting on ``TOPIC`` every ``INTERVAL_SECONDS``.

See ``lambdas/README.md`` for when the worker starts; :meth:`HelloWorld.stop` ends it at once.
"""
from __future__ import annotations

import atexit
import logging
import os
import platform
import threading
import time
from typing import Dict, Optional

import greengrasssdk

from greeting import HelloConfig, greeting, next_due

LOG = logging.getLogger(__name__)


def publish_errors() -> tuple:
    """What ``iot-data`` publish raises; its exception class exists only inside a Greengrass core."""
    try:
        from greengrasssdk.Lambda import InvocationException
    except ImportError:
        return (ValueError,)
    return (InvocationException, ValueError)


class HelloWorld:
    def __init__(self, config: HelloConfig, iot_client=None) -> None:
        self._config = config
        self._iot = iot_client
        self._message = greeting(platform.platform())
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._published = 0
        self._failed = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hello_world", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> Dict[str, object]:
        return {
            "function": "hello_world",
            "running": self._thread is not None and self._thread.is_alive(),
            "topic": self._config.topic,
            "published": self._published,
            "failed": self._failed,
        }

    def _run(self) -> None:
        if self._iot is None:
            self._iot = greengrasssdk.client("iot-data")
        errors = publish_errors()
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            try:
                self._iot.publish(topic=self._config.topic, queueFullPolicy="AllOrException", payload=self._message)
                self._published += 1
            except errors as exc:
                self._failed += 1
                LOG.error("publish to %s failed: %s", self._config.topic, exc)
            due = next_due(due, time.monotonic(), self._config.interval_s)


_lock = threading.Lock()
_worker = None  # type: Optional[HelloWorld]


def main() -> HelloWorld:
    """Start the publisher once per process (idempotent) and return it."""
    global _worker
    with _lock:
        if _worker is None:
            logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
            _worker = HelloWorld(HelloConfig.from_env(os.environ))
            _worker.start()
            atexit.register(_worker.stop)
        return _worker


def function_handler(event, context):
    """Pinned functions take no work from subscriptions; an invocation reports the worker's status."""
    return main().status()


if os.environ.get("MY_FUNCTION_ARN"):
    main()
