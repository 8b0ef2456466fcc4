"""``LocalCore``: every service of the local Greengrass V1 core, wired in one place.

Start order (stop is the reverse): stream manager → router + shadow + cloud sink → broker →
discovery → Lambda runtime (IPC + functions) → dashboard. Services reach each other only
through the small interfaces in ``localcore/interfaces.py``; this module is the only one that
knows them all.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from group.model import Group
from localcore import interfaces
from localcore.broker.auth import CertificateAuthorizer
from localcore.broker.server import Broker
from localcore.broker.tls import server_ssl_context
from localcore.discovery.server import DiscoveryServer
from localcore.discovery.state import Connectivity, DiscoveryGroup
from localcore.interfaces import FunctionSpec, Route
from localcore.lifecycle import Lifecycle, ProgressFn
from localcore.pki import LocalPKI, default_hosts
from localcore.router.cloud import CloudSink
from localcore.router.router import Router
from localcore.runtime.runtime import LambdaRuntime
from localcore.shadow.service import ShadowService
from localcore.streams.exporters import CloudConfig
from localcore.streams.server import StreamManagerServer

log = logging.getLogger(__name__)


@dataclass
class Ports:
    """Listening ports; 0 = ephemeral (tests). Defaults are the Greengrass core's."""

    mqtt: int = 8883
    discovery: int = 8443
    stream_manager: int = 8088
    ipc: int = 8000
    dashboard: int = 8080

    def offset(self, n: int) -> "Ports":
        return Ports(*(p + n if p else 0 for p in (self.mqtt, self.discovery, self.stream_manager,
                                                     self.ipc, self.dashboard)))


@dataclass
class CoreConfig:
    group: Group
    root: Path  # bundle root (code paths are relative to it)
    state_dir: Path  # .gg
    group_id: str
    region: str
    cloud_url: Optional[str]  # None = real AWS (not used by run)
    account: str = "123456789012"
    host: str = "127.0.0.1"  # bind address of the device-facing services
    advertise: Sequence[str] = ()  # extra host names / IPs put in connectivity + server cert SANs
    ports: Ports = field(default_factory=Ports)
    certs_dir: Optional[Path] = None  # where deploy wrote certs/<Thing>/cert.pem (default root/certs)
    members: Optional[Callable[[], Mapping[str, Sequence[str]]]] = None  # thing -> certificate ids
    with_dashboard: bool = True
    dashboard_token: Optional[str] = None
    dashboard_host: str = "127.0.0.1"  # a control surface: loopback unless asked otherwise
    credentials: Dict[str, str] = field(default_factory=lambda: {
        "AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing"})


def function_arn(region: str, account: str, name: str, qualifier: str = "live") -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}:{qualifier}"


def function_specs(cfg: CoreConfig) -> List[FunctionSpec]:
    """The group model's functions as the Lambda runtime needs them."""
    g = cfg.group
    specs = []
    for f in g.functions:
        volumes, devices = [], []
        for ra in f.resources:
            res = g.resource(ra.ref)
            if res is None:
                continue
            if res.volume is not None:
                volumes.append((res.volume.source, res.volume.dest, ra.permission))
            elif res.device is not None:
                devices.append((res.device, ra.permission))
        specs.append(FunctionSpec(
            name=f.name, code_dir=str(f.code_dir(cfg.root)), handler=f.handler,
            arn=function_arn(cfg.region, cfg.account, f.name), pinned=f.pinned, memory_mb=f.memory_mb,
            timeout_s=f.timeout_s, encoding=f.encoding, environment=dict(f.environment),
            isolation=f.isolation, run_as=(f.run_as.uid, f.run_as.gid) if f.run_as else None,
            volumes=tuple(volumes), devices=tuple(devices),
            libraries=tuple(str(d) for d in f.library_dirs(cfg.root)),
        ))
    return specs


def routes_of(group: Group) -> List[Route]:
    return [Route(source=s, target=t, topic_filter=f, id=i) for i, s, t, f in group.routes()]


