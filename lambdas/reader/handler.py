"""Pinned Lambda ``reader``: stream 2 aggregates -> latest per location -> display topic + snapshot file.

It reads stream 2 from sequence 0 at every start, which rebuilds the latest aggregates after a
restart; it publishes one snapshot per batch that changed something, so catching up costs one
publish per batch. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import socket
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional

import greengrasssdk
from greengrasssdk.stream_manager import (
    NotEnoughMessagesException,
    ReadMessagesOptions,
    ResourceNotFoundException,
    StreamManagerClient,
    StreamManagerException,
)

from latest import LatestAggregates, ReaderConfig, parse_aggregate

LOG = logging.getLogger(__name__)
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


def read_batch(client: StreamManagerClient, stream: str, start: int, max_count: int, timeout_ms: int) -> List:
    """Messages from ``start`` on (up to ``max_count``); [] when none arrived within the timeout."""
    options = ReadMessagesOptions(
        desired_start_sequence_number=start,
        min_message_count=1,
        max_message_count=max_count,
        read_timeout_millis=timeout_ms,
    )
    try:
        return client.read_messages(stream, options) or []
    except NotEnoughMessagesException:
        return []


def publish_errors() -> tuple:
    """What ``iot-data`` publish raises; its exception class exists only inside a Greengrass core."""
    try:
        from greengrasssdk.Lambda import InvocationException
    except ImportError:
        return (ValueError,)
    return (InvocationException, ValueError)


def write_json_atomic(path: str, document: Dict[str, object]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class Reader:
    def __init__(
        self,
        config: ReaderConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        iot_client=None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._client_factory = client_factory
        self._iot = iot_client
        self._clock = clock
        self._latest = LatestAggregates()
        self._next_sequence = 0
        self._published = 0
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._last_error = None  # type: Optional[str]

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="reader", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> Dict[str, object]:
        return {
            "function": "reader",
            "running": self._thread is not None and self._thread.is_alive(),
            "source": self._config.source_stream,
            "next_sequence": self._next_sequence,
            "published": self._published,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            client = None
            try:
                client = self._client_factory()
                delay = 1.0
                self._follow(client)
            except STREAM_ERRORS as exc:
                self._last_error = "{}: {}".format(type(exc).__name__, exc)
                LOG.warning("stream manager call failed (%s); retrying in %.0f s", self._last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            finally:
                if client is not None:
                    _close(client)

    def _follow(self, client: StreamManagerClient) -> None:
        config = self._config
        while not self._stop.is_set():
            try:
                messages = read_batch(client, config.source_stream, self._next_sequence,
                                      config.read_batch, config.read_timeout_ms)
            except ResourceNotFoundException:
                LOG.info("stream %s does not exist yet", config.source_stream)
                self._stop.wait(max(1.0, config.read_timeout_ms / 1000.0))
                continue
            changed = False
            for message in messages:
                self._next_sequence = message.sequence_number + 1
                try:
                    aggregate = parse_aggregate(message.payload)
                except ValueError as exc:
                    LOG.warning("skipped %s sequence %d: %s", config.source_stream, message.sequence_number, exc)
                    continue
                changed = self._latest.update(message.sequence_number, aggregate) or changed
            if changed:
                self._show(self._latest.snapshot(int(self._clock() * 1000)))

    def _show(self, snapshot: Dict[str, object]) -> None:
        try:
            write_json_atomic(self._config.snapshot_path, snapshot)
        except OSError as exc:
            LOG.error("cannot write snapshot %s: %s", self._config.snapshot_path, exc)
        if self._iot is None:
            self._iot = greengrasssdk.client("iot-data")
        try:
            self._iot.publish(topic=self._config.display_topic, payload=json.dumps(snapshot, sort_keys=True))
            self._published += 1
        except publish_errors() as exc:
            LOG.error("publish to %s failed: %s", self._config.display_topic, exc)


def _close(client: StreamManagerClient) -> None:
    try:
        client.close()
    except STREAM_ERRORS as exc:
        LOG.debug("closing the stream manager client failed: %s", exc)


_lock = threading.Lock()
_worker = None  # type: Optional[Reader]


def main() -> Reader:
    """Start the reader once per process (idempotent) and return it."""
    global _worker
    with _lock:
        if _worker is None:
            logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
            _worker = Reader(ReaderConfig.from_env(os.environ))
            _worker.start()
            atexit.register(_worker.stop)
        return _worker


def function_handler(event, context):
    """Pinned functions take no work from subscriptions; an invocation reports the worker's status."""
    return main().status()


if os.environ.get("MY_FUNCTION_ARN"):
    main()
