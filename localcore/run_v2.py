"""``deploy.py run --platform v2``: the group deployed as Greengrass V2 to the local cloud, and the local
core acting as the V2 core device of its thing and thing groups.

The same steps as ``localcore/run_v1.py``, which ``localcore/run.py`` calls in the same order: ``deploy``
(the V2 path of ``deploy.py deploy``, without waiting), ``read`` (what a core device does with its first
deployment: resolve, fetch, configure — the core's configuration, ``CoreSetup``), ``start`` (the deployment's
generic components start; the core reports it, then follows the later ones).

:class:`CoreDevice` is the one place that processes the core's deployments, one at a time, in the nucleus'
phases; the rules live in ``localcore/generic_components/`` — which deployment comes next, what the core's
other deployments add and how one ends (``deployments.py``), versions (``resolve.py``), configuration
(``config.py``), restart or not (``changes.py``):

1. **resolve** the deployment's root components with the roots of the core's other deployments
   (``DefaultDeploymentTask``, ``DependencyResolver``) — dependencies come from the cloud (``run_v2_resolve.py``);
2. **prepare**: recipes, Lambda code and artifacts are fetched, configurations resolved
   (``KernelConfigResolver``) — a failure here changes nothing: FAILED, the running versions keep running;
3. **activate** (``DefaultActivator``): the Lambda and public part is applied to the core (only what changed
   restarts), the generic components are merged in; the core waits until every one is RUNNING or FINISHED;
4. a component BROKEN after the merge fails the deployment: with ``failureHandlingPolicy`` ROLLBACK the
   previous setup, versions and configurations come back and run again (FAILED); DO_NOTHING leaves it as it is;
5. components the deployment dropped stop once the others made it; the core reports the deployment under its
   own id, its installed components and its health (UNHEALTHY only while a component is BROKEN).

Local deployments (``greengrass-cli deployment create``, through the CLI's IPC operations) wait in the same queue
(``localcore/local_deployments/host.py``): their recipes and artifacts are copied into the component store, then they
take this same path as the group ``LOCAL_DEPLOYMENT`` (or ``thinggroup/<groupId>``), combined with the cloud's
groups as the nucleus combines them; a component of the store is used when the local group requires it
(``ComponentManager.resolveComponentVersion``). Their status goes to the CLI's records; the cloud gets the
installed components and health only.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, Dict, List, Mapping, Optional

import boto3

from group.clients import Clients
from group.plan import lambda_name
from group.v2 import catalog
from group.v2.apply import deploy_group
from group.v2.convert import compose_component_name
from localcore.cloud.persist import load_json, save_json
from localcore.deployment import AppliedDeployment
from localcore.generic_components.deployments import CoreDeployments, DO_NOTHING, Outcome, health
from localcore.generic_components.errors import ComponentError
from localcore.generic_components.tokens import ComponentTokens
from localcore.local_deployments.errors import StoreError
from localcore.local_deployments.host import LocalDeployments, local_error_types, report_fleet
from localcore.local_deployments.request import to_deployment
from localcore.local_deployments.store import StoreComponentService
from localcore.nucleus_ipc import NucleusIpc
from localcore.nucleus_ipc.clientdevices import ClientDeviceTrust
from localcore.pki import default_hosts
from localcore.platform import CoreSetup
from localcore.readers.errors import DeploymentFailed, NoDeployment
from localcore.readers.v2_fetch import installed_components as report_of
from localcore.readers.v2_fetch import list_deployments, report
from localcore.run_context import RunContext
from localcore.run_v2_resolve import CREDENTIALS, Plan, ResolvePart
from localcore.runtime.connectors import is_docker_connector

log = logging.getLogger("localcore.run")

PLATFORM = "v2"
_FOLLOW_INTERVAL_S = 1.0


def discovery_group_id(core_thing: str) -> str:
    return f"greengrassV2-coreDevice-{core_thing}"


async def deploy(ctx: RunContext) -> Dict[str, Any]:
    """Deploy the group through the V2 path to the embedded cloud (no wait: this core reports)."""
    group = ctx.group
    t = time.monotonic()
    clients = Clients.create(group.group.region, ctx.cloud.url, CREDENTIALS)
    result = await asyncio.to_thread(
        deploy_group, group, root=ctx.root, clients=clients, state_dir=ctx.state_dir, target="local",
        certs_dir=ctx.certs_dir, certificate_issuer=ctx.issue, root_ca_pem=ctx.pki.root.cert_pem, wait=False)
    ctx.progress.step("deploy group (Greengrass V2)", time.monotonic() - t, True,
                      f"deployment {result.deployment_id} ({len(result.changes)} change(s), "
                      f"{len(result.components)} components)")
    return {"group_id": discovery_group_id(group.core.thing), "deployment_id": result.deployment_id,
            "changes": len(result.changes), "components": result.components,
            "core_device": CoreDevice(ctx)}


async def read(ctx: RunContext, result: Dict[str, Any]) -> CoreSetup:
    """The core device's first deployment → the core's configuration (CoreSetup)."""
    device: CoreDevice = result.setdefault("core_device", CoreDevice(ctx))
    t = time.monotonic()
    plan = await asyncio.to_thread(device.first)
    ctx.progress.step("read V2 deployment", time.monotonic() - t, True,
                      f"{plan.deployment.id}: {len(plan.setup.profile.components)} components")
    return plan.setup


async def start(ctx: RunContext, core: Any, result: Dict[str, Any], setup: CoreSetup) -> AppliedDeployment:
    """Start the first deployment's generic components, report it, then follow the later deployments."""
    device: CoreDevice = result["core_device"]
    await device.attach(core)
    applied = await device.apply_first()
    device.follow()
    return applied


