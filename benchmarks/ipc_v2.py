"""V2 IPC throughput: our nucleus IPC server beside a minimal stdlib eventstream server that does no work.

Both serve the same unmodified ``GreengrassCoreIPCClientV2`` (awsiotsdk 1.31.0) in a component process:

* **request→response**: sequential ``publish_to_topic`` calls (no subscriber) — round trips per second;
* **publish→receive**: the component subscribes to a topic and publishes to it; messages per second from the first
  publish until the last one came back as a subscription event.

The ceiling server parses nothing but the prelude and the stream id, answers every request with a canned
response and, for a publish, echoes one canned event on the subscription stream: what the client alone can do.
The figure is ours / ceiling (goal ≥ 0.8), measured side by side in one run, servers alternating.

    .venv/bin/python benchmarks/ipc_v2.py [--n 3000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localcore.nucleus_ipc import AccessControl, IpcService, LocalPubSub, NucleusIpcServer  # noqa: E402

TOKEN = "BENCHTOKEN"
COMPONENT = "com.example.Bench"

CLIENT = r"""
import json, sys, threading, time
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage
mode, n = sys.argv[1], int(sys.argv[2])
ipc = GreengrassCoreIPCClientV2()
msg = PublishMessage(binary_message=BinaryMessage(message=b"x" * 64))
for _ in range(200):                                   # warm up
    ipc.publish_to_topic(topic="warm", publish_message=msg)
if mode == "rr":
    t0 = time.perf_counter()
    for _ in range(n):
        ipc.publish_to_topic(topic="bench/rr", publish_message=msg)
    rate = n / (time.perf_counter() - t0)
else:
    got = [0]
    done = threading.Event()
    def on_event(ev):
        got[0] += 1
        if got[0] == n:
            done.set()
    ipc.subscribe_to_topic(topic="bench/pr", on_stream_event=on_event, receive_mode="RECEIVE_ALL_MESSAGES")
    t0 = time.perf_counter()
    for _ in range(n):
        ipc.publish_to_topic(topic="bench/pr", publish_message=msg)
    done.wait(60)
    rate = got[0] / (time.perf_counter() - t0)
print(json.dumps({"rate": rate}))
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


class CeilingServer:
    """Answers CONNECT, PublishToTopic and SubscribeToTopic with canned frames; parses only what it must
    (the prelude, three int32 headers, and the publish topic in the payload)."""

    PUB_RESP = _typed("aws.greengrass#PublishToTopicResponse")
    SUB_RESP = _typed("aws.greengrass#SubscribeToTopicResponse")
    EVENT = _typed("aws.greengrass#SubscriptionResponseMessage")
    EVENT_BODY = json.dumps({"binaryMessage": {"message": "eA==", "context": {"topic": "bench/pr"}}}).encode()

    def __init__(self, path: str) -> None:
        self.path = path

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._client, path=self.path)

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        sub_stream = 0
        while True:
            data = await reader.read(262144)
            if not data:
                break
            buf += data
            out = []
            while len(buf) >= 12:
                total, hlen = struct.unpack_from("!II", buf)
                if len(buf) < total:
                    break
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
                        sub_stream = sid
                        out.append(_frame(0, 0, sid, self.SUB_RESP, b"{}"))
                    else:
                        out.append(_frame(0, 2, sid, self.PUB_RESP, b"{}"))
                        if sub_stream and b'"bench/pr"' in payload:
                            out.append(_frame(0, 0, sub_stream, self.EVENT, self.EVENT_BODY))
            if out:
                writer.write(b"".join(out))
                await writer.drain()
        writer.close()



# ---------------------------------------------------------------------------------------- harness
class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def client(socket_path: str, mode: str, n: int) -> float:
    env = dict(os.environ, SVCUID=TOKEN, AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=socket_path)
    out = subprocess.run([sys.executable, "-c", CLIENT, mode, str(n)], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["rate"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="calls or messages per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="alternating measurements per server and mode")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipcbench") as tmp:
        ours_path, ceiling_path = os.path.join(tmp, "ours.socket"), os.path.join(tmp, "ceiling.socket")
        access = AccessControl()
        access.update(COMPONENT, {"accessControl": {"aws.greengrass.ipc.pubsub": {
            "all": {"operations": ["*"], "resources": ["*"]}}}})
        ours = NucleusIpcServer(ours_path, {TOKEN: COMPONENT}.get, IpcService(access, LocalPubSub()))
        ceiling = CeilingServer(ceiling_path)
        lt = LoopThread()
        try:
            lt.run(ours.start())
            lt.run(ceiling.start())
            results: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for mode in ("rr", "pr"):
                    for name, path in (("ours", ours_path), ("ceiling", ceiling_path)):
                        results.setdefault((name, mode), []).append(client(path, mode, args.n))
            lt.run(ours.stop())
            lt.run(ceiling.stop())
        finally:
            lt.close()
    print(f"V2 IPC, GreengrassCoreIPCClientV2, n={args.n}, best of {args.rounds} (per second)")
    print(f"{'measure':<20}{'ours':>10}{'ceiling':>10}{'ratio':>8}")
    for mode, label in (("rr", "request→response"), ("pr", "publish→receive")):
        o, c = max(results[("ours", mode)]), max(results[("ceiling", mode)])
        print(f"{label:<20}{o:>10.0f}{c:>10.0f}{o / c:>8.2f}")
    print("goal: ratio ≥ 0.8 (the ceiling is a server that does no work)")


if __name__ == "__main__":
    main()
