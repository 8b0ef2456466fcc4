"""MQTT-triggered invocations per second of an echo Lambda, against a null IPC server ceiling.

Measured side by side in one run:

* **runtime, pinned** / **runtime, on-demand (pool N)**: N messages handed to the runtime's sink
  for ``function:echo`` (exactly what the router does for a routed MQTT message); the echo Lambda
  (real process, unmodified greengrasssdk) publishes each event back; we time until every echo
  has reached the Publisher.
* **null IPC ceiling**: the same Lambda-side HTTP traffic per invocation (get work, publish,
  post result: three calls with our ``IPCClient``) against an aiohttp server that answers at once
  with no queueing, routing or process management: the most any runtime on this IPC wire could do.

Prints invocations/s and the ratio runtime / ceiling; ``--append`` adds the table to
docs/benchmarks.md. Usage: ``.venv/bin/python benchmarks/invoke.py [-n 2000] [--append]``.
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localcore.interfaces import FunctionSpec, Message  # noqa: E402
from localcore.runtime import LambdaRuntime, SDK_DIR  # noqa: E402

ECHO = textwrap.dedent("""
    import greengrasssdk
    _client = greengrasssdk.client('iot-data')

    def function_handler(event, context):
        _client.publish(topic='echo/out', payload=b'%d' % event['i'])
""")

NULL_CLIENT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from greengrass_ipc_python_sdk.ipc_client import IPCClient
    n = int(sys.argv[2])
    arn = 'arn:aws:lambda:us-east-1:123456789012:function:echo:live'
    client = IPCClient(instance_id='null#1')
    start = time.perf_counter()
    for i in range(n):
        work = client.get_work(arn)
        client.post_work('arn:aws:lambda:::function:GGRouter', b'%d' % i, 'e30=', 'Event')
        work.payload = b'null'
        client.post_work_result(arn, work)
    print(time.perf_counter() - start)
""")


class CountingPublisher:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()

    def publish(self, message: Message, all_or_error: bool = False) -> int:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return 1


async def run_runtime(code_dir: Path, state: Path, n: int, pinned: bool, pool: int) -> float:
    spec = FunctionSpec(name="echo", code_dir=str(code_dir), handler="handler.function_handler",
                        arn="arn:aws:lambda:us-east-1:123456789012:function:echo:live", pinned=pinned,
                        timeout_s=30)
    warm = 20 * pool
    publisher = CountingPublisher(warm)
    runtime = LambdaRuntime([spec], publisher, None, state, ipc_port=0, max_instances=pool,
                            max_queue=n + warm)
    await runtime.start()
    try:
        sink = runtime.sink("echo")
        for i in range(warm):  # start the instances and warm them up
            sink.deliver(Message(source="device:bench", topic="bench/in", payload=b'{"i": %d}' % i))
        await asyncio.wait_for(publisher.done.wait(), 60)
        publisher.count, publisher.expected = 0, n
        publisher.done.clear()
        start = time.perf_counter()
        for i in range(n):
            sink.deliver(Message(source="device:bench", topic="bench/in", payload=b'{"i": %d}' % i))
        await asyncio.wait_for(publisher.done.wait(), 300)
        elapsed = time.perf_counter() - start
        # let the last results land before stopping (they follow their publish)
        deadline = time.monotonic() + 10
        while runtime.status()["functions"]["echo"]["invocations"] < n + warm and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return elapsed
    finally:
        await runtime.stop()


async def run_null(n: int, clients: int) -> float:
    """Seconds for ``clients`` client processes to do ``n`` invocations' worth of calls in all."""
    async def work(request):
        return web.Response(body=b'{"i": 0}',
                            headers={"X-Amz-InvocationId": "id", "X-Amz-Client-Context": ""})

    async def accepted(request):
        await request.read()
        return web.Response(status=202, headers={"X-Amz-InvocationId": "id"})

    app = web.Application()
    app.router.add_get("/2016-11-01/functions/{arn:[^/]+}/work", work)
    app.router.add_post("/2016-11-01/functions/{arn:[^/]+}/work", accepted)
    app.router.add_post("/2016-11-01/functions/{arn:[^/]+}", accepted)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        start = time.perf_counter()
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-S", "-c", NULL_CLIENT, str(SDK_DIR), str(n // clients), stdout=subprocess.PIPE,
            env={"GG_DAEMON_PORT": str(port), "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t"})
            for _ in range(clients)]
        await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 300)
        return time.perf_counter() - start
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="invocations per measurement")
    parser.add_argument("--pool", type=int, default=4, help="on-demand pool limit")
    parser.add_argument("--append", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "echo"
        code.mkdir()
        (code / "handler.py").write_text(ECHO)
        ceiling_1 = args.n / await run_null(args.n, 1)
        pinned = args.n / await run_runtime(code, Path(tmp) / "p", args.n, True, 1)
        ceiling_pool = args.n / await run_null(args.n, args.pool)
        on_demand = args.n / await run_runtime(code, Path(tmp) / "o", args.n, False, args.pool)
    rows = [
        ("runtime, pinned (1 instance)", pinned, "null server, 1 client process", ceiling_1),
        (f"runtime, on-demand (pool {args.pool})", on_demand, f"null server, {args.pool} client processes",
         ceiling_pool),
    ]
    lines = ["| measurement | invocations/s | ceiling | ceiling/s | ratio |",
             "| --- | ---: | --- | ---: | ---: |"]
    lines += [f"| {name} | {rate:,.0f} | {cname} | {ceiling:,.0f} | {rate / ceiling:.2f} |"
              for name, rate, cname, ceiling in rows]
    table = "\n".join(lines)
    print(table)
    if args.append:
        header = (f"\n## Lambda invocations (benchmarks/invoke.py, n={args.n}, "
                  f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, "
                  f"Python {platform.python_version()})\n\n"
                  "MQTT-triggered Event invocations of an echo Lambda that publishes each event back "
                  "(sink → IPC → real Lambda process → IPC publish → Publisher), against the same "
                  "Lambda-side HTTP traffic on a null aiohttp server.\n\n")
        with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as f:
            f.write(header + table + "\n")


if __name__ == "__main__":
    asyncio.run(main())
