"""Pinned Lambda ``aggregator``: stream 1 readings -> per-window, per-location aggregates on stream 2.

Reads from its checkpoint (sequence 0 the first time), appends closed windows to the target
stream, then saves the checkpoint. A crash between the append and the save repeats those
aggregates on restart (at-least-once; each carries ``window_start`` + ``location`` as its key);
the input is never skipped nor counted twice. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import socket
import threading
import time
from typing import Callable, Dict, List, Optional

from greengrasssdk.stream_manager import (
    InvalidRequestException,
    NotEnoughMessagesException,
    ReadMessagesOptions,
    ResourceNotFoundException,
    StreamManagerClient,
    StreamManagerException,
)

from checkpoint import CheckpointStore
from windows import AggregationState, AggregatorConfig, target_definition

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


def ensure_stream(client: StreamManagerClient, definition) -> bool:
    """Create the stream unless it exists; True when this call created it."""
    if definition.name in client.list_streams():
        return False
    try:
        client.create_message_stream(definition)
    except InvalidRequestException:
        if definition.name not in client.list_streams():
            raise
        return False
    return True


def checkpoint_beyond_stream(client: StreamManagerClient, stream: str, next_sequence: int) -> bool:
    """True when ``next_sequence`` lies past the stream's newest message + 1 (the stream was recreated)."""
    try:
        info = client.describe_message_stream(stream)
    except ResourceNotFoundException:
        return False
    newest = info.storage_status.newest_sequence_number
    return next_sequence > (-1 if newest is None else newest) + 1


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


class Aggregator:
    def __init__(
        self,
        config: AggregatorConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._client_factory = client_factory
        self._clock = clock
        self._store = CheckpointStore(config.checkpoint_dir, config.source_stream)
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._state = None  # type: Optional[AggregationState]
        self._emitted = 0
        self._last_error = None  # type: Optional[str]

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aggregator", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> Dict[str, object]:
        state = self._state
        return {
            "function": "aggregator",
            "running": self._thread is not None and self._thread.is_alive(),
            "source": self._config.source_stream,
            "target": self._config.target_stream,
            "next_sequence": state.next_sequence if state else None,
            "open_windows": state.open_windows if state else None,
            "late": state.late if state else None,
            "rejected": state.rejected if state else None,
            "emitted": self._emitted,
            "last_error": self._last_error,
        }

    def _load_state(self) -> AggregationState:
        saved = self._store.load()
        window_ms = self._config.window_seconds * 1000
        if saved is None:
            return AggregationState(window_ms)
        return AggregationState.from_json(saved, window_ms)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            client = None
            # Any failure below restarts from the saved checkpoint, so in-memory progress that
            # was never saved is read again rather than lost.
            self._state = self._load_state()
            try:
                client = self._client_factory()
                if ensure_stream(client, target_definition(self._config)):
                    LOG.info("created stream %s", self._config.target_stream)
                delay = 1.0
                self._aggregate(client, self._state)
            except STREAM_ERRORS as exc:
                self._last_error = "{}: {}".format(type(exc).__name__, exc)
                LOG.warning("stream manager call failed (%s); retrying in %.0f s", self._last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            finally:
                if client is not None:
                    _close(client)

    def _aggregate(self, client: StreamManagerClient, state: AggregationState) -> None:
        config = self._config
        if checkpoint_beyond_stream(client, config.source_stream, state.next_sequence):
            # The source stream was recreated (e.g. fresh core state) while the checkpoint was kept:
            # waiting for sequence numbers it will only reach much later would stall the display.
            LOG.warning("checkpoint %d is beyond the newest message of %s; starting again from its oldest",
                        state.next_sequence, config.source_stream)
            state = AggregationState(config.window_seconds * 1000)
            self._state = state
        last_input = time.monotonic()
        while not self._stop.is_set():
            try:
                messages = read_batch(client, config.source_stream, state.next_sequence,
                                      config.read_batch, config.read_timeout_ms)
            except ResourceNotFoundException:
                LOG.info("source stream %s does not exist yet", config.source_stream)
                self._stop.wait(max(1.0, config.read_timeout_ms / 1000.0))
                continue
            if messages:
                last_input = time.monotonic()
                if messages[0].sequence_number > state.next_sequence:
                    LOG.warning("messages %d..%d were trimmed from %s before they were read",
                                state.next_sequence, messages[0].sequence_number - 1, config.source_stream)
                for message in messages:
                    problem = state.consume(message.sequence_number, message.payload)
                    if problem:
                        LOG.warning("skipped input: %s", problem)
            elif time.monotonic() - last_input >= config.idle_flush_seconds:
                state.flush_idle(int(self._clock() * 1000), config.idle_flush_seconds * 1000)
            closed = state.take_closed()
            for aggregate in closed:
                client.append_message(config.target_stream, json.dumps(aggregate, sort_keys=True).encode("utf-8"))
            self._emitted += len(closed)
            if messages or closed:
                self._store.save(state.to_json())


def _close(client: StreamManagerClient) -> None:
    try:
        client.close()
    except STREAM_ERRORS as exc:
        LOG.debug("closing the stream manager client failed: %s", exc)


_lock = threading.Lock()
_worker = None  # type: Optional[Aggregator]


def main() -> Aggregator:
    """Start the aggregator once per process (idempotent) and return it."""
    global _worker
    with _lock:
        if _worker is None:
            logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
            _worker = Aggregator(AggregatorConfig.from_env(os.environ))
            _worker.start()
            atexit.register(_worker.stop)
        return _worker


def function_handler(event, context):
    """Pinned functions take no work from subscriptions; an invocation reports the worker's status."""
    return main().status()


if os.environ.get("MY_FUNCTION_ARN"):
    main()
