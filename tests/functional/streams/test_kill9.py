"""kill -9 of a stream manager process loses no acknowledged append."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from greengrasssdk.stream_manager import (
    MessageStreamDefinition,
    ReadMessagesOptions,
    StrategyOnFull,
    StreamManagerClient,
    StreamManagerException,
)

REPO = Path(__file__).resolve().parents[3]


def _start(root: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcore.streams",
            "--store-root",
            str(root),
            "--port",
            "0",
            "--no-exporters",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # "listening on 127.0.0.1:<port>"; the process exits (EOF) on failure
    assert line.startswith("listening on "), f"server did not start: {line!r}"
    return proc, int(line.rsplit(":", 1)[1])


def test_kill_9_keeps_every_acknowledged_message(tmp_path, make_server, make_client):
    root = tmp_path / "store"
    proc, port = _start(root)
    try:
        setup = StreamManagerClient(port=port, request_timeout=5)
        setup.create_message_stream(
            MessageStreamDefinition(
                name="durable", strategy_on_full=StrategyOnFull.RejectNewData, stream_segment_size=64 * 1024
            )
        )
        setup.close()
        acked: dict[int, bytes] = {}
        lock = threading.Lock()
        enough = threading.Event()

        def appender(tag: str) -> None:
            c = StreamManagerClient(port=port, request_timeout=1, connect_timeout=1)
            try:
                for i in range(100000):
                    payload = b"%s-%06d-" % (tag.encode(), i) + b"x" * 200
                    try:
                        seq = c.append_message("durable", payload)
                    except (StreamManagerException, ConnectionError, OSError, asyncio.TimeoutError):
                        return  # the server is gone
                    with lock:
                        acked[seq] = payload
                        if len(acked) >= 600:
                            enough.set()
            finally:
                try:
                    c.close()
                except (ConnectionError, OSError):
                    pass  # the server died under this client; nothing to close cleanly

        threads = [threading.Thread(target=appender, args=(t,)) for t in ("a", "b", "c")]
        for t in threads:
            t.start()
        assert enough.wait(30), "appends did not get going"
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: the appenders are still sending
        proc.wait(10)
        for t in threads:
            t.join(15)
            assert not t.is_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()

    assert len(acked) >= 600
    srv = make_server(root)
    reader = make_client(srv.port)
    newest = reader.describe_message_stream("durable").storage_status.newest_sequence_number
    got = {}
    start = 0
    while start <= newest:
        batch = reader.read_messages(
            "durable",
            ReadMessagesOptions(
                desired_start_sequence_number=start, min_message_count=1, max_message_count=1000
            ),
        )
        got.update((m.sequence_number, m.payload) for m in batch)
        start = batch[-1].sequence_number + 1
    assert sorted(got) == list(range(newest + 1))  # no holes
    missing = [s for s, p in acked.items() if got.get(s) != p]
    assert missing == [], f"{len(missing)} acknowledged messages lost or changed, e.g. {missing[:5]}"
    assert max(acked) <= newest


def test_sigterm_stops_cleanly(tmp_path):
    proc, port = _start(tmp_path / "store")
    try:
        c = StreamManagerClient(port=port, request_timeout=5)
        c.create_message_stream(
            MessageStreamDefinition(name="s", strategy_on_full=StrategyOnFull.RejectNewData)
        )
        assert c.append_message("s", b"x") == 0
        c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
