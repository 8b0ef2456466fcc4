"""How the V2 core device resolves one deployment into a :class:`Plan` (``localcore/run_v2.py``'s
``CoreDevice`` mixes :class:`ResolvePart` in): the root components of the deployment and of the core's other
deployments, their dependencies negotiated with the cloud (ResolveComponentCandidates, the recipes of the chosen
versions), the Lambda code and the artifacts fetched, every component's configuration resolved — nucleus:
``DefaultDeploymentTask``, ``DependencyResolver``, ``ComponentManager.resolveComponentVersion``,
``KernelConfigResolver``. Blocking: the core device runs it in a thread.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from localcore.platform import CoreSetup

log = logging.getLogger("localcore.run")

CREDENTIALS = ("testing", "testing")


@dataclass
class Plan:
    """One deployment resolved and fetched: what the core runs if it is applied."""

    deployment: Any                                  # generic_components.deployments.Deployment
    setup: CoreSetup                                 # the Lambda and public part (and every component's info)
    generic: Dict[str, Any]                          # name -> service.ComponentSpec
    others: Dict[str, Any]                           # name -> interpolate.DependencyInfo (Lambda, public)
    configs: Dict[str, Dict[str, Any]]               # every component's resolved configuration
    versions: Dict[str, str]                         # every component's resolved version
    run_with: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    interpolate_configuration: bool = False


class ResolvePart:
    """Needs ``self.cloud``, ``self.region``, ``self.thing``, ``self._gg``, ``self.service``, ``self.plan`` and the
    core device's state (see ``CoreDevice``)."""

    # ------------------------------------------------------------------------------ resolve + fetch (blocking)
    def _client(self):
        if self._gg is None:  # one client: making one loads the service model (~0.3 s)
            from localcore.readers.v2_fetch import client

            self._gg = client(self.cloud.url, self.region, dict(zip(("AccessKeyId", "SecretAccessKey"), CREDENTIALS)))
        return self._gg

    def _active_version(self, name: str) -> Optional[str]:
        if self.service is not None and self.service.version(name) is not None:
            return self.service.version(name)
        return self.plan.versions.get(name) if self.plan is not None else None

    def _recipe(self, name: str, version: str) -> Dict[str, Any]:
        stored = self.local.store.recipe(name, version)   # a local deployment's recipe (it may change in place)
        if stored is not None:
            return stored
        key = (name, version)
        if key not in self._recipes:
            from botocore.exceptions import ClientError

            from localcore.readers.errors import DeploymentFailed

            arn = f"arn:aws:greengrass:{self.region}:{self.cloud.account_id}:components:{name}:versions:{version}"
            try:
                got = self._client().get_component(arn=arn, recipeOutputFormat="JSON")
            except ClientError as e:
                raise DeploymentFailed(f"Failed to get the recipe of {name}-{version}: {e}",
                                       ["CLOUD_API_ERROR"]) from None
            self._recipes[key] = json.loads(got["recipe"])
        return self._recipes[key]

    def _resolve_one(self, name: str, requirements: Mapping[str, str]):
        """``ComponentManager.resolveComponentVersion`` for one component (see ``resolve.py``)."""
        from botocore.exceptions import ClientError

        from group.v2 import catalog
        from group.v2.versions import is_version
        from localcore.generic_components.resolve import Resolved, keep_active, no_version, satisfies_all
        from localcore.local_deployments.request import LOCAL_GROUP
        from localcore.readers.v2 import _is_public

        if _is_public(name):  # the local core provides it: the version the deployment names, else the catalog's
            exact = [r for r in requirements.values() if is_version(r)]
            if exact:
                version = exact[0]
            elif name in catalog.PUBLIC_COMPONENTS:
                version = catalog.version(name)
            else:   # a public component outside the catalog (SecretManager, Cli, ...): the cloud's offer
                version = self._offered_version(name, requirements)
            if version is None or not satisfies_all(version, requirements):
                raise no_version(name, requirements)
            return Resolved(name, version, {})
        active = self._active_version(name)
        # findBestCandidateLocally: the running version, else the component store's best (local deployments)
        local = active if keep_active(active, requirements) else self.local.store.best(name, requirements)
        if local is not None and (local == active or LOCAL_GROUP in requirements):
            recipe = self._recipe(name, local)
        else:
            candidate = {"componentName": name, "versionRequirements": dict(requirements)}
            try:
                got = self._client().resolve_component_candidates(
                    platform={"attributes": {"os": "linux"}}, componentCandidates=[candidate])
            except ClientError as e:
                if e.response["Error"].get("Code") != "ResourceNotFoundException":
                    raise
                if local is None:
                    raise no_version(name, requirements) from None
                got = None   # negotiateVersionWithCloud: the local candidate when the cloud has none
            if got is None:
                recipe = self._recipe(name, local)
            else:
                found = got["resolvedComponentVersions"][0]
                recipe = json.loads(found["recipe"])
                self._recipes[(name, found["componentVersion"])] = recipe
        deps = {str(d): str((v or {}).get("VersionRequirement", "*"))
                for d, v in (recipe.get("ComponentDependencies") or {}).items()}
        return Resolved(name, str(recipe.get("ComponentVersion")), deps)

    def _offered_version(self, name: str, requirements: Mapping[str, str]) -> Optional[str]:
        """The version the cloud resolves for ``name`` under ``requirements`` (None: it offers none)."""
        from botocore.exceptions import ClientError

        candidate = {"componentName": name, "versionRequirements": dict(requirements)}
        try:
            got = self._client().resolve_component_candidates(
                platform={"attributes": {"os": "linux"}}, componentCandidates=[candidate])
        except ClientError as e:
            log.info("no cloud version of %s for %s: %s", name, dict(requirements), e)
            return None
        return str(got["resolvedComponentVersions"][0]["componentVersion"])

    def _resolve(self, deployment, listed) -> Plan:
        """Resolve, fetch and configure ``deployment`` (no state changes); DeploymentFailed / ComponentError."""
        from group.v2 import catalog
        from group.v2.convert import compose_component_name
        from group.v2.recipe import RecipeError, parse_recipe
        from localcore.generic_components.config import resolve_configuration
        from localcore.generic_components.errors import ComponentError, ConfigurationError
        from localcore.generic_components.interpolate import Context, DependencyInfo, interpolate_configuration
        from localcore.generic_components.resolve import resolve_dependencies
        from localcore.generic_components.service import ComponentSpec
        from localcore.local_deployments.request import LOCAL_GROUP
        from localcore.platform import ComponentInfo
        from localcore.readers.errors import DeploymentFailed
        from localcore.readers.v2 import _is_public, setup_from_deployment
        from localcore.readers.v2_fetch import core_facts, download_lambda

        others = self.deployments.other_roots(deployment, listed, [*self._groups, LOCAL_GROUP])
        roots = set(deployment.roots) | {n for g in others.values() for n in g}
        try:
            resolved = resolve_dependencies(deployment.group, deployment.roots, others, self._resolve_one)
        except ComponentError as e:
            raise DeploymentFailed(str(e), list(getattr(e, "codes", ()))) from None
        versions = {n: r.version for n, r in resolved.items()}
        recipes = {n: self._recipe(n, v) for n, v in versions.items() if not _is_public(n)}
        code_dirs = {}
        for name, recipe in recipes.items():
            if recipe.get("ComponentType") == catalog.LAMBDA_TYPE:
                arn = (f"arn:aws:greengrass:{self.region}:{self.cloud.account_id}:components:{name}:versions:"
                       f"{versions[name]}")
                code_dirs[name] = download_lambda(self._client(), arn, name, versions[name], self.work_dir)

        # configuration: the running one, resets, defaults underneath, the deployment's merge on top
        old = self.plan
        configs: Dict[str, Dict[str, Any]] = {}
        for name in resolved:
            default = ((recipes.get(name) or {}).get("ComponentConfiguration") or {}).get("DefaultConfiguration")
            update = (deployment.components.get(name) or {}).get("configurationUpdate")
            running = self.service.configuration(name) if self.service is not None else None
            if running is None and old is not None:
                running = old.configs.get(name)
            try:
                configs[name] = resolve_configuration(default or {}, running, update)
            except ConfigurationError as e:
                raise DeploymentFailed(f"Component {name} configuration is not valid: {e}",
                                       ["COMPONENT_CONFIGURATION_NOT_VALID"]) from None
        flag = (configs.get(catalog.NUCLEUS) or {}).get("interpolateComponentConfiguration")
        interpolating = (str(flag).lower() == "true") if flag is not None else \
            (old.interpolate_configuration if old is not None else False)
        if interpolating:
            for name in resolved:
                deps = {d: DependencyInfo(versions[d], configs[d]) for d in resolved[name].dependencies
                        if d in versions}
                ctx = Context(self.root, name, versions[name], self.thing, configs[name], deps)
                configs[name], _ = interpolate_configuration(configs[name], ctx)

        run_with = dict(old.run_with) if old is not None else {}
        for name, entry in deployment.components.items():
            if entry.get("runWith") is not None:
                run_with[name] = dict(entry["runWith"])
        connectors = {compose_component_name(self.group, c.name) for c in self.group.connectors}
        generic, other_info = {}, {}
        for name, version in versions.items():
            recipe = recipes.get(name)
            kind = (recipe or {}).get("ComponentType") or catalog.GENERIC
            if recipe is None or kind != catalog.GENERIC or name in connectors:
                other_info[name] = DependencyInfo(version, configs[name])
                continue
            try:
                parsed = parse_recipe(json.dumps(recipe), source=f"{name}-{version}")
            except RecipeError as e:
                raise DeploymentFailed(f"Failed to parse the recipe of {name}-{version}: {e}",
                                       ["RECIPE_PARSE_ERROR"]) from None
            generic[name] = ComponentSpec(parsed, configs[name], root=name in roots, run_with=run_with.get(name))

        devices, connectivity = core_facts(self._client(), self.thing)
        combined = {"deploymentId": deployment.id, "deploymentName": deployment.name,
                    "targetArn": deployment.document.get("targetArn"),
                    "components": {n: {"componentVersion": v, **({"runWith": run_with[n]} if n in run_with else {})}
                                   for n, v in versions.items()}}
        setup = setup_from_deployment(combined, recipes, core_thing=self.thing, region=self.region,
                                      account=self.cloud.account_id, code_dirs=code_dirs, connectivity=connectivity,
                                      base=self.group, client_devices=devices, configurations=configs)
        infos = tuple(ComponentInfo(c.name, c.version, c.kind, c.name in roots) for c in setup.profile.components)
        setup = CoreSetup(group=setup.group, profile=dataclasses.replace(setup.profile, components=infos))
        return Plan(deployment, setup, generic, other_info, configs, versions, run_with, interpolating)

