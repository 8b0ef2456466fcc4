"""``deploy.py run``: the main job — the whole group on this machine.

Embedded local cloud → validate + deploy the group to it → local core (stream manager, broker,
router, shadows, discovery, IPC, every function) → acknowledge the deployment (V2: its components start)
while the dashboard starts → device scripts. Writes ``<state>/endpoint.json`` once ready; Ctrl-C / SIGTERM stops everything in
reverse order and exits 0.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List

from localcore import processes
from localcore.run_context import RunContext

log = logging.getLogger("localcore.run")

ROOT = Path(__file__).resolve().parent.parent


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default=None, help="state directory (default: .gg in the bundle root)")
    p.add_argument("--clean", action="store_true", help="start from fresh state (removes the state dir and certs/)")
    p.add_argument("--no-devices", action="store_true",
                   help="start everything but the device scripts (outside clients may use those thing names)")
    p.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the core's device-facing services bind to and advertise (default 127.0.0.1)")
    p.add_argument("--dashboard-host", default="127.0.0.1",
                   help="address the dashboard binds to (default 127.0.0.1: it is a control surface)")
    p.add_argument("--certs-dir", default=None, help="where device and core credentials go (default: certs/)")
    p.add_argument("--port-offset", type=int, default=0, help="add N to every default port (8883, 8443, 8088, 8000, 8080)")
    p.add_argument("--mqtt-port", type=int, default=None)
    p.add_argument("--discovery-port", type=int, default=None)
    p.add_argument("--stream-manager-port", type=int, default=None)
    p.add_argument("--ipc-port", type=int, default=None)
    p.add_argument("--dashboard-port", type=int, default=None)
    p.add_argument("--cloud-port", type=int, default=0, help="port of the embedded cloud endpoint (default: ephemeral)")
    p.add_argument("--ephemeral-ports", action="store_true", help="every port 0 (used by tests)")
    p.add_argument("--exit-after-ready", action="store_true", help="stop right after everything is up (smoke test)")


class Progress:
    """One line per step: ``✓ step  (0.42 s)``."""

    def __init__(self, stream=None) -> None:
        from rich.console import Console

        # soft_wrap: a line is never broken by rich (piped output has no width; a terminal wraps itself)
        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.t0 = time.monotonic()

    def step(self, name: str, seconds: float, ok: bool = True, detail: str = "") -> None:
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        tail = f" — {detail}" if detail else ""
        self.console.print(f"{mark} {name:<28} ({seconds:5.2f} s){tail}")

    def note(self, text: str) -> None:
        self.console.print(text)


def _ports(args) -> "Ports":
    from localcore.core import Ports

    if args.ephemeral_ports:
        ports = Ports(0, 0, 0, 0, 0)
    else:
        ports = Ports().offset(args.port_offset) if args.port_offset else Ports()
    for attr, opt in (("mqtt", "mqtt_port"), ("discovery", "discovery_port"), ("stream_manager", "stream_manager_port"),
                      ("ipc", "ipc_port"), ("dashboard", "dashboard_port")):
        value = getattr(args, opt)
        if value is not None:
            setattr(ports, attr, value)
    return ports


# What numpy's and OpenCV's imports write into os.environ when it is not there: numpy adds OPENBLAS_MAIN_FREE and
# GOTOBLAS_MAIN_FREE and deletes them again, OpenCV's loader adds LD_LIBRARY_PATH. The local cloud imports both lazily
# on a request thread (the Kinesis Video stand-in's media); a thread iterating os.environ meanwhile — botocore's
# proxy lookup when it makes a client, ``dict(os.environ)`` for a child's environment — then fails with KeyError or
# "dictionary changed size" (seen: a stream export stopped on KeyError 'OPENBLAS_MAIN_FREE'). With the keys there
# before any thread starts, those imports only change values, never the set of keys. The values are the ones the
# imports would use: numpy's own "1"; an empty LD_LIBRARY_PATH is no path (OpenCV prepends its folder either way).
IMPORT_TIME_ENVIRONMENT = {"OPENBLAS_MAIN_FREE": "1", "GOTOBLAS_MAIN_FREE": "1", "LD_LIBRARY_PATH": ""}


def settle_environment() -> None:
    """Put ``IMPORT_TIME_ENVIRONMENT``'s keys that are missing into os.environ; call it before threads start."""
    for key, value in IMPORT_TIME_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def main(args: argparse.Namespace) -> int:
    settle_environment()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Loggers that log INFO into their own files (each function's log) propagate to the console
    # handler too; the console shows only what the root level lets through.
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(root.level)
    loop = asyncio.new_event_loop()
    executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="run-blocking")
    loop.set_default_executor(executor)   # asyncio.to_thread's threads: the stop bounds its wait for them
    code = 0
    try:
        asyncio.set_event_loop(loop)
        code = loop.run_until_complete(_run(args))
    except KeyboardInterrupt:
        code = 0
    finally:
        busy = _close_loop(loop, executor)
    if busy:
        # a blocking call still waits (e.g. a request the local cloud accepted as it stopped): everything else is
        # stopped and saved; the interpreter would join the executor's threads at exit, so leave without them
        log.error("stopped; %d blocking call(s) still waiting, left behind:\n%s", len(busy), "\n".join(busy))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _close_loop(loop: asyncio.AbstractEventLoop, executor: concurrent.futures.ThreadPoolExecutor,
                wait_s: float = 3.0) -> List[str]:
    """What ``asyncio.run`` does at its end — cancel what is left, close async generators, shut the default
    executor down, close the loop — except that it waits at most ``wait_s`` for the executor's threads (asyncio
    waits for ever). Returns the stacks of the threads still busy (empty: all done)."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + wait_s
        threads = list(getattr(executor, "_threads", ()))
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        frames = sys._current_frames()
        busy = ["".join(traceback.format_stack(frames[t.ident])) for t in threads
                if t.is_alive() and t.ident in frames]
        asyncio.set_event_loop(None)
        loop.close()
    return busy


async def _run(args: argparse.Namespace) -> int:
    from group.errors import GroupError, GroupValidationError
    from group.model import bundle_root, load

    group_files = getattr(args, "group_file", None) or [ROOT / "group" / "group.yaml"]
    if isinstance(group_files, (str, os.PathLike)):
        group_files = [group_files]
    # code paths (lambdas/, libraries, cloud/, compose files, devices/) resolve against the group
    # file's bundle, as validate/plan/deploy do — not against this repository
    root = bundle_root(group_files[0])
    state_dir = Path(args.state_dir) if args.state_dir else root / ".gg"
    certs_dir = Path(getattr(args, "certs_dir", None) or root / "certs")
    if not certs_dir.is_absolute():
        certs_dir = root / certs_dir
    progress = Progress()
    loop = asyncio.get_running_loop()
    stop_event = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_event.set)

    processes.supervise(state_dir)  # before --clean: ends an earlier run's leftovers; our children die with us
    if args.clean:
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(certs_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    endpoint_file = state_dir / "endpoint.json"
    endpoint_file.unlink(missing_ok=True)

    t = time.monotonic()
    try:
        group, issues = load(group_files[0], root=root)
    except GroupValidationError as exc:
        progress.step("validate group", time.monotonic() - t, False, f"{len(exc.issues)} issue(s)")
        for issue in exc.issues:
            progress.note(f"  {issue}")
        return 1
    progress.step("validate group", time.monotonic() - t, True,
                  f"{len(issues)} warning(s)" if issues else "")
    if len(group_files) > 1:
        progress.note("note: run brings up the first group file only; deploy the others with `deploy.py deploy`")

    stack = _Stack()
    cloud_functions = dashboard_start = None
    # the platform's modules are imported now, on a quiet process: imported later, while the cloud's threads and the
    # group's processes start, each file lookup waits for the GIL (a V2 start's lazy imports took 1.1-1.4 s there)
    platform = getattr(args, "platform", None) or "v1"
    run_platform = _platform_run(platform)
    from group.clients import share_default_session

    share_default_session()   # one parse of each AWS model for the deploy, the cloud and the core (group/clients.py)
    try:
        cloud = await _start_cloud(progress, state_dir, args, group.group.region)
        stack.push("local cloud", lambda: asyncio.to_thread(cloud.stop))
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        # the cloud's own Lambdas need the cloud only: their workers start (own processes) while the group deploys
        cloud_functions = asyncio.ensure_future(_start_cloud_functions(progress, group, root, cloud, stack))

        ctx = RunContext(progress, group, Path(group_files[0]), root, state_dir, certs_dir, cloud)
        result = await run_platform.deploy(ctx)  # the group deployed to the embedded cloud
        setup = await run_platform.read(ctx, result)  # what the core device reads back: CoreSetup
        runners = await cloud_functions
        core, dashboard = await _start_core(progress, setup, root, state_dir, certs_dir, cloud, result, args, runners)
        stack.push("local core", core.stop)
        if dashboard is not None:   # nothing of the deployment waits for it (V2: the components start meanwhile)
            dashboard_start = asyncio.ensure_future(_start_dashboard(progress, dashboard))
            stack.push("dashboard", dashboard.stop)   # stopped first, then the core
            await asyncio.sleep(0)   # its tap is on the cloud route before anything of the deployment runs

        t = time.monotonic()
        dep = await run_platform.start(ctx, core, result, setup)  # acknowledged; later ones followed
        progress.step("deployment", time.monotonic() - t, dep.status in ("Success", "SUCCEEDED"),
                      f"{dep.id} {dep.status}" + (f" ({dep.message})" if dep.platform == "v2" and dep.message else ""))
        if dashboard_start is not None:
            await dashboard_start

        if not args.no_devices:
            children = await _start_devices(progress, group, root, state_dir, certs_dir, core)
            stack.push("device scripts", children.stop)

        info = {
            "cloud_url": cloud.url,
            "region": group.group.region,
            "platform": platform,
            "group_ids": {group.name: result["group_id"]},
            "group_id": result["group_id"],
            "deployment_id": dep.id,
            "pid": os.getpid(),
            "state_dir": str(state_dir),
            "pki_dir": str(state_dir / "ca"),
            "certs_dir": str(certs_dir),
            **core.endpoints(),
            "dashboard_url": dashboard.url if dashboard is not None else None,
        }
        tmp = endpoint_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        os.replace(tmp, endpoint_file)
        progress.note("")
        # What start-up built (parsed service models, the group, the cloud's state) lives until the end: keep the
        # collector off it, so that neither the running core nor the interpreter's exit walks it again
        # (the stop took seconds of garbage collection over ~375k such objects).
        gc.freeze()
        progress.note(f"[bold]ready[/bold] in {time.monotonic() - progress.t0:.1f} s")
        if info.get("dashboard_url"):
            progress.note(f"  dashboard      {info['dashboard_url']}")
        progress.note(f"  cloud endpoint {cloud.url}")
        progress.note(f"  MQTT (TLS)     {args.host}:{info['mqtt_port']}   discovery {args.host}:{info['discovery_port']}")
        progress.note(f"  state          {endpoint_file}")
        progress.note("Ctrl-C stops everything.")
        if not args.exit_after_ready:
            await stop_event.wait()
        progress.note("stopping…")
        return 0
    except GroupError as exc:
        progress.note(f"[red]error:[/red] {exc}")
        return 1
    except OSError as exc:  # typically a port in use: say which and how to choose others
        progress.note(f"[red]error:[/red] {exc} (is another `deploy.py run` or a Greengrass core running? "
                      "choose other ports with --port-offset N or --mqtt-port/--discovery-port/... )")
        return 1
    finally:
        endpoint_file.unlink(missing_ok=True)
        for starting in (cloud_functions, dashboard_start):   # the run may have failed while they started
            if starting is not None:
                if not starting.done():
                    await asyncio.wait({starting}, timeout=30.0)
                    starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
        await stack.unwind()


class _Stack:
    """Things to stop, most recent first; every stop is bounded and its failure only logged."""

    def __init__(self) -> None:
        self._items: List[tuple] = []

    def push(self, name: str, stop) -> None:
        self._items.append((name, stop))

    async def unwind(self) -> None:
        while self._items:
            name, stop = self._items.pop()
            try:
                await asyncio.wait_for(stop(), timeout=8.0)
            except asyncio.TimeoutError:
                log.error("stopping %s took too long", name)
            except Exception:  # keep stopping the rest; logged with its trace
                log.exception("stopping %s failed", name)


async def _start_cloud(progress: Progress, state_dir: Path, args, region: str):
    from localcore.cloud import LocalCloud

    t = time.monotonic()
    # the stand-ins serve one region: the group's (its ARNs, its components' ARNs)
    cloud = LocalCloud(state_dir / "cloud", port=args.cloud_port, pki_dir=state_dir / "ca", region=region)
    await asyncio.to_thread(cloud.start)
    progress.step("local cloud (moto + adapter)", time.monotonic() - t, True, cloud.url)
    return cloud


async def _start_cloud_functions(progress: Progress, group, root: Path, cloud, stack) -> Dict[str, Any]:
    """Cloud Lambdas (group.yaml ``cloud.functions``) run locally as SAM's local mode does."""
    from localcore.cloud_lambdas.runner import CloudFunctionRunner

    runners = {}
    for fn in group.cloud.functions:
        t = time.monotonic()
        runner = CloudFunctionRunner.from_cloud_function(fn, root, cloud.url, group.group.region)
        await runner.start()
        stack.push(f"cloud function {fn.name}", runner.stop)
        runners[fn.name] = runner
        progress.step(f"cloud function {fn.name}", time.monotonic() - t, True, fn.route or "")
    return runners


