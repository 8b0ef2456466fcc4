"""``deploy.py run --platform v2``: the group deployed as Greengrass V2 to the local cloud, and the local
core acting as the V2 core device of its thing group.

The same steps as ``localcore/run_v1.py``, which ``localcore/run.py`` calls in the same order: ``deploy``
(the V2 path of ``deploy.py deploy``, without waiting), ``read`` (what a core device does: its effective
deployment, the component recipes, the Lambda packages — ``localcore/readers/v2.py``), ``start`` (the
generic components start; the core reports the deployment's result, its installed components and its
health, as a device does, then follows: a later deployment to the thing group is read and applied while
running; components added, removed or updated, the unchanged ones keep running; a deployment the core
cannot apply FAILS with the reason and the running configuration stays).
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from localcore.deployment import AppliedDeployment
from localcore.platform import CoreSetup
from localcore.run_context import RunContext

log = logging.getLogger("localcore.run")

PLATFORM = "v2"
CREDENTIALS = ("testing", "testing")
_FOLLOW_INTERVAL_S = 1.0


def discovery_group_id(core_thing: str) -> str:
    return f"greengrassV2-coreDevice-{core_thing}"


async def deploy(ctx: RunContext) -> Dict[str, Any]:
    """Deploy the group through the V2 path to the embedded cloud (no wait: this core reports)."""
    from group.clients import Clients
    from group.v2.apply import deploy_group

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
            "changes": len(result.changes), "components": result.components}


def _read_blocking(group, state_dir: Path, cloud):
    from localcore.readers.v2 import read_core_deployment

    return read_core_deployment(cloud.url, group.core.thing, group.group.region, state_dir / "v2",
                                dict(zip(("AccessKeyId", "SecretAccessKey"), CREDENTIALS)), base=group)


async def read(ctx: RunContext, result: Dict[str, Any]) -> CoreSetup:
    """The core device's effective deployment → the core's configuration (CoreSetup)."""
    t = time.monotonic()
    deployment_id, setup = await asyncio.to_thread(_read_blocking, ctx.group, ctx.state_dir, ctx.cloud)
    ctx.progress.step("read V2 deployment", time.monotonic() - t, True,
                  f"{deployment_id}: {len(setup.profile.components)} components")
    return setup


def installed_components(core, setup) -> List[Dict[str, Any]]:
    """What the core reports in ListInstalledComponents: the reader's report of the setup's components
    (``readers.v2.installed_components``) with the Lambda components' states from the runtime: RUNNING once
    the function is registered (pinned: its instance runs; on demand: instances start per invocation, the
    details say busy/idle), ERRORED when its process cannot start."""
    from group.plan import lambda_name
    from localcore.readers.v2 import installed_components as report_of

    functions = core.runtime.status().get("functions", {})
    # a Lambda component's name is its Lambda function's name (the converter's choice, as AWS's import)
    by_component = {lambda_name(setup.group, f.name): functions.get(f.name, {}) for f in setup.group.functions}
    states, details = {}, {}
    for name, fn in by_component.items():
        if fn.get("start_error"):
            states[name], details[name] = "ERRORED", str(fn["start_error"])
        elif fn and not fn.get("pinned", True):
            busy = sum(1 for i in fn.get("instances", []) if i.get("state") == "busy")
            details[name] = (f"on demand: {'busy' if busy else 'idle'} ({len(fn.get('instances', []))} of "
                             f"{fn.get('max_instances')} instances)")
    return [dict(c, lifecycleStateDetails=details.get(c["componentName"], ""))
            for c in report_of(setup, states)]


def _states(components: List[Dict[str, Any]]) -> Dict[str, tuple]:
    return {c["componentName"]: (c.get("componentVersion"), c.get("lifecycleState")) for c in components}


def _report_blocking(cloud, core_thing: str, deployment_id: str, status: str, reason: str,
                     components: List[Dict[str, Any]]) -> None:
    """Report as a core device does; it is UNHEALTHY while the deployment failed or a component is
    ERRORED or BROKEN (AWS's core device status)."""
    from localcore.readers.v2 import report

    broken = any(c.get("lifecycleState") in ("ERRORED", "BROKEN") for c in components)
    report(cloud.url, core_thing, deployment_id, status, reason or None, components,
           "UNHEALTHY" if status == "FAILED" or broken else "HEALTHY")


class Components:
    """The deployment's generic components on this core (``localcore/generic_components/service.py``): their
    tokens are valid at the stream manager; the Docker compose component of a V1 connector is left to
    the connector code (as under V1), the Lambda and public components to the core's services."""

    def __init__(self, core, cloud, group, state_dir: Path, certs_dir: Path) -> None:
        from localcore.generic_components.service import ComponentService
        from localcore.generic_components.tokens import ComponentTokens

        self.cloud, self.group = cloud, group
        self._gg = None
        self.tokens = ComponentTokens()
        if core.streams is not None:
            core.streams.add_token_check(self.tokens.valid)
        self.service = ComponentService(
            root=state_dir / "v2" / "greengrass", tokens=self.tokens, thing_name=group.core.thing,
            region=group.group.region, cloud_url=cloud.url, credentials_uri=core.runtime.credentials_uri,
            stream_manager_port=core.streams.port if core.streams is not None else None,
            root_ca_path=str(certs_dir / "root-ca.pem"))

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    def _client(self):
        if self._gg is None:  # one client: making one loads the service model (~0.3 s)
            import boto3

            self._gg = boto3.client("greengrassv2", region_name=self.group.group.region, endpoint_url=self.cloud.url,
                                    aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1])
        return self._gg

    def _specs(self, deployment_id: str, generic: Optional[List[str]]):
        from group.v2.convert import compose_component_name
        from localcore.generic_components.service import specs_from_cloud

        gg = self._client()
        doc = dict(gg.get_deployment(deploymentId=deployment_id))
        connectors = {compose_component_name(self.group, c.name) for c in self.group.connectors}
        wanted = None if generic is None else set(generic) - connectors
        # only the generic components' recipes: the reader already has the Lambda ones
        doc["components"] = {n: e for n, e in (doc.get("components") or {}).items()
                             if n not in connectors and (wanted is None or n in wanted)}
        return specs_from_cloud(gg, doc, account_id=self.cloud.account_id, region=self.group.group.region)

    async def deploy(self, deployment_id: str, setup=None):
        from localcore.generic_components.errors import ComponentError
        from localcore.generic_components.service import FAILED, DeploymentResult

        generic = None if setup is None else [c.name for c in setup.profile.components if c.kind == "generic"]
        try:
            specs = await asyncio.to_thread(self._specs, deployment_id, generic)
        except ComponentError as e:  # a recipe the core cannot take: the deployment fails, nothing stops
            return DeploymentResult(deployment_id, FAILED, str(e))
        return await self.service.deploy(deployment_id, specs)

    def installed(self) -> List[Dict[str, Any]]:
        return self.service.installed()


