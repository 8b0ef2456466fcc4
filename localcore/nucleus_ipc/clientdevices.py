"""The client device auth component's IPC operations (``aws.greengrass.clientdevices.Auth``):
``VerifyClientDeviceIdentity``, ``GetClientDeviceAuthToken``, ``AuthorizeClientDeviceAction`` and
``SubscribeToCertificateUpdates``, over the core's local PKI and its Auth policy engine
(:class:`localcore.clientauth.DeviceGroupsPolicy`, the one the broker asks).

Follows aws-greengrass/aws-greengrass-client-device-auth (``ipc/*OperationHandler``, ``api/ClientDevicesAuthServiceApi``,
``DeviceAuthClient``, ``session/MqttSessionFactory``, ``iot/usecases/CreateIoTThingSession``):

* served only while ``aws.greengrass.clientdevices.Auth`` is deployed (otherwise ``Operation … is not supported
  by Greengrass``); each operation is authorized first, service ``aws.greengrass.clientdevices.Auth``, resource
  ``*`` (the refusal is the nucleus' ``Principal … on resource *``);
* a certificate may come without its PEM header (``IPCUtils.reEncodeCertToPem``);
* **identity**: a certificate the core's CA issued (a Greengrass component, e.g. a broker that got its certificate
  from ``SubscribeToCertificateUpdates``) is valid; a device certificate is valid when the IoT CA issued it (on
  AWS: registered and ACTIVE in IoT Core; here: issued by the local IoT root CA, which is what ``deploy`` registers)
  and it is within its validity period;
* **auth token**: ``mqttCredential`` is required (``Invalid client device credentials``); a component's
  certificate gets a session allowed everything; otherwise ``clientId`` is the thing name, and the certificate
  must be a valid device certificate attached to that thing (the core's certificate authorizer, as the broker
  asks at CONNECT) — else ``InvalidCredentialError``. Tokens are random UUIDs; at most
  ``MAX_SESSIONS`` live (the oldest is dropped, as the component's ``maxActiveAuthTokens``);
* **authorize**: token, operation and resource are required (``Auth token is required``, ``Operation is
  required``, ``Resource is required``); an unknown token is ``InvalidClientDeviceAuthTokenError``; a component
  session is allowed; a thing's request is the Auth policy's decision (deviceGroups of the component's
  configuration); a malformed operation or resource is not allowed; an operation whose service differs from the
  resource's is a ``ServiceError``;
* **certificate updates** (``certificateType`` ``SERVER``): after the response, one event with a new key pair and a
  server certificate the core's CA signs for the core's host addresses (``privateKey`` PKCS#8 PEM, ``publicKey``,
  ``certificate``, ``caCertificates`` = the core's CA). Not done: rotation (no later events).
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import re
import threading
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from localcore.clientauth import AuthConfigError, policy_from_config

from .authorization import CLIENT_DEVICES_AUTH, CLIENT_DEVICES_OPERATIONS
from .errors import InvalidArgumentsError, IpcError, ServiceError
from .service import Call, IpcService

log = logging.getLogger(__name__)

COMPONENT = CLIENT_DEVICES_AUTH
OPERATIONS = CLIENT_DEVICES_OPERATIONS
MAX_SESSIONS = 2500
MAX_THING_NAME = 128
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_OPERATION = re.compile(r"^([A-Za-z]+):([A-Za-z*]+)$")
_RESOURCE = re.compile(r"^([A-Za-z]+):([A-Za-z]+):([\w -/:-@\[-`{-~]+)$")


class InvalidCredentialError(IpcError):
    name = "InvalidCredentialError"


class InvalidClientDeviceAuthTokenError(IpcError):
    name = "InvalidClientDeviceAuthTokenError"


@dataclass(frozen=True)
class ClientDeviceTrust:
    """What the core trusts: ``device_ca_pem`` issues device certificates (the local IoT root CA);
    ``core_ca`` (a :class:`localcore.pki.CertificateAuthority`) issues the core's and components' certificates;
    ``identity(thing, certificate DER)`` says whether a certificate is attached to a thing (the broker's
    ``CertificateAuthorizer``); ``hosts``/``server_name``: what server certificates are issued for."""

    device_ca_pem: bytes
    core_ca: Any
    identity: Callable[[str, bytes], bool]
    hosts: Sequence[str] = ("127.0.0.1", "localhost")
    server_name: str = "localhost"


# ------------------------------------------------------------------------------------------ certificates (pure)
def re_encode_pem(text: str) -> str:
    """A certificate given without its PEM header gets one (``IPCUtils.reEncodeCertToPem``)."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return stripped + "\n"
    body = "".join(stripped.split())
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([_PEM_BEGIN, *lines, _PEM_END]) + "\n"


