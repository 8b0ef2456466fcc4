"""Configuration of the AWS public components the V2 converter deploys: client-device Auth policies, the
Moquette port, nucleus logging and LogManager, stream manager and shadow manager (AWS Developer Guide, the
component pages of aws.greengrass.clientdevices.Auth, LogManager, StreamManager and ShadowManager).

Part of the V2 converter (:class:`~.convert._Converter` mixes :class:`PublicConfigPart` in); pure.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from ..model import SHADOW_REPLIES
from ..topics import filters_overlap
from .names import component_name
from .routes import Routes, add_unique, has_wildcard, safe_id

DEFAULT_BROKER_PORT = 8883


class PublicConfigPart:
    """Group settings → public component configuration (needs ``self.g`` and ``self.find``)."""

    # -- client devices ----------------------------------------------------------------------------
    def broker_port(self) -> int:
        ports = sorted({c.port for c in self.g.core.connectivity})
        if len(ports) > 1:
            self.find("core.connectivity", "warning", f"several ports {ports}: a V2 core runs one broker port "
                      f"({ports[0]} is used for Moquette)", "use one port in every connectivity entry")
        return ports[0] if ports else DEFAULT_BROKER_PORT

    def device_grants(self, thing: str, r: Routes) -> Tuple[List[str], List[str]]:
        pubs = list(r.device_publish.get(thing, []))
        subs: List[str] = []
        for f in r.device_subscribe.get(thing, []):
            add_unique(subs, f)
            m = re.match(r"^\$aws/things/([^/]+)/shadow/", f)
            if m and has_wildcard(f):
                # Auth matches topic filters literally: grant the shadow replies the SDK subscribes to one by one.
                for reply in SHADOW_REPLIES:
                    concrete = f"$aws/things/{m.group(1)}/shadow/{reply}"
                    if filters_overlap(f, concrete):
                        add_unique(subs, concrete)
        return pubs, subs

    def auth_config(self, r: Routes) -> Dict[str, Any]:
        definitions: Dict[str, Any] = {}
        policies: Dict[str, Any] = {}
        for i, d in enumerate(self.g.devices):
            pubs, subs = self.device_grants(d.thing, r)
            for t in pubs:
                if has_wildcard(t):
                    self.find(f"devices[{i}]", "warning", f"device '{d.thing}' publishes on the filter '{t}': Auth "
                              "publish grants name exact topics, so only the literal topic is allowed",
                              "list the exact topics the device publishes in subscriptions:")
            policy = f"policy-{safe_id(d.thing)}"
            statements: Dict[str, Any] = {
                "Connect": {"statementDescription": "connect with its own thing name as client id",
                            "operations": ["mqtt:connect"], "resources": [f"mqtt:clientId:{d.thing}"]}}
            if pubs:
                statements["Publish"] = {"statementDescription": "topics the subscription table routes from it",
                                         "operations": ["mqtt:publish"],
                                         "resources": [f"mqtt:topic:{t}" for t in pubs]}
            if subs:
                statements["Subscribe"] = {"statementDescription": "topics the subscription table routes to it",
                                           "operations": ["mqtt:subscribe"],
                                           "resources": [f"mqtt:topicfilter:{t}" for t in subs]}
            definitions[f"device-{safe_id(d.thing)}"] = {
                "selectionRule": "thingName: " + d.thing.replace(":", "\\:"), "policyName": policy}
            policies[policy] = statements
        return {"deviceGroups": {"formatVersion": "2021-03-05", "definitions": definitions, "policies": policies}}

    # -- public components ---------------------------------------------------------------------------
    def logging(self) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """(nucleus logging, LogManager configuration or None)."""
        def level(i: int, lvl: str) -> str:
            if lvl == "FATAL":
                self.find(f"loggers[{i}].level", "warning", "FATAL has no V2 log level; ERROR is used",
                          "set level: ERROR")
                return "ERROR"
            return lvl

        fs = {lg.component: (i, lg) for i, lg in enumerate(self.g.loggers) if lg.type == "FileSystem"}
        cw = {lg.component: (i, lg) for i, lg in enumerate(self.g.loggers) if lg.type == "AWSCloudWatch"}
        first = fs.get("GreengrassSystem") or fs.get("Lambda")
        nucleus: Dict[str, Any] = {"level": "INFO", "outputType": "FILE", "format": "JSON" if cw else "TEXT"}
        space = 10240
        if first is not None:
            i, lg = first
            nucleus["level"] = level(i, lg.level)
            space = lg.space_kb or 128
        if "Lambda" in fs and "GreengrassSystem" in fs:
            i, _ = fs["Lambda"]
            self.find(f"loggers[{i}]", "info", "V2 has one local log limit for the nucleus and every component "
                      "(nucleus logging.totalLogsSizeKB); the GreengrassSystem logger's level and space are used")
        nucleus["totalLogsSizeKB"] = space
        nucleus["fileSizeKB"] = min(1024, space)
        if not cw:
            return nucleus, None
        uploader: Dict[str, Any] = {}
        if "GreengrassSystem" in cw:
            i, lg = cw["GreengrassSystem"]
            uploader["systemLogsConfiguration"] = {"uploadToCloudWatch": "true", "minimumLogLevel": level(i, lg.level)}
        else:
            uploader["systemLogsConfiguration"] = {"uploadToCloudWatch": "false"}
        if "Lambda" in cw:
            i, lg = cw["Lambda"]
            lvl = level(i, lg.level)
            uploader["componentLogsConfigurationMap"] = {
                component_name(self.g, f.name): {"minimumLogLevel": lvl} for f in self.g.functions}
        self.find("loggers", "info", "CloudWatch loggers become LogManager uploads; minimumLogLevel filters only "
                  "JSON logs, so the nucleus log format is set to JSON")
        return nucleus, {"logsUploaderConfiguration": uploader, "periodicUploadIntervalSec": "300"}

    def stream_manager_config(self) -> Dict[str, str]:
        sm = self.g.stream_manager
        cfg = {"STREAM_MANAGER_SERVER_PORT": str(sm.port),
               "STREAM_MANAGER_AUTHENTICATE_CLIENT": "true" if sm.authenticate_client else "false"}
        if sm.store_root:
            if sm.store_root.startswith("/"):
                cfg["STREAM_MANAGER_STORE_ROOT_DIR"] = sm.store_root
            else:
                self.find("stream_manager.store_root", "warning", f"store_root '{sm.store_root}' is relative to the "
                          "local core's state dir; V2 uses the component's work folder",
                          "use an absolute path (e.g. /greengrass/v2/work/streams) or leave it out")
        if sm.exporter_thread_pool_size:
            cfg["STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE"] = str(sm.exporter_thread_pool_size)
        if sm.exporter_max_bandwidth_kbps:
            cfg["STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH"] = str(sm.exporter_max_bandwidth_kbps)
        return cfg

    def shadow_config(self, r: Routes) -> Tuple[Dict[str, Any], List[str]]:
        synced = [d.thing for d in self.g.devices if d.sync_shadow]
        cfg: Dict[str, Any] = {"strategy": {"type": "realTime"}}
        sync: Dict[str, Any] = {}
        if self.g.core.sync_shadow:
            sync["coreThing"] = {"classic": True, "namedShadows": []}
        if synced:
            sync["shadowDocuments"] = [{"thingName": t, "classic": True, "namedShadows": []} for t in synced]
        if sync:
            sync["direction"] = "betweenDeviceAndCloud"
            cfg["synchronize"] = sync
        return cfg, synced
