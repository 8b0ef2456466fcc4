"""Local certificate authorities for the local core.

Two CAs, as on AWS:

* the **IoT root CA** (stand-in for Amazon Root CA 1 / the AWS IoT device CA): issues the
  device and core client certificates that are registered in the (local) cloud;
* the **group CA** (what ``list_group_certificate_authorities`` returns and discovery hands
  out in ``CAs``): signs the core's MQTT / discovery server certificate, whose SANs carry
  every advertised host address.

Everything is made with ``cryptography``; keys are EC P-256 (fast to make, accepted by
Python's ssl and by AWS IoT). State is a directory of PEM files so a restart reuses it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = _dt.timedelta(days=3650)
_LEAF_VALIDITY = _dt.timedelta(days=825)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_id(cert_pem: bytes | str) -> str:
    """The AWS IoT certificate id: hex SHA-256 of the certificate's DER bytes."""
    if isinstance(cert_pem, str):
        cert_pem = cert_pem.encode()
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


@dataclass(frozen=True)
class IssuedCert:
    """A leaf certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate_id(self) -> str:
        return certificate_id(self.cert_pem)

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(self.cert_pem)
        _write_private(key_path, self.key_pem)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class CertificateAuthority:
    """A self-signed CA kept as ``<directory>/<stem>.pem`` and ``<stem>.key``."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self.key = key

    @property
    def cert_pem(self) -> bytes:
        return cert_to_pem(self.cert)

    @classmethod
    def create(cls, name: str) -> "CertificateAuthority":
        key = _new_key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gg-group-bundle local"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now())
            .not_valid_after(_now() + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load_or_create(cls, directory: Path, stem: str, name: str) -> "CertificateAuthority":
        directory = Path(directory)
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            return cls(cert, key)  # type: ignore[arg-type]
        ca = cls.create(name)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(ca.cert_pem)
        _write_private(key_path, key_to_pem(ca.key))
        return ca

    def _leaf(self, cn: str, *, client: bool, server: bool, hosts: Iterable[str] = ()) -> IssuedCert:
        key = _new_key()
        usages = []
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now())
            .not_valid_after(_now() + _LEAF_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        sans = _san_entries(hosts)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCert(cert_to_pem(cert), key_to_pem(key))

    def issue_client(self, thing_name: str) -> IssuedCert:
        """A device / core client certificate (CN = thing name)."""
        return self._leaf(thing_name, client=True, server=False)

    def issue_server(self, cn: str, hosts: Iterable[str]) -> IssuedCert:
        """A TLS server certificate valid for every host name and IP in ``hosts``."""
        return self._leaf(cn, client=False, server=True, hosts=hosts)


def _san_entries(hosts: Iterable[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in hosts:
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return entries


def default_hosts(extra: Iterable[str] = ()) -> list[str]:
    """Loopback names every local server certificate carries, plus ``extra``."""
    hosts = ["127.0.0.1", "localhost", "::1"]
    for h in extra:
        if h not in hosts:
            hosts.append(h)
    return hosts


class LocalPKI:
    """The two CAs of the local setup, kept under ``directory``.

    ``root`` stands in for the AWS IoT CA (device certificates chain to it; devices get it as
    ``certs/root-ca.pem``), ``group_ca(group_id)`` is the per-group CA that signs the core's
    server certificate and is handed out by discovery.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.root = CertificateAuthority.load_or_create(self.directory, "iot-root-ca", "Local AWS IoT Root CA")

    def group_ca(self, group_id: str) -> CertificateAuthority:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in group_id)
        return CertificateAuthority.load_or_create(
            self.directory / "groups", f"group-ca-{safe}", f"Greengrass Group CA {group_id}"[:64]
        )
