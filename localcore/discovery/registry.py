"""What Greengrass discovery checks in the cloud before it answers a device: the certificates registered ACTIVE in
AWS IoT and attached to the thing (``ListThingPrincipals`` + ``DescribeCertificate``), by their AWS certificate id
(hex SHA-256 of the DER, :func:`localcore.pki.certificate_id`; moto's own ``certificateId`` is a hash of the PEM
text, so the id is computed from ``certificatePem``).

A device made the AWS way — ``CreateThing``, ``CreateKeysAndCertificate``, ``AttachThingPrincipal``, then
associated with the core device — has no file under ``certs/``: its certificate is known to the cloud only. The
result plugs into :class:`localcore.broker.auth.CertificateAuthorizer` (``thing → certificate ids``), which the
broker and the discovery server share. Blocking (boto3): call it off the event loop, when the associations or
the deployment change, not per connection.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List

from localcore.pki import certificate_id

log = logging.getLogger(__name__)


def active_certificate_ids(iot: Any, thing: str) -> List[str]:
    """The AWS ids of the ACTIVE certificates attached to ``thing`` (none when the thing does not exist)."""
    from botocore.exceptions import ClientError

    try:
        principals: List[str] = []
        for page in iot.get_paginator("list_thing_principals").paginate(thingName=thing):
            principals += page.get("principals", [])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return []
        raise
    ids = []
    for arn in principals:
        if ":cert/" not in arn:
            continue   # a Cognito identity or another principal kind: not a device certificate
        try:
            cert = iot.describe_certificate(certificateId=arn.rsplit("/", 1)[1])["certificateDescription"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                continue   # detached and deleted meanwhile
            raise
        if cert.get("status") == "ACTIVE" and cert.get("certificatePem"):
            ids.append(certificate_id(cert["certificatePem"]))
        else:
            log.info("certificate %s of %s is %s: not accepted", arn, thing, cert.get("status"))
    return ids


def certificate_members(iot: Any, things: Iterable[str]) -> Dict[str, List[str]]:
    """``thing → ACTIVE certificate ids`` for ``things`` (e.g. the client devices associated with the core)."""
    return {thing: active_certificate_ids(iot, thing) for thing in things}


def associated_client_devices(gg: Any, core_thing: str) -> List[str]:
    """The things associated with the V2 core device ``core_thing`` (``ListClientDevicesAssociatedWithCoreDevice``,
    every page), as AWS discovery checks them; a boto3 ``greengrassv2`` client."""
    things: List[str] = []
    for page in gg.get_paginator("list_client_devices_associated_with_core_device").paginate(
            coreDeviceThingName=core_thing):
        things += [d["thingName"] for d in page.get("associatedClientDevices", [])]
    return things


__all__ = ["active_certificate_ids", "associated_client_devices", "certificate_members"]
