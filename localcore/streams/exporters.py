"""Exporters: move stream data to the cloud (Kinesis, IoT Analytics, IoT SiteWise, HTTP, S3 tasks).

One asyncio task per export config of a stream. Each reads batches from the store after its
checkpoint, uploads them, and saves the checkpoint only after the cloud accepted the batch:
**at least once** across restarts. While the cloud is unreachable (connection errors, throttling,
5xx, missing target) the same batch is retried with exponential back-off; nothing is skipped.
Only a batch the cloud will never accept (validation errors) is skipped, with the reason kept as
the exporter's ``errorMessage`` (visible in DescribeMessageStream and ``status()``).

boto3 / botocore calls block, so they run in a dedicated thread pool, never on the event loop.
Uploads of all streams share ``threads`` slots; when more exporters are ready than there are
slots, the one with the best priority (1 = highest) goes first.

The uploads themselves (and :class:`CloudConfig`, where the cloud is) live in :mod:`.sinks`.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import heapq
import itertools
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .bandwidth import BandwidthLimit
from .checkpoints import Checkpoint, CheckpointStore
from .definitions import HTTP, IOT_ANALYTICS, IOT_SITEWISE, KINESIS, S3_TASK, ExportConfig
from .errors import ExportError, NotEnoughMessages, StreamManagerError, StreamNotFound
from .sinks import (
    Clients,
    CloudConfig,
    Result,
    expand_key,
    iotanalytics_put,
    kinesis_put,
    s3_upload,
    sitewise_put,
)
from .store import StoredMessage, StreamStore

__all__ = ["CloudConfig", "ExportManager", "PrioritySlots"]

log = logging.getLogger(__name__)

_STATUS_SUCCESS, _STATUS_FAILURE, _STATUS_IN_PROGRESS = 0, 1, 2
_LEVEL_ERROR, _LEVEL_INFO = 0, 2


class PrioritySlots:
    """At most ``n`` holders; waiters are served best priority (lowest number) first, then FIFO."""

    def __init__(self, n: int) -> None:
        self.free = n
        self._heap: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self.free > 0 and not self._heap:
            self.free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (priority, next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give the slot back. The hand-over runs on the next loop turn, so an exporter that releases
        and at once asks again (its next batch) competes by priority instead of always losing."""
        asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        while self._heap:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1


