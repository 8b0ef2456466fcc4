"""com.ggbundle.S3Upload — uploads the webcam's JPEGs with stream manager S3 export (our own implementation,
not AWS's sample text).

Uses the Greengrass V2 stream manager SDK (module ``stream_manager``; the component's
``stream_manager_sdk.zip`` artifact). At start it creates, when missing, a status stream and a task stream
whose export definition is an ``S3ExportTaskExecutorConfig`` reporting to that status stream. Then, until
SIGTERM: every new ``*.jpg`` of the input folder (dot-files are files still being written) becomes one
``S3ExportTaskDefinition`` appended to the task stream (``file:`` URL of the file, the bucket, the key
``YYYY/MM/DD/HH.MM.SS.jpg`` made from the name ``YYYY_MM_DD_HH.MM.SS.jpg``); the status stream is read, and a
``Success`` status for a task of this process deletes its file. ``Failure``/``Canceled`` keep the file and
submit it again after ``--retry-delay`` seconds. A file is never deleted before its upload is confirmed.

The client reads the stream manager's port (``STREAM_MANAGER_SERVER_PORT``) and the component's token
(``AWS_CONTAINER_AUTHORIZATION_TOKEN``) from the environment the nucleus gives the component.
Python 3.7+.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

LOG = logging.getLogger("com.ggbundle.S3Upload")
EXTENSION = ".jpg"


# ------------------------------------------------------------------------------------------- pure
def is_candidate(name: str) -> bool:
    """Finished frames only: the webcam writes dot-files and renames them when complete."""
    return name.endswith(EXTENSION) and not name.startswith(".")


def key_for(file_name: str, prefix: str = "") -> str:
    """``2026_01_02_03.04.05.jpg`` -> ``2026/01/02/03.04.05.jpg`` (under ``prefix/`` when given)."""
    key = file_name.replace("_", "/")
    prefix = prefix.strip("/")
    return "{}/{}".format(prefix, key) if prefix else key


class UploadTracker:
    """Files in flight (by the task stream sequence number of their task) and what each status means.

    Pure and not thread-safe. Statuses of tasks this process did not append (an earlier run's) change
    nothing: they carry sequence numbers this tracker never issued.
    """

    def __init__(self, retry_delay_s: float = 30.0, max_in_flight: int = 50) -> None:
        self.retry_delay_s = retry_delay_s
        self.max_in_flight = max_in_flight
        self._by_sequence: Dict[int, str] = {}
        self._in_flight: Dict[str, int] = {}
        self._retry_at: Dict[str, float] = {}
        self._rejected: Set[str] = set()
        self.uploaded = 0
        self.failed = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def to_submit(self, directory: str, names: Iterable[str], now: float) -> List[str]:
        """Paths to append tasks for: new frames and due retries, oldest first, within ``max_in_flight``."""
        chosen: List[str] = []
        for name in sorted(names):
            if not is_candidate(name):
                continue
            path = os.path.join(directory, name)
            if path in self._in_flight or path in self._rejected or now < self._retry_at.get(path, now):
                continue
            if self.in_flight + len(chosen) >= self.max_in_flight:
                break
            chosen.append(path)
        return chosen

    def submitted(self, path: str, sequence_number: int) -> None:
        self._retry_at.pop(path, None)
        self._in_flight[path] = sequence_number
        self._by_sequence[sequence_number] = path

    def rejected(self, path: str) -> None:
        """A file that can never become a valid task (e.g. a key S3 refuses): skipped from now on."""
        self._forget(path)
        self._rejected.add(path)

    def on_status(self, status: str, stream_name: Optional[str], sequence_number: Optional[int],
                  task_stream: str, now: float) -> Optional[Tuple[str, str]]:
        """``("delete", path)`` on ``Success``, ``("retry", path)`` on ``Failure``/``Canceled``, else None."""
        if sequence_number is None or (stream_name is not None and stream_name != task_stream):
            return None
        path = self._by_sequence.get(sequence_number)
        if path is None:
            return None
        if status == "Success":
            self._forget(path)
            self.uploaded += 1
            return ("delete", path)
        if status in ("Failure", "Canceled"):
            self._forget(path)
            self._retry_at[path] = now + self.retry_delay_s
            self.failed += 1
            return ("retry", path)
        return None  # InProgress, Warning

    def _forget(self, path: str) -> None:
        sequence = self._in_flight.pop(path, None)
        if sequence is not None:
            self._by_sequence.pop(sequence, None)


# ------------------------------------------------------------------------------------------- streams
def stream_definitions(args: argparse.Namespace):
    """(status stream, task stream) definitions; the status stream must exist before the task stream."""
    from stream_manager import (ExportDefinition, MessageStreamDefinition, Persistence,
                                S3ExportTaskExecutorConfig, StatusConfig, StatusLevel, StrategyOnFull)

    status = MessageStreamDefinition(name=args.status_stream, max_size=16 * 1024 * 1024,
                                     strategy_on_full=StrategyOnFull.OverwriteOldestData,
                                     persistence=Persistence.File)
    tasks = MessageStreamDefinition(
        name=args.task_stream, strategy_on_full=StrategyOnFull.OverwriteOldestData,
        persistence=Persistence.File,
        export_definition=ExportDefinition(s3_task_executor=[S3ExportTaskExecutorConfig(
            identifier=args.export_identifier,
            status_config=StatusConfig(status_level=StatusLevel.INFO, status_stream_name=args.status_stream),
        )]),
    )
    return status, tasks


class Uploader:
    """One session with the stream manager: streams made, files submitted, statuses followed."""

    def __init__(self, args: argparse.Namespace, stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.args = args
        self.stop = stop
        self.clock = clock
        self.tracker = UploadTracker(args.retry_delay, args.max_in_flight)

    def run(self, client) -> None:
        from stream_manager import ResourceNotFoundException, StreamManagerException

        status_def, task_def = stream_definitions(self.args)
        existing = set(client.list_streams())
        for definition in (status_def, task_def):
            if definition.name not in existing:
                try:
                    client.create_message_stream(definition)
                    LOG.info("created stream %s", definition.name)
                except StreamManagerException as exc:  # created meanwhile by another process: only then go on
                    if definition.name not in client.list_streams():
                        raise
                    LOG.info("stream %s appeared meanwhile (%s)", definition.name, exc)
        try:
            info = client.describe_message_stream(self.args.status_stream)
            newest = info.storage_status.newest_sequence_number
        except ResourceNotFoundException:
            newest = None
        # Statuses written before this process started are about files it submits again anyway.
        next_status = (newest + 1) if newest is not None and newest >= 0 else 0
        a = self.args
        LOG.info("uploading *.jpg of %s to s3://%s/%s (tasks %s, statuses %s from %d)", a.input_dir, a.bucket,
                 a.key_prefix, a.task_stream, a.status_stream, next_status)
        while not self.stop.is_set():
            self.submit_new(client)
            next_status = self.follow_status(client, next_status)

    def submit_new(self, client) -> None:
        from stream_manager import S3ExportTaskDefinition, Util, ValidationException

        try:
            names = os.listdir(self.args.input_dir)
        except FileNotFoundError:
            names = []
        for path in self.tracker.to_submit(self.args.input_dir, names, self.clock()):
            task = S3ExportTaskDefinition(input_url="file:" + os.path.abspath(path), bucket=self.args.bucket,
                                          key=key_for(os.path.basename(path), self.args.key_prefix))
            try:
                payload = Util.validate_and_serialize_to_json_bytes(task)
            except ValidationException as exc:
                LOG.error("cannot make an export task of %s: %s; skipping the file", path, exc)
                self.tracker.rejected(path)
                continue
            sequence = client.append_message(self.args.task_stream, payload)
            self.tracker.submitted(path, sequence)
            LOG.info("task %d: %s -> s3://%s/%s", sequence, path, task.bucket, task.key)

    def follow_status(self, client, start: int) -> int:
        """Read statuses from ``start`` for at most the read timeout (this paces the loop); the next start."""
        from stream_manager import NotEnoughMessagesException, ReadMessagesOptions, StatusMessage, Util

        try:
            messages = client.read_messages(self.args.status_stream, ReadMessagesOptions(
                desired_start_sequence_number=start, min_message_count=1, max_message_count=100,
                read_timeout_millis=self.args.status_read_timeout_ms))
        except NotEnoughMessagesException:
            return start
        for message in messages:
            start = message.sequence_number + 1
            try:
                status = Util.deserialize_json_bytes_to_obj(message.payload, StatusMessage)
            except (ValueError, KeyError, TypeError) as exc:
                LOG.warning("unreadable status message %d: %s", message.sequence_number, exc)
                continue
            context = status.status_context
            action = self.tracker.on_status(
                status.status.name if status.status is not None else "",
                context.stream_name if context is not None else None,
                context.sequence_number if context is not None else None,
                self.args.task_stream, self.clock())
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
                LOG.warning("upload of %s ended %s (%s); trying again in %.0f s", path, status.status.name,
                            status.message, self.args.retry_delay)
        return start


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="s3_upload.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--input-dir", required=True, help="folder of the JPEG files to upload")
    p.add_argument("--bucket", required=True, help="S3 bucket of the uploads")
    p.add_argument("--key-prefix", default="", help="key prefix (default none: YYYY/MM/DD/HH.MM.SS.jpg)")
    p.add_argument("--task-stream", default="GGBundleV2S3Tasks")
    p.add_argument("--status-stream", default="GGBundleV2S3Status")
    p.add_argument("--export-identifier", default="GGBundleV2S3Export")
    p.add_argument("--status-read-timeout-ms", type=int, default=1000)
    p.add_argument("--retry-delay", type=float, default=30.0,
                   help="seconds before a failed upload is tried again")
    p.add_argument("--max-in-flight", type=int, default=50)
    p.add_argument("--reconnect-delay", type=float, default=5.0,
                   help="seconds to wait before connecting again after a stream manager error")
    args = p.parse_args(argv)
    if not args.bucket.strip():
        p.error("--bucket must name the S3 bucket of the uploads")
    # the client refuses read timeouts above its 60 s request timeout
    if not 0 <= args.status_read_timeout_ms <= 59000:
        p.error("--status-read-timeout-ms must be within 0..59000, not {}".format(
            args.status_read_timeout_ms))
    if args.max_in_flight < 1:
        p.error("--max-in-flight must be at least 1")
    return args


def serve(args: argparse.Namespace, stop: threading.Event) -> int:
    """Sessions with the stream manager until ``stop``; a lost connection is retried after a delay."""
    from stream_manager import StreamManagerClient, StreamManagerException

    uploader = Uploader(args, stop)
    while not stop.is_set():
        client = None
        try:
            client = StreamManagerClient()
            uploader.run(client)
        except (StreamManagerException, ConnectionError, OSError) as exc:
            LOG.warning("stream manager: %s: %s; connecting again in %.0f s", type(exc).__name__, exc,
                        args.reconnect_delay)
            stop.wait(args.reconnect_delay)
        finally:
            if client is not None:
                client.close()
    LOG.info("stopped: %d uploaded, %d failed attempts, %d in flight", uploader.tracker.uploaded,
             uploader.tracker.failed, uploader.tracker.in_flight)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        LOG.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return serve(args, stop)


if __name__ == "__main__":
    sys.exit(main())
