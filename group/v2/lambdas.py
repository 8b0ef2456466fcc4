"""V1 functions as Greengrass V2 Lambda components: the ``lambdaFunction`` request of CreateComponentVersion
(botocore ``greengrassv2`` shape ``LambdaFunctionRecipeSource``) and the findings of what does not carry over.

Part of the V2 converter (:class:`~.convert._Converter` mixes :class:`LambdasPart` in); pure.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ..model import Function
from ..plan import lambda_name
from . import catalog
from .catalog import SHADOW_MANAGER, STREAM_MANAGER, SUBSCRIPTION_ROUTER
from .model import LambdaComponent
from .names import component_name, lambda_component_version
from .routes import Routes, has_wildcard

DEFAULT_STREAM_MANAGER_PORT = 8088
LINUX = [{"name": "Linux", "attributes": {"os": "linux"}}]


class LambdasPart:
    """Functions → :class:`LambdaComponent` (needs ``self.g``, ``self.find``, ``self.lambda_versions``,
    ``self.region``, ``self.account`` and ``self.run_with``)."""

    # -- Lambda components -----------------------------------------------------------------------
    def uses_streams(self, f: Function) -> bool:
        names = {s.name for s in self.g.streams}
        return any(s.created_by == f.name for s in self.g.streams) or any(
            v in names for v in f.environment.values())

    def lambda_component(self, i: int, f: Function, r: Routes) -> LambdaComponent:
        p = f"functions[{i}]"
        version = self.lambda_versions.get(f.name)
        if version is None:
            version = "1"
            self.find(p, "info", f"Lambda version of '{f.name}' assumed to be 1 (no published version given)",
                      "deploy publishes the version; export shows what version 1 would be")
        elif not str(version).isdigit():
            raise ValueError(f"lambda_versions[{f.name!r}] must be a published version number, got {version!r}")
        fname = lambda_name(self.g, f.name)
        name = component_name(self.g, f.name)
        env = dict(sorted(f.environment.items()))

        deps: Dict[str, Dict[str, str]] = {}
        if f.name in r.publishers:
            deps[SUBSCRIPTION_ROUTER] = {"versionRequirement": catalog.info(SUBSCRIPTION_ROUTER).caret,
                                         "dependencyType": "HARD"}
        if self.uses_streams(f):
            if self.g.stream_manager.enabled:
                deps[STREAM_MANAGER] = {"versionRequirement": catalog.info(STREAM_MANAGER).caret,
                                        "dependencyType": "HARD"}
                port = self.g.stream_manager.port
                if port != DEFAULT_STREAM_MANAGER_PORT and "STREAM_MANAGER_SERVER_PORT" not in env:
                    env["STREAM_MANAGER_SERVER_PORT"] = str(port)
                    env = dict(sorted(env.items()))
                    self.find(f"{p}.environment", "info", f"STREAM_MANAGER_SERVER_PORT={port} added: the V2 stream "
                              "manager client falls back to 8088")
            else:
                self.find(p, "warning", f"function '{f.name}' uses streams but stream_manager.enabled is false",
                          "enable the stream manager or remove the stream use")
        if f.name in r.shadow_functions:
            deps[SHADOW_MANAGER] = {"versionRequirement": catalog.info(SHADOW_MANAGER).caret,
                                    "dependencyType": "HARD"}

        params: Dict[str, Any] = {}
        sources = r.event_sources.get(f.name, [])
        if sources:
            params["eventSources"] = [dict(s) for s in sources]
            for s in sources:
                if s["type"] == "PUB_SUB" and has_wildcard(s["topic"]):
                    self.find(p, "info", f"PUB_SUB event source '{s['topic']}' has MQTT wildcards: the API model "
                              "says PUB_SUB takes none, the guide allows them from nucleus 2.6.0 / LambdaManager "
                              "2.2.5 (this plan pins newer)", "use exact topics where you can")
        params["maxQueueSize"] = 1000
        if f.pinned:
            params["statusTimeoutInSeconds"] = 60
        else:
            params["maxInstancesCount"] = f.max_instances or 100
            params["maxIdleTimeInSeconds"] = 60
        params["timeoutInSeconds"] = f.timeout_s
        params["pinned"] = f.pinned  # explicit: V2 defaults to true
        params["inputPayloadEncodingType"] = f.encoding
        params["environmentVariables"] = env
        params["linuxProcessParams"] = self.process_params(p, f)

        content = {"componentPlatforms": LINUX, "componentDependencies": deps,
                   "componentLambdaParameters": params}
        request: Dict[str, Any] = {
            "lambdaArn": f"arn:aws:lambda:{self.region}:{self.account}:function:{fname}:{version}",
            "componentName": name,
            "componentVersion": lambda_component_version(str(version), content),
            "componentPlatforms": [dict(x) for x in LINUX],
            "componentDependencies": deps,
            "componentLambdaParameters": params,
        }
        if not deps:
            del request["componentDependencies"]
        if f.run_as is not None:
            self.run_with[name] = {"posixUser": f"{f.run_as.uid}:{f.run_as.gid}"}
            self.find(f"{p}.run_as", "info", f"run_as uid {f.run_as.uid} gid {f.run_as.gid} becomes the deployment's "
                      f"runWith.posixUser '{f.run_as.uid}:{f.run_as.gid}'",
                      "make sure the user and group exist on the core device")
            if f.run_as.uid == 0:
                self.find(f"{p}.run_as", "warning", "running as root needs the nucleus itself to run as root",
                          "use a non-root user")
        return LambdaComponent(f.name, name, request["componentVersion"], fname, str(version), request,
                               f.handler, f.runtime)

    def process_params(self, p: str, f: Function) -> Dict[str, Any]:
        if f.isolation == "NoContainer":
            for j, ra in enumerate(f.resources):
                self.find(f"{p}.resources[{j}]", "error", f"resource '{ra.ref}' on a NoContainer function: V2 fails "
                          "the deployment (volumes and devices exist only in container mode)",
                          "remove the resource or use isolation: GreengrassContainer")
            if f.access_sysfs:
                self.find(f"{p}.access_sysfs", "warning", "access_sysfs has no effect without a container",
                          "remove it")
            return {"isolationMode": "NoContainer"}
        volumes: List[Dict[str, Any]] = []
        devices: List[Dict[str, Any]] = []
        for j, ra in enumerate(f.resources):
            res = self.g.resource(ra.ref)
            if res is None:
                self.find(f"{p}.resources[{j}].ref", "error", f"unknown resource '{ra.ref}'",
                          "declare it under resources:")
            elif res.device is not None:
                devices.append({"path": res.device, "permission": ra.permission, "addGroupOwner": res.group_owner})
            elif res.volume is not None:
                volumes.append({"sourcePath": res.volume.source, "destinationPath": res.volume.dest,
                                "permission": ra.permission, "addGroupOwner": res.group_owner})
        memory_kb = (f.memory_mb or 16) * 1024
        if f.memory_mb is None:
            self.find(f"{p}.memory_mb", "info", "no memory_mb: the V2 default of 16384 KB applies")
        return {"isolationMode": "GreengrassContainer",
                "containerParams": {"memorySizeInKB": memory_kb, "mountROSysfs": f.access_sysfs,
                                    "volumes": volumes, "devices": devices}}
