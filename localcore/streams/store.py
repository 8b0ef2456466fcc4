"""The stream log: message streams made of segments, on disk (File) or in memory (Memory).

Pure state module: no sockets, no asyncio. Not thread-safe: one owner (the server's event loop)
calls it. Blocking work is limited to small appends/reads on local files and, for
``flushOnWrite`` streams, one ``fsync`` per append.

Layout under ``root``::

    streams/<encoded name>/definition.json          the full definition (wire form, defaults filled)
    streams/<encoded name>/<first sequence:020d>.seg  File segments, append-only

A segment is a run of records ``crc32 | sequence | ingest ms | length | payload`` (big-endian
``>IQQI`` header, 24 bytes). An append is one ``os.write`` of the whole record before the append
is acknowledged, so an acknowledged message is in the OS page cache and survives ``kill -9`` of
the process; ``flushOnWrite`` adds an ``fsync`` so it also survives a power loss. On load, a
segment is scanned and cut at the first record that is short or fails its CRC (a torn write).

Sizes: a message costs ``24 + len(payload)`` bytes against ``maxSize`` and ``streamSegmentSize``
in both persistence modes. Space is freed a whole segment at a time (oldest first), as the real
stream manager does; the active segment is rolled over first if it is the only one.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import struct
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .definitions import MEMORY, OVERWRITE_OLDEST_DATA, StreamDefinition, parse_definition
from .errors import (
    InvalidRequest,
    MessageStoreReadError,
    NotEnoughMessages,
    PayloadTooLarge,
    ResponsePayloadTooLarge,
    StreamAlreadyExists,
    StreamFull,
    StreamNotFound,
    UpdateFailed,
    UpdateNotAllowed,
)

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IQQI")
RECORD_OVERHEAD = HEADER.size
_SEGMENT_SUFFIX = ".seg"
_MAX_OPEN_OLD_SEGMENTS = 4
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def encode_dir_name(name: str) -> str:
    """Stream name → a directory name that is never ``.``/``..`` and has no separators."""
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


@dataclass(frozen=True)
class StoredMessage:
    stream_name: str
    sequence_number: int
    ingest_time: int
    payload: bytes

    def to_wire(self) -> dict:
        return {
            "streamName": self.stream_name,
            "sequenceNumber": self.sequence_number,
            "ingestTime": self.ingest_time,
            "payload": self.payload,
        }


def _record(seq: int, ingest_ms: int, payload: bytes) -> bytes:
    body = struct.pack(">QQI", seq, ingest_ms, len(payload)) + payload
    return struct.pack(">I", zlib.crc32(body)) + body


class _Segment:
    """A run of consecutive sequence numbers starting at ``first_seq``."""

    def __init__(self, first_seq: int, path: Path | None) -> None:
        self.first_seq = first_seq
        self.path = path
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.ingests: list[int] = []
        self.payloads: list[bytes] | None = None if path is not None else []
        self.size = 0
        self.fd: int | None = None

    @property
    def count(self) -> int:
        return len(self.offsets)

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.offsets)

    def open_for_append(self) -> None:
        if self.path is not None and self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)

    def load(self) -> None:
        """Index an existing segment file, cutting off a torn tail. Streams the file (bounded memory)."""
        assert self.path is not None
        pos = 0
        with open(self.path, "rb") as f:
            file_size = os.fstat(f.fileno()).st_size
            while True:
                header = f.read(HEADER.size)
                if len(header) < HEADER.size:
                    break
                crc, seq, ingest, length = HEADER.unpack(header)
                if pos + HEADER.size + length > file_size or seq != self.next_seq:
                    break  # a length past the end is a torn (or corrupt) header: do not trust it
                body = f.read(length)
                if len(body) != length or zlib.crc32(body, zlib.crc32(header[4:])) != crc:
                    break
                self.offsets.append(pos)
                self.lengths.append(length)
                self.ingests.append(ingest)
                pos += HEADER.size + length
        if pos < file_size:
            log.warning(
                "segment %s: cutting %d bytes of torn or corrupt data at offset %d (records after "
                "sequence %d were never acknowledged or were damaged on disk)",
                self.path,
                file_size - pos,
                pos,
                self.next_seq - 1,
            )
            with open(self.path, "r+b") as f:
                f.truncate(pos)
        self.size = pos

    def append(self, seq: int, ingest_ms: int, payload: bytes, fsync: bool) -> int:
        rec_size = HEADER.size + len(payload)
        if self.payloads is not None:
            self.payloads.append(payload)
        else:
            self.open_for_append()
            rec = _record(seq, ingest_ms, payload)
            written = os.write(self.fd, rec)
            if written != len(rec):
                # A short write on a regular file means the disk is full; cut it so the file stays valid.
                os.ftruncate(self.fd, self.size)
                raise OSError(f"short write to {self.path}: {written} of {len(rec)} bytes (disk full?)")
            if fsync:
                os.fdatasync(self.fd)
        self.offsets.append(self.size)
        self.lengths.append(len(payload))
        self.ingests.append(ingest_ms)
        self.size += rec_size
        return rec_size

    def payload(self, index: int) -> bytes:
        if self.payloads is not None:
            return self.payloads[index]
        self.open_for_append()  # closed again by Stream when too many segments hold descriptors
        length = self.lengths[index]
        data = os.pread(self.fd, length, self.offsets[index] + HEADER.size)
        if len(data) != length:
            raise MessageStoreReadError(
                f"segment {self.path}: sequence {self.first_seq + index} is short on disk "
                f"({len(data)} of {length} bytes)"
            )
        return data

    def close(self, fsync: bool = False) -> None:
        if self.fd is not None:
            if fsync:
                os.fdatasync(self.fd)
            os.close(self.fd)
            self.fd = None

    def remove(self) -> None:
        self.close()
        if self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


class Stream:
    """One message stream. Use through :class:`StreamStore`."""

    def __init__(self, definition: StreamDefinition, directory: Path, clock: Callable[[], float]) -> None:
        self.definition = definition
        self.directory = directory
        self._clock = clock
        self.segments: list[_Segment] = []
        self.total_bytes = 0
        self._last_ingest = 0

    @property
    def in_memory(self) -> bool:
        return self.definition.persistence == MEMORY

    # -- lifecycle -------------------------------------------------------------------------------
    def _new_segment(self, first_seq: int) -> _Segment:
        path = None if self.in_memory else self.directory / f"{first_seq:020d}{_SEGMENT_SUFFIX}"
        seg = _Segment(first_seq, path)
        seg.open_for_append()
        if path is not None and self.definition.flush_on_write:
            _fsync_dir(self.directory)  # the new file's name must survive a power cut too
        return seg

    def load(self) -> None:
        if not self.in_memory:
            for p in sorted(self.directory.glob(f"*{_SEGMENT_SUFFIX}")):
                try:
                    first = int(p.name[: -len(_SEGMENT_SUFFIX)])
                except ValueError:
                    log.warning("stream %r: ignoring stray file %s", self.definition.name, p)
                    continue
                seg = _Segment(first, p)
                seg.load()
                if self.segments and seg.first_seq != self.segments[-1].next_seq:
                    log.warning(
                        "stream %r: segment %s starts at %d but the previous one ends at %d; "
                        "keeping the gap (those messages were dropped)",
                        self.definition.name,
                        p.name,
                        seg.first_seq,
                        self.segments[-1].next_seq - 1,
                    )
                self.segments.append(seg)
        for seg in self.segments:
            self.total_bytes += seg.size
            if seg.ingests:
                self._last_ingest = max(self._last_ingest, seg.ingests[-1])
        if not self.segments:
            self.segments.append(self._new_segment(0))

    def close(self) -> None:
        for seg in self.segments:
            seg.close(fsync=self.definition.flush_on_write)

    def destroy(self) -> None:
        for seg in self.segments:
            seg.close()
        self.segments = []

    # -- queries ---------------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        return self.segments[-1].next_seq

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _first_live_seq(self, now_ms: int) -> int:
        """Oldest sequence number still readable (after TTL)."""
        ttl = self.definition.time_to_live_millis
        for seg in self.segments:
            if not seg.count:
                continue
            if ttl is None:
                return seg.first_seq
            i = bisect.bisect_left(seg.ingests, now_ms - ttl)
            if i < seg.count:
                return seg.first_seq + i
        return self.next_seq

    def oldest_sequence_number(self) -> int | None:
        first = self._first_live_seq(self._now_ms())
        return first if first < self.next_seq else None

    def newest_sequence_number(self) -> int | None:
        first = self._first_live_seq(self._now_ms())
        return self.next_seq - 1 if first < self.next_seq else None

    def storage_status(self) -> dict:
        self.expire()
        d = {"totalBytes": self.total_bytes}
        oldest = self.oldest_sequence_number()
        if oldest is not None:
            d["oldestSequenceNumber"] = oldest
            d["newestSequenceNumber"] = self.next_seq - 1
        return d

    # -- mutation --------------------------------------------------------------------------------
    def _drop_oldest_segment(self) -> None:
        if len(self.segments) == 1:
            # Only the active segment is left: start a fresh one so there is always an active segment
            # (its file name also records the next sequence number across restarts).
            self.segments.append(self._new_segment(self.next_seq))
        seg = self.segments.pop(0)
        self.total_bytes -= seg.size
        if seg.count:
            log.info(
                "stream %r: dropped sequence numbers %d..%d (%d bytes)",
                self.definition.name,
                seg.first_seq,
                seg.next_seq - 1,
                seg.size,
            )
        seg.remove()

    def expire(self) -> None:
        """Drop whole segments whose newest message is older than the time to live."""
        ttl = self.definition.time_to_live_millis
        if ttl is None:
            return
        limit = self._now_ms() - ttl
        while self.segments and self.segments[0].count and self.segments[0].ingests[-1] < limit:
            self._drop_oldest_segment()

    def append(self, payload: bytes) -> int:
        d = self.definition
        rec_size = RECORD_OVERHEAD + len(payload)
        if rec_size > d.max_size:
            raise PayloadTooLarge(
                f"message of {len(payload)} bytes (+{RECORD_OVERHEAD} bytes overhead) does not fit stream "
                f"{d.name!r} whose maxSize is {d.max_size} bytes"
            )
        self.expire()
        if self.total_bytes + rec_size > d.max_size:
            if d.strategy_on_full != OVERWRITE_OLDEST_DATA:
                raise StreamFull(
                    f"stream {d.name!r} is full ({self.total_bytes} of maxSize {d.max_size} bytes) and its "
                    "strategyOnFull is RejectNewData; read or export it, or raise maxSize"
                )
            while self.total_bytes + rec_size > d.max_size:
                self._drop_oldest_segment()
        active = self.segments[-1]
        if active.count and active.size + rec_size > d.stream_segment_size:
            active.close(fsync=d.flush_on_write)
            active = self._new_segment(active.next_seq)
            self.segments.append(active)
        seq = active.next_seq
        self._last_ingest = max(self._last_ingest, self._now_ms())
        self.total_bytes += active.append(seq, self._last_ingest, payload, fsync=d.flush_on_write)
        return seq

    def read(
        self, start: int, min_count: int, max_count: int, max_bytes: int | None = None
    ) -> list[StoredMessage]:
        """Messages from ``start`` (or the oldest still there, if later), up to ``max_count``.

        Raises NotEnoughMessages if fewer than ``min_count`` are available now.
        """
        self.expire()
        first = max(start, self._first_live_seq(self._now_ms()))
        out: list[StoredMessage] = []
        size = 0
        name = self.definition.name
        full = capped = False
        for seg in self.segments[self._segment_index(first) :]:
            i = max(first, seg.first_seq) - seg.first_seq
            while i < seg.count:
                if len(out) >= max_count:
                    full = True
                    break
                length = seg.lengths[i]
                if max_bytes is not None and out and size + length > max_bytes:
                    full = capped = True
                    break
                out.append(StoredMessage(name, seg.first_seq + i, seg.ingests[i], seg.payload(i)))
                size += length
                i += 1
            if full:
                break
        if not self.in_memory:
            self._limit_open_files()
        if len(out) < min_count and capped:
            raise ResponsePayloadTooLarge(
                f"stream {name!r}: {min_count} messages from sequence number {first} are more than the "
                f"{max_bytes}-byte response limit; lower minMessageCount"
            )
        if len(out) < min_count:
            newest = self.next_seq - 1
            raise NotEnoughMessages(
                f"stream {name!r}: {len(out)} message(s) from sequence number {first} "
                f"(newest is {newest}), fewer than minMessageCount {min_count}"
            )
        return out

    def available_from(self, start: int) -> int:
        """How many messages a read from ``start`` would find right now."""
        first = max(start, self._first_live_seq(self._now_ms()))
        return max(0, self.next_seq - first)

    def _limit_open_files(self) -> None:
        """Keep descriptors of at most a few old segments open (the active one always stays open)."""
        old = [seg for seg in self.segments[:-1] if seg.fd is not None]
        for seg in old[: max(0, len(old) - _MAX_OPEN_OLD_SEGMENTS)]:
            seg.close()

    def _segment_index(self, seq: int) -> int:
        firsts = [s.first_seq for s in self.segments]
        return max(bisect.bisect_right(firsts, seq) - 1, 0)


class StreamStore:
    """All message streams under one store root.

    ``clock`` returns seconds since the epoch (``time.time``); ingest times and TTL use it.
    Listeners registered with :meth:`add_listener` are called as ``listener(event, name)`` with
    event ``"append"``, ``"create"``, ``"update"`` or ``"delete"`` after the change is made.
    """

    def __init__(self, root: str | os.PathLike, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self._clock = clock
        self._streams: dict[str, Stream] = {}
        self._listeners: list[Callable[[str, str], None]] = []
        self._dir = self.root / "streams"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._load()

    # -- persistence -----------------------------------------------------------------------------
    def _load(self) -> None:
        for d in sorted(self._dir.iterdir()):
            if not d.is_dir():
                continue
            if d.name.startswith(".trash-"):
                shutil.rmtree(d, ignore_errors=True)
                continue
            defn_path = d / "definition.json"
            try:
                definition = parse_definition(json.loads(defn_path.read_text()), where=str(defn_path))
            except (OSError, ValueError, InvalidRequest) as e:
                log.error("skipping stream directory %s: unreadable definition (%s)", d, e)
                continue
            if encode_dir_name(definition.name) != d.name:
                log.error("skipping stream directory %s: it holds stream %r", d, definition.name)
                continue
            stream = Stream(definition, d, self._clock)
            stream.load()
            self._streams[definition.name] = stream
            log.info(
                "loaded stream %r: sequence numbers %s..%s, %d bytes",
                definition.name,
                stream.oldest_sequence_number(),
                stream.newest_sequence_number(),
                stream.total_bytes,
            )

    @staticmethod
    def _write_definition(directory: Path, definition: StreamDefinition) -> None:
        tmp = directory / f"definition.json.tmp-{uuid.uuid4().hex}"
        with open(tmp, "w") as f:
            json.dump(definition.to_wire(), f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / "definition.json")
        _fsync_dir(directory)

    # -- listeners -------------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str, str], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, event: str, name: str) -> None:
        for listener in list(self._listeners):
            listener(event, name)

    # -- operations ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._streams)

    def get(self, name: str) -> Stream:
        try:
            return self._streams[name]
        except KeyError:
            raise StreamNotFound(f"message stream {name!r} does not exist") from None

    def __contains__(self, name: str) -> bool:
        return name in self._streams

    def create(self, definition: StreamDefinition) -> Stream:
        if definition.name in self._streams:
            raise StreamAlreadyExists(f"message stream {definition.name!r} already exists")
        d = self._dir / encode_dir_name(definition.name)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        self._write_definition(d, definition)
        _fsync_dir(self._dir)
        stream = Stream(definition, d, self._clock)
        stream.load()
        self._streams[definition.name] = stream
        self._notify("create", definition.name)
        return stream

    def update(self, definition: StreamDefinition) -> Stream:
        stream = self.get(definition.name)
        old = stream.definition
        if old.persistence != definition.persistence:
            raise UpdateNotAllowed(
                f"stream {definition.name!r}: persistence cannot change from {old.persistence} to "
                f"{definition.persistence}; delete and re-create the stream instead"
            )
        try:
            self._write_definition(stream.directory, definition)
        except OSError as e:
            raise UpdateFailed(f"stream {definition.name!r}: could not save the new definition: {e}") from e
        stream.definition = definition
        stream.expire()
        # A smaller maxSize applies at once for OverwriteOldestData; RejectNewData refuses appends
        # until enough is read away or expires.
        if definition.strategy_on_full == OVERWRITE_OLDEST_DATA:
            while stream.total_bytes > definition.max_size and stream.total_bytes > stream.segments[-1].size:
                stream._drop_oldest_segment()
        self._notify("update", definition.name)
        return stream

    def delete(self, name: str) -> None:
        stream = self.get(name)
        stream.destroy()
        del self._streams[name]
        trash = self._dir / f".trash-{uuid.uuid4().hex}"
        os.replace(stream.directory, trash)
        _fsync_dir(self._dir)
        shutil.rmtree(trash, ignore_errors=True)
        self._notify("delete", name)

    def append(self, name: str, payload: bytes) -> int:
        if not isinstance(payload, (bytes, bytearray)) or not payload:
            raise InvalidRequest("payload: must be a byte string of at least 1 byte")
        seq = self.get(name).append(bytes(payload))
        self._notify("append", name)
        return seq

    def read(
        self, name: str, start: int = 0, min_count: int = 1, max_count: int = 1, max_bytes: int | None = None
    ) -> list[StoredMessage]:
        return self.get(name).read(start, min_count, max_count, max_bytes)

    def close(self) -> None:
        for stream in self._streams.values():
            stream.close()

    def streams(self) -> Iterable[Stream]:
        return list(self._streams.values())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
