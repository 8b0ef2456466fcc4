"""Ready-made ``authorize(thing, cert_der) -> bool`` callables for the broker and discovery.

The TLS layer already guarantees the certificate chains to the local IoT root CA; these decide
whether that certificate belongs to ``thing`` and whether ``thing`` may use the core.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Callable, Collection, Union

from cryptography import x509
from cryptography.x509.oid import NameOID

Authorize = Callable[[str, bytes], bool]
Members = Union[Mapping[str, Collection[str]], Collection[str],
                Callable[[], Union[Mapping[str, Collection[str]], Collection[str]]]]


def certificate_id_of(cert_der: bytes) -> str:
    """AWS IoT certificate id: hex SHA-256 of the DER certificate."""
    return hashlib.sha256(cert_der).hexdigest()


def common_name_of(cert_der: bytes) -> str:
    cert = x509.load_der_x509_certificate(cert_der)
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


class CertificateAuthorizer:
    """Authorizes a thing when it is a member and the certificate is attached to it.

    ``members`` maps thing name → certificate ids attached to it (``pki.certificate_id``), or is
    a plain collection of thing names, or a zero-argument callable returning either (read on
    every connection, so a redeploy or a certificate change takes effect for the next
    connection; keep it cheap, it runs on the event loop). A thing without certificate ids is
    matched by the certificate's CN instead.
    """

    def __init__(self, members: Members) -> None:
        self._members = members

    def _current(self) -> Mapping[str, Collection[str]]:
        members = self._members() if callable(self._members) else self._members
        if isinstance(members, Mapping):
            return members
        return dict.fromkeys(members, ())

    def __call__(self, thing: str, cert_der: bytes) -> bool:
        members = self._current()
        if thing not in members:
            return False
        ids = members[thing]
        if ids:
            return certificate_id_of(cert_der) in ids
        return common_name_of(cert_der) == thing

    def is_member(self, thing: str) -> bool:
        return thing in self._current()
