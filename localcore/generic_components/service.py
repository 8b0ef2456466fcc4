"""The local core's generic components: what the nucleus' lifecycle manager does with them in a deployment.

One :class:`ComponentService` per core; ``localcore/run_v2.py`` drives it through the phases of a deployment
(the rules are :mod:`.deployments`, :mod:`.resolve`, :mod:`.config`, :mod:`.changes`):

1. :meth:`~ComponentService.prepare` — before anything running changes (``DefaultDeploymentTask``: packages are
   prepared first): every ``s3://`` artifact of the manifest that matches this machine is downloaded from the
   (local) cloud's S3 into ``<root>/packages/downloads/<name>/<version>/`` and ZIPs are checked; a failure here
   is a deployment that changed nothing, the running versions keep running (same processes);
2. :meth:`~ComponentService.activate` — the resolved services are merged in (``DefaultActivator.activate``):
   each component's change follows :func:`.changes.service_change` (add, reinstall, restart, update in place,
   keep; a BROKEN one kept by the deployment is reinstalled); new runners wait in INSTALLED until their HARD
   dependencies are RUNNING or FINISHED, and a running component restarts when a HARD dependency leaves that
   (``GreengrassService`` dependency listener); components the deployment drops keep running for now;
3. :meth:`~ComponentService.wait` — ``DeploymentConfigMerger.waitForServicesToStart``: every tracked component
   RUNNING or FINISHED, or the first one that went BROKEN after the merge (the deployment fails);
4. :meth:`~ComponentService.remove` — ``removeObsoleteServices``, once the others made it;
   a rollback is :meth:`activate` again with :meth:`snapshot`'s components (``DefaultActivator.rollback``).

Each component runs in a :class:`~.runner.ComponentRunner`; without ``/dev/video0`` the virtual camera shim is
first on its ``PYTHONPATH`` (``virtual_camera=True``, the default). ``RequiresPrivilege`` and a deployment's
``runWith`` are not applied (every step runs as the user of ``deploy.py run``): each such component says so in its
log, the core's log and its status details.
"""
from __future__ import annotations

import asyncio
import functools
import getpass
import logging
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping

from group.v2.catalog import PUBLIC_COMPONENTS
from group.v2.recipe import Recipe, current_platform

from . import virtual_camera
from .changes import Change, ServiceConfig, plan_changes
from .errors import ArtifactError, ComponentError
from .interpolate import Context, DependencyInfo, interpolate_lifecycle
from .lifecycle import State
from .resolve import Resolved, order
from .runner import ComponentRunner
from .tokens import ComponentTokens

log = logging.getLogger(__name__)

_DONE = (State.RUNNING, State.FINISHED)
_POLL_S = 1.0   # DeploymentConfigMerger.WAIT_SVC_START_POLL_INTERVAL_MILLISEC


@dataclass(frozen=True)
class ComponentSpec:
    """One generic component as a deployment resolved it: its recipe, its configuration (resolved by
    :func:`.config.resolve_configuration`; None: the recipe's defaults), whether it is a root component, and the
    deployment's ``runWith`` for it."""

    recipe: Recipe
    configuration: Mapping[str, Any] | None = None
    root: bool = True
    run_with: Mapping[str, Any] | None = None

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.recipe.default_configuration if self.configuration is None else self.configuration)


@dataclass
class Activation:
    """What :meth:`ComponentService.activate` did: the changes, the components to wait for, and the ones to
    remove once they made it."""

    merge_time: float
    changes: dict[str, Change]
    tracked: set[str]
    obsolete: list[str] = field(default_factory=list)


class DownloadError(ComponentError):
    """An artifact could not be fetched from the cloud."""


@dataclass
class _Installed:
    spec: ComponentSpec
    runner: ComponentRunner
    service: ServiceConfig
    notes: list[str]