def installed_components(core, setup) -> List[Dict[str, Any]]:
    """What the core reports in ListInstalledComponents for the Lambda and public components: the reader's
    report of the setup's components (``readers.v2_fetch.installed_components``) with the Lambda components' states
    from the runtime: RUNNING once the function is registered (pinned: its instance runs; on demand: instances
    start per invocation, the details say busy/idle), BROKEN when its process cannot start (the nucleus gives
    up on a component after three errors in a row)."""
    functions = core.runtime.status().get("functions", {})
    # a Lambda component's name is its Lambda function's name (the converter's choice, as AWS's import)
    by_component = {lambda_name(setup.group, f.name): functions.get(f.name, {}) for f in setup.group.functions}
    states, details = docker_states(core, setup)
    for name, fn in by_component.items():
        if fn.get("start_error"):
            states[name], details[name] = "BROKEN", str(fn["start_error"])
        elif fn and not fn.get("pinned", True):
            busy = sum(1 for i in fn.get("instances", []) if i.get("state") == "busy")
            details[name] = (f"on demand: {'busy' if busy else 'idle'} ({len(fn.get('instances', []))} of "
                             f"{fn.get('max_instances')} instances)")
    return [dict(c, lifecycleStateDetails=details.get(c["componentName"], ""))
            for c in report_of(setup, states)]


def docker_states(core, setup) -> tuple:
    """The states of the components whose work is Docker's — the compose component of a V1 Docker connector
    and aws.greengrass.DockerApplicationManager — from the core's Docker connector, which runs it: RUNNING once
    ``docker compose up`` succeeded, STARTING while it runs, BROKEN when it failed; INSTALLED (not running)
    with the reason when this machine has no usable Docker — a limit of this machine, not of the group (the
    device needs Docker Engine, as AWS's DockerApplicationManager requires), so it fails no deployment here.
    Returns (states, details) by component name; empty without a Docker connector."""
    docker = core.docker_app.status() if core.docker_app is not None else None
    names = {compose_component_name(setup.group, c.name) for c in setup.group.connectors if is_docker_connector(c)}
    if docker is None or not names:
        return {}, {}
    state, reason = docker.get("state"), docker.get("reason") or ""
    if state == "running":
        lifecycle, why = "RUNNING", ""
    elif state in ("new", "starting"):
        lifecycle, why = "STARTING", reason
    elif state == "not-run":
        lifecycle, why = "INSTALLED", f"{reason} (the device needs Docker Engine)"
    else:
        lifecycle, why = "BROKEN", reason
    names.add(catalog.DOCKER_MANAGER)
    return {n: lifecycle for n in names}, {n: why for n in names}


