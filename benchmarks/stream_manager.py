"""Stream manager throughput per platform: our server (File, Memory) vs a null server (protocol only).

1 KiB messages, 1 and 4 concurrent clients (each client in its own process, as Lambdas and components are).
Each sample runs for a fixed time window and counts completed calls; a cell is the median of
``--repeats`` samples taken in rotating order (a, b, c / b, c, a / ...). Our server runs as the core
builds it (client authentication on, exporters off: no cloud here), configured per platform:

* **v1**: from the seed group's ``stream_manager`` (the V1 reader's group model); the client is the
  unmodified ``greengrasssdk.stream_manager.StreamManagerClient`` with a Lambda's token;
* **v2**: from the StreamManager component's configuration in the seed group's V2 deployment, read by
  the V2 reader (``localcore.readers.v2.setup_from_deployment``); the token check is the core's V2
  wiring (the runtime's Lambda tokens plus ``ComponentTokens``), and the client is a generic component's:
  PyPI ``stream_manager.StreamManagerClient`` with the component's ``SVCUID`` token.

``--platform v1|v2|both`` (default both); v2/v1 and the goal (v2 ≥ 0.90 × v1) are printed.

* append: ``append_message`` in a loop (all clients on one stream);
  (client processes are started once and stay connected; only the measuring windows are timed)
* read: ``read_messages`` of one message at a time, walking the stream filled by the append run.

(a) ``localcore.streams`` server, File stream (no flushOnWrite); (b) same server, Memory stream;
(c) a null server in its own process that answers every request with a canned reply (no store):
the ceiling the client and the loopback allow. Ratios (a)/(c) and (b)/(c) are printed side by side.

    .venv/bin/python benchmarks/stream_manager.py [--platform both] [--seconds 0.4] [--markdown]

Not a test: numbers depend on the machine. Finishes in well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
import platforms  # noqa: E402

PAYLOAD = b"x" * 1024
V2_COMPONENT = "com.example.BenchStreamClient"


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


# -- our server, as the core builds it per platform (run as: stream_manager.py --serve PLATFORM DIR) -----
def _stream_manager_settings(platform: str, work: Path):
    """(StreamManager settings, token check, extra token check or None, the client's token)."""
    import secrets

    data = platforms.seed_data()
    group = platforms.group_from(data, platforms.ROOT, work / "group" / f"bench-sm-{platform}.yaml")
    lambda_tokens = {secrets.token_urlsafe(32)}  # what the runtime hands a Lambda instance
    if platform == "v1":
        token = next(iter(lambda_tokens))
        return group.stream_manager, lambda_tokens.__contains__, None, token
    from localcore.generic_components.tokens import ComponentTokens

    setup = platforms.v2_setup(group, platforms.ROOT)
    tokens = ComponentTokens()
    return setup.group.stream_manager, lambda_tokens.__contains__, tokens.valid, tokens.issue(V2_COMPONENT)


async def _serve_main(platform: str, store_root: Path) -> None:
    from localcore.streams.server import StreamManagerServer

    sm, check, extra, token = _stream_manager_settings(platform, store_root / "work")
    if not sm.enabled:
        raise SystemExit(f"{platform}: the seed group's stream manager is not enabled")
    server = StreamManagerServer(
        store_root / "streams", host="127.0.0.1", port=0, authenticate_client=sm.authenticate_client,
        token_check=check, exporter_threads=sm.exporter_thread_pool_size or 4,
        exporter_max_bandwidth_kbps=sm.exporter_max_bandwidth_kbps, exporters_enabled=False)
    if extra is not None:
        server.add_token_check(extra)  # as run --platform v2 wires the components' tokens
    await server.start()
    print(f"token {token} auth {sm.authenticate_client}", flush=True)
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


# -- clients ---------------------------------------------------------------------------------------
def _sdk(server: str):
    """The client SDK of ``server``'s platform: a generic component's on v2, a Lambda's otherwise."""
    if server == "v2":
        return _component_sdk()
    from greengrasssdk import stream_manager as sdk

    return sdk


def _component_sdk():
    """PyPI ``stream_manager``; this script's folder (where ``stream_manager.py`` is this file) left out."""
    import importlib

    mod = sys.modules.get("stream_manager")
    if mod is not None and hasattr(mod, "StreamManagerClient"):
        return mod
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != here]
    sys.modules.pop("stream_manager", None)
    try:
        return importlib.import_module("stream_manager")
    finally:
        sys.path[:] = saved


def _client(server: str, port: int, token: str):
    """A client of ``server`` with its token (the SDKs read it from the environment when created)."""
    os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    if server == "v2":
        os.environ["SVCUID"] = token  # the nucleus gives a component both
    try:
        return _sdk(server).StreamManagerClient(port=port)
    finally:
        os.environ.pop("AWS_CONTAINER_AUTHORIZATION_TOKEN", None)
        os.environ.pop("SVCUID", None)


def _worker(ports: dict, tokens: dict, cmds, out) -> None:
    """One client process: a StreamManagerClient per server, reused for every sample."""
    import logging

    logging.disable(logging.CRITICAL)
    clients = {label: _client(label, port, tokens.get(label, "")) for label, port in ports.items()}
    options_of = {label: _sdk(label).ReadMessagesOptions for label in ports}
    out.put("ready")
    try:
        while True:
            cmd = cmds.get()
            if cmd is None:
                return
            server, stream, op, seconds, offset, filled, start_at = cmd
            client = clients[server]
            ReadMessagesOptions = options_of[server]
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

    def __init__(self, n: int, ports: dict, tokens: dict) -> None:
        ctx = mp.get_context("fork")
        self.out = ctx.Queue()
        self.cmds = [ctx.Queue() for _ in range(n)]
        self.procs = [ctx.Process(target=_worker, args=(ports, tokens, q, self.out)) for q in self.cmds]
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


