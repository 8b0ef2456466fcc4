"""The local core's component service: runs a V2 deployment's generic components, as the nucleus does.

One :class:`ComponentService` per core. :meth:`ComponentService.deploy` takes the deployment's generic
components (each a parsed recipe and its ``configurationUpdate``; :func:`specs_from_cloud` reads them from a
greengrassv2 endpoint) and:

* downloads each ``s3://`` artifact of the manifest that matches this machine from the (local) cloud's S3 into
  ``<root>/packages/downloads/<name>/<version>/`` (the runner copies them into the read-only artifact folder);
* orders the components by ``ComponentDependencies``: a HARD dependency must be RUNNING (or FINISHED) before
  its dependent starts, a SOFT one only orders; components the local core provides itself (the public
  components it emulates: StreamManager, client device Auth, ...) count as RUNNING;
* on a later deployment, stops what left it or changed (recipe, version or effective configuration;
  dependents first), starts what is new or changed, and leaves the unchanged ones running;
* reports the deployment the V2 way: SUCCEEDED once every started component reached RUNNING or FINISHED;
  FAILED with the reasons when one could not be installed or went BROKEN — the others keep running.

Each component runs in a :class:`~.runner.ComponentRunner`; without ``/dev/video0`` the virtual camera shim is
first on its ``PYTHONPATH`` (``virtual_camera=True``, the default).

Public surface: :class:`ComponentService` (``start``, ``stop``, ``deploy``, ``status``, ``installed``,
``runner``), :class:`ComponentSpec`, :class:`DeploymentResult`, :func:`specs_from_cloud`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from group.v2.catalog import PUBLIC_COMPONENTS
from group.v2.recipe import Recipe, RecipeError, current_platform, parse_recipe

from .config import apply_update
from .errors import ComponentError
from .interpolate import DependencyInfo
from .lifecycle import State
from .runner import ComponentRunner
from .tokens import ComponentTokens
from . import virtual_camera

log = logging.getLogger(__name__)

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
_SETTLED = (State.RUNNING, State.FINISHED, State.BROKEN)


@dataclass(frozen=True)
class ComponentSpec:
    """One generic component of a deployment: its recipe and the deployment's ``configurationUpdate``."""

    recipe: Recipe
    configuration_update: Mapping[str, Any] | None = None


@dataclass
class DeploymentResult:
    deployment_id: str
    status: str                                   # SUCCEEDED | FAILED
    reason: str = ""
    failures: dict[str, str] = field(default_factory=dict)   # component -> why
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"deploymentId": self.deployment_id, "status": self.status, "reason": self.reason,
                "failures": dict(self.failures), "started": list(self.started), "stopped": list(self.stopped),
                "kept": list(self.kept)}


class DownloadError(ComponentError):
    """An artifact could not be fetched from the cloud."""