class _Exporter:
    """Exports one stream through one export config."""

    def __init__(self, manager: "ExportManager", stream: str, cfg: ExportConfig) -> None:
        self.m = manager
        self.stream = stream
        self.cfg = cfg
        cp = manager.checkpoints.load(stream, cfg.identifier)
        self.position = cp.next_sequence_number if cp else cfg.start_sequence_number
        self.exported_messages = cp.exported_messages if cp else 0
        self.exported_bytes = cp.exported_bytes if cp else 0
        self.last_export_time = cp.last_export_time_ms if cp else None
        self.last_exported = self.position - 1 if cp else -1
        next_seq = manager.store.get(stream).next_seq
        if cp and self.position > next_seq:
            # The stream restarted below the checkpoint (a Memory stream after a restart): follow it.
            log.info(
                "export %s/%s: checkpoint %d is past the stream's end %d; continuing from %d",
                stream,
                cfg.identifier,
                self.position,
                next_seq,
                next_seq,
            )
            self.position = next_seq
        self.error: str | None = None
        self.state = "disabled" if cfg.disabled else "idle"
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.attempt = 0

    def start(self) -> None:
        if not self.cfg.disabled:
            self.task = asyncio.create_task(self.run(), name=f"export {self.stream}/{self.cfg.identifier}")

    async def run(self) -> None:
        try:
            while True:
                self.wake.clear()
                try:
                    msgs = self.m.store.read(self.stream, self.position, 1, self.cfg.batch_size)
                except NotEnoughMessages:
                    self.state = "idle"
                    await self.wake.wait()
                    continue
                if msgs[0].sequence_number > self.position:
                    log.warning(
                        "export %s/%s: sequence numbers %d..%d were removed (size limit or TTL) "
                        "before export",
                        self.stream,
                        self.cfg.identifier,
                        self.position,
                        msgs[0].sequence_number - 1,
                    )
                    self.position = msgs[0].sequence_number
                interval = self.cfg.batch_interval_millis
                if interval and len(msgs) < self.cfg.batch_size:
                    wait_ms = msgs[0].ingest_time + interval - int(self.m.clock() * 1000)
                    if wait_ms > 0:
                        self.state = "batching"
                        try:
                            await asyncio.wait_for(self.wake.wait(), wait_ms / 1000)
                        except asyncio.TimeoutError:
                            pass
                        else:
                            continue  # more data came: re-read, maybe the batch is full now
                        msgs = self.m.store.read(self.stream, self.position, 1, self.cfg.batch_size)
                await self._export(msgs)
        except StreamNotFound:
            log.info("export %s/%s: stream deleted", self.stream, self.cfg.identifier)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Keep the core up; the exporter stays stopped with the reason visible in status().
            log.exception("export %s/%s stopped on an unexpected error", self.stream, self.cfg.identifier)
            self.state = "failed"
            self.error = "stopped on an unexpected error; see the core log"

    async def _export(self, msgs: list[StoredMessage]) -> None:
        delay = self.m.retry_initial_s
        self.attempt = 0
        delivered = True
        while True:
            self.attempt += 1
            if self.attempt == 1:  # the limit counts what is sent once, not each retry's wait
                await self.m.bandwidth.take(self._upload_bytes(msgs))
            await self.m.slots.acquire(self.cfg.priority)
            self.state = "exporting"
            try:
                result = await self._send(msgs)
            except ExportError as e:
                if not e.retryable:
                    log.error(
                        "export %s/%s: skipping sequence numbers %d..%d: %s",
                        self.stream,
                        self.cfg.identifier,
                        msgs[0].sequence_number,
                        msgs[-1].sequence_number,
                        e,
                    )
                    self.error = str(e)
                    delivered = False
                    break
                if self.error != str(e):
                    log.warning(
                        "export %s/%s: will retry in %.1f s: %s", self.stream, self.cfg.identifier, delay, e
                    )
                self.error = str(e)
                self.state = "retrying"
            else:
                self.error = result.error
                break
            finally:
                self.m.slots.release()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.m.retry_max_s)
        self.position = msgs[-1].sequence_number + 1
        self.last_exported = msgs[-1].sequence_number
        if delivered:  # a skipped batch moves the position on but is not counted as exported
            self.exported_messages += len(msgs)
            self.exported_bytes += sum(len(m.payload) for m in msgs)
            self.last_export_time = int(self.m.clock() * 1000)
        self.m.checkpoints.save(
            self.stream,
            self.cfg.identifier,
            Checkpoint(self.position, self.exported_messages, self.exported_bytes, self.last_export_time),
        )
        self.state = "idle"

    def _upload_bytes(self, msgs: list[StoredMessage]) -> int:
        """Bytes this batch puts on the wire: the payloads, or for S3 tasks the files they name."""
        if self.cfg.kind != S3_TASK:
            return sum(len(m.payload) for m in msgs)
        total = 0
        for m in msgs:
            try:
                url = json.loads(m.payload).get("inputUrl", "")
                total += os.path.getsize(url[len("file:"):] if url.startswith("file:") else url)
            except (ValueError, AttributeError, OSError):
                continue  # a bad task fails in _s3_task with its reason; it uploads nothing
        return total

    async def _send(self, msgs: list[StoredMessage]) -> Result:
        kind = self.cfg.kind
        if kind == KINESIS:
            return await self.m.run_blocking(kinesis_put, self.m.clients, self.cfg, msgs)
        if kind == IOT_ANALYTICS:
            return await self.m.run_blocking(iotanalytics_put, self.m.clients, self.cfg, msgs)
        if kind == IOT_SITEWISE:
            return await self.m.run_blocking(sitewise_put, self.m.clients, self.cfg, msgs)
        if kind == HTTP:
            return await self._http(msgs)
        if kind == S3_TASK:
            for m in msgs:
                await self._s3_task(m)
            return Result()
        raise AssertionError(kind)

    async def _http(self, msgs: list[StoredMessage]) -> Result:
        import aiohttp

        uri = self.cfg.params["uri"]
        session = await self.m.http_session()
        if self.cfg.params.get("exportFormat", 0) == 1:  # JSON_BATCHED
            bodies = [
                json.dumps(
                    [
                        {
                            "streamName": m.stream_name,
                            "sequenceNumber": m.sequence_number,
                            "ingestTime": m.ingest_time,
                            "payload": base64.b64encode(m.payload).decode(),
                        }
                        for m in msgs
                    ]
                ).encode()
            ]
            ctype = "application/json"
        else:  # RAW_NOT_BATCHED: one POST per message, the payload as is
            bodies = [m.payload for m in msgs]
            ctype = "application/octet-stream"
        for body in bodies:
            try:
                async with session.post(uri, data=body, headers={"Content-Type": ctype}) as resp:
                    if resp.status >= 300:
                        text = (await resp.text())[:200]
                        retryable = resp.status >= 500 or resp.status in (404, 408, 429)
                        raise ExportError(f"http {uri}: HTTP {resp.status} {text}", retryable=retryable)
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                raise ExportError(f"http {uri}: {type(e).__name__}: {e}") from e
        return Result()

    def _status(self, m: StoredMessage, task: dict | None, status: int, level: int, message: str) -> None:
        sc = self.cfg.params.get("statusConfig") or {}
        name = sc.get("statusStreamName")
        if not name or level > sc.get("statusLevel", _LEVEL_INFO):
            return
        ctx: dict[str, Any] = {
            "exportIdentifier": self.cfg.identifier,
            "streamName": self.stream,
            "sequenceNumber": m.sequence_number,
        }
        if task is not None:
            ctx["s3ExportTaskDefinition"] = task
        doc = {
            "eventType": 0,
            "statusLevel": level,
            "status": status,
            "statusContext": ctx,
            "message": message,
            "timestampEpochMs": int(self.m.clock() * 1000),
        }
        try:
            self.m.store.append(name, json.dumps(doc).encode())
        except StreamManagerError as e:
            log.warning(
                "export %s/%s: cannot write status to stream %r: %s (create it first)",
                self.stream,
                self.cfg.identifier,
                name,
                e.message,
            )

    async def _s3_task(self, m: StoredMessage) -> None:
        try:
            task = json.loads(m.payload)
            if not isinstance(task, dict) or not all(
                isinstance(task.get(k), str) for k in ("inputUrl", "bucket", "key")
            ):
                raise ValueError("needs string inputUrl, bucket and key")
        except ValueError as e:
            self._status(m, None, _STATUS_FAILURE, _LEVEL_ERROR, f"not an S3ExportTaskDefinition JSON: {e}")
            raise ExportError(
                f"sequence {m.sequence_number}: not an S3ExportTaskDefinition ({e})", retryable=False
            ) from e
        key = expand_key(task["key"], datetime.fromtimestamp(self.m.clock(), timezone.utc))
        if self.attempt == 1:  # InProgress once per task, not once per retry
            self._status(
                m, task, _STATUS_IN_PROGRESS, _LEVEL_INFO, f"uploading to s3://{task['bucket']}/{key}"
            )
        try:
            await self.m.run_blocking(s3_upload, self.m.clients, self.cfg, task, key)
        except ExportError as e:
            if not e.retryable:
                self._status(m, task, _STATUS_FAILURE, _LEVEL_ERROR, str(e))
            raise
        self._status(m, task, _STATUS_SUCCESS, _LEVEL_INFO, f"uploaded to s3://{task['bucket']}/{key}")

    def describe(self) -> dict:
        d: dict[str, Any] = {
            "exportConfigIdentifier": self.cfg.identifier,
            "lastExportedSequenceNumber": self.last_exported,
            "exportedBytesFromStream": self.exported_bytes,
            "exportedMessagesCount": self.exported_messages,
        }
        if self.last_export_time is not None:
            d["lastExportTime"] = self.last_export_time
        if self.error:
            d["errorMessage"] = self.error
        return d

    def status(self) -> dict:
        newest = None
        try:
            newest = self.m.store.get(self.stream).newest_sequence_number()
        except StreamNotFound:
            pass
        lag = 0 if newest is None else max(0, newest - self.position + 1)
        return {
            "identifier": self.cfg.identifier,
            "type": self.cfg.kind,
            "priority": self.cfg.priority,
            "disabled": self.cfg.disabled,
            "state": self.state,
            "nextSequenceNumber": self.position,
            "lastExportedSequenceNumber": self.last_exported,
            "lag": lag,
            "exportedMessages": self.exported_messages,
            "exportedBytes": self.exported_bytes,
            "lastExportTime": self.last_export_time,
            "errorMessage": self.error,
        }

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task], timeout=5)