def start(cmd: list[str]) -> tuple[subprocess.Popen, int, str]:
    """Start a server process; (process, port, client token or "")."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    token = ""
    line = proc.stdout.readline()
    if line.startswith("token "):
        token = line.split()[1]
        line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1]), token


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
    platforms.add_platform_argument(ap)
    ap.add_argument("--null-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve", nargs=2, metavar=("PLATFORM", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.null_server:
        asyncio.run(_null_main())
        return
    if args.serve:
        asyncio.run(_serve_main(args.serve[0], Path(args.serve[1])))
        return

    from greengrasssdk.stream_manager import Persistence

    chosen = platforms.platforms_of(args.platform)
    t_start = time.monotonic()
    load_before = os.getloadavg()[0]  # other work on the machine skews every column; it is printed
    rows = []
    servers: dict = {}
    with tempfile.TemporaryDirectory(prefix="smbench-") as tmp:
        try:
            for p in chosen:
                (Path(tmp) / p).mkdir()
                servers[p] = start([sys.executable, __file__, "--serve", p, str(Path(tmp) / p)])
            servers["null"] = start([sys.executable, __file__, "--null-server"])
            for p in chosen:
                admin = _client(p, servers[p][1], servers[p][2])
                for clients in (1, 4):
                    for persistence in (Persistence.File, Persistence.Memory):
                        admin.create_message_stream(
                            _sdk(p).MessageStreamDefinition(
                                name=f"{persistence.name}-{clients}",
                                strategy_on_full=_sdk(p).StrategyOnFull.OverwriteOldestData,
                                persistence=getattr(_sdk(p).Persistence, persistence.name),
                                max_size=1 << 30,
                            )
                        )
                admin.close()
            targets = [(f"{p} {kind}", p, kind + "-{}") for kind in ("File", "Memory") for p in chosen]
            targets.append(("null", "null", "s"))
            ports = {label: port for label, (_, port, _) in servers.items()}
            tokens = {label: token for label, (_, _, token) in servers.items()}
            for clients in (1, 4):
                pool = ClientPool(clients, ports, tokens)
                try:
                    for op in ("append", "read"):
                        samples: dict[str, list[float]] = {label: [] for label, _, _ in targets}
                        filled = {}
                        if op == "read":
                            for label, server, stream in targets[:-1]:
                                c = _client(server, ports[server], tokens[server])
                                info = c.describe_message_stream(stream.format(clients))
                                filled[label] = info.storage_status.newest_sequence_number + 1
                                c.close()
                        for rep in range(args.repeats):
                            # Rotate the order each round so no target always runs first (or last).
                            k = rep % len(targets)
                            for label, server, stream in targets[k:] + targets[:k]:
                                samples[label].append(
                                    pool.sample(server, stream.format(clients), op, args.seconds,
                                                filled=filled.get(label, 1))
                                )
                        med = {label: statistics.median(v) for label, v in samples.items()}
                        rows.append((op, clients, med))
                finally:
                    pool.close()
        finally:
            for proc, _, _ in servers.values():
                stop(proc)

    both = len(chosen) == 2
    cols = []
    for kind in ("File", "Memory"):
        cols += [f"{p} {kind} ops/s" for p in chosen] + ([f"{kind} v2/v1"] if both else [])
    cols += ["null server ops/s"] + [f"{p} File/null" for p in chosen]
    header = "| op | clients | " + " | ".join(cols) + " |\n| --- | --- |" + " ---: |" * len(cols)
    lines, ratios = [], []
    for op, c, med in rows:
        cells = []
        for kind in ("File", "Memory"):
            cells += [f"{med[f'{p} {kind}']:,.0f}" for p in chosen]
            if both:
                cells.append(platforms.ratio_cell(med[f"v1 {kind}"], med[f"v2 {kind}"]))
                ratios.append(med[f"v2 {kind}"] / med[f"v1 {kind}"])
        cells += [f"{med['null']:,.0f}"] + [f"{med[f'{p} File'] / med['null']:.2f}" for p in chosen]
        lines.append(f"| {op} | {c} | " + " | ".join(cells) + " |")
    elapsed = time.monotonic() - t_start
    if args.markdown:
        print(
            f"\n## Stream manager per platform: 1 KiB messages "
            f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, median of {args.repeats} × {args.seconds:g} s per cell, "
            f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after)\n"
        )
        print(
            "`benchmarks/stream_manager.py --platform both`. Our server as the core builds it (client "
            "authentication on, exporters off), v1 from the seed group with greengrasssdk clients and a "
            "Lambda token, v2 from the seed's V2 deployment with PyPI stream_manager clients and a "
            "component SVCUID; "
            "File streams without flushOnWrite, Memory streams; the null server only answers the protocol "
            "(ceiling). Every client in its own process; servers in their own processes.\n"
        )
    print(header)
    print("\n".join(lines))
    if both:
        print(f"\ngoal v2 within 10 % of v1 in every cell: {platforms.goal_text(ratios)}")
    print(f"\n(run took {elapsed:.0f} s)")

if __name__ == "__main__":
    main()
