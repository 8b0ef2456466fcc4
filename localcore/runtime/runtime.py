"""``LambdaRuntime``: the local core's Lambda runtime (function processes + the IPC daemon).

Each function instance is its own process (``bootstrap.py``) that long-polls the IPC daemon for
work. Pinned functions get one instance at start, restarted with back-off when it crashes;
on-demand functions get a pool that grows with queued work up to ``max_instances`` and shrinks
when instances stay idle for ``idle_reap_s``. An invocation that outlives its function's
``timeout_s`` is answered ``Unhandled`` and its instance is killed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from localcore import processes
from localcore.interfaces import FunctionSpec, Message, Publisher, ShadowOperations
from localcore.lambda_ipc.directory import Entry, FunctionDirectory
from localcore.lambda_ipc.secrets import SecretsStore
from localcore.lambda_ipc.server import IPCServer, ServiceBackends, encode_client_context
from localcore.lambda_ipc.work import (EVENT, INVOCATION_TYPES, REQUEST_RESPONSE, Invocation, Result, WorkBroker,
                                error_payload)
from localcore.lambda_ipc.errors import QueueFull

from . import process
from .records import InvokeResult, UpdateResult, _Function, _FunctionSink, _Instance
from .errors import FunctionConfigError, RuntimeNotStarted, UnknownFunctionError

log = logging.getLogger(__name__)

LOG_FORMAT = "[%(asctime)s][%(levelname)s][runtime] %(message)s"


class LambdaRuntime:
    """The Lambda runtime and IPC daemon of the local core.

    Wiring: ``sink(name)`` for the router's ``function:<name>`` targets; ``token_valid(token)``
    for the stream manager's client authentication; ``status()`` for the dashboard.
    """

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        publisher: Optional[Publisher],
        shadow: Optional[ShadowOperations],
        state_dir: str | os.PathLike,
        ipc_port: int = 8000,
        stream_manager_port: Optional[int] = None,
        region: str = "us-east-1",
        cloud_endpoint_url: Optional[str] = None,
        *,
        host: str = "127.0.0.1",
        credentials: Optional[dict] = None,
        secrets_file: Optional[str | os.PathLike] = None,
        account: str = "000000000000",
        core_thing: Optional[str] = None,
        python: str = sys.executable,
        fallback_paths: Optional[list[str]] = None,
        max_instances: int = 4,
        idle_reap_s: float = 60.0,
        restart_backoff_s: tuple[float, float] = (1.0, 60.0),
        memory_overhead_mb: Optional[int] = 1024,
        max_queue: int = 1000,
        poll_wait_s: float = 20.0,
        stop_grace_s: float = 2.0,
        sdk_shadow_refusal: Optional[str] = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.region = region
        self.cloud_endpoint_url = cloud_endpoint_url
        self.stream_manager_port = stream_manager_port
        self.core_thing = core_thing
        self.python = python
        self.fallback_paths = (process.default_fallback_paths() if fallback_paths is None
                               else list(fallback_paths))
        self.max_instances = max(1, max_instances)
        self.idle_reap_s = idle_reap_s
        self.restart_backoff_s = restart_backoff_s
        self.memory_overhead_mb = memory_overhead_mb
        self.stop_grace_s = stop_grace_s
        self.directory = FunctionDirectory()
        self.broker = WorkBroker(max_queue=max_queue, on_queued=self._on_queued,
                                 on_dispatched=self._on_dispatched, on_finished=self._on_finished)
        self.secrets = SecretsStore(secrets_file or self.state_dir / "secrets.json", region=region,
                                    account=account)
        # a Greengrass V2 core does not serve greengrasssdk local-shadow calls: with a refusal they get
        # it as an error (the SDK raises ShadowError with it) and the shadow service is not asked
        self.backends = ServiceBackends(publisher=publisher, shadow=None if sdk_shadow_refusal else shadow,
                                        secrets=self.secrets)
        if sdk_shadow_refusal:
            self.backends.no_shadow_reason = sdk_shadow_refusal
        if credentials:
            self.backends.credentials = dict(credentials)
        self.server = IPCServer(self.broker, self.directory, self.backends, host=host, port=ipc_port,
                                poll_wait_s=poll_wait_s, on_initialized=self._on_initialized)
        self._specs = list(functions)
        names = [s.name for s in self._specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FunctionConfigError(f"functions listed twice: {', '.join(duplicates)}")
        # Tokens exist from construction on, so token_valid() can be wired into the stream
        # manager before either service starts.
        self._functions: dict[str, _Function] = {spec.name: self._register(spec) for spec in self._specs}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._reaper: Optional[asyncio.Task] = None
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False
        self._update_lock = asyncio.Lock()
        self.state = "new"

    # -- public API -----------------------------------------------------------------------------

    @property
    def ipc_port(self) -> int:
        return self.server.port

    @property
    def credentials_uri(self) -> str:
        return self.server.credentials_uri

    def sink(self, name: str) -> _FunctionSink:
        if name not in self._functions:
            raise UnknownFunctionError(f"no function named {name!r} in this runtime")
        return _FunctionSink(self, name)

    def token_valid(self, token: Optional[str]) -> bool:
        return self.directory.by_token(token) is not None

    def function_for_token(self, token: Optional[str]) -> Optional[str]:
        entry = self.directory.by_token(token)
        return entry.name if entry is not None else None

    def token_of(self, name: str) -> str:
        return self._function(name).token

    async def invoke(self, name: str, payload=b"", *, invocation_type: str = REQUEST_RESPONSE,
                     client_context: Optional[dict] = None, source: str = "core") -> InvokeResult:
        """Invoke ``name`` from inside the core. ``payload``: bytes as is, anything else as JSON.
        RequestResponse waits for the answer (bounded by the function's timeout once it runs)."""
        if self.state != "started":
            raise RuntimeNotStarted(f"runtime is {self.state}: cannot invoke {name!r}")
        fn = self._function(name)
        if invocation_type not in INVOCATION_TYPES:
            raise ValueError(f"invocation_type must be one of {INVOCATION_TYPES}, got {invocation_type!r}")
        body = payload if isinstance(payload, (bytes, bytearray)) else json.dumps(payload).encode()
        context = encode_client_context(client_context) if client_context is not None else ""
        invocation = self.broker.submit(fn.spec.name, bytes(body), client_context=context,
                                        invocation_type=invocation_type, source=source)
        if invocation_type == EVENT:
            return InvokeResult(b"", "", invocation.id)
        result = await self.broker.result(invocation.id, fn.spec.name, wait_s=self.server.result_wait_s)
        return InvokeResult(result.payload, result.function_error, invocation.id)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.state != "new":
            raise RuntimeError(f"LambdaRuntime.start(): already {self.state}")
        problems = [p for spec in self._specs for p in process.check_spec(spec)]
        if problems:
            raise FunctionConfigError("cannot start the Lambda runtime:\n" + "\n".join(problems))
        self.state = "starting"
        self._loop = asyncio.get_running_loop()
        for fn in self._functions.values():
            self._open_log(fn)
        await self.server.start()
        for fn in self._functions.values():
            self._prepare(fn)
        self.state = "started"
        for fn in self._functions.values():
            if fn.spec.pinned:
                self._spawn(fn)
        self._reaper = asyncio.create_task(self._reap_idle(), name="lambda-runtime-reaper")
        log.info("Lambda runtime started: %d functions, IPC on port %d", len(self._functions), self.ipc_port)

    async def stop(self) -> None:
        if self.state in ("stopped", "new"):
            self.state = "stopped"
            return
        self.state = "stopping"
        self._stopping = True
        if self._reaper is not None:
            self._reaper.cancel()
        for fn in self._functions.values():
            if fn.restart_task is not None:
                fn.restart_task.cancel()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.broker.close(Result(error_payload("the Greengrass core is stopping"), "Unhandled"))
        instances = [i for fn in self._functions.values() for i in fn.instances.values()]
        await self._end(instances, "core stopping")
        tasks = [t for t in self._tasks if not t.done()] + ([self._reaper] if self._reaper else [])
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.stop_grace_s)
        await self.server.stop()
        for fn in self._functions.values():
            self._release(fn)
            self._close_log(fn)
        self.state = "stopped"
        log.info("Lambda runtime stopped")

    async def update(self, functions: Sequence[FunctionSpec]) -> UpdateResult:
        """Apply a new deployment's functions while running: start the new ones, stop the removed
        ones, restart those whose spec (config, environment, resources) or code fingerprint changed;
        the others keep running untouched (same processes).

        Everything is checked first (duplicate names or ARNs, ``process.check_spec``): on a problem
        it raises ``FunctionConfigError`` and changes nothing. Queued work of a restarted function
        waits for its new instance; an invocation running on a replaced instance is answered
        ``Unhandled``; queued work of a removed function is answered ``Unhandled``. Tokens of kept
        functions stay valid; a removed function's token is revoked. Wire the router yourself:
        ``sink(name)`` for started functions, detach stopped ones.
        """
        if self.state != "started":
            raise RuntimeNotStarted(f"runtime is {self.state}: cannot apply a deployment")
        async with self._update_lock:
            specs = list(functions)
            names = [s.name for s in specs]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            problems = [f"functions listed twice: {', '.join(duplicates)}"] if duplicates else []
            problems += [p for spec in specs for p in process.check_spec(spec)]
            directory = FunctionDirectory()
            if not problems:
                for spec in specs:
                    kept = self._functions.get(spec.name)
                    try:
                        directory.add(spec.name, spec.arn, spec.encoding, token=kept.token if kept else None)
                    except ValueError as e:
                        problems.append(f"function {spec.name!r}: {e}")
            if problems:
                raise FunctionConfigError("cannot apply the deployment's functions (the running ones are "
                                          "unchanged):\n" + "\n".join(problems))
            prints = await asyncio.to_thread(lambda: {s.name: process.code_fingerprint(s) for s in specs})
            old = dict(self._functions)
            removed = sorted(n for n in old if n not in prints)
            added = [s for s in specs if s.name not in old]
            changed = [s for s in specs if s.name in old
                       and (old[s.name].spec != s or old[s.name].fingerprint != prints[s.name])]
            unchanged = sorted(s.name for s in specs if s.name in old and s not in changed)
            going = [old[n] for n in removed] + [old[s.name] for s in changed]
            for fn in going:
                fn.updating = True
                if fn.restart_task is not None:
                    fn.restart_task.cancel()
            await self._retire(going)
            # the new directory: kept tokens stay, removed ones are revoked, encodings are the new ones
            self.directory = directory
            self.server.directory = directory
            for name in removed:
                fn = self._functions.pop(name)
                self.broker.fail_pending(name, Result(error_payload(
                    f"function {name} was removed by a deployment"), "Unhandled"))
                self._release(fn)
                fn.logger.info("function %s removed by a deployment", name)
                self._close_log(fn)
            for spec in changed:
                fn = self._functions[spec.name]
                what = "configuration" if fn.spec != spec else "code"
                self._release(fn)
                fn.spec, fn.fingerprint = spec, prints[spec.name]
                fn.start_error, fn.backoff_s, fn.restart_task = None, 0.0, None
                fn.deployments += 1
                self._prepare(fn)
                fn.updating = False
                fn.logger.info("function %s restarted by a deployment (new %s)", spec.name, what)
            for spec in added:
                fn = self._register(spec, directory.get(spec.name), prints[spec.name])
                self._functions[spec.name] = fn
                self._open_log(fn)
                self._prepare(fn)
                fn.logger.info("function %s added by a deployment", spec.name)
            self._specs = specs
            for spec in changed + added:
                fn = self._functions[spec.name]
                if spec.pinned:
                    self._spawn(fn)
                elif self.broker.pending(spec.name):
                    self._scale(fn)
            result = UpdateResult(started=tuple(sorted(s.name for s in added)), stopped=tuple(removed),
                                  restarted=tuple(sorted(s.name for s in changed)),
                                  unchanged=tuple(unchanged))
            log.info("Lambda runtime updated: %s", result.as_dict())
            return result

    async def _retire(self, functions: Sequence[_Function]) -> None:
        """End every instance of ``functions`` (SIGTERM, SIGKILL after ``stop_grace_s``) and wait."""
        instances = [i for fn in functions for i in fn.instances.values()]
        for instance in instances:
            instance.replaced = True
            if instance.proc is not None and instance.proc.returncode is None:
                self.broker.retire(instance.function, instance.id)
        await self._end(instances, "replaced by a deployment")

    async def _end(self, instances: Sequence[_Instance], reason: str) -> None:
        """End the instances' process groups (SIGTERM, SIGKILL after ``stop_grace_s``), then let their
        watchers record the exits (bounded)."""
        running = [i for i in instances if i.proc is not None and i.proc.returncode is None]
        for instance in running:
            instance.kill_reason = instance.kill_reason or reason
        await processes.end_groups([i.proc for i in running], self.stop_grace_s)
        watchers = [i.watcher for i in instances if i.watcher is not None]
        if watchers:
            _, pending = await asyncio.wait(watchers, timeout=self.stop_grace_s)
            if pending:  # not seen to exit (should not happen after SIGKILL): forget them, logged
                log.error("%d function instance(s) (%s) not seen to exit", len(pending), reason)

    def _prepare(self, fn: _Function) -> None:
        """Volume symlinks and run_as notes of a function about to run (start, deployment)."""
        links, notes = process.map_volumes(fn.spec)
        fn.volume_links, fn.notes = links, notes
        for note in notes:
            fn.logger.warning("%s", note)
        if fn.spec.run_as and os.geteuid() != 0:
            note = f"run_as {fn.spec.run_as} ignored: the core is not root; running as uid {os.geteuid()}"
            fn.notes.append(note)
            fn.logger.warning("%s", note)

    @staticmethod
    def _release(fn: _Function) -> None:
        for link in fn.volume_links:
            try:
                os.unlink(link)
            except OSError as e:
                log.warning("could not remove volume symlink %s: %s", link, e)
        fn.volume_links = []

    @staticmethod
    def _close_log(fn: _Function) -> None:
        for handler in list(fn.logger.handlers):
            fn.logger.removeHandler(handler)
            handler.close()

    def status(self) -> dict:
        functions = {}
        now = time.monotonic()
        for name, fn in self._functions.items():
            running = self.broker.running(name) if self.state == "started" else {}
            idle = set(self.broker.idle(name)) if self.state == "started" else set()
            functions[name] = {
                "arn": fn.spec.arn,
                "pinned": fn.spec.pinned,
                "encoding": fn.spec.encoding,
                "timeout_s": fn.spec.timeout_s,
                "instances": [
                    {"id": i.id, "pid": i.pid, "state": ("busy" if i.id in running else
                                                          "idle" if i.id in idle else i.state),
                     "uptime_s": round(now - i.started, 1)}
                    for i in fn.instances.values()
                ],
                # the pool size (1 for a pinned function): the dashboard shows "busy (2 of 5)"
                "max_instances": 1 if fn.spec.pinned else (fn.spec.max_instances or self.max_instances),
                "queued": self.broker.pending(name) if self.state == "started" else 0,
                "invocations": fn.invocations,
                "handled_errors": fn.handled_errors,
                "unhandled_errors": fn.unhandled_errors,
                "timeouts": fn.timeouts,
                "crashes": fn.crashes,
                "restarts": fn.restarts,
                "deployments": fn.deployments,
                "code_sha256": fn.fingerprint,
                "dropped_messages": fn.dropped,
                "start_error": fn.start_error,
                "last_error": fn.last_error,
                "log": str(fn.log_path),
                "notes": list(fn.notes),
            }
        return {"state": self.state, "ipc": self.server.status(), "functions": functions}

    # -- internals: registration, delivery ------------------------------------------------------

    def _function(self, name: str) -> _Function:
        try:
            return self._functions[name]
        except KeyError:
            raise UnknownFunctionError(f"no function named {name!r} in this runtime") from None

    def _register(self, spec: FunctionSpec, entry: Optional[Entry] = None,
                  fingerprint: Optional[str] = None) -> _Function:
        if entry is None:
            entry = self.directory.add(spec.name, spec.arn, spec.encoding)
        self.broker.add_function(spec.name)
        return _Function(spec=spec, token=entry.token,
                         logger=logging.getLogger(f"{__name__}.function.{spec.name}"),
                         log_path=self.state_dir / "logs" / f"{spec.name}.log",
                         home=self.state_dir / "runtime" / "home" / spec.name,
                         fingerprint=process.code_fingerprint(spec) if fingerprint is None else fingerprint)

    @staticmethod
    def _open_log(fn: _Function) -> None:
        fn.log_path.parent.mkdir(parents=True, exist_ok=True)
        fn.home.mkdir(parents=True, exist_ok=True)
        (fn.home / "tmp").mkdir(exist_ok=True)
        handler = logging.FileHandler(fn.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        fn.logger.addHandler(handler)
        fn.logger.setLevel(logging.INFO)

    def _deliver(self, name: str, message: Message) -> None:
        fn = self._functions.get(name)
        if fn is None or self.state != "started":
            log.warning("message on %s for function %s dropped: runtime %s", message.topic, name, self.state)
            return
        if fn.spec.encoding == "json":
            try:
                json.loads(message.payload)
            except ValueError as e:
                fn.dropped += 1
                fn.logger.warning("message from %s on %s dropped: function %s takes JSON and the payload is "
                                  "not JSON (%s)", message.source, message.topic, name, e)
                return
        context = encode_client_context({"custom": {"subject": message.topic}})
        try:
            self.broker.submit(name, message.payload, client_context=context, invocation_type=EVENT,
                               source=message.source)
        except QueueFull as e:
            fn.dropped += 1
            if fn.dropped == 1 or fn.dropped % 100 == 0:  # a stuck function must not flood its log
                fn.logger.warning("message from %s on %s dropped (%d so far): %s", message.source,
                                  message.topic, fn.dropped, e)

    # -- internals: broker hooks ----------------------------------------------------------------

    def _on_queued(self, name: str) -> None:
        fn = self._functions.get(name)
        if fn is not None and not fn.spec.pinned and not self._stopping:
            self._scale(fn)

    def _scale(self, fn: _Function) -> None:
        if fn.updating or self._stopping:
            return
        running = self.broker.running(fn.spec.name)
        available = [i for i in fn.instances.values()
                     if i.id not in running and i.state in ("starting", "ready")]
        needed = self.broker.pending(fn.spec.name) - len(available)
        limit = fn.spec.max_instances or self.max_instances  # the function's own pool size wins
        room = limit - len(fn.instances)
        for _ in range(max(0, min(needed, room))):
            self._spawn(fn)

    def _on_dispatched(self, invocation: Invocation) -> None:
        fn = self._functions.get(invocation.function)
        if fn is None:
            return
        instance = fn.instances.get(invocation.instance)
        if instance is not None:
            instance.last_active = time.monotonic()
        self._timers[invocation.id] = self._loop.call_later(fn.spec.timeout_s, self._timed_out, invocation)

    def _on_finished(self, invocation: Invocation, result: Result) -> None:
        timer = self._timers.pop(invocation.id, None)
        if timer is not None:
            timer.cancel()
        fn = self._functions.get(invocation.function)
        if fn is None:
            return
        fn.invocations += 1
        instance = fn.instances.get(invocation.instance) if invocation.instance else None
        if instance is not None:
            instance.last_active = time.monotonic()
        if result.function_error:
            if result.function_error == "Handled":
                fn.handled_errors += 1
            else:
                fn.unhandled_errors += 1
            try:
                detail = json.loads(result.payload)
            except ValueError:
                detail = {"errorMessage": result.payload.decode("utf-8", "replace")}
            fn.last_error = {"invocation_id": invocation.id, "type": result.function_error,
                             "at": time.time(),
                             **(detail if isinstance(detail, dict) else {"errorMessage": detail})}
            fn.logger.error("invocation %s (from %s) failed (%s): %s", invocation.id, invocation.source,
                            result.function_error, fn.last_error.get("errorMessage"))

    def _on_initialized(self, name: str, instance_id: str, success: bool, response: str) -> None:
        fn = self._functions.get(name)
        if fn is None:
            return
        instance = fn.instances.get(instance_id)
        if success:
            fn.start_error = None
            if instance is not None and instance.state == "starting":
                instance.state = "ready"
        else:
            fn.start_error = response
            if instance is not None:
                instance.state = "import-failed"
            fn.logger.error("instance %s failed to start: %s", instance_id, response)

    def _timed_out(self, invocation: Invocation) -> None:
        self._timers.pop(invocation.id, None)
        if invocation.done:
            return
        fn = self._functions.get(invocation.function)
        if fn is None:  # removed by a deployment meanwhile
            self.broker.fail(invocation, Result(error_payload("the function was removed"), "Unhandled"))
            return
        message = f"Task timed out after {fn.spec.timeout_s:.2f} seconds"
        fn.timeouts += 1
        self.broker.fail(invocation, Result(error_payload(message, errorType="TimeoutError"), "Unhandled"))
        instance = fn.instances.get(invocation.instance)
        fn.logger.error("invocation %s: %s; killing instance %s (pid %s)", invocation.id, message,
                        invocation.instance, instance.pid if instance else None)
        if instance is not None:
            self._signal(instance, signal.SIGKILL, "timeout")

    # -- internals: processes -------------------------------------------------------------------

    def _spawn(self, fn: _Function) -> _Instance:
        fn.counter += 1
        instance = _Instance(id=f"{fn.spec.name}#{fn.counter}", function=fn.spec.name)
        fn.instances[instance.id] = instance
        instance.watcher = self._track(asyncio.create_task(self._run_instance(fn, instance),
                                                           name=f"lambda-{instance.id}"))
        return instance

    def _track(self, task: asyncio.Task) -> asyncio.Task:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_instance(self, fn: _Function, instance: _Instance) -> None:
        spec = fn.spec
        env = process.environment(
            spec, token=fn.token, ipc_port=self.ipc_port, credentials_uri=self.credentials_uri,
            region=self.region, stream_manager_port=self.stream_manager_port,
            cloud_endpoint_url=self.cloud_endpoint_url, home=fn.home, core_thing=self.core_thing)
        argv = process.command(self.python, spec, instance.id, self.fallback_paths, self.memory_overhead_mb)
        try:
            with open(fn.log_path, "ab") as log_file:
                instance.proc = await processes.start(
                    argv, name=f"Lambda instance {instance.id}",
                    preexec=process.preexec(spec), cwd=spec.code_dir, env=env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        except (OSError, subprocess.SubprocessError) as e:
            who = f" as uid/gid {spec.run_as}" if spec.run_as and os.geteuid() == 0 else ""
            fn.start_error = (f"cannot start {argv[0]}{who} for function {spec.name} "
                              f"(cwd {spec.code_dir}): {e}")
            fn.logger.error("%s", fn.start_error)
            fn.instances.pop(instance.id, None)
            # nobody will take this work: answer it instead of leaving the invokers waiting
            self.broker.fail_pending(spec.name, Result(error_payload(fn.start_error), "Unhandled"))
            self._after_exit(fn, instance, crashed=True)
            return
        fn.logger.info("instance %s started (pid %d, %s)", instance.id, instance.pid,
                       "pinned" if spec.pinned else "on-demand")
        if self._stopping:  # stop() began while this process was being started
            self._signal(instance, signal.SIGKILL, "core stopping")
        elif instance.replaced:  # a deployment replaced it while it was being started
            self._signal(instance, signal.SIGKILL, "replaced by a deployment")
        try:
            returncode = await instance.proc.wait()
        except asyncio.CancelledError:
            self._signal(instance, signal.SIGKILL, "core stopping")
            raise
        instance.state = "exited"
        fn.instances.pop(instance.id, None)
        reason = instance.kill_reason
        crashed = not reason and not self._stopping
        if crashed:
            fn.crashes += 1
            fn.logger.error("instance %s (pid %d) exited unexpectedly with code %s",
                            instance.id, instance.pid, returncode)
        else:
            fn.logger.info("instance %s (pid %d) ended (%s, code %s)", instance.id, instance.pid, reason or
                           "core stopping", returncode)
        if not self._stopping:
            detail = f"function instance {instance.id} ended ({reason or f'exit code {returncode}'})"
            self.broker.fail_instance(spec.name, instance.id, Result(error_payload(detail), "Unhandled"))
        self._after_exit(fn, instance, crashed=crashed)

    def _after_exit(self, fn: _Function, instance: _Instance, *, crashed: bool) -> None:
        if self._stopping or instance.replaced or fn.updating:
            return
        if fn.spec.pinned:
            lived = time.monotonic() - instance.started
            low, high = self.restart_backoff_s
            if not crashed:
                delay = 0.0  # killed by us (timeout): a fresh instance at once
            else:
                fn.backoff_s = low if (fn.backoff_s == 0 or lived >= high) else min(high, fn.backoff_s * 2)
                delay = fn.backoff_s
            fn.logger.warning("restarting pinned function %s in %.1f s", fn.spec.name, delay)
            fn.restart_task = self._track(asyncio.create_task(self._restart(fn, delay)))
        elif self.broker.pending(fn.spec.name):
            self._scale(fn)

    async def _restart(self, fn: _Function, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if not self._stopping and not fn.updating and self._functions.get(fn.spec.name) is fn:
            fn.restarts += 1
            self._spawn(fn)

    def _signal(self, instance: _Instance, sig: int, reason: str) -> None:
        if instance.proc is None or instance.proc.returncode is not None:
            return
        if not instance.kill_reason:
            instance.kill_reason = reason
        processes.signal_group(instance.proc.pid, sig, instance.proc)

    async def _reap_idle(self) -> None:
        interval = max(0.05, min(1.0, self.idle_reap_s / 4))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for fn in self._functions.values():
                if fn.spec.pinned:
                    continue
                idle = set(self.broker.idle(fn.spec.name))
                for instance in list(fn.instances.values()):
                    if instance.id in idle and now - instance.last_active >= self.idle_reap_s:
                        self.broker.retire(fn.spec.name, instance.id)
                        instance.state = "retiring"
                        fn.logger.info("instance %s idle for %.1f s: reaped", instance.id,
                                       now - instance.last_active)
                        self._signal(instance, signal.SIGTERM, "idle")
