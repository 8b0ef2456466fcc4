"""Pinned Lambda ``s3_uploader``: hands each new frame in ``WATCH_DIR`` to the stream manager's S3 export.

Per frame it appends an ``S3ExportTaskDefinition`` to its task stream (created with an
``s3TaskExecutor`` export and a status stream), then follows the status stream: ``Success``
deletes the file, ``Failure`` / ``Canceled`` keep it for a later attempt. A file is never deleted
before its upload is confirmed. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Dict

from greengrasssdk.stream_manager import StatusMessage, StreamManagerClient, Util, ValidationException

from gglambda import lifecycle, streams
from gglambda.streams import connect_client, ensure_stream, read_batch
from upload_tasks import UploaderConfig, UploadTracker, export_task, status_definition, task_definition

LOG = logging.getLogger(__name__)


class S3Uploader(lifecycle.Worker):
    def __init__(
        self,
        config: UploaderConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super(S3Uploader, self).__init__("s3_uploader")
        self._config = config
        self._client_factory = client_factory
        self._clock = clock
        self._tracker = UploadTracker(config)
        self._status_sequence = 0

    def status(self) -> Dict[str, object]:
        return {
            "function": "s3_uploader",
            "running": self.running,
            "watch_dir": self._config.watch_dir,
            "bucket": self._config.bucket,
            "in_flight": self._tracker.in_flight,
            "uploaded": self._tracker.uploaded,
            "failed_attempts": self._tracker.failed,
            "next_status_sequence": self._status_sequence,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        streams.run_until_stopped(self._stop, self._client_factory, self._upload, setup=self._create_streams,
                                  on_error=self._failed, log=LOG)

    def _create_streams(self, client: StreamManagerClient) -> None:
        # The status stream first: the task stream's export names it.
        for definition in (status_definition(self._config), task_definition(self._config)):
            if ensure_stream(client, definition):
                LOG.info("created stream %s", definition.name)

    def _upload(self, client: StreamManagerClient) -> None:
        while not self._stop.is_set():
            self._submit_new(client)
            self._follow_status(client)

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


main = lifecycle.start_once(lambda: S3Uploader(UploaderConfig.from_env(os.environ)))
function_handler = lifecycle.status_handler(main)

if os.environ.get("MY_FUNCTION_ARN"):  # set by the Greengrass runtime for every function
    main()
