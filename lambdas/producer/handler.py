"""Pinned Lambda ``producer``: creates its stream if absent, then appends one JSON reading per interval.

The work runs in a daemon thread started by :func:`main`; see ``lambdas/README.md`` for when it starts.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import socket
import threading
import time
from typing import Callable, Dict, Optional

from greengrasssdk.stream_manager import InvalidRequestException, StreamManagerClient, StreamManagerException

from readings import ProducerConfig, ReadingGenerator, encode_reading, next_due, stream_definition

LOG = logging.getLogger(__name__)
# What a stream manager call raises when the server is down, slow or says no.
STREAM_ERRORS = (OSError, asyncio.TimeoutError, StreamManagerException)
RETRY_MAX_S = 30.0


def connect_client() -> StreamManagerClient:
    """A connected StreamManagerClient (port from ``STREAM_MANAGER_SERVER_PORT``, as the SDK reads it).

    A plain TCP connect comes first: in greengrasssdk 1.6.1 a failing constructor leaves its
    event-loop thread running, so retrying against a stopped stream manager would pile threads up.
    """
    port = int(os.environ.get("STREAM_MANAGER_SERVER_PORT", "8088"))
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    return StreamManagerClient()


def ensure_stream(client: StreamManagerClient, definition) -> bool:
    """Create the stream unless it exists; True when this call created it."""
    if definition.name in client.list_streams():
        return False
    try:
        client.create_message_stream(definition)
    except InvalidRequestException:
        # Someone created it between list and create; anything else is a real error.
        if definition.name not in client.list_streams():
            raise
        return False
    return True


class Producer:
    """The long-lived worker. ``client_factory`` makes a connected StreamManagerClient."""

    def __init__(
        self,
        config: ProducerConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._client_factory = client_factory
        self._clock = clock
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._appended = 0
        self._last_sequence = None  # type: Optional[int]
        self._last_error = None  # type: Optional[str]

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> Dict[str, object]:
        return {
            "function": "producer",
            "running": self._thread is not None and self._thread.is_alive(),
            "stream": self._config.stream_name,
            "appended": self._appended,
            "last_sequence": self._last_sequence,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        generator = ReadingGenerator(self._config)
        definition = stream_definition(self._config)
        delay = 1.0
        while not self._stop.is_set():
            client = None
            try:
                client = self._client_factory()
                if ensure_stream(client, definition):
                    LOG.info("created stream %s (export: %s)", definition.name, self._config.export_target)
                delay = 1.0
                self._produce(client, generator)
            except STREAM_ERRORS as exc:
                self._last_error = "{}: {}".format(type(exc).__name__, exc)
                LOG.warning("stream manager call failed (%s); retrying in %.0f s", self._last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            finally:
                if client is not None:
                    _close(client)

    def _produce(self, client: StreamManagerClient, generator: ReadingGenerator) -> None:
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            reading = generator.next_reading(int(self._clock() * 1000))
            self._last_sequence = client.append_message(self._config.stream_name, encode_reading(reading))
            self._appended += 1
            due = next_due(due, time.monotonic(), self._config.interval_s)


def _close(client: StreamManagerClient) -> None:
    try:
        client.close()
    except STREAM_ERRORS as exc:
        LOG.debug("closing the stream manager client failed: %s", exc)


_lock = threading.Lock()
_worker = None  # type: Optional[Producer]


def main() -> Producer:
    """Start the producer once per process (idempotent) and return it."""
    global _worker
    with _lock:
        if _worker is None:
            logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
            _worker = Producer(ProducerConfig.from_env(os.environ))
            _worker.start()
            atexit.register(_worker.stop)
        return _worker


def function_handler(event, context):
    """Pinned functions take no work from subscriptions; an invocation reports the worker's status."""
    return main().status()


if os.environ.get("MY_FUNCTION_ARN"):
    main()