class ComponentService:
    """The generic components on this core.

    :param root: the core's root folder (``{kernel:rootPath}``; packages, work, logs live under it).
    :param tokens: the core's :class:`ComponentTokens` (shared with the stream manager's token check).
    :param thing_name, region: the core device's thing and region.
    :param s3: a boto3 S3 client for the artifacts; default: one made for ``cloud_url`` (the local cloud).
    :param emulated: component names the core provides itself (default: every AWS public component).
    :param virtual_camera: put the virtual camera shim first on ``PYTHONPATH`` when ``/dev/video0`` is missing.
    :param settle_timeout_s: how long :meth:`wait` waits for the tracked components (the nucleus waits without a
        bound; ours reports the deployment FAILED after it).
    :param on_change: called with a runner's status after each state change (on the event loop).
    Other keywords go to every :class:`ComponentRunner` (``credentials_uri``, ``cloud_endpoint_url``,
    ``stream_manager_port``, ``root_ca_path``, ``python``, ``platform``, ``kill_grace_s``, ``ipc_socket``).
    """

    def __init__(self, *, root: str | Path, tokens: ComponentTokens, thing_name: str, region: str,
                 s3: Any = None, cloud_url: str | None = None, emulated: Iterable[str] | None = None,
                 virtual_camera: bool = True, settle_timeout_s: float = 300.0,
                 credentials_uri: str | None = None, cloud_endpoint_url: str | None = None,
                 stream_manager_port: int | None = None,
                 root_ca_path: str | None = None, python: str = sys.executable,
                 platform: Mapping[str, str] | None = None, kill_grace_s: float = 5.0,
                 ipc_socket: str | Path | None = None,
                 on_change: Callable[[dict], None] | None = None) -> None:
        if s3 is None and cloud_url is None:
            raise ValueError("ComponentService needs an S3 client (s3=) or the cloud URL (cloud_url=)")
        self.root = Path(root).absolute()
        self.tokens = tokens
        self.thing_name = thing_name
        self.region = region
        self._s3 = s3
        self.cloud_url = cloud_url
        self.emulated = frozenset(PUBLIC_COMPONENTS if emulated is None else emulated)
        self.virtual_camera = virtual_camera
        self.settle_timeout_s = settle_timeout_s
        self.platform = dict(platform) if platform is not None else current_platform()
        self.on_change = on_change
        self._runner_kw: dict[str, Any] = dict(
            credentials_uri=credentials_uri, cloud_endpoint_url=cloud_endpoint_url,
            stream_manager_port=stream_manager_port, root_ca_path=root_ca_path, python=python, platform=self.platform,
            kill_grace_s=kill_grace_s)
        if ipc_socket is not None:
            self._runner_kw["ipc_socket"] = ipc_socket
        self._installed: dict[str, _Installed] = {}
        self._order: list[str] = []
        self._files: dict[tuple[str, str], dict[str, Path]] = {}
        self._changed_at: dict[str, float] = {}
        self._stopped: set[ComponentRunner] = set()   # ended by StopComponent (IPC): a restart makes a new one
        self._tick = asyncio.Event()

    # ------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Nothing runs until the first :meth:`activate`; makes the root folder."""
        self.root.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        """Stop every component (asked dependents first, awaited together: see :meth:`remove`)."""
        await self.remove(list(self._order))

    # ------------------------------------------------------------------------------ what is installed
    def runner(self, name: str) -> ComponentRunner | None:
        inst = self._installed.get(name)
        return inst.runner if inst is not None else None

    def names(self) -> list[str]:
        return list(self._order)

    def version(self, name: str) -> str | None:
        inst = self._installed.get(name)
        return inst.spec.recipe.version if inst is not None else None

    def configuration(self, name: str) -> dict[str, Any] | None:
        """The configuration ``name`` runs with (None: not installed)."""
        inst = self._installed.get(name)
        return dict(inst.runner.configuration) if inst is not None else None

    def recipe(self, name: str) -> Recipe | None:
        inst = self._installed.get(name)
        return inst.spec.recipe if inst is not None else None

    def states(self) -> dict[str, str]:
        return {n: self._installed[n].runner.state.value for n in self._order}

    def snapshot(self) -> dict[str, ComponentSpec]:
        """The installed components as specs (``DeploymentActivator.takeConfigSnapshot``, for a rollback)."""
        return {n: ComponentSpec(i.spec.recipe, dict(i.runner.configuration), i.spec.root, i.spec.run_with)
                for n, i in ((n, self._installed[n]) for n in self._order)}

    def broken(self) -> set[str]:
        return {n for n, i in self._installed.items() if i.runner.state is State.BROKEN}

    # ------------------------------------------------------------------------------ what components ask (IPC)
    def update_configuration(self, name: str, configuration: Mapping[str, Any]) -> None:
        """The component changed its own configuration (IPC UpdateConfiguration): kept for the next deployment's
        merge; nothing restarts and the lifecycle stays as resolved (the nucleus interpolates at deployment)."""
        inst = self._installed.get(name)
        if inst is not None:
            inst.runner.configuration = dict(configuration)

    def report_state(self, name: str, state: str) -> bool | None:
        """IPC UpdateState (``Lifecycle.reportState``); None when ``name`` is not installed."""
        inst = self._installed.get(name)
        return inst.runner.report_state(state) if inst is not None else None

    async def restart_component(self, name: str) -> bool | None:
        """Greengrass CLI RestartComponent (``requestRestart``): None when ``name`` is not installed, False when
        BROKEN (only a deployment reinstalls it). A component stopped by :meth:`stop_component` starts again."""
        inst = self._installed.get(name)
        if inst is None:
            return None
        if inst.runner.state is State.BROKEN:
            return False
        if inst.runner in self._stopped:
            self._stopped.discard(inst.runner)
            spec = ComponentSpec(inst.spec.recipe, dict(inst.runner.configuration), inst.spec.root, inst.spec.run_with)
            self._install(name, spec, inst.service, inst.runner.dependencies)
            await self._installed[name].runner.start()
        else:
            inst.runner.restart()
        return True

    async def stop_component(self, name: str) -> bool | None:
        """Greengrass CLI StopComponent (``requestStop``): FINISHED until a restart or a deployment reinstalls it."""
        inst = self._installed.get(name)
        if inst is None:
            return None
        self._stopped.add(inst.runner)
        await inst.runner.stop()
        return True

    # ------------------------------------------------------------------------------ phases
    async def prepare(self, specs: Mapping[str, ComponentSpec]) -> None:
        """Download and check every artifact (``ComponentManager.preparePackages``); raises
        :class:`DownloadError` / :class:`ArtifactError` / :class:`ComponentError` before anything changes."""
        for name, spec in specs.items():
            key = (name, spec.recipe.version)
            if key not in self._files:
                self._files[key] = await asyncio.to_thread(self._download, spec.recipe)

    async def activate(self, specs: Mapping[str, ComponentSpec], others: Mapping[str, DependencyInfo] | None = None,
                       *, untracked: Iterable[str] = ()) -> Activation:
        """Merge ``specs`` (every generic component the core runs after the deployment, prepared) in; ``others``:
        the versions and configurations of the deployment's other components (Lambda, public) for
        ``{dep:...}`` variables. ``untracked``: components :meth:`wait` does not wait for (a rollback's
        already broken ones)."""
        merge_time = time.monotonic()
        others = dict(others or {})
        start_order = order({n: Resolved(n, s.recipe.version, {d.name: "*" for d in s.recipe.dependencies})
                             for n, s in specs.items()})
        wanted: dict[str, tuple[ComponentSpec, ServiceConfig, dict[str, DependencyInfo]]] = {}
        for name in start_order:
            spec = specs[name]
            deps = {}
            for d in spec.recipe.dependencies:
                if d.name in specs:
                    deps[d.name] = DependencyInfo(specs[d.name].recipe.version, specs[d.name].config)
                elif d.name in others:
                    deps[d.name] = others[d.name]
            wanted[name] = (spec, self._service_config(spec, deps), deps)
        changes = plan_changes({n: (i.service, i.runner.state.value) for n, i in self._installed.items()},
                               {n: w[1] for n, w in wanted.items()})
        reinstall = [n for n in start_order if changes[n] is Change.REINSTALL]
        await asyncio.gather(*(self._installed[n].runner.stop() for n in reinstall))
        fresh: list[str] = []
        for name in start_order:
            spec, service, deps = wanted[name]
            change = changes[name]
            if change in (Change.ADD, Change.REINSTALL):
                self._install(name, spec, service, deps)
                fresh.append(name)
                continue
            inst = self._installed[name]
            inst.spec, inst.service = spec, service
            if change is Change.RESTART:
                inst.runner.restart(spec.config, deps)
            elif change is Change.UPDATE:
                inst.runner.update(spec.config, deps)
        obsolete = [n for n in self._order if changes.get(n) is Change.REMOVE]
        self._order = start_order + obsolete
        for name in fresh:
            await self._installed[name].runner.start()
        for name in fresh:
            self._dependency_changed(name)
        summary = {c.value: sorted(n for n, x in changes.items() if x is c) for c in Change}
        log.info("components merged: %s", {k: v for k, v in summary.items() if v})
        return Activation(merge_time, changes, set(start_order) - set(untracked), obsolete)

    async def wait(self, activation: Activation, timeout: float | None = None) -> str | None:
        """None once every tracked component is RUNNING or FINISHED; else why not: the first one BROKEN since the
        merge (``Service X in broken state after deployment``), or the names still on their way at the timeout.

        As ``waitForServicesToStart``, the states are looked at right after the merge and then once a second
        (``WAIT_SVC_START_POLL_INTERVAL_MILLISEC``): a component whose Run fails only after it was seen RUNNING at
        one of those looks does not fail the deployment — it fails later, and the core reports it BROKEN."""
        deadline = time.monotonic() + (self.settle_timeout_s if timeout is None else timeout)
        first = True
        while True:
            if not first:
                await asyncio.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            first = False
            waiting = []
            for name in sorted(activation.tracked):
                inst = self._installed.get(name)
                if inst is None:
                    continue
                r = inst.runner
                if r.state is State.BROKEN and r.changed_at > activation.merge_time:
                    return (f"Service {name} in broken state after deployment"
                            + (f": {r.machine.reason}" if r.machine.reason else ""))
                if r.restart_pending or r.state not in _DONE:
                    waiting.append(f"{name} ({r.state.value})")
            if not waiting:
                return None
            if deadline - time.monotonic() <= 0:
                return f"not RUNNING or FINISHED within {self.settle_timeout_s:.0f} s: {', '.join(waiting)}"

    async def remove(self, names: Iterable[str]) -> list[str]:
        """Stop and forget ``names``: each is asked to stop, dependents first, then they are awaited together
        (``removeObsoleteServices`` and ``KernelLifecycle.stopAllServices`` close every service, then wait for
        them all); a failed stop is raised once every other stop has finished."""
        names = set(names)
        stopping: list[tuple[str, ComponentRunner]] = []
        for name in reversed(list(self._order)):
            if name not in names:
                continue
            inst = self._installed.pop(name)
            self._order.remove(name)
            stopping.append((name, inst.runner))
        results = await asyncio.gather(*(runner.stop() for _, runner in stopping), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [name for name, _ in stopping]

    # ------------------------------------------------------------------------------ reports
    def status(self) -> dict:
        """JSON-able: each component (name, version, state, reason, status code, pid, log, notes)."""
        comps = []
        for name in self._order:
            inst = self._installed[name]
            st = inst.runner.status()
            comps.append({"name": name, "version": st["version"], "state": st["state"], "reason": st["reason"],
                          "statusCode": st["statusCode"], "pid": st["pid"], "log": st["log"], "root": inst.spec.root,
                          "notes": list(inst.notes)})
        return {"components": comps}

    def installed(self) -> list[dict]:
        """The generic components in the shape of greengrassv2 ``ListInstalledComponents`` entries (timestamps as
        epoch seconds); the details say why a component is not running, else what the core does not apply."""
        out = []
        for c in self.status()["components"]:
            entry = {"componentName": c["name"], "componentVersion": c["version"], "lifecycleState": c["state"],
                     "isRoot": c["root"], "lastStatusChangeTimestamp": self._changed_at.get(c["name"], time.time())}
            details = c["reason"] if c["state"] in ("ERRORED", "BROKEN") and c["reason"] else "; ".join(c["notes"])
            if details:
                entry["lifecycleStateDetails"] = details[:255]
            if c["statusCode"] and c["state"] in ("ERRORED", "BROKEN"):
                entry["lifecycleStatusCodes"] = [c["statusCode"]]
            out.append(entry)
        return out

    # ------------------------------------------------------------------------------ internals
    def _service_config(self, spec: ComponentSpec, deps: Mapping[str, DependencyInfo]) -> ServiceConfig:
        manifest = spec.recipe.select_manifest(self.platform)
        if manifest is None:
            raise ComponentError(f"no manifest of {spec.recipe.name} {spec.recipe.version} matches this platform")
        ctx = Context(self.root, spec.recipe.name, spec.recipe.version, self.thing_name, spec.config, deps)
        lifecycle, _ = interpolate_lifecycle(manifest.lifecycle, ctx)
        dep_names = tuple(sorted(f"{d.name}:{d.dependency_type}" for d in spec.recipe.dependencies))
        return ServiceConfig.of(spec.recipe.version, lifecycle, spec.run_with, spec.config, dep_names)

    def _install(self, name: str, spec: ComponentSpec, service: ServiceConfig,
                 deps: Mapping[str, DependencyInfo]) -> None:
        runner = ComponentRunner(
            spec.recipe, root=self.root, tokens=self.tokens, thing_name=self.thing_name, region=self.region,
            artifacts=self._files.get((name, spec.recipe.version), {}), configuration=spec.config,
            dependencies=deps, extra_pythonpath=self._pythonpath(), gate=functools.partial(self._gate, name),
            **self._runner_kw)
        runner.on_change = functools.partial(self._changed, runner)
        notes = not_applied(service.lifecycle, spec.run_with, getpass.getuser())
        for note in notes:
            runner._warn(note)
        self._installed[name] = _Installed(spec, runner, service, notes)

    def _changed(self, runner: ComponentRunner, status: dict) -> None:
        name = runner.name
        current = self._installed.get(name)
        if current is not None and current.runner is runner:
            self._changed_at[name] = time.time()
            self._dependency_changed(name)
            if self.on_change is not None:
                self.on_change(status)
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def _dependency_changed(self, name: str) -> None:
        """``GreengrassService`` dependency listener: a component whose HARD dependency is not ready any more
        restarts (and waits in INSTALLED until it is)."""
        inst = self._installed.get(name)
        if inst is None or _ready(inst.runner):
            return
        for other in self._installed.values():
            hard = any(d.name == name and d.dependency_type == "HARD" for d in other.spec.recipe.dependencies)
            if hard and other.runner.state in (State.STARTING, State.RUNNING) and not other.runner.restart_pending:
                log.info("component %s: restarting, its HARD dependency %s is %s", other.runner.name, name,
                         inst.runner.state.value)
                other.runner.restart()

    def _deps_ready(self, name: str) -> bool:
        inst = self._installed.get(name)
        if inst is None:
            return True
        for d in inst.spec.recipe.dependencies:
            dep = self._installed.get(d.name)
            if d.dependency_type == "HARD" and dep is not None and not _ready(dep.runner):
                return False
        return True

    async def _gate(self, name: str) -> None:
        """``GreengrassService.waitForDependencyReady`` for the runner of ``name``."""
        while not self._deps_ready(name):
            await self._tick.wait()

    def _pythonpath(self) -> tuple[str, ...]:
        if self.virtual_camera and virtual_camera.needed(0):
            return (str(virtual_camera.shim_dir()),)
        return ()

    def _client(self) -> Any:
        if self._s3 is None:
            from group.clients import shared_session  # the S3 model the deploy parsed, not parsed again

            # the local cloud accepts any credentials; the core's own, never the user's profile
            self._s3 = shared_session().client(
                "s3", endpoint_url=self.cloud_url, region_name=self.region, aws_access_key_id="local",
                aws_secret_access_key="local")
        return self._s3

    def _download(self, recipe: Recipe) -> dict[str, Path]:
        """Fetch the ``s3://`` artifacts of the manifest that matches this machine; URI -> local file."""
        from botocore.exceptions import BotoCoreError, ClientError

        manifest = recipe.select_manifest(self.platform)
        if manifest is None:
            raise ComponentError(f"The version of component requested does not claim platform compatibility: "
                                 f"no manifest of {recipe.name} {recipe.version} matches {self.platform}")
        dest = self.root / "packages" / "downloads" / recipe.name / recipe.version
        out: dict[str, Path] = {}
        for art in manifest.artifacts:
            scheme, _, rest = art.uri.partition("://")
            if scheme.lower() != "s3":
                raise DownloadError(f"artifact {art.uri} of {recipe.name}-{recipe.version}: the local core downloads "
                                    "s3:// artifacts only")
            bucket, _, key = rest.partition("/")
            target = dest / art.file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            # one GetObject streamed to the file (download_file adds a HeadObject and a thread pool per file)
            try:
                body = self._client().get_object(Bucket=bucket, Key=key)["Body"]
                try:
                    with open(tmp, "wb") as fh:
                        shutil.copyfileobj(body, fh, 1 << 20)
                finally:
                    body.close()
            except (ClientError, BotoCoreError) as e:
                tmp.unlink(missing_ok=True)
                raise DownloadError(f"Failed to download artifact {art.uri} of {recipe.name}-{recipe.version}: "
                                    f"{e}") from None
            tmp.replace(target)
            if art.unarchive == "ZIP":
                _check_zip(target)
            out[art.uri] = target
        return out


def _ready(runner: ComponentRunner) -> bool:
    """``dependencyFinishedStarting``: RUNNING, FINISHED, or STOPPING unless its startup failed."""
    st = runner.state
    if st in _DONE:
        return True
    if st is State.STOPPING:
        m = runner.machine
        return not (m.history and m.history[-1].event == "recover" and m.errored_from is State.STARTING)
    return False


def not_applied(lifecycle: Mapping[str, Any], run_with: Mapping[str, Any] | None, user: str) -> list[str]:
    """What the local core does not apply, in words: ``RequiresPrivilege`` steps and a deployment's ``runWith``
    (every step runs as ``user``, the user of ``deploy.py run``; no resource limits)."""
    notes = []
    privileged = [n for n, s in lifecycle.items() if isinstance(s, Mapping) and s.get("RequiresPrivilege")]
    if privileged:
        notes.append(f"RequiresPrivilege ({', '.join(privileged)}) is not applied: the local core runs every step "
                     f"as {user}")
    run_with = dict(run_with or {})
    if run_with.get("posixUser"):
        notes.append(f"runWith posixUser {run_with['posixUser']!r} is not applied: the local core runs every step "
                     f"as {user}")
    if run_with.get("systemResourceLimits"):
        notes.append("runWith systemResourceLimits are not applied by the local core")
    if run_with.get("windowsUser"):
        notes.append(f"runWith windowsUser {run_with['windowsUser']!r} is not applied")
    return notes


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ArtifactError(f"{path.name}: entry {info.filename!r} would land outside its folder")
    except zipfile.BadZipFile as e:
        raise ArtifactError(f"Failed to unarchive {path.name}: not a ZIP file ({e}); set Unarchive: NONE or fix "
                            "the file") from None


__all__ = ["Activation", "ComponentService", "ComponentSpec", "DownloadError", "not_applied"]