class LocalCore:
    """The whole local core. ``await start()`` / ``await stop()``; ``status()`` for the dashboard."""

    def __init__(self, cfg: CoreConfig, progress: Optional[ProgressFn] = None,
                 extra_sections: Optional[Mapping[str, Callable[[], Any]]] = None,
                 snapshot: Optional[Callable[[str], Any]] = None, public_routes: Sequence[tuple] = ()) -> None:
        self.cfg = cfg
        self._public_routes = list(public_routes)
        self.state_dir = Path(cfg.state_dir)
        self.pki = LocalPKI(self.state_dir / "ca")
        self.group_ca = self.pki.group_ca(cfg.group_id)
        g = cfg.group
        self.router = Router(routes_of(g))
        self.shadows = ShadowService(self.state_dir / "shadows")
        self.shadows.attach(self.router)
        self.shadow_sync = self._make_shadow_sync()
        if self.shadow_sync is not None:
            self.shadows.on_change = self.shadow_sync.changed
        self.cloud_sink = CloudSink(send=self._send_to_cloud) if cfg.cloud_url else None
        self.runtime_specs = function_specs(cfg)
        self.runtime = LambdaRuntime(
            self.runtime_specs, self.router, self.shadows, self.state_dir / "runtime",
            ipc_port=cfg.ports.ipc, stream_manager_port=None, region=cfg.region,
            cloud_endpoint_url=cfg.cloud_url, credentials=cfg.credentials, account=cfg.account,
            core_thing=g.core.thing,
        )
        self.streams: Optional[StreamManagerServer] = None
        if g.stream_manager.enabled:
            root = g.stream_manager.store_root
            store_root = Path(root) if root and root.startswith("/") else self.state_dir / (root or "streams")
            self.streams = StreamManagerServer(
                store_root, host="127.0.0.1", port=cfg.ports.stream_manager,
                authenticate_client=g.stream_manager.authenticate_client,
                token_check=self.runtime.token_valid,
                cloud=CloudConfig(endpoint_url=cfg.cloud_url, region=cfg.region,
                                  aws_access_key_id=cfg.credentials["AccessKeyId"],
                                  aws_secret_access_key=cfg.credentials["SecretAccessKey"]),
            )
        if cfg.members is not None:
            self._members = cfg.members
        else:  # read once (the authorizer calls this on every connection); refreshed on redeploy
            self._member_ids = self._members_from_certs()
            self._members = lambda: self._member_ids
        authorizer = CertificateAuthorizer(self._members)
        hosts = default_hosts([c.host for c in g.core.connectivity] + list(cfg.advertise) + [cfg.host])
        server_cert = self.group_ca.issue_server(g.core.thing, hosts)
        self._ssl = server_ssl_context(server_cert.cert_pem, server_cert.key_pem, self.pki.root.cert_pem)
        self.broker = Broker(self.router, ssl_context=self._ssl, authorize=authorizer,
                             host=cfg.host, port=cfg.ports.mqtt)
        # Devices check discovery against root-ca.pem (like the AWS IoT endpoint), the broker
        # against the group CA they got from discovery: two server certificates.
        disc_cert = self.pki.root.issue_server("localhost", hosts)
        disc_ssl = server_ssl_context(disc_cert.cert_pem, disc_cert.key_pem, self.pki.root.cert_pem)
        self.discovery = DiscoveryServer(
            self._discovery_group(), is_member=authorizer.is_member, authorize=authorizer,
            ssl_context=disc_ssl, host=cfg.host, port=cfg.ports.discovery,
        )
        self.dashboard = None
        self._extra_sections = dict(extra_sections or {})
        self._snapshot = snapshot
        self.lifecycle = Lifecycle(progress=progress)
        self._build_lifecycle()

    # -- wiring helpers ---------------------------------------------------------------------------
    def _members_from_certs(self) -> Dict[str, List[str]]:
        """Things of the group → certificate ids, from ``certs/<Thing>/cert.pem`` (what deploy wrote)."""
        from localcore.pki import certificate_id

        out: Dict[str, List[str]] = {}
        certs = Path(self.cfg.certs_dir or self.cfg.root / "certs")
        for thing in self.cfg.group.things:
            pem = certs / thing / "cert.pem"
            out[thing] = [certificate_id(pem.read_bytes())] if pem.exists() else []
        return out

    def _discovery_group(self) -> DiscoveryGroup:
        g = self.cfg.group
        conn = []
        for i, c in enumerate(g.core.connectivity):
            # group.yaml advertises the default port; the broker may listen elsewhere (port offset,
            # ephemeral ports): advertise where it really is.
            port = self.broker.port if (c.port in (0, 8883, self.cfg.ports.mqtt) and self.broker.port) else c.port
            conn.append(Connectivity(id=c.id or f"conn-{i}", host=c.host, port=port, metadata=c.metadata))
        for j, host in enumerate(self.cfg.advertise):
            conn.append(Connectivity(id=f"advertised-{j}", host=host, port=self.broker.port or self.cfg.ports.mqtt))
        return DiscoveryGroup(
            group_id=self.cfg.group_id,
            core_thing_arn=f"arn:aws:iot:{self.cfg.region}:{self.cfg.account}:thing/{g.core.thing}",
            connectivity=conn, ca_pem=self.group_ca.cert_pem.decode(),
        )

    def _make_shadow_sync(self):
        """Cloud sync of the shadows of things marked ``sync_shadow`` (core and devices)."""
        g = self.cfg.group
        things = [d.thing for d in g.devices if d.sync_shadow] + ([g.core.thing] if g.core.sync_shadow else [])
        if not things or not self.cfg.cloud_url:
            return None
        from localcore.shadow.sync import CloudShadowSync

        def client():
            import boto3

            c = getattr(self, "_iot_data", None)
            if c is None:
                c = self._iot_data = boto3.client(
                    "iot-data", region_name=self.cfg.region, endpoint_url=self.cfg.cloud_url,
                    aws_access_key_id=self.cfg.credentials["AccessKeyId"],
                    aws_secret_access_key=self.cfg.credentials["SecretAccessKey"])
            return c

        return CloudShadowSync(things, lambda t, p: client().update_thing_shadow(thingName=t, payload=p),
                               lambda t: client().delete_thing_shadow(thingName=t))

    async def _start_shadows(self) -> None:
        await self.shadows.start()
        if self.shadow_sync is not None:
            self.shadow_sync.start()

    async def _stop_shadows(self) -> None:
        if self.shadow_sync is not None:
            await asyncio.to_thread(self.shadow_sync.stop)
        await self.shadows.stop()

    def _send_to_cloud(self, topic: str, payload: bytes, qos: int) -> None:
        """Forward to the (local) cloud's IoT data plane. Blocking: CloudSink runs it off the loop."""
        import boto3

        client = getattr(self, "_iot_data", None)
        if client is None:
            client = boto3.client("iot-data", region_name=self.cfg.region, endpoint_url=self.cfg.cloud_url,
                                  aws_access_key_id=self.cfg.credentials["AccessKeyId"],
                                  aws_secret_access_key=self.cfg.credentials["SecretAccessKey"])
            self._iot_data = client
        client.publish(topic=topic, qos=min(qos, 1), payload=payload)

    def _build_lifecycle(self) -> None:
        lc = self.lifecycle
        if self.streams is not None:
            lc.add("stream manager", self.streams.start, self.streams.stop)
        lc.add("shadow service", self._start_shadows, self._stop_shadows)
        if self.cloud_sink is not None:
            lc.add("cloud connection", self._start_cloud_sink, self.cloud_sink.stop)
        lc.add("MQTT broker", self.broker.start, self.broker.stop)
        lc.add("discovery", self._start_discovery, self.discovery.stop)
        lc.add("Lambda runtime", self._start_runtime, self.runtime.stop, stop_timeout=8.0)
        if self.cfg.with_dashboard:
            lc.add("dashboard", self._start_dashboard, self._stop_dashboard)

    async def _start_cloud_sink(self) -> None:
        await self.cloud_sink.start()
        if self.cfg.with_dashboard:
            return  # the dashboard's tap becomes the cloud sink (it forwards to this one)
        self.router.attach(interfaces.CLOUD, self.cloud_sink)

    async def _start_discovery(self) -> None:
        self.discovery.update_group(self._discovery_group())  # the broker's real port is known now
        await self.discovery.start()

    async def _start_runtime(self) -> None:
        if self.streams is not None:
            self.runtime.stream_manager_port = self.streams.port
        await self.runtime.start()
        for spec in self.runtime_specs:
            self.router.attach(interfaces.function(spec.name), self.runtime.sink(spec.name))

    async def _start_dashboard(self) -> None:
        from web.app import Dashboard
        from web.facade import Cached, CoreFacade
        from web.tap import MessageTap

        tap = MessageTap(inner=self.cloud_sink)
        self.router.attach(interfaces.CLOUD, tap)
        sections = {
            "group": self._group_section,
            "functions": self._functions_section,
            "devices": self._devices_section,
            "streams": self._streams_section,
            "shadows": self._shadows_section,
            "webcam": self._webcam_section,
            "connectors": self._connectors_section,
            "dynamodb_items": Cached(self._dynamodb_items, 5.0),
        }
        sections.update(self._extra_sections)
        self.facade = CoreFacade(router=self.router, tap=tap, sections=sections, snapshot=self._snapshot)
        self.dashboard = Dashboard(self.facade, token=self.cfg.dashboard_token, public_routes=self._public_routes)
        await self.dashboard.start(host=self.cfg.dashboard_host, port=self.cfg.ports.dashboard)

    async def _stop_dashboard(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.stop()

    # -- status sections ----------------------------------------------------------------------------
    deployment: Dict[str, Any] = {}

    def _group_section(self) -> dict:
        return {"name": self.cfg.group.name, "id": self.cfg.group_id, "deployment": dict(self.deployment),
                "core": self.lifecycle.status()}

    def _functions_section(self) -> list:
        from web.facade import functions_section

        return functions_section(self.runtime.status())

    def _devices_section(self) -> list:
        connected = set(self.broker.connected())
        return [{"thing": d.thing, "connected": d.thing in connected} for d in self.cfg.group.devices]

    def _streams_section(self) -> list:
        from web.facade import streams_section

        return streams_section(self.streams.status()) if self.streams is not None else []

    def _webcam_section(self) -> dict:
        from web.facade import stream_tail, webcam_section

        fn = self.cfg.group.function("webcam")
        frames_dir = (fn.environment.get("OUTPUT_DIR") if fn else None) or "/tmp/s3_stream"
        uploader = self.cfg.group.function("s3_uploader")
        status_stream = (uploader.environment.get("STATUS_STREAM_NAME") if uploader else None) or "S3ExportTaskStatus"
        tail = stream_tail(self.streams.store, status_stream, 10) if self.streams is not None else []
        return webcam_section(frames_dir, tail)

    def _connectors_section(self) -> list:
        from localcore.runtime.connectors import connectors_status

        return connectors_status(self.cfg.group.connectors)

    def _dynamodb_items(self) -> list:
        """Items of the car-statistics table (newest first), read from the cloud."""
        if not self.cfg.cloud_url:
            return []
        import boto3

        fn = self.cfg.group.function("car_aggregator")
        table = (fn.environment.get("TABLE_NAME") if fn else None) or "CarStats"
        client = boto3.client("dynamodb", region_name=self.cfg.region, endpoint_url=self.cfg.cloud_url,
                              aws_access_key_id=self.cfg.credentials["AccessKeyId"],
                              aws_secret_access_key=self.cfg.credentials["SecretAccessKey"])
        items = client.scan(TableName=table, Limit=200).get("Items", [])
        plain = [{k: next(iter(v.values())) for k, v in item.items()} for item in items]
        return sorted(plain, key=lambda i: str(i.get("Time", "")), reverse=True)[:20]

    def _shadows_section(self) -> dict:
        out = {}
        for thing in self.cfg.group.things:
            doc = self.shadows.document(thing)
            if doc is not None:
                out[thing] = doc
        return out

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.lifecycle.start()

    async def stop(self) -> None:
        await self.lifecycle.stop()

    def endpoints(self) -> dict:
        return {
            "mqtt_port": self.broker.port, "discovery_port": self.discovery.port,
            "stream_manager_port": self.streams.port if self.streams else None,
            "ipc_port": self.runtime.ipc_port,
            "dashboard_url": self.dashboard.url if self.dashboard else None,
        }

    def status(self) -> dict:
        return {
            "lifecycle": self.lifecycle.status(),
            "router": self.router.status(),
            "broker": self.broker.status(),
            "discovery": self.discovery.status(),
            "shadow": self.shadows.status(),
            "shadow_sync": self.shadow_sync.status() if self.shadow_sync is not None else None,
            "streams": self.streams.status() if self.streams else None,
            "runtime": self.runtime.status(),
        }
