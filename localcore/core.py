"""``LocalCore``: every service of the local Greengrass V1 core, wired in one place.

Start order (stop is the reverse): stream manager → router + shadow + cloud sink → broker →
discovery → Lambda runtime (IPC + functions) → connectors → the services added with ``add_service``
(the dashboard: ``web/wiring.py``). Services reach each other only through the small interfaces in
``localcore/interfaces.py``; this module is the only one that knows them all. It knows nothing of the
bundle's seed (panels, its functions' names): that is ``web/wiring.py``'s.

A new deployment of the running group is applied while running (``apply_deployment``; wired to the
cloud by the platform run's follower, ``localcore/run_v1.py`` / ``run_v2.py``): only what changed restarts.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from group.model import Group
from localcore import interfaces
from localcore.broker.auth import CertificateAuthorizer
from localcore.broker.server import Broker
from localcore.broker.tls import server_ssl_context
from localcore.cloud_clients import CloudClients
from localcore.discovery.server import DiscoveryServer
from localcore.deployment import NONE, AppliedDeployment, Follower
from localcore.discovery.state import Connectivity, DiscoveryGroup
from localcore.errors import DeploymentRejected
from localcore.interfaces import FunctionSpec, Route
from localcore.lifecycle import Lifecycle, ProgressFn, State
from localcore.pki import LocalPKI, default_hosts
from localcore.platform import V1, PlatformProfile
from localcore.router.cloud import CloudSink
from localcore.router.errors import RouterError
from localcore.router.router import Router
from localcore.router.table import RoutingTable
from localcore.runtime.connectors import DockerAppConnector, is_docker_connector
from localcore.runtime.errors import ConnectorError
from localcore.runtime.runtime import LambdaRuntime
from localcore.shadow.service import ShadowService
from localcore.streams.exporters import CloudConfig
from localcore.streams.server import StreamManagerServer

log = logging.getLogger(__name__)

# how soon a thing discovery refused may make it ask the cloud again (a device retrying must not flood the cloud)
_RECHECK_INTERVAL_S = 1.0


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
    root: Path  # bundle root, group.model.bundle_root(group file): code paths are relative to it
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
    profile: PlatformProfile = V1  # what a reader gives besides the group (localcore/platform.py)
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
        packaged = cfg.profile.code_dirs.get(f.name)  # V2: the Lambda version's package (libraries inside)
        specs.append(FunctionSpec(
            name=f.name, code_dir=str(packaged or f.code_dir(cfg.root)), handler=f.handler,
            arn=function_arn(cfg.region, cfg.account, f.name), pinned=f.pinned, memory_mb=f.memory_mb,
            timeout_s=f.timeout_s, encoding=f.encoding, environment=dict(f.environment),
            isolation=f.isolation, run_as=(f.run_as.uid, f.run_as.gid) if f.run_as else None,
            volumes=tuple(volumes), devices=tuple(devices),
            libraries=() if packaged else tuple(str(d) for d in f.library_dirs(cfg.root)),
            max_instances=f.max_instances,
        ))
    return specs


def routes_of(group: Group) -> List[Route]:
    return [Route(source=s, target=t, topic_filter=f, id=i) for i, s, t, f in group.routes()]


V2_SDK_SHADOW_REFUSAL = ("GGShadowService is not served on a Greengrass V2 core: greengrasssdk local-shadow calls "
                         "need a rewrite to IPC (ShadowManager)")


def _sync_things(g: Group) -> List[str]:
    return sorted([d.thing for d in g.devices if d.sync_shadow]
                  + ([g.core.thing] if g.core.sync_shadow else []))


def restart_only_changes(old: Group, new: Group) -> List[str]:
    """What in ``new`` the running core cannot apply live (services built once at start)."""
    out = []
    if new.name != old.name:
        out.append(f"group name {old.name!r} → {new.name!r} (another group)")
    if new.core.thing != old.core.thing:
        out.append(f"core thing {old.core.thing!r} → {new.core.thing!r}")
    if new.group.region != old.group.region:
        out.append(f"region {old.group.region} → {new.group.region}")
    if new.stream_manager != old.stream_manager:
        out.append("stream_manager settings")
    if _sync_things(new) != _sync_things(old):
        out.append("sync_shadow things")
    return out


def _load_cert_chain(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Present a new certificate on an existing server context (new connections get it)."""
    with tempfile.TemporaryDirectory(prefix="localcore-tls-") as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as fh:
            fh.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        ctx.load_cert_chain(cert_path, key_path)