def _client_device_trust(core) -> Any:
    """What the client device auth IPC operations trust: the local IoT root CA (device certificates), the core's
    group CA (its server certificate, components' certificates), the broker's certificate authorizer."""
    cfg = core.cfg
    hosts = default_hosts([c.host for c in cfg.group.core.connectivity] + list(cfg.advertise) + [cfg.host])
    return ClientDeviceTrust(core.pki.root.cert_pem, core.group_ca, core.broker.authorize, hosts=tuple(hosts),
                             server_name=cfg.group.core.thing)


def _states(components: List[Dict[str, Any]]) -> Dict[str, tuple]:
    return {c["componentName"]: (c.get("componentVersion"), c.get("lifecycleState")) for c in components}


class CoreDevice(ResolvePart):
    """The local core as the V2 core device: its deployments, processed one at a time (see the module doc)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx, self.group, self.cloud = ctx, ctx.group, ctx.cloud
        self.thing, self.region = ctx.group.core.thing, ctx.group.group.region
        self.work_dir = ctx.state_dir / "v2"
        self.root = self.work_dir / "greengrass"
        self.memory = self.root / "deployments.json"   # what the core applied, across runs (its config store)
        self.deployments = CoreDeployments.from_json(self.thing, load_json(self.memory))
        self.local = LocalDeployments(self.root)   # greengrass-cli's local deployments and the component store
        self._listed: List[Dict[str, Any]] = []    # the cloud's deployments for the core, as last listed
        self.plan: Optional[Plan] = None        # what the core runs now
        self.core: Any = None
        self.service: Any = None
        self.ipc: Any = None                    # the nucleus IPC (localcore/nucleus_ipc), set by attach()
        self._first: Optional[Plan] = None
        self._relaunch = False                  # the first plan is what an earlier run applied: launched, not deployed
        self._groups: List[str] = []            # the thing groups the core is in (ARNs)
        self._failed_first: List[tuple] = []    # deployments that failed before the core ran: reported at start
        self._gg: Any = None
        self._recipes: Dict[tuple, Dict[str, Any]] = {}
        self._stop = asyncio.Event()
        self._jobs = asyncio.Event()            # set when the cloud notifies a deployment change (follow())
        self._notified: Any = None
        self._task: Optional[asyncio.Task] = None

    # ------------------------------------------------------------------------------ start-up
    def first(self) -> Plan:
        """Blocking: the first deployment to apply, resolved and fetched (``read``). One that cannot be resolved
        or fetched changes nothing: it is reported FAILED once the core runs, and the next one is tried."""
        listed, self._groups = list_deployments(self.cloud.url, self.thing)
        self._listed = listed
        # a restart launches what the core applied before, unless something new is listed (KernelLifecycle.launch)
        applied = self.deployments.resume(listed)
        if applied is not None:
            try:
                self._first, self._relaunch = self._resolve(applied, listed), True
                return self._first
            except (DeploymentFailed, ComponentError) as e:
                log.warning("V2 deployment %s applied by an earlier run cannot be launched again: %s", applied.id, e)
        if self.deployments.processed and self.deployments.next(listed) is None:   # (always so when applied is set)
            self.deployments.forget()   # nothing new and nothing to launch again: processed as a core that is new
        while True:
            deployment = self.deployments.next(listed)
            if deployment is None:
                if self._failed_first:
                    raise self._failed_first[-1][1]
                raise NoDeployment(f"no deployment targets core device {self.thing} or a thing group it is in")
            try:
                self._first = self._resolve(deployment, listed)
                return self._first
            except (DeploymentFailed, ComponentError) as e:
                log.warning("V2 deployment %s cannot be applied: %s", deployment.id, e)
                self.deployments.finished(deployment, Outcome.FAILED_NO_STATE_CHANGE)
                self._remember()
                self._failed_first.append((deployment, e))

    async def attach(self, core: Any) -> None:
        """The core runs the first plan's Lambda and public part; the generic components get their service and
        the nucleus IPC (one socket under the V2 root; local pub/sub is the router's ``pubsub`` endpoint)."""
        self.core = core
        tokens = ComponentTokens()
        if core.streams is not None:
            core.streams.add_token_check(tokens.valid)
        # the token exchange service gives every component its credentials, as it gives the Lambdas theirs
        core.runtime.server.add_credentials_check(tokens.valid)
        self.service = StoreComponentService(   # artifacts already in the store are not downloaded again
            root=self.root, tokens=tokens, thing_name=self.thing, region=self.region, cloud_url=self.cloud.url,
            credentials_uri=core.runtime.credentials_uri, cloud_endpoint_url=core.cfg.cloud_url,
            stream_manager_port=core.streams.port if core.streams is not None else None,
            root_ca_path=str(self.ctx.certs_dir / "root-ca.pem"), ipc_socket=self.root / "ipc.socket")
        await self.service.start()
        self.ipc = NucleusIpc(self.root / "ipc.socket", tokens, core.router, host=self.service,
                              installed=self.installed, secrets_client=functools.partial(
                                  boto3.client, "secretsmanager", region_name=self.region, endpoint_url=self.cloud.url,
                                  aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1]),
                              shadows=core.shadows, client_devices=_client_device_trust(core))
        self.ipc.cli.attach_local(self.local, tokens, self.root / "ipc.socket")   # served while the CLI is deployed
        if self.ipc.shadows is not None and core.cfg.cloud_url:   # the ShadowManager's sync: core thing + cloud
            self.ipc.shadows.attach_cloud(self.thing, functools.partial(core.clients.client, "iot-data"))
        await self.ipc.start()
        core.nucleus_ipc = self.ipc      # the dashboard shows its status (web/wiring.py)
        core.add_follower(self.ipc)      # stopped after the components
        core.add_follower(self.service)  # stopped with the core, after the follower, before the runtime

    async def apply_first(self) -> AppliedDeployment:
        plan = self._first
        assert plan is not None, "read() first"
        if self._relaunch:
            return await self._launch(plan)
        for deployment, error in self._failed_first:
            reason = getattr(error, "reason", None) or str(error)
            await self._report(deployment.id, "FAILED", reason, [], getattr(error, "error_stack", ()))
        return await self._process(plan.deployment, plan=plan, first=True)

    def follow(self) -> None:
        """Apply later deployments while running and report component state changes (a Lambda that cannot
        start, a generic component that went BROKEN) as a device does."""
        loop = asyncio.get_running_loop()

        def notified(target_arn: str) -> None:   # on the cloud's thread: the device's IoT jobs notification
            loop.call_soon_threadsafe(self._jobs.set)

        self._notified = notified
        self.cloud.greengrassv2.add_deployment_listener(notified)
        self._task = loop.create_task(self._follow(), name="v2-deployment-follower")
        self.core.add_follower(self)

    async def stop(self) -> None:
        self._stop.set()
        if self._notified is not None:
            self.cloud.greengrassv2.remove_deployment_listener(self._notified)
            self._notified = None
        if self.ipc is not None:
            self.ipc.cli.close_client_access()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=5.0)
            if not done:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        while not self._stop.is_set():
            # a local deployment, or the cloud's notification of a new one, does not wait for the next round
            if not self.local.arrived.is_set() and not self._jobs.is_set():
                waits = {asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self.local.arrived.wait()),
                         asyncio.ensure_future(self._jobs.wait())}
                _, pending = await asyncio.wait(waits, timeout=_FOLLOW_INTERVAL_S,
                                                return_when=asyncio.FIRST_COMPLETED)
                for w in pending:
                    w.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            if self._stop.is_set():
                return
            self._jobs.clear()
            await self._report_changes()
            try:
                listed, self._groups = await asyncio.to_thread(list_deployments, self.cloud.url, self.thing)
                self._listed = listed
            except Exception as e:  # the cloud may be stopping; try again next round
                log.debug("V2 deployments of %s: %s", self.thing, e)
                listed = None
            deployment = self.deployments.next(listed) if listed is not None else None
            if deployment is not None:
                await self._process(deployment, listed=listed)
            local = self.local.next()   # one at a time, after the cloud's that arrived first
            if local is not None and not self._stop.is_set():   # CancelLocalDeployment interrupts it before its merge
                await self.local.run(local[0], self._process_local(*local))

    async def _process_local(self, deployment_id: str, request: Any) -> None:
        """A local deployment: its recipes and artifacts into the store (``copyRecipesAndArtifacts``: a failure
        there ends it FAILED before anything changed), then the path of every deployment, with the group's root
        components as they run now (``convertFromLocalOverrideRequestAndRoot``)."""
        t = time.monotonic()
        try:
            staged = await asyncio.to_thread(self.local.store.stage, request.recipe_dir, request.artifacts_dir)
        except StoreError as e:
            failure = DeploymentFailed(f"Error copying recipes and artifacts. {e}", e.codes)
            self.local.failed(deployment_id, failure.reason, failure.error_stack,
                              local_error_types(failure.error_types, failure.error_stack))
            log.warning("local deployment %s: %s", deployment_id, failure.reason)
            self.ctx.progress.step(f"local deployment {deployment_id[:8]}", time.monotonic() - t, False,
                                   f"FAILED_NO_STATE_CHANGE: {failure.reason}")
            return
        for note in staged.notes:
            log.info("local deployment %s: %s", deployment_id, note)
        running = {n: self._active_version(n) for n in self.deployments.group_roots.get(request.group, {})}
        roots = {n: v for n, v in running.items() if v}
        await self._process(to_deployment(deployment_id, request, roots), listed=self._listed)

    async def _launch(self, plan: Plan) -> AppliedDeployment:
        """A restart: the setup an earlier run applied starts again — no deployment is processed, reported or
        waited for (the job already SUCCEEDED); the components' states reach the cloud as they change."""
        await self.service.prepare(plan.generic)   # the store has them: nothing is downloaded
        self.plan = plan
        self.deployments.current = plan.deployment.id
        await self.ipc.configure(plan.configs)
        await self.service.activate(plan.generic, plan.others)
        self.core.deployment = AppliedDeployment(
            id=plan.deployment.id, status="SUCCEEDED", platform=PLATFORM,
            message="applied by an earlier run: launched again", components=tuple(self.installed()), changes=None)
        return self.core.deployment

    def _remember(self) -> None:
        try:
            save_json(self.memory, self.deployments.to_json())
        except OSError as e:   # the run goes on; a restart then processes the deployment again
            log.warning("cannot keep the core's deployments in %s: %s", self.memory, e)

    # ------------------------------------------------------------------------------ one deployment
    async def _process(self, deployment, *, listed=None, plan: Optional[Plan] = None,
                       first: bool = False) -> AppliedDeployment:
        t = time.monotonic()
        # IN_PROGRESS goes out while the deployment is resolved and prepared (the nucleus publishes the job's status
        # and goes on); it is on the cloud before anything changes
        in_progress = asyncio.ensure_future(self._report(deployment.id, "IN_PROGRESS", None, self.installed()))
        changes, codes = None, ()
        try:
            try:
                if plan is None:
                    plan = await asyncio.to_thread(self._resolve, deployment, listed or [])
                await self.service.prepare(plan.generic)
            finally:
                await in_progress
            if not first:   # DynamicComponentConfigurationValidator: components that subscribed check theirs
                unchanged = {n: spec.config for n, spec in plan.generic.items()
                             if self.service.version(n) == spec.recipe.version}
                invalid = await self.ipc.validate(deployment.id, deployment.document, unchanged)
                if invalid:
                    raise DeploymentFailed(invalid, ["COMPONENT_CONFIGURATION_NOT_VALID"])
        except DeploymentFailed as e:
            outcome, reason, codes = Outcome.FAILED_NO_STATE_CHANGE, e.reason, e.error_stack
        except ComponentError as e:
            outcome, reason = Outcome.FAILED_NO_STATE_CHANGE, str(e)
            codes = ("DEPLOYMENT_FAILURE",) + tuple(getattr(e, "codes", ("COMPONENT_UPDATE_ERROR",)))
        else:
            await self.ipc.before_update(deployment.id, deployment.document)   # SubscribeToComponentUpdates: may defer
            self.local.commit(deployment.id)   # the merge begins: a cancelled local deployment now runs to its end
            outcome, reason, changes = await self._activate(plan, first)
            self.ipc.after_update(deployment.id)
            if outcome is not Outcome.SUCCESSFUL:
                codes = ("DEPLOYMENT_FAILURE", "COMPONENT_UPDATE_ERROR", "COMPONENT_BROKEN")
        self.deployments.finished(deployment, outcome)
        self._remember()
        if outcome is not Outcome.SUCCESSFUL:
            log.warning("V2 deployment %s: %s: %s", deployment.id, outcome.value, reason)
        components = self.installed()
        status = outcome.job_status
        try:
            await self._report(deployment.id, status, reason or None, components, codes, detailed=outcome.value)
        except Exception as e:
            log.warning("V2 deployment %s: cannot report %s: %s", deployment.id, status, e)
        self.core.deployment = AppliedDeployment(
            id=deployment.id, status=status, platform=PLATFORM, message=reason or "", components=tuple(components),
            changes=changes if outcome is Outcome.SUCCESSFUL else None)
        if not first:
            ok = outcome is Outcome.SUCCESSFUL
            self.ctx.progress.step(f"deployment {deployment.id[:8]}", time.monotonic() - t, ok,
                                   "applied" if ok else f"{outcome.value}: {reason}")
        return self.core.deployment

    async def _activate(self, plan: Plan, first: bool):
        """``DefaultActivator``: apply, wait, then remove what left or roll back. Returns (outcome, reason,
        changes of the Lambda part)."""
        old = self.plan
        snapshot, broken_before = self.service.snapshot(), self.service.broken()
        changes = None
        if not first:
            try:
                changes = await self.core.apply_deployment(plan.setup.group, plan.setup.profile)
            except Exception as e:  # DeploymentRejected, FunctionConfigError: refused before anything changed
                log.warning("V2 deployment %s refused by the core: %s", plan.deployment.id, e)
                return Outcome.FAILED_NO_STATE_CHANGE, f"{type(e).__name__}: {e}", None
        self.plan = plan
        await self.ipc.configure(plan.configs)   # accessControl, configuration, plugins: before components start
        activation = await self.service.activate(plan.generic, plan.others)
        problem = await self.service.wait(activation) or self._broken_lambda(plan)
        if problem is None:
            await self.service.remove(activation.obsolete)
            return Outcome.SUCCESSFUL, "", changes
        if plan.deployment.failure_policy == DO_NOTHING:
            return Outcome.FAILED_ROLLBACK_NOT_REQUESTED, problem, None
        log.warning("V2 deployment %s failed (%s); rolling back", plan.deployment.id, problem)
        try:
            if old is not None and not first:
                await self.core.apply_deployment(old.setup.group, old.setup.profile)
            self.plan = old
            await self.ipc.configure({**(old.configs if old is not None else {}),
                                      **{n: spec.config for n, spec in snapshot.items()}})
            untracked = broken_before | self._hard_dependers(broken_before, snapshot)
            back = await self.service.activate(snapshot, old.others if old is not None else {}, untracked=untracked)
            rollback_problem = await self.service.wait(back)
            if rollback_problem is not None:
                return Outcome.FAILED_UNABLE_TO_ROLLBACK, f"{problem}; the rollback failed: {rollback_problem}", None
            await self.service.remove(back.obsolete)
        except Exception as e:  # a rollback that cannot complete is reported, never raised into the follower
            log.exception("V2 deployment %s: rollback failed", plan.deployment.id)
            return Outcome.FAILED_UNABLE_TO_ROLLBACK, f"{problem}; the rollback failed: {e}", None
        return Outcome.FAILED_ROLLBACK_COMPLETE, problem, None

    def _broken_lambda(self, plan: Plan) -> Optional[str]:
        """A Lambda component of the deployment that cannot run fails it as a BROKEN generic one does."""
        for c in installed_components(self.core, plan.setup):
            if c["lifecycleState"] == "BROKEN":
                return (f"Service {c['componentName']} in broken state after deployment: "
                        f"{c.get('lifecycleStateDetails') or 'its process cannot start'}")
        return None

    @staticmethod
    def _hard_dependers(names: set, specs: Mapping[str, Any]) -> set:
        out, grew = set(), True
        while grew:
            grew = False
            for n, spec in specs.items():
                if n not in out and any(d.dependency_type == "HARD" and (d.name in names or d.name in out)
                                        for d in spec.recipe.dependencies):
                    out.add(n)
                    grew = True
        return out

    # ------------------------------------------------------------------------------ reports
    def installed(self) -> List[Dict[str, Any]]:
        """Every component the core runs, as ListInstalledComponents entries: the Lambda and public ones of the
        current plan, the generic ones as the component service has them."""
        if self.plan is None or self.core is None:
            return self.service.installed() if self.service is not None else []
        generic = {c["componentName"] for c in self.service.installed()}
        base = [c for c in installed_components(self.core, self.plan.setup)
                if c["componentName"] not in generic and c["componentName"] not in self.plan.generic]
        return base + self.service.installed()

    async def _report(self, deployment_id: str, status: str, reason: Optional[str],
                      components: List[Dict[str, Any]], codes=(), detailed: Optional[str] = None) -> None:
        types = DeploymentFailed(reason or "", codes).error_types if codes else ()
        if self.local.owns(deployment_id):   # the CLI's records get the status, the cloud the fleet status only
            if status == "IN_PROGRESS" or detailed is not None:
                stack = DeploymentFailed(reason or "", codes).error_stack if codes else ()
                self.local.records.update(deployment_id, status, detailed=detailed, error_stack=stack,
                                          error_types=local_error_types(types), failure_cause=reason)
            await asyncio.to_thread(report_fleet, self.cloud.url, self.thing, components,
                                    health(c.get("lifecycleState", "") for c in components),
                                    catalog.version(catalog.NUCLEUS))
            return
        await asyncio.to_thread(
            report, self.cloud.url, self.thing, deployment_id, status, reason, components,
            health(c.get("lifecycleState", "") for c in components), error_stack=tuple(codes), error_types=types,
            core_version=catalog.version(catalog.NUCLEUS))

    async def _report_changes(self) -> None:
        """Component state changes between deployments, reported under the deployment the core applied last."""
        current = self.deployments.current
        if current is None or self.core is None:
            return
        components = self.installed()
        if _states(components) == _states(list(self.core.deployment.components)):
            return
        self.core.deployment = self.core.deployment.with_components(components)
        try:
            await self._report(current, self.core.deployment.status or "SUCCEEDED", self.core.deployment.message or None,
                               components)
        except Exception as e:
            log.warning("cannot report the components' states: %s", e)