class ExportManager:
    """Runs the exporters of every stream in ``store``; follows creates, updates and deletes."""

    def __init__(
        self,
        store: StreamStore,
        checkpoint_dir: str | Path,
        cloud: CloudConfig,
        threads: int = 4,
        clock: Callable[[], float] = time.time,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
        max_bandwidth_kbps: int | None = None,
    ) -> None:
        self.store = store
        self.bandwidth = BandwidthLimit(max_bandwidth_kbps)
        self.checkpoints = CheckpointStore(checkpoint_dir)
        self.cloud = cloud
        self.clients = Clients(cloud)
        self.clock = clock
        self.threads = threads
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.slots = PrioritySlots(threads)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._http: Any = None
        self._exporters: dict[str, dict[str, _Exporter]] = {}
        self._stopping: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="stream-export")
        self.store.add_listener(self._on_event)
        for stream in self.store.streams():
            self._sync(stream.definition.name)

    async def stop(self) -> None:
        self.store.remove_listener(self._on_event)
        exporters = [e for by_id in self._exporters.values() for e in by_id.values()]
        self._exporters.clear()
        await asyncio.gather(*(e.stop() for e in exporters))
        if self._stopping:
            await asyncio.wait(self._stopping, timeout=5)
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._pool is not None:
            # Uploads already running in threads finish in the background; their batches were not
            # checkpointed, so they are sent again after a restart (at least once).
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def run_blocking(self, fn: Callable, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    async def http_session(self) -> Any:
        import aiohttp

        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._http

    def _on_event(self, event: str, name: str) -> None:
        if event == "append":
            for e in self._exporters.get(name, {}).values():
                e.wake.set()
        elif event in ("create", "update"):
            self._sync(name)
        elif event == "delete":
            for e in self._exporters.pop(name, {}).values():
                self._stop_later(e)
            self.checkpoints.delete(name)

    def _stop_later(self, exporter: _Exporter) -> None:
        t = asyncio.get_running_loop().create_task(exporter.stop())
        self._stopping.add(t)
        t.add_done_callback(self._stopping.discard)

    def _sync(self, name: str) -> None:
        """Make the running exporters of stream ``name`` match its definition."""
        wanted = {c.identifier: c for c in self.store.get(name).definition.exports}
        current = self._exporters.setdefault(name, {})
        for ident in list(current):
            if ident not in wanted:
                self._stop_later(current.pop(ident))
                self.checkpoints.delete(name, ident)
            elif current[ident].cfg != wanted[ident]:
                self._stop_later(current.pop(ident))
        for ident, cfg in wanted.items():
            if ident not in current:
                exp = _Exporter(self, name, cfg)
                current[ident] = exp
                exp.start()

    def export_statuses(self, name: str) -> list[dict]:
        return [e.describe() for e in self._exporters.get(name, {}).values()]

    def status(self, name: str) -> list[dict]:
        return [e.status() for e in self._exporters.get(name, {}).values()]