class LocalCore:
    """The whole local core. ``await start()`` / ``await stop()``; ``status()`` for the dashboard."""

    def __init__(self, cfg: CoreConfig, progress: Optional[ProgressFn] = None) -> None:
        self.cfg = cfg
        self.clients = CloudClients(cfg.region, cfg.cloud_url, cfg.credentials)
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
        profile = cfg.profile
        self.runtime = LambdaRuntime(
            self.runtime_specs, self.router, self.shadows, self.state_dir / "runtime",
            ipc_port=cfg.ports.ipc, stream_manager_port=None, region=cfg.region,
            cloud_endpoint_url=cfg.cloud_url, credentials=cfg.credentials, account=cfg.account,
            core_thing=g.core.thing,
            sdk_shadow_refusal=None if profile.serves_sdk_shadow_calls else V2_SDK_SHADOW_REFUSAL,
        )
        self.streams: Optional[StreamManagerServer] = None
        if g.stream_manager.enabled:
            root = g.stream_manager.store_root
            store_root = Path(root) if root and root.startswith("/") else self.state_dir / (root or "streams")
            self.streams = StreamManagerServer(
                store_root, host="127.0.0.1", port=cfg.ports.stream_manager,
                authenticate_client=g.stream_manager.authenticate_client,
                token_check=self.runtime.token_valid,
                exporter_threads=g.stream_manager.exporter_thread_pool_size or 4,
                exporter_max_bandwidth_kbps=g.stream_manager.exporter_max_bandwidth_kbps,
                cloud=CloudConfig(endpoint_url=cfg.cloud_url, region=cfg.region,
                                  aws_access_key_id=cfg.credentials["AccessKeyId"],
                                  aws_secret_access_key=cfg.credentials["SecretAccessKey"]),
            )
        if cfg.members is not None:
            self._members = cfg.members
        else:  # read once (the authorizer calls this on every connection); again on start, redeploy and recheck
            self._member_ids = self._members_from_certs()
            self._members = lambda: self._member_ids
        self._associated: Optional[Tuple[str, ...]] = None  # V2: the cloud's associations, read since the deployment
        self._rechecked: Dict[str, float] = {}             # thing -> when discovery last asked the cloud about it
        self._recheck_lock = asyncio.Lock()
        authorizer = CertificateAuthorizer(self._members)
        hosts = self._hosts = self._cert_hosts(g)
        server_cert = self.group_ca.issue_server(g.core.thing, hosts)
        self._ssl = server_ssl_context(server_cert.cert_pem, server_cert.key_pem, self.pki.root.cert_pem)
        broker_extra = {"client_policy": profile.client_policy} if profile.client_policy is not None else {}
        self.broker = Broker(self.router, ssl_context=self._ssl, authorize=authorizer,
                             host=cfg.host, port=cfg.ports.mqtt, **broker_extra)
        # Devices check discovery against root-ca.pem (like the AWS IoT endpoint), the broker
        # against the group CA they got from discovery: two server certificates.
        disc_cert = self.pki.root.issue_server("localhost", hosts)
        disc_ssl = self._disc_ssl = server_ssl_context(disc_cert.cert_pem, disc_cert.key_pem,
                                                       self.pki.root.cert_pem)
        self.discovery = DiscoveryServer(
            self._discovery_group(), is_member=self._may_discover, authorize=authorizer,
            ssl_context=disc_ssl, host=cfg.host, port=cfg.ports.discovery,
            recheck=self._recheck if cfg.members is None and cfg.cloud_url else None,
        )
        self.docker_app = self._docker_connector(g)
        self._connector_task: Optional[asyncio.Task] = None
        self.deployment: AppliedDeployment = NONE  # set by the platform's run (run_v1.py, run_v2.py)
        self.nucleus_ipc: Any = None  # V2: the nucleus IPC (localcore/nucleus_ipc), set by run_v2.py, for the dashboard
        self._apply_lock = asyncio.Lock()
        self._followers: List[Follower] = []  # what applies later deployments; stopped before the runtime
        self.lifecycle = Lifecycle(progress=progress)
        self._build_lifecycle()

    # -- wiring helpers ---------------------------------------------------------------------------
    def _cert_hosts(self, g: Group) -> List[str]:
        return default_hosts([c.host for c in g.core.connectivity] + list(self.cfg.advertise)
                             + [self.cfg.host])

    def _docker_connector(self, g: Group) -> Optional[DockerAppConnector]:
        """The group's Docker application deployment connector, done locally (None: the group has none)."""
        conn = next((c for c in g.connectors if is_docker_connector(c)), None)
        if conn is None:
            return None
        return DockerAppConnector(conn.name, conn.parameters, fetch=self._fetch_s3,
                                  dest_root=self.state_dir / "connectors" / conn.name)

    def _fetch_s3(self, bucket: str, key: str) -> bytes:
        """An object of the cloud's S3 (blocking: the connector calls it in a thread)."""
        if not self.cfg.cloud_url:
            raise ConnectorError("no cloud endpoint configured to download it from")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as e:
            err = e.response.get("Error", {})
            raise ConnectorError(f"{err.get('Code', 'error')}: {err.get('Message', e)} (deploy uploads it: "
                                 "see the connector's parameters in the group file)") from None
        except BotoCoreError as e:
            raise ConnectorError(str(e)) from None

    def _pem_ids(self, thing: str) -> List[str]:
        """The id of ``certs/<thing>/cert.pem`` (what deploy wrote), none without that file."""
        from localcore.pki import certificate_id

        pem = Path(self.cfg.certs_dir or self.cfg.root / "certs") / thing / "cert.pem"
        return [certificate_id(pem.read_bytes())] if pem.exists() else []

    def _members_from_certs(self, group: Optional[Group] = None) -> Dict[str, List[str]]:
        """Things of the group → certificate ids, from ``certs/<Thing>/cert.pem`` (what deploy wrote)."""
        return {thing: self._pem_ids(thing) for thing in (group or self.cfg.group).things}

    def _read_members(self, group: Group, profile: PlatformProfile) -> Dict[str, List[str]]:
        """Blocking (call it in a thread). Things → certificate ids: ``certs/<Thing>/cert.pem``; with a cloud, the
        things with no such file — the group's and, on V2, every client device associated with the core device —
        get the certificates ACTIVE and attached to them in AWS IoT (a device made the AWS way:
        CreateKeysAndCertificate, AttachThingPrincipal; ``localcore/discovery/registry.py``), and so do the things
        the core learnt such certificates of (``_recheck``). A thing left with none is left out (refused), not
        matched by its certificate's name; when the cloud cannot be read it keeps what the core knew."""
        members = self._members_from_certs(group)
        if not self.cfg.cloud_url:
            return members
        for thing in profile.client_devices or ():
            if thing not in members:
                members[thing] = self._pem_ids(thing)
        known = self._member_ids
        ask = [t for t, ids in members.items() if not ids or set(known.get(t, ())) - set(ids)]
        if not ask:
            return members
        cloud = self._cloud_certificates(ask)
        for thing in ask:
            ids = cloud.get(thing, []) if cloud is not None else known.get(thing, [])
            ids = list(dict.fromkeys([*members.pop(thing), *ids]))
            if ids:
                members[thing] = ids
        return members

    def _cloud_certificates(self, things: Sequence[str]) -> Optional[Dict[str, List[str]]]:
        """Blocking: ``thing → ACTIVE attached certificate ids`` from the cloud (one ListThingPrincipals per thing);
        None when the cloud cannot be read (logged)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from localcore.discovery.registry import certificate_members

        try:
            return certificate_members(self.clients.client("iot"), things)
        except (BotoCoreError, ClientError) as e:
            log.warning("cannot read the certificates of %s from the cloud: %s", ", ".join(things), e)
            return None

    def _cloud_membership(self, thing: str, group: Group,
                          profile: PlatformProfile) -> Optional[Tuple[Optional[Tuple[str, ...]], List[str]]]:
        """Blocking: ``(the core device's associated client devices — V2, else None, thing's certificate ids: its
        certs/ file's and those ACTIVE and attached to it in AWS IoT)`` as the cloud knows them now; None when the
        cloud cannot be read (logged)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from localcore.discovery.registry import associated_client_devices

        associated = None
        if profile.is_v2:
            try:
                associated = tuple(associated_client_devices(self.clients.client("greengrassv2"), group.core.thing))
            except (BotoCoreError, ClientError) as e:
                log.warning("cannot read the client devices of %s from the cloud: %s", group.core.thing, e)
                return None
            eligible = thing in associated
        else:
            eligible = thing in group.things
        if not eligible:
            return associated, []
        cloud = self._cloud_certificates([thing])
        if cloud is None:
            return None
        return associated, list(dict.fromkeys([*self._pem_ids(thing), *cloud[thing]]))

    async def _recheck(self, thing: str) -> bool:
        """Discovery is about to refuse ``thing``: ask the cloud again, as AWS discovery does on every request —
        on V2 whether the thing is associated with the core device now (one list), and the certificates attached to
        it (a device made the AWS way). A thing asks at most once a second; True when the answer may change.
        The broker then knows it too: the device connects after it discovered, as client device auth verifies a
        new device with the cloud when it connects."""
        if self.lifecycle.state is not State.STARTED:
            return False
        now = asyncio.get_running_loop().time()
        if now - self._rechecked.get(thing, float("-inf")) < _RECHECK_INTERVAL_S:
            return False
        if len(self._rechecked) >= 1024:   # refused names do not pile up
            self._rechecked.clear()
        self._rechecked[thing] = now
        async with self._recheck_lock:
            cfg = self.cfg
            found = await asyncio.to_thread(self._cloud_membership, thing, cfg.group, cfg.profile)
            if found is None or cfg is not self.cfg:   # a deployment applied meanwhile read the cloud itself
                return False
            associated, ids = found
            changed = False
            if associated is not None and associated != self._associated_now():
                log.info("client devices associated with %s now: %s", cfg.group.core.thing,
                         ", ".join(associated) or "none")
                self._associated, changed = associated, True
            if set(ids) != set(self._member_ids.get(thing, ())):
                members = dict(self._member_ids)
                if ids:
                    members[thing] = list(ids)
                else:
                    members.pop(thing, None)
                self._member_ids, changed = members, True
            return changed

    def _associated_now(self) -> Optional[Tuple[str, ...]]:
        return self._associated if self._associated is not None else self.cfg.profile.client_devices

    def _may_discover(self, thing: str) -> bool:
        """V1: the group's things; V2: the client devices associated with the core device."""
        associated = self._associated_now()
        if associated is not None:
            return thing in associated
        return thing in self._members() if self.cfg.members is not None else thing in self.cfg.group.things

    def _discovery_group(self) -> DiscoveryGroup:
        g = self.cfg.group
        conn = []
        for i, c in enumerate(g.core.connectivity):
            # group.yaml advertises the default port; the broker may listen elsewhere (port offset,
            # ephemeral ports): advertise where it really is.
            advertised_default = c.port in (0, 8883, self.cfg.ports.mqtt) and self.broker.port
            port = self.broker.port if advertised_default else c.port
            conn.append(Connectivity(id=c.id or f"conn-{i}", host=c.host, port=port, metadata=c.metadata))
        for j, host in enumerate(self.cfg.advertise):
            conn.append(Connectivity(id=f"advertised-{j}", host=host,
                                     port=self.broker.port or self.cfg.ports.mqtt))
        return DiscoveryGroup(
            group_id=self.cfg.profile.discovery_group_id or self.cfg.group_id,
            core_thing_arn=f"arn:aws:iot:{self.cfg.region}:{self.cfg.account}:thing/{g.core.thing}",
            connectivity=conn, ca_pem=self.group_ca.cert_pem.decode(),
        )

    def _make_shadow_sync(self):
        """Cloud sync of the shadows of things marked ``sync_shadow`` (core and devices)."""
        g = self.cfg.group
        things = _sync_things(g)
        # V2: the ShadowManager's configuration decides what syncs (localcore/nucleus_ipc/shadows.py), live
        if not things or not self.cfg.cloud_url or self.cfg.profile.is_v2:
            return None
        from localcore.shadow.sync import CloudDesiredPoller, CloudShadowSync

        def client():
            return self.clients.client("iot-data")

        def get(thing):
            c = client()
            try:
                return json.loads(c.get_thing_shadow(thingName=thing)["payload"].read())
            except c.exceptions.ResourceNotFoundException:
                return None

        def local_desired(thing):
            return ((self.shadows.document(thing) or {}).get("state") or {}).get("desired")

        # cloud → local: desired set in the cloud reaches the device through the local shadow
        outbound = CloudShadowSync(things, lambda t, p: client().update_thing_shadow(thingName=t, payload=p),
                                   lambda t: client().delete_thing_shadow(thingName=t))
        self.shadow_poller = CloudDesiredPoller(
            things, get, lambda t, payload: self.shadows.handle_and_publish(t, "update", payload), local_desired,
            outbound=outbound)
        return outbound

    async def _start_shadows(self) -> None:
        await self.shadows.start()
        if self.shadow_sync is not None:
            self.shadow_sync.start()
            self.shadow_poller.start()

    async def _stop_shadows(self) -> None:
        if self.shadow_sync is not None:
            await asyncio.to_thread(self.shadow_poller.stop)
            await asyncio.to_thread(self.shadow_sync.stop)
        await self.shadows.stop()

    def _send_to_cloud(self, topic: str, payload: bytes, qos: int) -> None:
        """Forward to the (local) cloud's IoT data plane. Blocking: CloudSink runs it off the loop."""
        self.clients.client("iot-data").publish(topic=topic, qos=min(qos, 1), payload=payload)

    def _build_lifecycle(self) -> None:
        lc = self.lifecycle
        if self.streams is not None:
            lc.add("stream manager", self.streams.start, self.streams.stop)
        lc.add("shadow service", self._start_shadows, self._stop_shadows)
        if self.cloud_sink is not None:
            lc.add("cloud connection", self._start_cloud_sink, self.cloud_sink.stop)
        lc.add("MQTT broker", self._start_broker, self.broker.stop)
        lc.add("discovery", self._start_discovery, self.discovery.stop)
        lc.add("Lambda runtime", self._start_runtime, self._stop_runtime, stop_timeout=8.0)
        if self.docker_app is not None:
            lc.add("connectors", self._start_connectors, self._stop_connectors, stop_timeout=30.0)

    def add_service(self, name: str, start: Callable[[], Any], stop: Callable[[], Any]) -> None:
        """A service built over the core (e.g. the dashboard, ``web/wiring.py``): started after the
        core's own services, stopped before them. Call before ``start()``."""
        if self.lifecycle.state is not State.NEW:
            raise RuntimeError(f"add_service({name!r}) after start: the core is {self.lifecycle.state.value}")
        self.lifecycle.add(name, start, stop)

    async def _start_cloud_sink(self) -> None:
        await self.cloud_sink.start()
        self.router.attach(interfaces.CLOUD, self.cloud_sink)

    async def _start_broker(self) -> None:
        if self.cfg.members is None and self.cfg.cloud_url:   # devices known to the cloud only (no certs/ file)
            self._member_ids = await asyncio.to_thread(self._read_members, self.cfg.group, self.cfg.profile)
        await self.broker.start()

    async def _start_discovery(self) -> None:
        self.discovery.update_group(self._discovery_group())  # the broker's real port is known now
        await self.discovery.start()

    async def _start_runtime(self) -> None:
        if self.streams is not None:
            self.runtime.stream_manager_port = self.streams.port
        await self.runtime.start()
        for spec in self.runtime_specs:
            self.router.attach(interfaces.function(spec.name), self.runtime.sink(spec.name))

    async def _stop_runtime(self) -> None:
        await self._unwatch()  # no deployment is applied to a stopping runtime
        await self.runtime.stop()

    async def _start_connectors(self) -> None:
        """In the background, as a core starts its connectors: readiness does not wait for an S3
        download and ``docker compose up`` (``docker_app.wait_started``; status says how it went)."""
        if self.docker_app is not None:
            self._connector_task = asyncio.create_task(self.docker_app.start(), name="docker-app-connector")

    async def _stop_connectors(self) -> None:
        task, self._connector_task = self._connector_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=5.0)
        if self.docker_app is not None:
            await self.docker_app.stop()

    def connectors_status(self) -> list:
        from localcore.runtime.connectors import connectors_status

        return connectors_status(self.cfg.group.connectors, docker=self.docker_app)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.lifecycle.start()

    async def stop(self) -> None:
        await self._unwatch()
        await self.lifecycle.stop()

    # -- deployments while running ----------------------------------------------------------------
    async def apply_deployment(self, group: Group, profile: Optional[PlatformProfile] = None) -> Dict[str, Any]:
        """Switch the running core to ``group`` (a new version of the same group), restarting only
        what changed: the subscription table is replaced; functions are started, stopped, or
        restarted when their spec (code fingerprint, config, environment, resources) changed —
        untouched ones keep their processes; members (certificate ids from the certs dir, and from the cloud for
        things with no file there: devices made the AWS way),
        connectivity (discovery, server certificate names) and the dashboard follow.

        Raises ``DeploymentRejected`` / ``FunctionConfigError`` (message = the reason) before
        changing anything when ``group`` cannot be applied; the old configuration keeps running.
        Returns what changed (JSON-able)."""
        if self.lifecycle.state is not State.STARTED:
            raise DeploymentRejected(f"the local core is {self.lifecycle.state.value}, not running")
        async with self._apply_lock:
            old = self.cfg.group
            problems = [p for p in restart_only_changes(old, group)   # V2: the ShadowManager syncs, live
                        if not (self.cfg.profile.is_v2 and p == "sync_shadow things")]
            if problems:
                raise DeploymentRejected("changes the running core cannot apply (restart deploy.py run): "
                                         + "; ".join(problems))
            new_cfg = dataclasses.replace(self.cfg, group=group, profile=profile or self.cfg.profile)
            specs = function_specs(new_cfg)
            routes = routes_of(group)
            try:
                RoutingTable(routes)
            except RouterError as e:
                raise DeploymentRejected(f"subscriptions: {e}") from None
            members = None
            if self.cfg.members is None:
                members = await asyncio.to_thread(self._read_members, group, new_cfg.profile)
            functions = await self.runtime.update(specs)  # checks every function first
            # -- nothing below refuses: the new configuration is being applied
            for name in functions.started:
                self.router.attach(interfaces.function(name), self.runtime.sink(name))
            old_routes = set(self.router.routes)
            self.router.replace_routes(routes)
            for name in functions.stopped:
                self.router.detach(interfaces.function(name))
            self.cfg, self.runtime_specs = new_cfg, specs
            if new_cfg.profile.client_policy is not None:  # V2: the Auth component's new policy
                self.broker.client_policy = new_cfg.profile.client_policy
            if members is not None:
                self._member_ids = members
            self._associated = None   # the new deployment's associations (read from the cloud as it was resolved)
            hosts = self._cert_hosts(group)
            if hosts != self._hosts:
                self._hosts = hosts
                broker_cert = self.group_ca.issue_server(group.core.thing, hosts)
                _load_cert_chain(self._ssl, broker_cert.cert_pem, broker_cert.key_pem)
                disc_cert = self.pki.root.issue_server("localhost", hosts)
                _load_cert_chain(self._disc_ssl, disc_cert.cert_pem, disc_cert.key_pem)
            self.discovery.update_group(self._discovery_group())
            await self._redeploy_connectors(old, group)
            new_routes = set(routes)
            old_things, new_things = set(old.things), set(group.things)
            return {
                "functions": functions.as_dict(),
                "subscriptions": {"added": len(new_routes - old_routes),
                                  "removed": len(old_routes - new_routes), "total": len(routes)},
                "devices": {"added": sorted(new_things - old_things),
                            "removed": sorted(old_things - new_things)},
                "connectivity_changed": old.core.connectivity != group.core.connectivity,
                "connectors_changed": old.connectors != group.connectors,
            }

    async def _redeploy_connectors(self, old: Group, new: Group) -> None:
        """The Docker connector fetches its compose file again on every deployment and brings it up
        (compose itself recreates only changed services); a removed or renamed one is brought down."""
        previous, current = self.docker_app, self._docker_connector(new)
        task, self._connector_task = self._connector_task, None
        if task is not None and not task.done():  # the start-up one: let it finish first (bounded)
            await asyncio.wait({task}, timeout=previous.app.timeout_s if previous else 5.0)
        if previous is not None and (current is None or current.name != previous.name):
            await previous.stop()
        self.docker_app = current
        if current is not None:
            await current.start()

    def add_follower(self, follower: Follower) -> None:
        """Something that applies later deployments (``async stop()``); the core stops it before its
        runtime, so no deployment is applied to a stopping core."""
        self._followers.append(follower)

    async def _unwatch(self) -> None:
        followers, self._followers = self._followers, []
        for follower in reversed(followers):
            await follower.stop()

    def endpoints(self) -> dict:
        return {
            "mqtt_port": self.broker.port, "discovery_port": self.discovery.port,
            "stream_manager_port": self.streams.port if self.streams else None,
            "ipc_port": self.runtime.ipc_port,
        }

    def status(self) -> dict:
        return {
            "lifecycle": self.lifecycle.status(),
            "router": self.router.status(),
            "broker": self.broker.status(),
            "discovery": self.discovery.status(),
            "shadow": self.shadows.status(),
            "shadow_sync": self.shadow_sync.status() if self.shadow_sync is not None else None,
            "shadow_cloud_poll": self.shadow_poller.status() if self.shadow_sync is not None else None,
            "streams": self.streams.status() if self.streams else None,
            "runtime": self.runtime.status(),
            "connectors": self.connectors_status(),
            "deployment": self.deployment.as_dict(),
        }

