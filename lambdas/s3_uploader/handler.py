"""Pinned Lambda ``s3_uploader``: hands each new frame in ``WATCH_DIR`` to the stream manager's S3 export.

Per frame it appends an ``S3ExportTaskDefinition`` to its task stream (created with an
``s3TaskExecutor`` export and a status stream), then follows the status stream: ``Success``
deletes the file, ``Failure`` / ``Canceled`` keep it for a later attempt. A file is never deleted
before its upload is confirmed. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import asyncio
import atexit
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
    StatusMessage,
    StreamManagerClient,
    StreamManagerException,
    Util,
    ValidationException,
)

from upload_tasks import UploaderConfig, UploadTracker, export_task, status_definition, task_definition

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


class S3Uploader:
    def __init__(
        self,
        config: UploaderConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client_factory = client_factory
        self._clock = clock
        self._tracker = UploadTracker(config)
        self._status_sequence = 0
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._last_error = None  # type: Optional[str]

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="s3_uploader", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> Dict[str, object]:
        return {
            "function": "s3_uploader",
            "running": self._thread is not None and self._thread.is_alive(),
            "watch_dir": self._config.watch_dir,
            "bucket": self._config.bucket,
            "in_flight": self._tracker.in_flight,
            "uploaded": self._tracker.uploaded,
            "failed_attempts": self._tracker.failed,
            "next_status_sequence": self._status_sequence,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            client = None
            try:
                client = self._client_factory()
                # The status stream first: the task stream's export names it.
                for definition in (status_definition(self._config), task_definition(self._config)):
                    if ensure_stream(client, definition):
                        LOG.info("created stream %s", definition.name)
                delay = 1.0
                while not self._stop.is_set():
                    self._submit_new(client)
                    self._follow_status(client)
            except STREAM_ERRORS as exc:
                self._last_error = "{}: {}".format(type(exc).__name__, exc)
                LOG.warning("stream manager call failed (%s); retrying in %.0f s", self._last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            finally:
                if client is not None:
                    _close(client)

    def _submit_new(self, client: StreamManagerClient) -> None:
        try:
            names = os.listdir(self._config.watch_dir)
        except FileNotFoundError:
            names = []
        for path in self._tracker.to_submit(names, self._clock()):
            try:
                payload = Util.validate_and_serialize_to_json_bytes(export_task(self._config, path))
            except ValidationException as exc:
                LOG.error("cannot upload %s: %s", path, exc)
                self._tracker.rejected(path)
                continue
            sequence = client.append_message(self._config.task_stream, payload)
            self._tracker.submitted(path, sequence, self._clock())
            LOG.info("submitted %s as task %d", path, sequence)

    def _follow_status(self, client: StreamManagerClient) -> None:
        """Wait up to the read timeout for statuses and act on them (this paces the loop)."""
        messages = read_batch(client, self._config.status_stream, self._status_sequence, 100,
                              self._config.status_read_timeout_ms)
        if not messages:
            return
        for message in messages:
            self._status_sequence = message.sequence_number + 1
            try:
                status = Util.deserialize_json_bytes_to_obj(message.payload, StatusMessage)
            except (ValueError, KeyError, TypeError) as exc:
                LOG.warning("unreadable status message %d: %s", message.sequence_number, exc)
                continue
            action = self._tracker.on_status(status, self._config.task_stream, self._clock())
            if action is None:
                continue
            verb, path = action
            if verb == "delete":
                try:
                    os.remove(path)
                    LOG.info("uploaded and deleted %s", path)
                except FileNotFoundError:
                    LOG.info("uploaded %s (already gone)", path)
            else:
                LOG.warning("upload of %s ended %s (%s); keeping it for another attempt",
                            path, status.status.name, status.message)


def _close(client: StreamManagerClient) -> None:
    try:
        client.close()
    except STREAM_ERRORS as exc:
        LOG.debug("closing the stream manager client failed: %s", exc)


_lock = threading.Lock()
_worker = None  # type: Optional[S3Uploader]


def main() -> S3Uploader:
    """Start the uploader once per process (idempotent) and return it."""
    global _worker
    with _lock:
        if _worker is None:
            logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
            _worker = S3Uploader(UploaderConfig.from_env(os.environ))
            _worker.start()
            atexit.register(_worker.stop)
        return _worker


def function_handler(event, context):
    """Pinned functions take no work from subscriptions; an invocation reports the worker's status."""
    return main().status()


if os.environ.get("MY_FUNCTION_ARN"):
    main()
