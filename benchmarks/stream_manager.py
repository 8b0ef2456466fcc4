"""Stream manager throughput: our server (File, Memory) vs a null server that only speaks the protocol.

Every figure is measured with the unmodified ``greengrasssdk.stream_manager.StreamManagerClient``,
1 KiB messages, 1 and 4 concurrent clients (each client in its own process, as Lambdas are).
Each sample runs for a fixed time window and counts completed calls; a cell is the median of
``--repeats`` samples taken in rotating order (a, b, c / b, c, a / ...):

* append: ``append_message`` in a loop (all clients on one stream);
  (client processes are started once and stay connected; only the measuring windows are timed)
* read: ``read_messages`` of one message at a time, walking the stream filled by the append run.

(a) ``localcore.streams`` server, File stream (no flushOnWrite); (b) same server, Memory stream;
(c) a null server in its own process that answers every request with a canned reply (no store):
the ceiling the client and the loopback allow. Ratios (a)/(c) and (b)/(c) are printed side by side.

    .venv/bin/python benchmarks/stream_manager.py [--seconds 1.5] [--markdown]

Not a test: numbers depend on the machine. Finishes in well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAYLOAD = b"x" * 1024


# -- the null server (run as: stream_manager.py --null-server) -------------------------------------
async def _null_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    from localcore.streams import codec

    canned = {
        "streamName": "s",
        "sequenceNumber": 0,
        "ingestTime": int(time.time() * 1000),
        "payload": PAYLOAD,
    }
    seq = 0
    try:
        await reader.readexactly(1)
        length = codec.parse_length(await reader.readexactly(4))
        await reader.readexactly(1)
        req = codec.decode_payload(await reader.readexactly(length - 1))
        writer.write(
            b"\x01"
            + codec.encode_frame(
                codec.OP_CONNECT_RESPONSE,
                {
                    "requestId": req["requestId"],
                    "status": 0,
                    "protocolVersion": codec.PROTOCOL_VERSION,
                    "serverVersion": "null",
                    "clientIdentifier": "null",
                },
            )
        )
        while True:
            length = codec.parse_length(await reader.readexactly(4))
            op = (await reader.readexactly(1))[0]
            req = codec.decode_payload(await reader.readexactly(length - 1))
            resp = {"requestId": req["requestId"], "status": 0}
            if op == codec.OP_APPEND:
                resp["sequenceNumber"] = seq
                seq += 1
            elif op == codec.OP_READ:
                resp["messages"] = [canned]
            elif op == codec.OP_LIST:
                resp["streams"] = []
            writer.write(
                codec.encode_frame(codec.RESPONSE_OP.get(op, codec.OP_UNKNOWN_OPERATION_ERROR), resp)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _null_main() -> None:
    server = await asyncio.start_server(_null_conn, "127.0.0.1", 0)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


# -- clients ---------------------------------------------------------------------------------------
def _worker(ports: dict, cmds, out) -> None:
    """One client process: a StreamManagerClient per server, reused for every sample."""
    import logging

    from greengrasssdk.stream_manager import ReadMessagesOptions, StreamManagerClient

    logging.disable(logging.CRITICAL)
    clients = {label: StreamManagerClient(port=port) for label, port in ports.items()}
    out.put("ready")
    try:
        while True:
            cmd = cmds.get()
            if cmd is None:
                return
            server, stream, op, seconds, offset, filled, start_at = cmd
            client = clients[server]
            time.sleep(max(0.0, start_at - time.time()))  # all clients of a sample start together
            n = 0
            t0 = time.perf_counter()
            end = t0 + seconds
            result = (-1, 1.0)
            try:
                if op == "append":
                    while time.perf_counter() < end:
                        client.append_message(stream, PAYLOAD)
                        n += 1
                else:
                    while time.perf_counter() < end:
                        options = ReadMessagesOptions(
                            desired_start_sequence_number=(offset + n) % filled,
                            min_message_count=1,
                            max_message_count=1,
                        )
                        client.read_messages(stream, options)
                        n += 1
                result = (n, time.perf_counter() - t0)
            finally:
                out.put(result)  # (-1, ...) tells the parent this client failed (traceback on stderr)
    finally:
        for c in clients.values():
            c.close()


class ClientPool:
    """``n`` client processes, each connected to every server once, driven sample by sample."""

    def __init__(self, n: int, ports: dict) -> None:
        ctx = mp.get_context("fork")
        self.out = ctx.Queue()
        self.cmds = [ctx.Queue() for _ in range(n)]
        self.procs = [ctx.Process(target=_worker, args=(ports, q, self.out)) for q in self.cmds]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            if self.out.get(timeout=30) != "ready":
                raise RuntimeError("a client did not connect")

    def sample(self, server: str, stream: str, op: str, seconds: float, filled: int = 1) -> float:
        """Total ops/s of all clients running ``op`` for ``seconds``; readers start spread out and wrap."""
        start_at = time.time() + 0.05
        step = max(1, filled // len(self.procs))
        for i, q in enumerate(self.cmds):
            q.put((server, stream, op, seconds, i * step, max(filled, 1), start_at))
        results = [self.out.get(timeout=seconds + 60) for _ in self.procs]
        if any(n < 0 for n, _ in results):
            raise RuntimeError(f"a client failed during {op} on {server}/{stream}")
        return sum(n / elapsed for n, elapsed in results)

    def close(self) -> None:
        for q in self.cmds:
            q.put(None)
        for p in self.procs:
            p.join(30)


def start(cmd: list[str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    proc.stdout.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.4, help="measuring window per sample")
    ap.add_argument("--repeats", type=int, default=11, help="samples per cell (the median is shown)")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table for docs/benchmarks.md")
    ap.add_argument("--null-server", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.null_server:
        asyncio.run(_null_main())
        return

    from greengrasssdk.stream_manager import (
        MessageStreamDefinition,
        Persistence,
        StrategyOnFull,
        StreamManagerClient,
    )

    t_start = time.monotonic()
    load_before = os.getloadavg()[0]  # other work on the machine skews every column; it is printed
    rows = []
    with tempfile.TemporaryDirectory(prefix="smbench-") as tmp:
        ours, our_port = start(
            [sys.executable, "-m", "localcore.streams", "--store-root", tmp, "--port", "0", "--no-exporters"]
        )
        null, null_port = start([sys.executable, __file__, "--null-server"])
        try:
            admin = StreamManagerClient(port=our_port)
            for clients in (1, 4):
                for persistence in (Persistence.File, Persistence.Memory):
                    admin.create_message_stream(
                        MessageStreamDefinition(
                            name=f"{persistence.name}-{clients}",
                            strategy_on_full=StrategyOnFull.OverwriteOldestData,
                            persistence=persistence,
                            max_size=1 << 30,
                        )
                    )
            admin.close()
            targets = [("File", "ours", "File-{}"), ("Memory", "ours", "Memory-{}"), ("null", "null", "s")]
            for clients in (1, 4):
                pool = ClientPool(clients, {"ours": our_port, "null": null_port})
                try:
                    for op in ("append", "read"):
                        samples: dict[str, list[float]] = {label: [] for label, _, _ in targets}
                        filled = {}
                        if op == "read":
                            c = StreamManagerClient(port=our_port)
                            for label, _, stream in targets[:2]:
                                info = c.describe_message_stream(stream.format(clients))
                                filled[label] = info.storage_status.newest_sequence_number + 1
                            c.close()
                        for rep in range(args.repeats):
                            # Rotate the order each round so no target always runs first (or last).
                            for label, server, stream in targets[rep % 3 :] + targets[: rep % 3]:
                                samples[label].append(
                                    pool.sample(
                                        server,
                                        stream.format(clients),
                                        op,
                                        args.seconds,
                                        filled=filled.get(label, 1),
                                    )
                                )
                        med = {label: statistics.median(v) for label, v in samples.items()}
                        rows.append((op, clients, med["File"], med["Memory"], med["null"]))
                finally:
                    pool.close()
        finally:
            stop(ours)
            stop(null)

    header = (
        "| op | clients | (a) File ops/s | (b) Memory ops/s | (c) null server ops/s | (a)/(c) | (b)/(c) |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [
        f"| {op} | {c} | {a:,.0f} | {b:,.0f} | {n:,.0f} | {a / n:.2f} | {b / n:.2f} |"
        for op, c, a, b, n in rows
    ]
    elapsed = time.monotonic() - t_start
    if args.markdown:
        print(
            f"\n## Stream manager: unmodified StreamManagerClient, 1 KiB messages "
            f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, median of {args.repeats} × {args.seconds:g} s per cell, "
            f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after)\n"
        )
        print(
            "`benchmarks/stream_manager.py`. (a) our server, File stream without flushOnWrite; "
            "(b) same, Memory "
            "stream; (c) a null server that only answers the protocol (ceiling). Every client in its own "
            "process; servers in their own processes.\n"
        )
    print(header)
    print("\n".join(lines))
    print(f"\n(run took {elapsed:.0f} s)")


if __name__ == "__main__":
    main()