class ComponentService:
    """The generic components of the current deployment on this core.

    :param root: the core's root folder (``{kernel:rootPath}``; packages, work, logs live under it).
    :param tokens: the core's :class:`ComponentTokens` (shared with the stream manager's token check).
    :param thing_name, region: the core device's thing and region.
    :param s3: a boto3 S3 client for the artifacts; default: one made for ``cloud_url`` (the local cloud).
    :param emulated: component names the core provides itself (default: every AWS public component).
    :param virtual_camera: put the virtual camera shim first on ``PYTHONPATH`` when ``/dev/video0`` is missing.
    :param settle_timeout_s: how long a deployment waits for each component to reach RUNNING/FINISHED/BROKEN.
    Other keywords go to every :class:`ComponentRunner` (``credentials_uri``, ``stream_manager_port``,
    ``root_ca_path``, ``python``, ``platform``, ``kill_grace_s``).
    """

    def __init__(self, *, root: str | Path, tokens: ComponentTokens, thing_name: str, region: str,
                 s3: Any = None, cloud_url: str | None = None, emulated: Iterable[str] | None = None,
                 virtual_camera: bool = True, settle_timeout_s: float = 300.0,
                 credentials_uri: str | None = None, stream_manager_port: int | None = None,
                 root_ca_path: str | None = None, python: str = sys.executable,
                 platform: Mapping[str, str] | None = None, kill_grace_s: float = 5.0,
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
        self._runner_kw = dict(credentials_uri=credentials_uri, stream_manager_port=stream_manager_port,
                               root_ca_path=root_ca_path, python=python, platform=self.platform,
                               kill_grace_s=kill_grace_s)
        self._runners: dict[str, ComponentRunner] = {}
        self._fingerprints: dict[str, str] = {}           # what each runner was started from
        self._order: list[str] = []                       # start order of the running set
        self._failed: dict[str, tuple[str, str, str]] = {}  # name -> (version, state, reason) never started
        self._last: DeploymentResult | None = None
        self._lock = asyncio.Lock()
        self._changed_at: dict[str, float] = {}

    # ------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Nothing runs until the first :meth:`deploy`; makes the root folder."""
        self.root.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        """Stop every component (dependents first)."""
        async with self._lock:
            await self._stop_names(list(reversed(self._order)))

    def runner(self, name: str) -> ComponentRunner | None:
        return self._runners.get(name)

    # ------------------------------------------------------------------------------ deployments
    async def deploy(self, deployment_id: str, components: Mapping[str, ComponentSpec]) -> DeploymentResult:
        """Make ``components`` the running set (see the module doc); returns once each started component
        settled (RUNNING, FINISHED or BROKEN) or ``settle_timeout_s`` passed."""
        async with self._lock:
            result = DeploymentResult(deployment_id, SUCCEEDED)
            wanted: dict[str, tuple[ComponentSpec, dict, str]] = {}
            for name, spec in components.items():
                if spec.recipe.name != name:
                    result.failures[name] = f"the recipe names component {spec.recipe.name!r}, not {name!r}"
                    continue
                runner = self._runners.get(name)
                current = runner.configuration if runner is not None and runner.version == spec.recipe.version \
                    else None
                try:
                    config = apply_update(spec.recipe.default_configuration, current, spec.configuration_update)
                except ComponentError as e:
                    result.failures[name] = f"configurationUpdate: {e}"
                    continue
                fingerprint = json.dumps({"recipe": spec.recipe.raw, "config": config}, sort_keys=True)
                wanted[name] = (spec, config, fingerprint)

            # stop what left the deployment or changed (dependents first); the unchanged keep running
            leaving = {n for n in self._order if n not in wanted or self._fingerprints.get(n) != wanted[n][2]}
            # a HARD dependency that stops takes its dependents with it (the nucleus restarts them too)
            grew = True
            while grew:
                grew = False
                for n in self._order:
                    hard = {d.name for d in self._runners[n].recipe.dependencies if d.dependency_type == "HARD"}
                    if n not in leaving and hard & leaving:
                        leaving.add(n)
                        grew = True
            leaving = [n for n in reversed(self._order) if n in leaving]
            result.stopped = await self._stop_names(leaving)
            self._failed = {n: v for n, v in self._failed.items() if n in wanted}

            order, cyclic = _ordered(wanted)
            for name in cyclic:
                result.failures[name] = "its ComponentDependencies form a cycle"
            started: list[str] = []
            for name in order:
                spec, config, fingerprint = wanted[name]
                if name in self._runners:
                    result.kept.append(name)
                    continue
                problem = await self._dependencies_ready(spec.recipe, wanted, result.failures)
                if problem is None:
                    try:
                        files = await asyncio.to_thread(self._download, spec.recipe)
                    except DownloadError as e:
                        problem = str(e)
                if problem is not None:
                    result.failures[name] = problem
                    self._failed[name] = (spec.recipe.version, State.BROKEN.value, problem)
                    self._touch(name)
                    log.warning("component %s %s not started: %s", name, spec.recipe.version, problem)
                    continue
                deps = {d.name: DependencyInfo(wanted[d.name][0].recipe.version, wanted[d.name][1])
                        for d in spec.recipe.dependencies if d.name in wanted}
                runner = ComponentRunner(
                    spec.recipe, root=self.root, tokens=self.tokens, thing_name=self.thing_name, region=self.region,
                    artifacts=files, configuration=config, dependencies=deps, on_change=self._changed,
                    extra_pythonpath=self._pythonpath(), **self._runner_kw)
                self._runners[name] = runner
                self._fingerprints[name] = fingerprint
                self._order.append(name)
                self._failed.pop(name, None)
                await runner.start()
                started.append(name)
            result.started = started
            for name in started:
                reached = await self._settle(self._runners[name])
                if reached is State.BROKEN or reached is None:
                    r = self._runners[name]
                    result.failures[name] = r.machine.reason or (
                        f"not RUNNING after {self.settle_timeout_s:.0f} s" if reached is None else "BROKEN")
            if result.failures:
                result.status = FAILED
                result.reason = "; ".join(f"{n}: {why}" for n, why in result.failures.items())
            self._last = result
            log.info("deployment %s: %s%s", deployment_id, result.status,
                     f" ({result.reason})" if result.reason else "")
            return result

    # ------------------------------------------------------------------------------ reports
    def status(self) -> dict:
        """JSON-able: the last deployment's result and each component (name, version, state, reason)."""
        comps = []
        for name in self._order:
            st = self._runners[name].status()
            comps.append({"name": name, "version": st["version"], "state": st["state"], "reason": st["reason"],
                          "statusCode": st["statusCode"], "pid": st["pid"], "log": st["log"]})
        for name, (version, state, reason) in sorted(self._failed.items()):
            comps.append({"name": name, "version": version, "state": state, "reason": reason,
                          "statusCode": "INSTALL_ERROR", "pid": None, "log": None})
        return {"deployment": self._last.to_dict() if self._last else None, "components": comps}

    def installed(self) -> list[dict]:
        """The generic components in the shape of greengrassv2 ``ListInstalledComponents`` entries
        (timestamps as epoch seconds)."""
        out = []
        for c in self.status()["components"]:
            entry = {"componentName": c["name"], "componentVersion": c["version"], "lifecycleState": c["state"],
                     "isRoot": True, "lastStatusChangeTimestamp": self._changed_at.get(c["name"], time.time())}
            if c["reason"]:
                entry["lifecycleStateDetails"] = c["reason"][:255]
            if c["statusCode"]:
                entry["lifecycleStatusCodes"] = [c["statusCode"]]
            out.append(entry)
        return out

    # ------------------------------------------------------------------------------ internals
    def _changed(self, status: dict) -> None:
        self._touch(status["component"])
        if self.on_change is not None:
            self.on_change(status)

    def _touch(self, name: str) -> None:
        self._changed_at[name] = time.time()

    def _pythonpath(self) -> tuple[str, ...]:
        if self.virtual_camera and virtual_camera.needed(0):
            return (str(virtual_camera.shim_dir()),)
        return ()

    async def _stop_names(self, names: list[str]) -> list[str]:
        stopped = []
        for name in names:
            runner = self._runners.pop(name, None)
            if runner is None:
                continue
            await runner.stop()
            self._fingerprints.pop(name, None)
            self._order.remove(name)
            stopped.append(name)
        return stopped

    async def _settle(self, runner: ComponentRunner) -> State | None:
        try:
            return await runner.wait_for(*_SETTLED, timeout=self.settle_timeout_s)
        except asyncio.TimeoutError:
            return None

    async def _dependencies_ready(self, recipe: Recipe, wanted: Mapping[str, Any],
                                  failures: Mapping[str, str]) -> str | None:
        """None when ``recipe`` may start: every dependency is known, every HARD one RUNNING or FINISHED."""
        for dep in recipe.dependencies:
            if dep.name in self.emulated and dep.name not in wanted:
                continue  # provided by the local core itself
            if dep.name not in wanted:
                return (f"dependency {dep.name} is neither in the deployment nor a component the local core "
                        "provides")
            dep_version = wanted[dep.name][0].recipe.version
            if not dep.version_requirement.satisfied_by(dep_version):
                return f"dependency {dep.name} {dep_version} does not satisfy its requirement"
            if dep.dependency_type != "HARD":
                continue
            if dep.name in failures:
                return f"HARD dependency {dep.name} failed: {failures[dep.name]}"
            runner = self._runners.get(dep.name)
            if runner is None:
                return f"HARD dependency {dep.name} did not start"
            reached = await self._settle(runner)
            if reached not in (State.RUNNING, State.FINISHED):
                return f"HARD dependency {dep.name} is {runner.state.value}: {runner.machine.reason or 'not running'}"
        return None

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3  # the local cloud accepts any credentials; the core's own, never the user's profile

            self._s3 = boto3.session.Session().client(
                "s3", endpoint_url=self.cloud_url, region_name=self.region, aws_access_key_id="local",
                aws_secret_access_key="local")
        return self._s3

    def _download(self, recipe: Recipe) -> dict[str, Path]:
        """Fetch the ``s3://`` artifacts of the manifest that matches this machine; URI -> local file."""
        from botocore.exceptions import BotoCoreError, ClientError

        manifest = recipe.select_manifest(self.platform)
        if manifest is None:
            raise DownloadError(f"no manifest of {recipe.name} {recipe.version} matches this platform {self.platform}")
        dest = self.root / "packages" / "downloads" / recipe.name / recipe.version
        out: dict[str, Path] = {}
        for art in manifest.artifacts:
            scheme, _, rest = art.uri.partition("://")
            if scheme.lower() != "s3":
                raise DownloadError(f"artifact {art.uri}: the local core downloads s3:// artifacts only")
            bucket, _, key = rest.partition("/")
            target = dest / art.file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            try:
                self._client().download_file(bucket, key, str(tmp))
            except (ClientError, BotoCoreError) as e:
                tmp.unlink(missing_ok=True)
                raise DownloadError(f"artifact {art.uri} could not be downloaded: {e}") from None
            tmp.replace(target)
            out[art.uri] = target
        return out


def _ordered(wanted: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(start order, names in a dependency cycle)``: dependencies (HARD and SOFT) before dependents, else by
    name; dependencies outside ``wanted`` do not order."""
    deps = {n: sorted({d.name for d in wanted[n][0].recipe.dependencies if d.name in wanted}) for n in wanted}
    order: list[str] = []
    done: set[str] = set()
    remaining = set(wanted)
    while remaining:
        ready = sorted(n for n in remaining if all(d in done for d in deps[n]))
        if not ready:
            return order, sorted(remaining)
        for n in ready:
            order.append(n)
            done.add(n)
            remaining.discard(n)
    return order, []


def specs_from_cloud(greengrassv2: Any, deployment: Mapping[str, Any], *, account_id: str, region: str,
                     partition: str = "aws") -> dict[str, ComponentSpec]:
    """The generic components of a deployment document (``components: {name: {componentVersion,
    configurationUpdate}}``) with their recipes from ``GetComponent``; public components and Lambda components
    (``ComponentType: aws.greengrass.lambda``, run by the Lambda runtime) are left out."""
    out: dict[str, ComponentSpec] = {}
    for name, entry in (deployment.get("components") or {}).items():
        if name in PUBLIC_COMPONENTS:
            continue
        version = entry["componentVersion"]
        arn = f"arn:{partition}:greengrass:{region}:{account_id}:components:{name}:versions:{version}"
        got = greengrassv2.get_component(arn=arn, recipeOutputFormat="YAML")
        text = got["recipe"].decode("utf-8") if isinstance(got["recipe"], bytes) else str(got["recipe"])
        try:
            recipe = parse_recipe(text, source=arn)
        except RecipeError as e:
            raise ComponentError(f"the recipe of {name} {version} from the cloud is invalid: {e}") from None
        if (recipe.component_type or "aws.greengrass.generic") != "aws.greengrass.generic":
            continue
        out[name] = ComponentSpec(recipe, entry.get("configurationUpdate"))
    return out


__all__ = ["ComponentService", "ComponentSpec", "DeploymentResult", "DownloadError", "specs_from_cloud",
           "SUCCEEDED", "FAILED"]
