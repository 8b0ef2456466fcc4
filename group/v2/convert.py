"""V1 group model → Greengrass V2 plan (Lambda components, public components, one deployment, policies).

Pure: no boto3, no network, no clock, no randomness; the only file read is a Docker connector's compose
file (its bytes become an artifact and its hash the component version). Every V1 feature either maps to a
V2 configuration or yields a ``Finding`` with the group.yaml path it concerns; nothing is dropped silently.
Mapping table and rationale: docs/protocols/v2-migration.md §1–§10 and docs/decisions.md ("V2 converter").
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..model import Group
from . import catalog
from .catalog import (BRIDGE, CLIENT_AUTH, DOCKER_MANAGER, IP_DETECTOR, LAMBDA_LAUNCHER, LAMBDA_MANAGER,
                      LAMBDA_RUNTIMES, LOG_MANAGER, MOQUETTE, NUCLEUS, SHADOW_MANAGER, STREAM_MANAGER,
                      SUBSCRIPTION_ROUTER, TOKEN_EXCHANGE)
from .generic import GenericPart
from .lambdas import LambdasPart
from .model import (Finding, PublicComponent, V2Plan, canonical_json, configuration_update,
                    deployment_entry)
from .names import (COMPONENT_NAME_MAX, component_name, compose_component_name, core_policy_name,
                    device_policy_name, file_component_version, lambda_component_version, role_alias_name,
                    thing_group_name, token_exchange_role_name)
from .policies import IOT_POLICIES_PER_CERTIFICATE, IOT_POLICY_MAX_CHARS, PoliciesPart, pack_policy
from .public_config import PublicConfigPart
from .routes import RoutesPart

ROOT_DIR = "/greengrass/v2"
DEPLOYMENT_POLICIES = {
    "failureHandlingPolicy": "ROLLBACK",
    "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
    "configurationValidationPolicy": {"timeoutInSeconds": 30},
}
TAG_KEY = "gg-bundle:group"


class _Converter(RoutesPart, LambdasPart, PublicConfigPart, GenericPart, PoliciesPart):
    """One conversion: the group and what it collects (findings, runWith, configuration updates); the
    parts, one module each, turn each section of the group into its V2 form."""

    def __init__(self, group: Group, root: Path, account_id: str, region: str,
                 lambda_versions: Mapping[str, str], artifact_bucket: Optional[str]) -> None:
        if not re.fullmatch(r"\d{12}", account_id):
            raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
            raise ValueError(f"region {region!r} is not an AWS region name")
        self.g = group
        self.root = root
        self.account = account_id
        self.region = region
        self.lambda_versions = dict(lambda_versions)
        self.artifact_bucket = artifact_bucket
        self.findings: List[Finding] = []
        self.run_with: Dict[str, Dict[str, Any]] = {}
        self.configuration_updates: Dict[str, Any] = {}  # bundle component name -> ConfigurationUpdate
        self.iot = f"arn:aws:iot:{region}:{account_id}"

    def find(self, path: str, severity: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(path, severity, message, fix))

    # -- everything ------------------------------------------------------------------------------------
    def run(self) -> V2Plan:
        g = self.g
        r = self.routes()
        lambdas = [self.lambda_component(i, f, r) for i, f in enumerate(g.functions)]
        generic, compose_objects = self.connectors()
        taken = {lc.component_name: f"the Lambda component of functions[{i}]" for i, lc in enumerate(lambdas)}
        taken.update({gc.name: "the Docker connector's compose component" for gc in generic})
        taken.update({n: "an AWS public component" for n in catalog.PUBLIC_COMPONENTS})
        own, own_objects = self.bundle_components(taken)
        compose_generic = list(generic)
        generic = generic + own
        compose_objects = list(compose_objects) + own_objects

        public: List[PublicComponent] = []

        def add(name: str, merge: Optional[Dict[str, Any]] = None, reset: Sequence[str] = ("",)) -> None:
            merge = merge or {}
            public.append(PublicComponent(name, catalog.version(name), merge, tuple(reset) if merge else ()))

        nucleus_logging, log_manager = self.logging()
        nucleus_merge = {"interpolateComponentConfiguration": True, "logging": nucleus_logging}
        public.append(PublicComponent(NUCLEUS, catalog.version(NUCLEUS), nucleus_merge,
                                      ("/interpolateComponentConfiguration", "/logging")))
        add(TOKEN_EXCHANGE)
        if lambdas:
            add(LAMBDA_MANAGER)
            add(LAMBDA_LAUNCHER)
            add(LAMBDA_RUNTIMES)
        if r.router:
            add(SUBSCRIPTION_ROUTER, {"subscriptions": r.router})
        connectivity: List[Dict[str, Any]] = []
        if g.devices:
            port = self.broker_port()
            add(CLIENT_AUTH, self.auth_config(r))
            add(MOQUETTE, {"moquette": {"ssl_port": str(port), "host": "0.0.0.0"}})
            if r.bridge:
                add(BRIDGE, {"mqttTopicMapping": r.bridge, "brokerUri": f"ssl://localhost:{port}"})
            if g.core.connectivity:
                connectivity = [{"id": c.id or str(i), "hostAddress": c.host, "portNumber": c.port,
                                 "metadata": c.metadata} for i, c in enumerate(g.core.connectivity)]
                for i, c in enumerate(g.core.connectivity):
                    if c.host in ("127.0.0.1", "localhost", "::1"):
                        self.find(f"core.connectivity[{i}].host", "warning", f"'{c.host}' is reachable only from "
                                  "the core machine itself; devices on other machines cannot connect",
                                  "list the core's LAN address (or leave connectivity empty to use IPDetector)")
            else:
                add(IP_DETECTOR, {"defaultPort": str(port), "includeIPv4LoopbackAddrs": False,
                                  "includeIPv4LinkLocalAddrs": False})
        synced: List[str] = []
        if r.shadow_things or g.core.sync_shadow or any(d.sync_shadow for d in g.devices):
            cfg, synced = self.shadow_config(r)
            add(SHADOW_MANAGER, cfg)
        if g.stream_manager.enabled:
            add(STREAM_MANAGER, self.stream_manager_config())
        if log_manager is not None:
            add(LOG_MANAGER, log_manager)
        if compose_generic:
            add(DOCKER_MANAGER)

        for name in (p.name for p in public):
            assert name in catalog.PUBLIC_COMPONENTS
        components: Dict[str, Any] = {p.name: p.deployment_entry() for p in public}
        for lc in lambdas:
            components[lc.component_name] = deployment_entry(lc.component_version, {"reset": [""]},
                                                              self.run_with.get(lc.component_name))
        for gc in generic:
            cu = self.configuration_updates.get(gc.name)
            update = configuration_update(cu.merge, cu.reset) if cu is not None else {}
            components[gc.name] = deployment_entry(gc.version, update, self.run_with.get(gc.name))
        for name in components:
            if len(name) > COMPONENT_NAME_MAX:
                self.find("group.name", "error", f"component name '{name[:40]}…' is {len(name)} characters; "
                          f"the limit is {COMPONENT_NAME_MAX}", "use a shorter group or function name")

        thing_group = thing_group_name(g)
        target_arn = f"{self.iot}:thinggroup/{thing_group}"
        deployment = {
            "targetArn": target_arn,
            "deploymentName": g.name,
            "components": dict(sorted(components.items())),
            "deploymentPolicies": DEPLOYMENT_POLICIES,
            "tags": {TAG_KEY: g.name},
        }
        alias = role_alias_name(g)
        own_configs = []  # what the bundle's own components' accessControl grants on IoT Core
        for gc in own:
            configuration = dict((gc.recipe.get("ComponentConfiguration") or {}).get("DefaultConfiguration") or {})
            cu = self.configuration_updates.get(gc.name)
            if cu is not None:
                if "" in cu.reset or "/accessControl" in cu.reset:
                    configuration.pop("accessControl", None)
                if "accessControl" in cu.merge:
                    configuration["accessControl"] = cu.merge["accessControl"]
            own_configs.append(configuration)
        core_docs = pack_policy(self.core_policy(r, synced, bool(g.devices), alias, own_configs)["Statement"])
        base = core_policy_name(g)
        core_policies = tuple((base if i == 0 else f"{base}-{i + 1}", doc) for i, doc in enumerate(core_docs))
        if len(core_policies) > IOT_POLICIES_PER_CERTIFICATE:
            self.find("subscriptions", "error", f"the V2 core needs {len(core_policies)} IoT policies of "
                      f"{IOT_POLICY_MAX_CHARS} characters; a certificate takes at most {IOT_POLICIES_PER_CERTIFICATE}",
                      "route fewer distinct topics through the cloud, or use wildcard topics")
        device_policy = self.device_policy()
        size = len(canonical_json(device_policy))
        if size > IOT_POLICY_MAX_CHARS:
            self.find("devices", "error", f"the V2 device IoT policy is {size} characters without whitespace; "
                      f"IoT allows {IOT_POLICY_MAX_CHARS}", "split the devices over several groups")
        role_policy = self.role_policy(compose_objects, log_manager is not None)
        nucleus_config = {
            "system": {"certificateFilePath": f"{ROOT_DIR}/device.pem.crt",
                       "privateKeyPath": f"{ROOT_DIR}/private.pem.key",
                       "rootCaPath": f"{ROOT_DIR}/AmazonRootCA1.pem",
                       "rootpath": ROOT_DIR, "thingName": g.core.thing},
            "services": {NUCLEUS: {"componentType": "NUCLEUS", "version": catalog.version(NUCLEUS),
                                   "configuration": {
                                       "awsRegion": self.region,
                                       "iotRoleAlias": alias,
                                       "iotDataEndpoint": f"<prefix>-ats.iot.{self.region}.amazonaws.com",
                                       "iotCredEndpoint": f"<prefix>.credentials.iot.{self.region}.amazonaws.com",
                                       "greengrassDataPlanePort": 8443,
                                       "runWithDefault": {"posixUser": "ggc_user:ggc_group"},
                                       "interpolateComponentConfiguration": True,
                                       "logging": nucleus_logging}}},
        }
        return V2Plan(
            group=g.name, region=self.region, account_id=self.account, core_thing=g.core.thing,
            thing_group=thing_group, target_arn=target_arn, deployment_name=g.name,
            lambdas=tuple(lambdas), public=tuple(public), generic=tuple(generic), deployment=deployment,
            client_devices=tuple(d.thing for d in g.devices), connectivity_info=tuple(connectivity),
            core_policy_name=core_policies[0][0], core_policy=core_policies[0][1], core_policies=core_policies,
            device_policy_name=device_policy_name(g), device_policy=device_policy,
            token_exchange_role_name=token_exchange_role_name(g), role_alias_name=alias,
            token_exchange_role_trust={"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "credentials.iot.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            token_exchange_role_policy=role_policy,
            findings=tuple(self.findings), artifact_bucket=self.artifact_bucket, nucleus_config=nucleus_config,
        )


def convert(group: Group, *, root: Path, account_id: str, region: str,
            lambda_versions: Optional[Mapping[str, str]] = None,
            artifact_bucket: Optional[str] = None) -> V2Plan:
    """The V2 plan of ``group``: Lambda components, public components with configuration, the deployment
    (to the thing group), client devices, policies and findings. Pure and deterministic.

    ``lambda_versions`` maps function name → published Lambda version (missing: ``1`` with an info finding);
    ``artifact_bucket`` is where apply uploads generic-component artifacts (default: the connector's bucket).
    """
    return _Converter(group, Path(root), account_id, region, lambda_versions or {}, artifact_bucket).run()


__all__ = ["COMPONENT_NAME_MAX", "DEPLOYMENT_POLICIES", "IOT_POLICIES_PER_CERTIFICATE", "IOT_POLICY_MAX_CHARS",
           "TAG_KEY", "component_name", "compose_component_name", "convert", "core_policy_name",
           "device_policy_name", "file_component_version", "lambda_component_version", "pack_policy",
           "role_alias_name", "thing_group_name", "token_exchange_role_name"]