def _platform_run(platform: str):
    """The platform's run steps: ``deploy``, ``read``, ``start`` (``run_v1.py``, ``run_v2.py``)."""
    if platform == "v2":
        from localcore import run_v2

        return run_v2
    from localcore import run_v1

    return run_v1


async def _start_core(progress: Progress, setup, root: Path, state_dir: Path, certs_dir: Path, cloud, result, args,
                      runners):
    import functools

    from localcore.cloud_lambdas.http import snapshot_route, snapshot_via_runner
    from localcore.core import CoreConfig, LocalCore

    group = setup.group
    cfg = CoreConfig(
        group=group, root=root, state_dir=state_dir, group_id=result["group_id"], region=group.group.region,
        cloud_url=cloud.url, account=cloud.account_id, host=args.host, certs_dir=certs_dir,
        advertise=[args.host] if args.host not in ("127.0.0.1", "localhost", "0.0.0.0") else [],
        ports=_ports(args), profile=setup.profile,
    )
    core = LocalCore(cfg, progress=lambda name, s, ok, detail: progress.step(name, s, ok, detail))
    dashboard = None
    if not args.no_dashboard:
        from web.wiring import DashboardService

        snapshot, routes = None, []
        if "snapshot" in runners:
            snapshot = functools.partial(snapshot_via_runner, runners["snapshot"])
            routes = [("GET", "/api/snapshot", snapshot_route(runners["snapshot"]))]
        sections = {"cloud_functions": lambda: [r.status() for r in runners.values()]}
        dashboard = DashboardService(core, token=secrets.token_urlsafe(24), host=args.dashboard_host,
                                     extra_sections=sections, snapshot=snapshot, public_routes=routes)
    await core.start()
    return core, dashboard


