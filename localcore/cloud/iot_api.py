"""IoT control-plane gaps (SigV4 service ``iot``): a stable ``DescribeEndpoint`` and ``CreateKeysAndCertificate``
issued by the local IoT root CA.

* ``GET /endpoint``: moto invents a new random ``<prefix>-ats.iot.<region>.amazonaws.com`` on every call, and
  that host resolves nowhere. In local mode "the AWS IoT endpoint" is this machine (the local core's broker
  and discovery listen there), so every endpoint type answers with the cloud's advertised host.
* ``POST /keys-and-certificate``: on AWS the certificate comes from an AWS CA that AWS IoT (and Greengrass
  discovery) trusts, so a device made this way connects at once. moto signs it with a key of its own that
  nothing here trusts; the stand-in issues it from the local IoT root CA (``LocalPKI(pki_dir).root``, the
  CA the local core's broker and discovery verify devices against), registers it in moto
  (``RegisterCertificateWithoutCA``, status from ``setAsActive``) and answers in the API's shape. The subject
  is ``CN=AWS IoT Certificate`` as AWS writes it; the key is EC P-256 (the local PKI's; AWS hands out RSA 2048).

Everything else of IoT goes to moto.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from localcore.pki import LocalPKI

from .errors import ApiError, InvalidRequest
from .moto_link import MotoLink
from .routing import Router
from .wire import CloudRequest, CloudResponse, json_response

SERVICE = "iot"
ENDPOINT_TYPES = ("iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs")
CERTIFICATE_SUBJECT = "AWS IoT Certificate"   # the CN of the certificates AWS IoT issues


class IoTApi:
    def __init__(self, advertised_host: str, *, moto: MotoLink | None = None,
                 pki_dir: str | Path | None = None) -> None:
        self.advertised_host = advertised_host
        self._moto = moto
        self._pki_dir = Path(pki_dir) if pki_dir is not None else None
        self._pki: LocalPKI | None = None
        self._pki_lock = threading.Lock()
        self.issued = 0
        self._router = Router()
        self._router.add("GET", r"/endpoint", self._describe_endpoint)
        if moto is not None and self._pki_dir is not None:
            self._router.add("POST", r"/keys-and-certificate", self._create_keys_and_certificate)

    def handle(self, req: CloudRequest) -> CloudResponse | None:
        return self._router.dispatch(req)

    def _describe_endpoint(self, req: CloudRequest) -> CloudResponse:
        kind = req.query.get("endpointType", "iot:Data")
        if kind not in ENDPOINT_TYPES:
            raise InvalidRequest(f"endpointType {kind!r} must be one of {', '.join(ENDPOINT_TYPES)}")
        return json_response({"endpointAddress": self.advertised_host})

    def _root(self) -> Any:
        """The local IoT root CA, loaded (or made) on first use: the core may make it first, in the same folder."""
        with self._pki_lock:
            if self._pki is None:
                assert self._pki_dir is not None
                self._pki = LocalPKI(self._pki_dir)
            return self._pki.root

    def _create_keys_and_certificate(self, req: CloudRequest) -> CloudResponse:
        active = _query_bool(req.query.get("setAsActive"), "setAsActive")
        issued = self._root().issue_client(CERTIFICATE_SUBJECT)
        key = serialization.load_pem_private_key(issued.key_pem, password=None)
        public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        cert_pem = issued.cert_pem.decode()
        assert self._moto is not None
        reply = self._moto.json_request("POST", "/certificate/register-no-ca", req.headers,
                                        {"certificatePem": cert_pem, "status": "ACTIVE" if active else "INACTIVE"})
        if not reply.ok:
            raise ApiError(f"registering the issued certificate failed: {reply.body[:300]!r}",
                           code="InternalFailureException", status=500)
        registered = reply.json()
        self.issued += 1
        return json_response({
            "certificateArn": registered["certificateArn"], "certificateId": registered["certificateId"],
            "certificatePem": cert_pem,
            "keyPair": {"PublicKey": public_pem.decode(), "PrivateKey": issued.key_pem.decode()},
        })


def _query_bool(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequest(f"{name} must be true or false, not {value!r}")
