"""Which frames to hand to the stream manager's S3 export, and what each task status means (pure).

A file is deleted only after a ``Success`` status for the task that uploaded it; ``Failure`` and
``Canceled`` keep the file and schedule a new attempt. Statuses are matched to tasks by the
task's sequence number in the task stream, so statuses left over from an earlier run of this
function (other sequence numbers) change nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from greengrasssdk.stream_manager import (
    ExportDefinition,
    MessageStreamDefinition,
    Persistence,
    S3ExportTaskDefinition,
    S3ExportTaskExecutorConfig,
    Status,
    StatusConfig,
    StatusLevel,
    StatusMessage,
    StrategyOnFull,
)

from gglambda.env import ConfigError, number
from gglambda.streams import check_definition

__all__ = ["ConfigError", "UploaderConfig", "UploadTracker", "export_task", "input_url", "is_candidate", "key_for",
           "status_definition", "task_definition"]

FINAL_FAILURES = (Status.Failure, Status.Canceled)


@dataclass(frozen=True)
class UploaderConfig:
    bucket: str
    watch_dir: str = "/tmp/s3_stream"
    key_prefix: str = ""
    extension: str = ".jpg"
    task_stream: str = "S3ExportTasks"
    status_stream: str = "S3ExportTaskStatus"
    export_identifier: str = "S3TaskExecutor"
    status_read_timeout_ms: int = 1000
    retry_delay_s: float = 30.0
    pending_timeout_s: float = 600.0
    max_in_flight: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "UploaderConfig":
        bucket = env.get("BUCKET_NAME", "").strip()
        if not bucket:
            raise ConfigError("BUCKET_NAME must name the S3 bucket for the frames (it has no default)")
        config = cls(
            bucket=bucket,
            watch_dir=env.get("WATCH_DIR", "").strip() or cls.watch_dir,
            key_prefix=env.get("KEY_PREFIX", "").strip(),
            extension=env.get("FILE_EXTENSION", "").strip() or cls.extension,
            task_stream=env.get("STREAM_NAME", "").strip() or cls.task_stream,
            status_stream=env.get("STATUS_STREAM_NAME", "").strip() or cls.status_stream,
            export_identifier=env.get("EXPORT_IDENTIFIER", "").strip() or cls.export_identifier,
            # The client refuses read timeouts above its 60 s request timeout.
            status_read_timeout_ms=number(env, "STATUS_READ_TIMEOUT_MS", cls.status_read_timeout_ms, int, 0, 59000),
            retry_delay_s=number(env, "RETRY_DELAY_SECONDS", cls.retry_delay_s, float, 0.0),
            pending_timeout_s=number(env, "PENDING_TIMEOUT_SECONDS", cls.pending_timeout_s, float, 1.0),
            max_in_flight=number(env, "MAX_IN_FLIGHT", cls.max_in_flight, int, 1),
        )
        check_definition(status_definition(config))
        check_definition(task_definition(config))
        return config


def status_definition(config: UploaderConfig) -> MessageStreamDefinition:
    """The status stream; it must exist before the task stream that names it."""
    return MessageStreamDefinition(
        name=config.status_stream,
        max_size=16 * 1024 * 1024,
        strategy_on_full=StrategyOnFull.OverwriteOldestData,
        persistence=Persistence.File,
    )


def task_definition(config: UploaderConfig) -> MessageStreamDefinition:
    return MessageStreamDefinition(
        name=config.task_stream,
        strategy_on_full=StrategyOnFull.OverwriteOldestData,
        persistence=Persistence.File,
        export_definition=ExportDefinition(s3_task_executor=[S3ExportTaskExecutorConfig(
            identifier=config.export_identifier,
            status_config=StatusConfig(status_level=StatusLevel.INFO, status_stream_name=config.status_stream),
        )]),
    )


def key_for(file_name: str, prefix: str = "") -> str:
    """S3 key of a frame: ``2026_01_02_03.04.05.000006.jpg`` -> ``2026/01/02/03.04.05.000006.jpg``."""
    key = file_name.replace("_", "/")
    prefix = prefix.strip("/")
    return "{}/{}".format(prefix, key) if prefix else key


def input_url(path: str) -> str:
    """The ``file:`` URL the stream manager reads the upload from (an absolute path)."""
    return "file:" + os.path.abspath(path)


def export_task(config: UploaderConfig, path: str) -> S3ExportTaskDefinition:
    return S3ExportTaskDefinition(input_url=input_url(path), bucket=config.bucket,
                                  key=key_for(os.path.basename(path), config.key_prefix))


def is_candidate(name: str, extension: str) -> bool:
    """Finished frames only: the webcam writes dot-files and renames them when complete."""
    return name.endswith(extension) and not name.startswith(".")


@dataclass
class _Attempt:
    sequence_number: int
    submitted_at: float


class UploadTracker:
    """Frames in flight, frames waiting for a retry, and what to do with each status. Not thread-safe."""

    def __init__(self, config: UploaderConfig) -> None:
        self._config = config
        self._pending = {}  # type: Dict[str, _Attempt]
        self._by_sequence = {}  # type: Dict[int, str]
        self._retry_at = {}  # type: Dict[str, float]
        self._rejected = set()  # type: set
        self.uploaded = 0
        self.failed = 0

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def to_submit(self, names: Iterable[str], now: float) -> List[str]:
        """Paths to append tasks for: new frames, due retries, attempts that never got a final status."""
        chosen = []  # type: List[str]
        for name in sorted(names):
            if not is_candidate(name, self._config.extension):
                continue
            path = os.path.join(self._config.watch_dir, name)
            if path in self._rejected:
                continue
            attempt = self._pending.get(path)
            if attempt is not None and now - attempt.submitted_at < self._config.pending_timeout_s:
                continue
            if now < self._retry_at.get(path, now):
                continue
            if attempt is None and self.in_flight + len(chosen) >= self._config.max_in_flight:
                break
            chosen.append(path)
        return chosen

    def submitted(self, path: str, sequence_number: int, now: float) -> None:
        self._forget(path)
        self._pending[path] = _Attempt(sequence_number, now)
        self._by_sequence[sequence_number] = path

    def rejected(self, path: str) -> None:
        """A file that can never become a valid task (e.g. a key S3 export refuses): skip it from now on."""
        self._forget(path)
        self._rejected.add(path)

    def on_status(self, message: StatusMessage, task_stream: str, now: float) -> Optional[Tuple[str, str]]:
        """``("delete", path)`` on Success, ``("retry", path)`` on Failure/Canceled, else None.

        Only statuses of this run's own tasks count (matched by the task stream's sequence number).
        """
        context = message.status_context
        if context is None or context.sequence_number is None:
            return None
        if context.stream_name is not None and context.stream_name != task_stream:
            return None
        path = self._by_sequence.get(context.sequence_number)
        if path is None:
            return None
        if message.status == Status.Success:
            self._forget(path)
            self.uploaded += 1
            return ("delete", path)
        if message.status in FINAL_FAILURES:
            self._forget(path)
            self._retry_at[path] = now + self._config.retry_delay_s
            self.failed += 1
            return ("retry", path)
        return None

    def _forget(self, path: str) -> None:
        attempt = self._pending.pop(path, None)
        if attempt is not None:
            self._by_sequence.pop(attempt.sequence_number, None)
        self._retry_at.pop(path, None)
