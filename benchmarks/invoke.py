"""MQTT-triggered invocations per second of an echo Lambda, per platform, against a null IPC server ceiling.

Measured side by side in one run, in ``--repeat`` interleaved rounds (the median is shown):

* **runtime, pinned** / **runtime, on-demand (pool N)**: N messages handed to the runtime's sink
  for the echo function (exactly what the router does for a routed MQTT message); the echo Lambda
  (``benchmarks/echo``, real process, unmodified greengrasssdk) publishes each event back; we time
  until every echo has reached the Publisher. The function is part of the seed group (its own
  functions left out) and its runtime spec is what the core builds from each platform's reader:
  **v1** the group model (code from the bundle folder); **v2** the group converted to its V2
  deployment and read back by the V2 reader (``localcore.readers.v2.setup_from_deployment``): code
  from the unzipped Lambda package (greengrasssdk vendored inside), pinned / pool from the Lambda
  component's recipe. ``--platform v1|v2|both`` (default both); v2/v1 and the goal (v2 ≥ 0.90 × v1)
  are printed.
* **null IPC ceiling**: the same Lambda-side HTTP traffic per invocation (get work, publish,
  post result: three calls with our ``IPCClient``) against an aiohttp server that answers at once
  with no queueing, routing or process management: the most any runtime on this IPC wire could do.

Prints invocations/s and the ratio runtime / ceiling; ``--append`` adds the table to
docs/benchmarks.md. Usage: ``.venv/bin/python benchmarks/invoke.py [--platform both] [-n 2000] [--append]``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import platforms  # noqa: E402
from localcore.interfaces import FunctionSpec, Message  # noqa: E402
from localcore.runtime import LambdaRuntime, SDK_DIR  # noqa: E402

ECHO_PATH = "benchmarks/echo"  # relative to the bundle root

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


def echo_specs(tmp: Path, pool: int) -> dict:
    """{platform: {"pinned": spec, "on_demand": spec}}: the FunctionSpecs the core builds from each reader."""
    from localcore.core import function_specs

    functions = [
        {"name": "echo", "path": ECHO_PATH, "pinned": True, "memory_mb": 128, "timeout_s": 30},
        {"name": "echo_pool", "path": ECHO_PATH, "pinned": False, "memory_mb": 128, "timeout_s": 30,
         "max_instances": pool},
    ]
    group = platforms.seed_plus(functions=functions, only_functions=True, root=platforms.ROOT,
                                file=tmp / "group" / "bench-invoke.yaml")
    v1 = function_specs(platforms.core_config(group, platforms.ROOT, tmp / "v1"))
    packages = platforms.unzip_packages(group, platforms.ROOT, tmp / "packages")
    setup = platforms.v2_setup(group, platforms.ROOT, packages)
    v2 = function_specs(platforms.core_config(setup, platforms.ROOT, tmp / "v2"))
    out = {}
    for name, specs in (("v1", v1), ("v2", v2)):
        by = {s.name: s for s in specs}
        out[name] = {"pinned": by["echo"], "on_demand": by["echo_pool"]}
    return out


async def run_runtime(spec: FunctionSpec, state: Path, n: int) -> float:
    warm = 20 * (1 if spec.pinned else (spec.max_instances or 4))
    publisher = CountingPublisher(warm)
    runtime = LambdaRuntime([spec], publisher, None, state, ipc_port=0, max_queue=n + warm)
    await runtime.start()
    try:
        sink = runtime.sink(spec.name)
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
        while (runtime.status()["functions"][spec.name]["invocations"] < n + warm
               and time.monotonic() < deadline):
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
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (the median is shown)")
    parser.add_argument("--append", action="store_true", help="append the table to docs/benchmarks.md")
    platforms.add_platform_argument(parser)
    args = parser.parse_args()
    chosen = platforms.platforms_of(args.platform)
    load_before = os.getloadavg()[0]
    samples: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        specs = echo_specs(Path(tmp), args.pool)
        for rep in range(args.repeat):
            order = chosen[rep % len(chosen):] + chosen[:rep % len(chosen)]
            samples.setdefault("ceiling_1", []).append(args.n / await run_null(args.n, 1))
            for p in order:
                rate = args.n / await run_runtime(specs[p]["pinned"], Path(tmp) / f"{p}-p-{rep}", args.n)
                samples.setdefault((p, "pinned"), []).append(rate)
            samples.setdefault("ceiling_pool", []).append(args.n / await run_null(args.n, args.pool))
            for p in order:
                rate = args.n / await run_runtime(specs[p]["on_demand"], Path(tmp) / f"{p}-o-{rep}", args.n)
                samples.setdefault((p, "on_demand"), []).append(rate)
            got = ", ".join(f"{k if isinstance(k, str) else '/'.join(k)} {v[-1]:,.0f}/s"
                            for k, v in samples.items())
            print(f"round {rep + 1}: {got}", flush=True)
    med = {k: platforms.median(v) for k, v in samples.items()}
    rows = [("pinned", "runtime, pinned (1 instance)", "null server, 1 client process", med["ceiling_1"]),
            ("on_demand", f"runtime, on-demand (pool {args.pool})",
             f"null server, {args.pool} client processes", med["ceiling_pool"])]
    both = len(chosen) == 2
    cols = [f"{p} invocations/s" for p in chosen] + (["v2/v1"] if both else []) + ["ceiling", "ceiling/s"] + \
        [f"{p}/ceiling" for p in chosen]
    lines = ["| measurement | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    ratios = []
    for key, name, cname, ceiling in rows:
        rates = {p: med[(p, key)] for p in chosen}
        cells = [f"{rates[p]:,.0f}" for p in chosen]
        if both:
            cells.append(platforms.ratio_cell(rates["v1"], rates["v2"]))
            ratios.append(rates["v2"] / rates["v1"])
        cells += [cname, f"{ceiling:,.0f}"] + [f"{rates[p] / ceiling:.2f}" for p in chosen]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    goal = f"goal v2 within 10 % of v1: {platforms.goal_text(ratios)}" if both else ""
    load = f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs"
    print(table)
    print(f"median of {args.repeat} interleaved rounds, n={args.n}; {load}")
    if goal:
        print(goal)
    if args.append:
        header = (f"\n## Lambda invocations per platform (benchmarks/invoke.py, n={args.n}, "
                  f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, "
                  f"Python {platform.python_version()}, {load})\n\n"
                  "MQTT-triggered Event invocations of an echo Lambda that publishes each event back "
                  "(sink → IPC → real Lambda process → IPC publish → Publisher), against the same "
                  "Lambda-side HTTP traffic on a null aiohttp server.\n\n")
        with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as f:
            f.write(header + table + "\n" + (f"\n{goal}\n" if goal else ""))

if __name__ == "__main__":
    asyncio.run(main())
