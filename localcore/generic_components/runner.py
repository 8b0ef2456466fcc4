"""Runs one generic component's lifecycle as processes, the way the nucleus does (``GenericExternalService``).

Layout under the core's root (the nucleus' own)::

    <root>/packages/artifacts/<name>/<version>/            artifacts, read-only (Permission applied)
    <root>/packages/artifacts-unarchived/<name>/<version>/<zip name without .zip>/   Unarchive: ZIP
    <root>/work/<name>/                                     cwd, HOME, PYTHONUSERBASE (= <work>/.local)
    <root>/logs/<name>.log                                  stdout + stderr of every step, and our notes
    <root>/bin/python3, pip3                                the bundle's interpreter (shims, first on PATH)
    <root>/state/components/<name>/                         what the runner remembers (Bootstrap done)

Steps: ``Bootstrap`` (once per version; exit 100/101 asks for a nucleus restart / reboot, which the local
core cannot do: ERRORED with that reason), ``Install`` (at every start, as the nucleus does — not once per
version), ``Startup`` (RUNNING when it exits 0) or ``Run`` (RUNNING while it runs, FINISHED when it exits
0), ``Shutdown`` on stop, ``Recover`` after an error. Each step is ``sh -c <script>`` in its own process
group (``start_new_session``); a timeout or a stop sends SIGTERM to the group, then SIGKILL after
``kill_grace_s`` (the nucleus' 5 s). ``RequiresPrivilege`` is ignored (with a warning in the log).
ERRORED is retried as the nucleus does; the third error in a row from the same state is BROKEN.

Interpolation follows the nucleus: an unresolved variable stays literal and is reported (log + status).
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from group.v2.catalog import NUCLEUS, PUBLIC_COMPONENTS
from group.v2.recipe import DEFAULT_TIMEOUTS, SKIPIF_RE, Artifact, Lifecycle, Manifest, Recipe, Step, current_platform

from localcore import processes

from . import files
from .environment import component_environment
from .errors import ComponentError
from .interpolate import ComponentPaths, Context, DependencyInfo, interpolate_lifecycle
from .lifecycle import MAXIMUM_CONTINUAL_ERROR, LifecycleMachine, State
from .tokens import ComponentTokens

log = logging.getLogger(__name__)


class ComponentRunner:
    """One component's lifecycle on this machine.

    :param recipe: the parsed recipe (:func:`group.v2.recipe.parse_recipe`).
    :param root: the core's root folder (``{kernel:rootPath}``).
    :param tokens: the core's :class:`~.tokens.ComponentTokens` (SVCUID / stream manager auth).
    :param thing_name, region: ``AWS_IOT_THING_NAME``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.
    :param artifacts: artifact URI → local file (the caller downloaded it); copied in at start.
    :param configuration: the effective configuration (default: the recipe's DefaultConfiguration).
    :param dependencies: direct dependencies' versions and configurations (for ``{dep:...}`` variables).
    :param credentials_uri: ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (the core's credentials endpoint).
    :param cloud_endpoint_url: ``AWS_ENDPOINT_URL`` (the local cloud's URL; as the Lambdas of a local core get it, so
        a component's AWS SDK reaches the cloud the core was deployed from); None: not set.
    :param stream_manager_port: ``STREAM_MANAGER_SERVER_PORT`` for the V2 stream manager SDK.
    :param root_ca_path: ``GG_ROOT_CA_PATH``.
    :param python: the interpreter ``python3`` means inside the component (default: this one).
    :param platform: platform attributes for manifest selection (default: this machine's).
    :param on_change: called with :meth:`status` after every state change (on the event loop; must not block).
    :param extra_pythonpath: folders put first on every step's ``PYTHONPATH``, before the recipe's own
        ``Setenv`` value (the core's shims, e.g. the virtual camera).
    :param gate: awaited in INSTALLED before each start: returns once the HARD dependencies are ready
        (``GreengrassService.waitForDependencyReady``; the component service provides it).
    :param ipc_socket: the core's nucleus IPC socket (``AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH`` and, relative to
        the work folder when too long for ``sockaddr_un``, ``..._FOR_COMPONENT``); None: no IPC variables.
    """

    def __init__(
        self,
        recipe: Recipe,
        *,
        root: str | os.PathLike,
        tokens: ComponentTokens,
        thing_name: str,
        region: str,
        artifacts: Mapping[str, str | os.PathLike] | None = None,
        configuration: Mapping[str, Any] | None = None,
        dependencies: Mapping[str, DependencyInfo] | None = None,
        credentials_uri: str | None = None,
        cloud_endpoint_url: str | None = None,
        stream_manager_port: int | None = None,
        root_ca_path: str | None = None,
        python: str = sys.executable,
        platform: Mapping[str, str] | None = None,
        kill_grace_s: float = 5.0,
        on_change: Callable[[dict], None] | None = None,
        extra_pythonpath: tuple[str | os.PathLike, ...] = (),
        ipc_socket: str | os.PathLike | None = None,
        gate: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.recipe = recipe
        self.name = recipe.name
        self.version = recipe.version
        self.root = Path(root).absolute()
        self.tokens = tokens
        self.thing_name = thing_name
        self.region = region
        self.artifact_files = {k: Path(v) for k, v in (artifacts or {}).items()}
        self.configuration = dict(recipe.default_configuration if configuration is None else configuration)
        self.dependencies = dict(dependencies or {})
        self.credentials_uri = credentials_uri
        self.cloud_endpoint_url = cloud_endpoint_url
        self.stream_manager_port = stream_manager_port
        self.root_ca_path = root_ca_path
        self.python = python
        self.platform = dict(platform) if platform is not None else current_platform()
        self.kill_grace_s = kill_grace_s
        self.on_change = on_change
        self.extra_pythonpath = tuple(str(Path(p).absolute()) for p in extra_pythonpath)
        self.ipc_socket = None if ipc_socket is None else Path(ipc_socket).absolute()
        self.paths = ComponentPaths(self.root, self.name, self.version)
        self.machine = LifecycleMachine(self.name)
        self.warnings: list[str] = []
        self.manifest: Manifest | None = None
        self.lifecycle: Lifecycle | None = None
        self._main: asyncio.subprocess.Process | None = None   # Startup's or Run's process
        self._groups: set[int] = set()                          # every process group we started
        self._stop = asyncio.Event()
        self._restart = asyncio.Event()    # Lifecycle.requestRestart while STARTING, RUNNING or FINISHED
        self._wake = asyncio.Event()       # a stop or a restart: interrupts the step being waited for
        self._pending: tuple[dict, dict] | None = None   # configuration, dependencies for the next start
        self.gate = gate
        self._waiters: list[tuple[set[State], asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self._restarts = 0
        self._reported_error: str | None = None   # IPC UpdateState ERRORED, for the driver to act on

    # ------------------------------------------------------------------------------ public API
    async def start(self) -> None:
        """Begin the lifecycle (returns at once; await :meth:`wait_for` for a state)."""
        if self._task is not None:
            raise ComponentError(f"{self.name}: already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.paths.log.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._drive(), name=f"component:{self.name}")

    async def stop(self, timeout: float | None = None) -> None:
        """Stop: Shutdown step (its timeout), then SIGTERM/SIGKILL every process group; FINISHED.

        ``timeout`` bounds the whole stop (default: the Shutdown timeout + the kill grace + 5 s).
        """
        self._stop.set()
        self._wake.set()
        if self._task is None:
            return
        if timeout is None:
            timeout = (self._timeout("Shutdown") or 15) + self.kill_grace_s + 5
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            self._note(f"stop did not finish within {timeout:.0f} s; killing every process of the component")
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        finally:
            await self._kill_all_groups()

    def restart(self, configuration: Mapping[str, Any] | None = None,
                dependencies: Mapping[str, DependencyInfo] | None = None) -> None:
        """``Lifecycle.requestRestart``: stop (Shutdown) and start again with ``configuration`` and ``dependencies``
        (None: unchanged) — Install does not run again. Before its first start (NEW, INSTALLED, ERRORED) the
        new values are simply used when it starts; a BROKEN component is reinstalled, never restarted."""
        self._pending = (dict(self.configuration if configuration is None else configuration),
                         dict(self.dependencies if dependencies is None else dependencies))
        if self.machine.state in (State.STARTING, State.RUNNING, State.STOPPING, State.FINISHED):
            self._restart.set()
            self._wake.set()

    def update(self, configuration: Mapping[str, Any], dependencies: Mapping[str, DependencyInfo] | None = None
               ) -> None:
        """A configuration change no lifecycle step uses: the new values replace the old, nothing restarts."""
        self.configuration = dict(configuration)
        if dependencies is not None:
            self.dependencies = dict(dependencies)
        if self.manifest is not None:
            self._interpolate()

    def report_state(self, state: str) -> bool:
        """``Lifecycle.reportState`` from the component itself (IPC UpdateState): RUNNING while STARTING (e.g. a
        Startup step that keeps running), ERRORED while STARTING or RUNNING (handled as a failed step: Recover,
        then start again; BROKEN at the third in a row). Anything else is ignored, as the nucleus does; returns
        whether the report was taken."""
        st = self.machine.state
        if state == "RUNNING" and st is State.STARTING:
            self._note("reported RUNNING (UpdateState)")
            asyncio.get_running_loop().create_task(self._reported_running())
            return True
        if state == "ERRORED" and st in (State.STARTING, State.RUNNING) and not self._stop.is_set():
            self._reported_error = "the component reported ERRORED (UpdateState)"
            self._wake.set()
            return True
        return False

    async def _reported_running(self) -> None:
        if self.machine.state is State.STARTING:   # the driver may have moved on meanwhile
            await self._fire("running")

    def _take_reported_error(self) -> str | None:
        reason, self._reported_error = self._reported_error, None
        return None if self._stop.is_set() else reason

    @property
    def restart_pending(self) -> bool:
        """A requested restart has not reached INSTALLED yet (the nucleus' desired states not reached)."""
        return self._restart.is_set()

    @property
    def changed_at(self) -> float:
        """``time.monotonic()`` of the last state change (0: none yet)."""
        return self.machine.history[-1].at if self.machine.history else 0.0

    def status(self) -> dict:
        """JSON-able: name, version, state, reason, status code, pid, restarts, warnings, log path."""
        main = self._main
        return {
            "component": self.name,
            "version": self.version,
            "state": self.machine.state.value,
            "reason": self.machine.reason,
            "statusCode": self.machine.status_code,
            "pid": main.pid if main is not None and main.returncode is None else None,
            "restarts": self._restarts,
            "warnings": list(self.warnings),
            "log": str(self.paths.log),
        }

    async def wait_for(self, *states: State | str, timeout: float) -> State:
        """Wait (at most ``timeout`` s) until the component is in, or passes through, one of ``states``.

        Returns the state reached. Transient states (ERRORED is left at once for a retry) count too.
        """
        wanted = {State(s) for s in states}
        if self.machine.state in wanted:
            return self.machine.state
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (wanted, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove(entry)

    @property
    def state(self) -> State:
        return self.machine.state

    @property
    def state_dir(self) -> Path:
        return self.root / "state" / "components" / self.name

    # ------------------------------------------------------------------------------ driver
    async def _fire(self, event: str, reason: str | None = None, code: str | None = None) -> State:
        old = self.machine.state
        new = self.machine.fire(event, reason=reason, status_code=code, at=time.monotonic())
        line = f"state {old.value} -> {new.value} ({event})" + (f": {reason}" if reason else "")
        self._note(line)
        (log.warning if new in (State.ERRORED, State.BROKEN) else log.info)("component %s: %s", self.name, line)
        for wanted, fut in self._waiters:
            if new in wanted and not fut.done():
                fut.set_result(new)
        if self.on_change is not None:
            try:
                self.on_change(self.status())
            except Exception:  # a listener must not break the lifecycle
                log.exception("component %s: on_change listener failed", self.name)
        return new

    async def _drive(self) -> None:
        try:
            await self._prepare_once()
        except (ComponentError, OSError, subprocess.SubprocessError) as e:
            # Nothing can be retried without new input (recipe, artifacts, a writable root): go straight to
            # BROKEN as the nucleus fails such a deployment before the component ever runs.
            reason = str(e) if isinstance(e, ComponentError) else \
                f"{self.name}: preparing its folders and files failed: {type(e).__name__}: {e}"
            await self._break(reason, "INSTALL_ERROR")
            await self._stop.wait()
            return
        try:
            while True:
                st = self.machine.state
                if self._stop.is_set() and st in (State.NEW, State.INSTALLED, State.ERRORED):
                    await self._fire("stop")
                    return
                if st == State.NEW:
                    await self._install()
                elif st == State.INSTALLED:
                    if self._pending is not None:
                        self.configuration, self.dependencies = self._pending
                        self._pending = None
                        self._interpolate()
                    if self.gate is not None and not await self._wait_gate():
                        continue   # stopped while waiting for its dependencies
                    await self._fire("start")
                elif st == State.STARTING:
                    await self._starting()
                elif st == State.RUNNING:
                    await self._running()
                elif st == State.STOPPING:
                    await self._stopping()
                elif st == State.ERRORED:
                    await self._recover()
                elif st == State.FINISHED and not self._stop.is_set():
                    await self._kill_all_groups()
                    await self._wake.wait()   # a stop, or a restart: FINISHED --start--> INSTALLED
                    if not self._stop.is_set() and self._restart.is_set():
                        self._restart.clear()
                        self._wake.clear()
                        await self._fire("start")
                else:  # BROKEN (or FINISHED and stopped): nothing runs until a stop or a new runner
                    await self._kill_all_groups()
                    await self._stop.wait()
                    return
        except Exception as e:  # a fault of the runner itself: reported, never a deployment waiting for ever
            log.exception("component %s: the local core's runner failed", self.name)
            await self._kill_all_groups()
            await self._break(f"the local core's runner failed: {type(e).__name__}: {e}", "RUN_ERROR")
        finally:
            await self._kill_all_groups()

    async def _break(self, reason: str, code: str) -> None:
        """A failure no retry can fix: ERRORED (and recovered) until BROKEN, as the nucleus counts errors.
        From a state that cannot reach BROKEN the waiters get the failure as a :class:`ComponentError`."""
        for _ in range(4 * MAXIMUM_CONTINUAL_ERROR):
            if self.machine.state == State.BROKEN:
                return
            if self.machine.allowed("error"):
                await self._fire("error", reason, code)
            elif self.machine.allowed("recover"):
                await self._fire("recover")
            else:
                break
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(ComponentError(f"{self.name}: {reason}"))

    async def _prepare_once(self) -> None:
        self.manifest = self.recipe.select_manifest(self.platform)
        if self.manifest is None:
            raise ComponentError(f"no manifest of {self.name} {self.version} matches this platform {self.platform}")
        for d in (self.paths.work, self.root / "bin"):
            d.mkdir(parents=True, exist_ok=True)
        # File copies, unzips and the interpreter probe stay off the event loop other services share.
        await asyncio.to_thread(self._write_shims)
        await asyncio.to_thread(self._install_artifacts, self.manifest.artifacts)
        self._interpolate()
        for name, step in self.lifecycle.steps().items():
            if step.requires_privilege:
                self._warn(f"{name}: RequiresPrivilege is ignored on the local core; the step runs as "
                           f"{_user()} like every other step")

    def _interpolate(self) -> None:
        ctx = Context(self.root, self.name, self.version, self.thing_name, self.configuration, self.dependencies)
        self.lifecycle, problems = interpolate_lifecycle(self.manifest.lifecycle, ctx,
                                                         where=f"Manifests[{self.manifest.index}].Lifecycle")
        for p in problems:
            if f"interpolation: {p}" not in self.warnings:
                self._warn(f"interpolation: {p}")

    async def _wait_gate(self) -> bool:
        """Wait in INSTALLED until :attr:`gate` returns (True) or a stop (False)."""
        gate = asyncio.ensure_future(self.gate())
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({gate, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (gate, stop):
                if not f.done():
                    f.cancel()
        return not self._stop.is_set()

    async def _install(self) -> None:
        bootstrap = self.lifecycle.bootstrap
        marker = self.state_dir / f"bootstrapped-{self.version}"
        if bootstrap is not None and not marker.exists():
            result = await self._run_step("Bootstrap", bootstrap)
            if result == "stop":
                return
            if result in (100, 101):
                what = "a Greengrass nucleus restart" if result == 100 else "a device reboot"
                await self._fire("error", f"Bootstrap exited {result}, asking for {what}, which the local core "
                                          f"does not do; make the step exit 0 locally", "INSTALL_ERROR")
                return
            if result != 0:
                await self._fire("error", _failed("Bootstrap", result), "INSTALL_ERROR"
                                 if result != "timeout" else "INSTALL_TIMEOUT")
                return
            marker.write_text(_now() + "\n")
        install = self.lifecycle.install
        if install is not None:
            result = await self._run_step("Install", install)
            if result == "stop":
                return
            if result != 0:
                await self._fire("error", _failed("Install", result),
                                 "INSTALL_TIMEOUT" if result == "timeout" else "INSTALL_ERROR")
                return
        await self._fire("installed")

    async def _starting(self) -> None:
        lc = self.lifecycle
        if self._stop.is_set():
            await self._fire("stop")
            return
        if lc.startup is not None and not self._skip("Startup", lc.startup):
            result = await self._run_step("Startup", lc.startup, keep_group=True)
            reported = self._take_reported_error() if result == "stop" else None
            if reported is not None:
                await self._fire("error", reported, "STARTUP_ERROR")
            elif result == "stop":
                await self._fire("stop")
            elif result == 0:
                if self.machine.state is State.STARTING:   # not already reported RUNNING over IPC
                    await self._fire("running")
            else:
                await self._fire("error", _failed("Startup", result),
                                 "STARTUP_TIMEOUT" if result == "timeout" else "STARTUP_ERROR")
            return
        if lc.run is None or self._skip("Run", lc.run):
            await self._fire("finished", "no Startup or Run step: nothing to run")
            return
        try:
            self._main = await self._spawn("Run", lc.run)
        except OSError as e:
            await self._fire("error", f"Run could not start: {e}", "RUN_IO_ERROR")
            return
        if self.machine.state is State.STARTING:   # not already reported RUNNING over IPC
            await self._fire("running")

    async def _running(self) -> None:
        main = self._main
        if main is None or main.returncode is not None and self.lifecycle.startup is not None:
            # Startup exited 0; its background processes live on in their group until a stop (or a restart).
            await self._wake.wait()
            reported = self._take_reported_error()
            await (self._fire("error", reported, "RUN_ERROR") if reported else self._fire("stop"))
            return
        timeout = self._timeout("Run")
        result = await self._wait(main, timeout)
        reported = self._take_reported_error() if result == "stop" else None
        if reported is not None:
            await self._kill_group(main.pid)
            await self._fire("error", reported, "RUN_ERROR")
        elif result == "stop":
            await self._fire("stop")
        elif result == "timeout":
            await self._kill_group(main.pid)
            await self._fire("error", f"Run did not finish within its Timeout of {timeout} s", "RUN_TIMEOUT")
        elif result == 0:
            self._note("Run exited 0")
            await self._fire("finished", "Run exited 0")
        else:
            await self._fire("error", _failed("Run", result), "RUN_ERROR")

    async def _stopping(self) -> None:
        after_error = self.machine.history and self.machine.history[-1].event == "recover"
        shutdown = self.lifecycle.shutdown
        error: tuple[str, str] | None = None
        if shutdown is not None:
            result = await self._run_step("Shutdown", shutdown, honour_stop=False)
            if result == "timeout":
                error = (f"Shutdown did not finish within its Timeout of {self._timeout('Shutdown')} s",
                         "SHUTDOWN_TIMEOUT")
            elif result not in (0, "skipped"):
                error = (_failed("Shutdown", result), "SHUTDOWN_ERROR")
        await self._kill_all_groups()
        self._main = None
        if error is not None:
            await self._fire("error", *error)
        elif (after_error or self._restart.is_set()) and not self._stop.is_set():
            # after an error, or Lifecycle.requestRestart: INSTALLED, then start again (no Install)
            self._restart.clear()
            self._wake.clear()
            self._restarts += 1
            if after_error:
                await self._fire("restart", self.machine.reason, self.machine.status_code)
            else:
                await self._fire("restart", "restart requested")
        else:
            last = self.machine.history[-1] if self.machine.history else None
            await self._fire("stopped", last.reason if last is not None and last.event == "finished" else None)

    async def _recover(self) -> None:
        recover = self.lifecycle.recover if self.lifecycle is not None else None
        if recover is not None:
            await self._run_step("Recover", recover, honour_stop=False)
        await self._fire("recover")

    # ------------------------------------------------------------------------------ processes
    def _timeout(self, step: str) -> int | None:
        s = self.lifecycle.step(step) if self.lifecycle is not None else None
        return s.timeout if s is not None and s.timeout is not None else DEFAULT_TIMEOUTS.get(step)

    def _env(self, step: Step) -> dict[str, str]:
        return component_environment(
            os.environ, token=self.tokens.issue(self.name), region=self.region, thing_name=self.thing_name,
            nucleus_version=PUBLIC_COMPONENTS[NUCLEUS].version, work=self.paths.work, shims=self.root / "bin",
            root_ca_path=self.root_ca_path, credentials_uri=self.credentials_uri,
            cloud_endpoint_url=self.cloud_endpoint_url, stream_manager_port=self.stream_manager_port,
            ipc_socket=self.ipc_socket, setenv=(self.lifecycle.setenv, step.setenv),
            extra_pythonpath=self.extra_pythonpath or ())

    def _skip(self, name: str, step: Step) -> bool:
        if step.skipif is None:
            return False
        m = SKIPIF_RE.match(step.skipif)
        neg = step.skipif.startswith("!")
        what, arg = m.group(1), m.group(2).strip()
        if what == "onpath":
            hit = shutil.which(arg, path=self._env(step)["PATH"]) is not None
        else:
            hit = os.path.exists(os.path.expanduser(arg))
        skip = hit != neg
        if skip:
            self._note(f"{name}: skipped (Skipif: {step.skipif})")
        return skip

    async def _spawn(self, name: str, step: Step) -> asyncio.subprocess.Process:
        self._note(f"{name}: sh -c {step.script!r}")
        with open(self.paths.log, "ab") as out:  # the child keeps its own copy of the descriptor
            proc = await processes.start(
                ["sh", "-c", step.script], name=f"component {self.name} {name}", cwd=self.paths.work,
                env=self._env(step), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        self._groups.add(proc.pid)
        return proc

    async def _run_step(self, name: str, step: Step, *, keep_group: bool = False,
                        honour_stop: bool = True) -> int | str:
        """Run a step to its end: its exit code, ``"timeout"``, ``"stop"`` or ``"skipped"``."""
        if self._skip(name, step):
            return "skipped" if name == "Shutdown" else 0
        try:
            proc = await self._spawn(name, step)
        except OSError as e:
            self._note(f"{name}: could not start: {e}")
            return 127
        if keep_group:
            self._main = proc
        timeout = step.timeout if step.timeout is not None else DEFAULT_TIMEOUTS.get(name)
        result = await self._wait(proc, timeout, honour_stop=honour_stop)
        if result in ("timeout", "stop"):
            await self._kill_group(proc.pid, proc)
        elif not keep_group:
            await self._kill_group(proc.pid, proc)  # leftovers of a finished step (the nucleus ends them too)
        self._note(f"{name}: {'exited ' + str(result) if isinstance(result, int) else result}")
        return result

    async def _wait(self, proc: asyncio.subprocess.Process, timeout: float | None,
                    honour_stop: bool = True) -> int | str:
        waiters = {asyncio.ensure_future(proc.wait())}
        stop = asyncio.ensure_future(self._wake.wait()) if honour_stop else None
        if stop is not None:
            waiters.add(stop)
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if not w.done():
                    w.cancel()
        if proc.returncode is not None:
            return proc.returncode
        return "stop" if stop is not None and stop in done else "timeout"

    async def _kill_group(self, pgid: int, proc: asyncio.subprocess.Process | None = None) -> None:
        """SIGTERM the process group, SIGKILL what is left after the grace period (noted in the log)."""
        main = self._main
        if proc is None and main is not None and main.pid == pgid:
            proc = main  # waited for, so it is reaped
        if not await processes.end_group(pgid, self.kill_grace_s, proc=proc, report=self._note):
            log.warning("component %s: process group %d still there after SIGKILL", self.name, pgid)
        self._groups.discard(pgid)

    async def _kill_all_groups(self) -> None:
        for pgid in list(self._groups):
            await self._kill_group(pgid)

    # ------------------------------------------------------------------------------ files
    def _install_artifacts(self, artifacts: tuple[Artifact, ...]) -> None:
        files.install_artifacts(self.paths, artifacts, self.artifact_files)

    def _write_shims(self) -> None:
        files.write_shims(self.root / "bin", self.python)

    # ------------------------------------------------------------------------------ log
    def _note(self, message: str) -> None:
        try:
            self.paths.log.parent.mkdir(parents=True, exist_ok=True)   # a note may come before the first start
            with open(self.paths.log, "a", encoding="utf-8") as f:
                f.write(f"{_now()} [localcore {self.name}] {message}\n")
        except OSError as e:
            log.warning("component %s: cannot write its log %s: %s", self.name, self.paths.log, e)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self._note("WARNING " + message)
        log.warning("component %s: %s", self.name, message)


# ---------------------------------------------------------------------------------- helpers
def _failed(step: str, result: int | str) -> str:
    if result == "timeout":
        return f"{step} did not finish within its Timeout"
    if isinstance(result, int) and result < 0:
        return f"{step} was killed by signal {-result}"
    return f"{step} exited with code {result}"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())