async def _start_dashboard(progress: Progress, dashboard) -> None:
    t = time.monotonic()
    await dashboard.start()
    progress.step("dashboard", time.monotonic() - t, True)


async def _start_devices(progress: Progress, group, root: Path, state_dir: Path, certs_dir: Path, core):
    from localcore.children import Children, ChildSpec

    t = time.monotonic()
    children = Children(state_dir / "logs" / "devices")
    host = core.cfg.host if core.cfg.host not in ("0.0.0.0", "::") else "127.0.0.1"
    endpoint = ["-e", host, "-r", str(certs_dir / "root-ca.pem"), "--discovery-port", str(core.discovery.port),
                "--group-ca-dir", str(state_dir / "groupCA")]
    specs = []
    for name, script, extra in DEVICE_SCRIPTS:
        thing_dir = certs_dir / name
        argv = [sys.executable, str(root / "devices" / script), *endpoint,
                "-c", str(thing_dir / "cert.pem"), "-k", str(thing_dir / "private.key"), *extra]
        if any(d.thing == name for d in group.devices) and (root / "devices" / script).exists():
            specs.append(ChildSpec(name, argv, str(root)))
    for spec in specs:
        await children.start(spec)
    progress.step("device scripts", time.monotonic() - t, True, ", ".join(s.name for s in specs) or "none")
    return children


# (thing, script, extra args) — the seed's devices.
DEVICE_SCRIPTS = [
    ("HelloWorld_Subscriber", "basic_discovery.py",
     ["-n", "HelloWorld_Subscriber", "-m", "subscribe", "-t", "hello/world/pubsub"]),
    ("HelloWorld_Publisher", "basic_discovery.py",
     ["-n", "HelloWorld_Publisher", "-m", "publish", "-t", "hello/world/pubsub", "--interval", "5"]),
    ("GG_TrafficLight", "traffic_light.py", ["-n", "GG_TrafficLight"]),
    # the switch connects as GG_Switch and drives the light's shadow (as in AWS's sample)
    ("GG_Switch", "light_controller.py", ["--clientId", "GG_Switch", "-n", "GG_TrafficLight", "--interval", "10"]),
]