def load_certificate(text: str) -> Optional[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificate(re_encode_pem(text).encode())
    except ValueError:
        return None


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """``cert`` carries ``ca``'s signature (and names it as issuer)."""
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def within_validity(cert: x509.Certificate, now: Optional[_dt.datetime] = None) -> bool:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def well_formed_action(operation: str, resource: str) -> Optional[bool]:
    """None when the operation or resource is malformed (not allowed); False when their services differ; True."""
    op, res = _OPERATION.match(operation), _RESOURCE.match(resource)
    if op is None or res is None:
        return None
    return op.group(1) == res.group(1)


@dataclass(frozen=True)
class Session:
    thing: Optional[str]           # None: a Greengrass component (allowed every action)


class ClientDeviceOperations:
    """:param access: the core's ``AccessControl``; :param trust: see :class:`ClientDeviceTrust`."""

    def __init__(self, access: Any, trust: ClientDeviceTrust, *, max_sessions: int = MAX_SESSIONS) -> None:
        self.access = access
        self.trust = trust
        self.policy: Any = None
        self.deployed = False
        self.max_sessions = max_sessions
        self._device_ca = x509.load_pem_x509_certificate(trust.device_ca_pem)
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._cert_subscribers = 0
        self.counts: Counter[str] = Counter()

    # -- deployment ---------------------------------------------------------------------------
    def configure(self, service: IpcService, configuration: Optional[Mapping[str, Any]]) -> None:
        """The Auth component's configuration after a deployment (None: not deployed)."""
        if configuration is None:
            if self.deployed:
                for op in OPERATIONS:
                    service.unwire(op)
                self.deployed = False
                self.policy = None
                with self._lock:
                    self._sessions.clear()
            return
        try:
            if self.policy is None:
                self.policy = policy_from_config(dict(configuration))
            else:
                self.policy.update(dict(configuration))
        except AuthConfigError as e:   # the component keeps its last good device groups
            log.warning("%s: configuration refused (%s); %s", COMPONENT, e,
                        "the previous device groups stay" if self.policy is not None else "no device is authorized")
        if not self.deployed:
            service.wire("VerifyClientDeviceIdentity", self.verify_client_device_identity)
            service.wire("GetClientDeviceAuthToken", self.get_client_device_auth_token)
            service.wire("AuthorizeClientDeviceAction", self.authorize_client_device_action)
            service.wire("SubscribeToCertificateUpdates", self.subscribe_to_certificate_updates)
            self.deployed = True

    def _authorize(self, call: Call) -> None:
        self.access.check(call.component, call.operation.name, "*")

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    # -- identity -----------------------------------------------------------------------------
    def is_component_certificate(self, cert: x509.Certificate) -> bool:
        return issued_by(cert, self.trust.core_ca.cert) and within_validity(cert)

    def is_device_certificate(self, cert: x509.Certificate) -> bool:
        return issued_by(cert, self._device_ca) and within_validity(cert)

    def verify_client_device_identity(self, call: Call, body: dict) -> None:
        self._authorize(call)
        credential = body.get("credential")
        if not isinstance(credential, dict):
            raise InvalidArgumentsError("Client device credential is required")
        pem = credential.get("clientDeviceCertificate")
        if not pem or not isinstance(pem, str):
            raise InvalidArgumentsError("Client device certificate is required")
        cert = load_certificate(pem)
        valid = cert is not None and (self.is_component_certificate(cert) or self.is_device_certificate(cert))
        self._count("verified" if valid else "not_verified")
        call.respond({"isValidClientDevice": valid})

    def get_client_device_auth_token(self, call: Call, body: dict) -> None:
        self._authorize(call)
        credential = body.get("credential")
        mqtt = credential.get("mqttCredential") if isinstance(credential, dict) else None
        if not isinstance(mqtt, dict):
            raise InvalidArgumentsError("Invalid client device credentials")
        session = self._session_for(mqtt.get("clientId"), mqtt.get("certificatePem"))
        token = str(uuid.uuid4())
        with self._lock:
            self._sessions[token] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            self.counts["sessions_created"] += 1
        call.respond({"clientDeviceAuthToken": token})

    def _session_for(self, client_id: Any, pem: Any) -> Session:
        cert = load_certificate(pem) if isinstance(pem, str) and pem else None
        reason = None
        if cert is not None and self.is_component_certificate(cert):
            return Session(None)
        if not isinstance(client_id, str) or not client_id:
            reason = "no clientId (the thing name)"
        elif len(client_id) > MAX_THING_NAME:
            reason = "Thing name is too long"
        elif cert is None:
            reason = "the certificate is missing or is not PEM"
        elif not self.is_device_certificate(cert):
            reason = "Certificate is not trusted (not issued by the IoT CA, or outside its validity period)"
        elif not self.trust.identity(client_id, cert.public_bytes(serialization.Encoding.DER)):
            reason = "Failed to verify certificate attached to thing"
        if reason is not None:
            self._count("sessions_refused")
            log.info("%s: client device %r not authenticated: %s", COMPONENT, client_id, reason)
            raise InvalidCredentialError("Unable to authenticate the client device with the given credentials. "
                                         "Check Greengrass log for details.")
        return Session(client_id)

    # -- authorization ------------------------------------------------------------------------
    def authorize_client_device_action(self, call: Call, body: dict) -> None:
        self._authorize(call)
        token, operation, res = body.get("clientDeviceAuthToken"), body.get("operation"), body.get("resource")
        if not token:
            raise InvalidArgumentsError("Auth token is required")
        if not operation:
            raise InvalidArgumentsError("Operation is required")
        if not res:
            raise InvalidArgumentsError("Resource is required")
        with self._lock:
            session = self._sessions.get(token) if isinstance(token, str) else None
            if session is not None:
                self._sessions.move_to_end(token)
        if session is None:
            raise InvalidClientDeviceAuthTokenError("Unable to find a valid session with the given auth token. "
                                                    "Check Greengrass log for details.")
        if session.thing is None:
            allowed = True
        else:
            shape = well_formed_action(str(operation), str(res))
            if shape is False:
                log.warning("%s: operation %s and resource %s name different services", COMPONENT, operation, res)
                raise ServiceError("Authorizing client device action failed. Check Greengrass log for details.")
            allowed = bool(shape) and self.policy is not None and self.policy.decide(session.thing, operation, res)
        self._count("allowed" if allowed else "refused")
        call.respond({"isAuthorized": allowed})

    # -- certificates -------------------------------------------------------------------------
    async def subscribe_to_certificate_updates(self, call: Call, body: dict) -> None:
        self._authorize(call)
        options = body.get("certificateOptions")
        if not isinstance(options, dict):
            raise InvalidArgumentsError("Certificate options are required.")
        kind = options.get("certificateType")
        if not kind:
            raise InvalidArgumentsError("Valid certificate type is required.")
        if kind != "SERVER":
            raise InvalidArgumentsError(f"Valid certificate type is required. (only SERVER, got {kind!r})")
        update = await asyncio.to_thread(self.server_certificate)
        with self._lock:
            self._cert_subscribers += 1

        def closed() -> None:
            with self._lock:
                self._cert_subscribers -= 1

        call.on_close(closed)
        call.respond({})
        call.event({"certificateUpdate": update})   # the first event only once the response is out
        self._count("server_certificates")

    def server_certificate(self) -> dict:
        """A new key pair and server certificate from the core's CA (the ``certificateUpdate`` of an event)."""
        issued = self.trust.core_ca.issue_server(self.trust.server_name, list(self.trust.hosts))
        key = serialization.load_pem_private_key(issued.key_pem, password=None)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"privateKey": private.decode(), "publicKey": public.decode(), "certificate": issued.cert_pem.decode(),
                "caCertificates": [self.trust.core_ca.cert_pem.decode()]}

    def status(self) -> dict:
        with self._lock:
            counts = dict(self.counts)
            sessions, subscribers = len(self._sessions), self._cert_subscribers
        return {"deployed": self.deployed, "sessions": sessions, "certificate_subscribers": subscribers,
                "counts": counts, "policy": self.policy.status() if self.policy is not None else None}
