"""TLS server contexts for the core's mutual-TLS services (MQTT broker, discovery)."""
from __future__ import annotations

import os
import ssl
import tempfile


def server_ssl_context(cert_pem: bytes, key_pem: bytes, client_ca_pem: bytes) -> ssl.SSLContext:
    """A server context presenting ``cert_pem`` that requires a client certificate chaining to
    ``client_ca_pem`` (the local IoT root CA). TLS 1.2 or newer."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
    # load_cert_chain reads files only; a private temporary directory is removed right away.
    with tempfile.TemporaryDirectory(prefix="localcore-tls-") as tmp:
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as fh:
            fh.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx
