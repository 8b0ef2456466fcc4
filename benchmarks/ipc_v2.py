"""V2 IPC throughput: our nucleus IPC server beside a minimal stdlib eventstream server that does no work.

Both serve the same unmodified ``GreengrassCoreIPCClientV2`` (awsiotsdk 1.31.0) in one component process that
holds a client per server (each made as the SDK makes its default one: ``connect()`` with the socket and token):

* **request→response**: sequential ``publish_to_topic`` calls (no subscriber) — round trips per second;
* **publish→receive**: each client subscribes to a topic and publishes to it; messages per second from the first
  publish of a turn until its last one came back as a subscription event.

The ceiling server checks both CRCs of every message (what any eventstream peer must do), reads the prelude and
the three int32 headers, answers every request with a canned response and, for a publish on the subscribed
topic, sends one canned event carrying a message of the same size as ours: what the client alone can do. It runs
on asyncio's transport callbacks, reading into one buffer (``--streams-ceiling`` also measures it on asyncio
streams, a reader task per connection, as it was first measured: ~25 % more CPU per call).

Each server runs in its own process (one asyncio loop, as the core's IPC server; ``gc.freeze()`` once started,
as the core does once ready). The servers take turns of
``--burst`` calls, in an order that rotates from turn to turn, so that the machine's other load (it is shared)
falls on all of them alike; a round is one client process per mode. The figure is ours / ceiling within a round
(goal ≥ 0.8): the median and the range over the rounds. The server's CPU time per call (its loop thread's
``/proc/<pid>/schedstat``, warm-up included) is printed too: it depends less on the machine's load.
``--baseline REV`` also measures our server as committed at git revision REV (its own ``localcore``).

    .venv/bin/python benchmarks/ipc_v2.py [--n 3000] [--burst 50] [--rounds 5] [--size 64] [--baseline REV]
        [--streams-ceiling]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "BENCHTOKEN"
COMPONENT = "com.example.Bench"

CLIENT = r"""
import json, sys, threading, time
import awsiot.greengrasscoreipc
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage
mode, bursts, k, size, token, sockets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5], sys.argv[6:]
clients = [GreengrassCoreIPCClientV2(client=awsiot.greengrasscoreipc.connect(ipc_socket=p, authtoken=token))
           for p in sockets]
msg = PublishMessage(binary_message=BinaryMessage(message=b"x" * size))
for ipc in clients:
    for _ in range(200):                               # warm up
        ipc.publish_to_topic(topic="warm", publish_message=msg)
got = [0] * len(clients)
target = [0] * len(clients)
done = [threading.Event() for _ in clients]
if mode == "pr":
    def on_event_of(i):
        def on_event(ev):
            got[i] += 1
            if got[i] == target[i]:
                done[i].set()
        return on_event
    for i, ipc in enumerate(clients):
        ipc.subscribe_to_topic(topic="bench/pr", on_stream_event=on_event_of(i), receive_mode="RECEIVE_ALL_MESSAGES")
spent = [0.0] * len(clients)
for b in range(bursts):                                # the servers take turns, in a rotating order
    for j in range(len(clients)):
        i = (b + j) % len(clients)
        ipc = clients[i]
        t0 = time.perf_counter()
        if mode == "rr":
            for _ in range(k):
                ipc.publish_to_topic(topic="bench/rr", publish_message=msg)
        else:
            done[i].clear()
            target[i] = got[i] + k
            for _ in range(k):
                ipc.publish_to_topic(topic="bench/pr", publish_message=msg)
            if not done[i].wait(60):
                raise SystemExit(f"server {i}: {target[i] - got[i]} of {k} events missing after 60 s")
        spent[i] += time.perf_counter() - t0
print(json.dumps({"rates": [bursts * k / t for t in spent]}))
for ipc in clients:
    ipc.close()
"""


# ---------------------------------------------------------------------------------------- the ceiling
def _frame(mtype: int, flags: int, sid: int, extra: bytes = b"", payload: bytes = b"") -> bytes:
    def i32(name: bytes, v: int) -> bytes:
        return bytes([len(name)]) + name + b"\x04" + struct.pack("!i", v)

    headers = i32(b":message-type", mtype) + i32(b":message-flags", flags) + i32(b":stream-id", sid) + extra
    total = 16 + len(headers) + len(payload)
    pre = struct.pack("!II", total, len(headers))
    pre += struct.pack("!I", zlib.crc32(pre))
    body = pre + headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def _typed(model: str) -> bytes:
    def s(name: bytes, v: bytes) -> bytes:
        return bytes([len(name)]) + name + b"\x07" + struct.pack("!H", len(v)) + v
    return s(b":content-type", b"application/json") + s(b"service-model-type", model.encode())


class _CeilingConnection:
    """Answers CONNECT, PublishToTopic and SubscribeToTopic with canned frames; checks both CRCs and parses only
    what it must (the prelude, three int32 headers, and the publish topic in the payload)."""

    PUB_RESP = _typed("aws.greengrass#PublishToTopicResponse")
    SUB_RESP = _typed("aws.greengrass#SubscribeToTopicResponse")
    EVENT = _typed("aws.greengrass#SubscriptionResponseMessage")

    def __init__(self, event_body: bytes) -> None:
        self.event_body = event_body
        self.buf = b""
        self.sub_stream = 0

    def feed(self, data: bytes) -> Optional[bytes]:
        """The bytes to send for ``data`` (b"" for nothing yet), or None to hang up (a bad CRC)."""
        buf = self.buf + data
        out = []
        crc32 = zlib.crc32
        while len(buf) >= 12:
            total, hlen, pcrc = struct.unpack_from("!III", buf)
            if crc32(buf[:8]) != pcrc:
                return None
            if len(buf) < total:
                break
            if crc32(buf[:total - 4]) != struct.unpack_from("!I", buf, total - 4)[0]:
                return None
            headers = buf[12:12 + hlen]
            payload = buf[12 + hlen:total - 4]
            buf = buf[total:]
            sid = struct.unpack_from("!i", headers, headers.find(b":stream-id") + 11)[0]
            mtype = struct.unpack_from("!i", headers, headers.find(b":message-type") + 14)[0]
            flags = struct.unpack_from("!i", headers, headers.find(b":message-flags") + 15)[0]
            if mtype == 4:
                out.append(_frame(5, 1, 0))
            elif mtype == 0 and not flags & 2:
                if b"#SubscribeToTopic" in headers:
                    self.sub_stream = sid
                    out.append(_frame(0, 0, sid, self.SUB_RESP, b"{}"))
                else:
                    out.append(_frame(0, 2, sid, self.PUB_RESP, b"{}"))
                    if self.sub_stream and b'"bench/pr"' in payload:
                        out.append(_frame(0, 0, self.sub_stream, self.EVENT, self.event_body))
        self.buf = buf
        return b"".join(out)


class _CeilingProtocol(asyncio.BufferedProtocol):
    def __init__(self, event_body: bytes, buffer: memoryview) -> None:
        self.conn = _CeilingConnection(event_body)
        self.buffer = buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        out = self.conn.feed(bytes(self.buffer[:nbytes]))
        if out is None:
            self.transport.close()
        elif out:
            self.transport.write(out)


class CeilingServer:
    """The ceiling: :class:`_CeilingConnection` straight on asyncio's transport callbacks (no stream reader, no
    task; each read into one buffer, as our server reads), the leanest stdlib way to serve a Unix socket."""

    def __init__(self, path: str, size: int = 64) -> None:
        self.path = path
        # what our server sends for the benchmark's publish: the same message, base64, with its topic
        message = base64.b64encode(b"x" * size).decode()
        self.event_body = json.dumps({"binaryMessage": {"message": message, "context": {"topic": "bench/pr"}}},
                                     separators=(",", ":")).encode()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        buffer = memoryview(bytearray(256 * 1024))
        self._server = await loop.create_unix_server(lambda: _CeilingProtocol(self.event_body, buffer),
                                                     path=self.path)

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


class CeilingStreamsServer(CeilingServer):
    """The same on asyncio streams (a reader task per connection), as the ceiling was first measured."""

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._client, path=self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _CeilingConnection(self.event_body)
        while True:
            data = await reader.read(262144)
            if not data:
                break
            out = conn.feed(data)
            if out is None:
                break
            if out:
                writer.write(out)
                await writer.drain()
        writer.close()


# ---------------------------------------------------------------------------------------- the servers
async def _serve(kind: str, socket_path: str, size: int) -> None:
    if kind == "ceiling":
        server = CeilingServer(socket_path, size)
    elif kind == "ceiling-streams":
        server = CeilingStreamsServer(socket_path, size)
    else:   # ours, from the localcore first on sys.path (this tree's or a baseline's)
        from localcore.nucleus_ipc import AccessControl, IpcService, LocalPubSub, NucleusIpcServer

        access = AccessControl()
        access.update(COMPONENT, {"accessControl": {"aws.greengrass.ipc.pubsub": {
            "all": {"operations": ["*"], "resources": ["*"]}}}})
        server = NucleusIpcServer(socket_path, {TOKEN: COMPONENT}.get, IpcService(access, LocalPubSub()))
    await server.start()
    gc.freeze()   # as the core does once ready (localcore/run.py): what start-up built is not collected again
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)   # the harness closes our stdin to stop us
    await stop.wait()
    loop.remove_reader(sys.stdin.fileno())
    await server.stop()


def extract_revision(rev: str, dest: Path) -> Path:
    """The repository's tree at git revision ``rev`` (committed files only) under ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "localcore"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


class Server:
    """One server process: ``kind`` is ours, ceiling or ours@REV (with ``tree`` that revision's checkout)."""

    def __init__(self, kind: str, socket_path: str, size: int, tree: Path = ROOT) -> None:
        self.kind = kind
        self.socket_path = socket_path
        env = dict(os.environ, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", kind.split("@")[0], socket_path,
                                      "--size", str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, cwd=tree, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{kind} server did not start (exit {self.proc.poll()})")

    def cpu_ns(self) -> int:
        """CPU time of the server's one thread so far (its event loop)."""
        return int(Path(f"/proc/{self.proc.pid}/schedstat").read_text().split()[0])

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def client(sockets: list[str], mode: str, bursts: int, burst: int, size: int) -> list[float]:
    """One component process with a client per server, taking turns; the rate each server got."""
    out = subprocess.run([sys.executable, "-c", CLIENT, mode, str(bursts), str(burst), str(size), TOKEN, *sockets],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"the {mode} client failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["rates"]


def _range(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="calls (or messages) per server, mode and round")
    ap.add_argument("--burst", type=int, default=50, help="calls in one server's turn")
    ap.add_argument("--rounds", type=int, default=5, help="rounds: one client process per mode")
    ap.add_argument("--size", type=int, default=64, help="bytes of each published message")
    ap.add_argument("--baseline", metavar="REV", help="also measure our server as committed at git revision REV")
    ap.add_argument("--streams-ceiling", action="store_true",
                    help="also measure the ceiling on asyncio streams (a reader task) instead of transport callbacks")
    ap.add_argument("--serve", nargs=2, metavar=("KIND", "SOCKET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve[0], args.serve[1], args.size))
        return
    kinds = ["ours", "ceiling"] + (["ceiling-streams"] if args.streams_ceiling else []) + \
        ([f"ours@{args.baseline}"] if args.baseline else [])
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="ipcbench") as tmp:
        trees = {k: (extract_revision(k.split("@")[1], Path(tmp) / "baseline") if "@" in k else ROOT)
                 for k in kinds}
        servers = {k: Server(k, os.path.join(tmp, f"{i}.socket"), args.size, trees[k]) for i, k in enumerate(kinds)}
        bursts = max(1, args.n // args.burst)
        try:
            for _ in range(args.rounds):
                for mode in ("rr", "pr"):
                    before = {k: s.cpu_ns() for k, s in servers.items()}
                    got = client([servers[k].socket_path for k in kinds], mode, bursts, args.burst, args.size)
                    for k, rate in zip(kinds, got):
                        rates.setdefault((k, mode), []).append(rate)
                        calls = bursts * args.burst + 200 + (mode == "pr")
                        cpu.setdefault((k, mode), []).append((servers[k].cpu_ns() - before[k]) / 1e3 / calls)
                load.append(os.getloadavg()[0])
        finally:
            for s in servers.values():
                s.stop()
    print(f"V2 IPC, GreengrassCoreIPCClientV2, {bursts * args.burst} calls per server, mode and round in turns of "
          f"{args.burst}, {args.size}-byte messages, {args.rounds} rounds; "
          f"load average {min(load):.1f}–{max(load):.1f}")
    print("median [min–max] over the rounds")
    for mode, label in (("rr", "request→response"), ("pr", "publish→receive")):
        print(f"{label}:")
        for k in kinds:
            line = f"  {k:<22} {_range(rates[(k, mode)], '.0f')} /s   server CPU {_range(cpu[(k, mode)], '.0f')} µs/call"
            if k != "ceiling":
                ratios = [o / c for o, c in zip(rates[(k, mode)], rates[("ceiling", mode)])]
                line += f"   ratio to ceiling {_range(ratios, '.2f')}"
            print(line)
    print("goal: ours / ceiling ≥ 0.8 (the ceiling is a server that does no work)")


if __name__ == "__main__":
    main()