def _merge_installed(base: List[Dict[str, Any]], generic: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The components' report with the generic components' own lifecycle states."""
    states = {c["componentName"]: c for c in generic}
    return [dict(c, **{k: v for k, v in states[c["componentName"]].items() if k != "lastStatusChangeTimestamp"})
            if c["componentName"] in states else c for c in base]


async def start(ctx: RunContext, core: Any, result: Dict[str, Any], setup: CoreSetup) -> AppliedDeployment:
    """Start the deployment's generic components, acknowledge the deployment the core runs, then follow
    the later ones."""
    components = Components(core, ctx.cloud, ctx.group, ctx.state_dir, ctx.certs_dir)
    await components.start()
    core.add_follower(components)  # stopped with the core, before its runtime
    applied = await acknowledge(core, ctx.cloud, result, setup, components)
    await follow(core, ctx.cloud, ctx.group, ctx.state_dir, ctx.progress, components, setup)
    return applied


async def acknowledge(core, cloud, result: Dict[str, Any], setup, components_svc: Optional[Components] = None
                      ) -> AppliedDeployment:
    """The core reports the deployment it runs: SUCCEEDED (or FAILED with the reason when a generic
    component cannot run), its installed components, HEALTHY."""
    deployment_id = setup.profile.deployment_id or result.get("deployment_id")
    status, reason = "SUCCEEDED", ""
    components = installed_components(core, setup)
    if components_svc is not None:
        outcome = await components_svc.deploy(deployment_id, setup)
        status, reason = outcome.status, outcome.reason
        components = _merge_installed(components, components_svc.installed())
    await asyncio.to_thread(_report_blocking, cloud, setup.group.core.thing, deployment_id, status, reason,
                            components)
    core.deployment = AppliedDeployment(id=deployment_id, status=status, platform=PLATFORM, message=reason,
                                        components=tuple(components))
    return core.deployment


class _Follower:
    def __init__(self, stop: asyncio.Event, task: asyncio.Task) -> None:
        self._stop, self._task = stop, task

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait({self._task}, timeout=5.0)


async def follow(core, cloud, group, state_dir: Path, progress, components_svc: Optional[Components] = None,
                 setup=None) -> None:
    """Apply later deployments to the core device's thing group while running, and report component
    state changes (a Lambda that cannot start, a generic component that went BROKEN) as a device does
    (the core stops it)."""
    from localcore.readers.errors import DeploymentFailed

    core_thing = group.core.thing
    stop = asyncio.Event()
    current = {"setup": setup}

    async def report_changes() -> None:
        if current["setup"] is None or not core.deployment.id:
            return
        components = installed_components(core, current["setup"])
        if components_svc is not None:
            components = _merge_installed(components, components_svc.installed())
        if _states(components) == _states(list(core.deployment.components)):
            return
        core.deployment = core.deployment.with_components(components)
        try:
            await asyncio.to_thread(_report_blocking, cloud, core_thing, core.deployment.id,
                                    core.deployment.status or "SUCCEEDED", core.deployment.message, components)
        except Exception as e:
            log.warning("cannot report the components' states: %s", e)

    async def loop() -> None:
        applied = core.deployment.id
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=_FOLLOW_INTERVAL_S)
                return
            except asyncio.TimeoutError:
                pass
            await report_changes()
            try:
                latest = await asyncio.to_thread(_latest_deployment, cloud, core_thing)
            except Exception as e:  # the cloud may be stopping; try again next round
                log.debug("V2 deployments of %s: %s", core_thing, e)
                continue
            if latest is None or latest == applied:
                continue
            applied = latest
            t = time.monotonic()
            changes = None
            try:
                _, new_setup = await asyncio.to_thread(_read_blocking, group, state_dir, cloud)
                changes = await core.apply_deployment(new_setup.group, new_setup.profile)
                current["setup"] = new_setup
                log.info("V2 deployment %s applied: %s", latest, changes)
                components = installed_components(core, new_setup)
                status, reason = "SUCCEEDED", ""
                if components_svc is not None:
                    outcome = await components_svc.deploy(latest, new_setup)
                    status, reason = outcome.status, outcome.reason
                    components = _merge_installed(components, components_svc.installed())
            except DeploymentFailed as e:
                status, reason, components = "FAILED", str(e), list(core.deployment.components)
            except Exception as e:  # DeploymentRejected, FunctionConfigError, a bug: fail it, keep running
                log.exception("V2 deployment %s could not be applied", latest)
                status, reason, components = "FAILED", f"{type(e).__name__}: {e}", \
                    list(core.deployment.components)
            try:
                await asyncio.to_thread(_report_blocking, cloud, core_thing, latest, status, reason, components)
            except Exception as e:
                log.warning("V2 deployment %s: cannot report %s: %s", latest, status, e)
            core.deployment = AppliedDeployment(id=latest, status=status, platform=PLATFORM, message=reason,
                                                components=tuple(components),
                                                changes=changes if status == "SUCCEEDED" else None)
            progress.step(f"deployment {latest[:8]}", time.monotonic() - t, status == "SUCCEEDED",
                          reason or "applied")

    task = asyncio.get_running_loop().create_task(loop(), name="v2-deployment-follower")
    core.add_follower(_Follower(stop, task))


def _latest_deployment(cloud, core_thing: str) -> Optional[str]:
    """The newest deployment of the core device's targets, as the device-side route lists them."""
    import json
    import urllib.request

    url = f"{cloud.url.rstrip('/')}/_local/greengrassv2/coreDevices/{core_thing}/deployments"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.loads(resp.read() or b"{}")
    deployments = body.get("deployments", body if isinstance(body, list) else [])
    if not deployments:
        return None
    newest = deployments[-1]
    return newest.get("deploymentId") or newest.get("id")
