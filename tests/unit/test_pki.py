import ssl
import socket
import threading

from cryptography import x509

from localcore.pki import LocalPKI, certificate_id, common_name


def test_client_cert_chains_to_root_and_server_cert_has_sans(tmp_path):
    pki = LocalPKI(tmp_path / "ca")
    dev = pki.root.issue_client("GG_TrafficLight")
    cert = x509.load_pem_x509_certificate(dev.cert_pem)
    assert common_name(cert) == "GG_TrafficLight"
    assert cert.issuer == pki.root.cert.subject
    assert len(certificate_id(dev.cert_pem)) == 64

    gca = pki.group_ca("group-1")
    srv = gca.issue_server("core", ["127.0.0.1", "localhost", "core.example"])
    san = x509.load_pem_x509_certificate(srv.cert_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "core.example" in san.get_values_for_type(x509.DNSName)
    # reload keeps the same CA
    assert LocalPKI(tmp_path / "ca").root.cert_pem == pki.root.cert_pem
    assert pki.group_ca("group-1").cert_pem == gca.cert_pem


def test_real_mutual_tls_handshake(tmp_path):
    pki = LocalPKI(tmp_path)
    gca = pki.group_ca("g")
    srv = gca.issue_server("core", ["127.0.0.1"])
    dev = pki.root.issue_client("dev1")
    for name, data in {"srv.pem": srv.cert_pem, "srv.key": srv.key_pem, "dev.pem": dev.cert_pem,
                       "dev.key": dev.key_pem, "root.pem": pki.root.cert_pem, "gca.pem": gca.cert_pem}.items():
        (tmp_path / name).write_bytes(data)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(tmp_path / "srv.pem", tmp_path / "srv.key")
    sctx.load_verify_locations(tmp_path / "root.pem")
    sctx.verify_mode = ssl.CERT_REQUIRED
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    seen = {}

    def serve():
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            seen["peer"] = tls.getpeercert()
            tls.sendall(b"ok")

    t = threading.Thread(target=serve)
    t.start()
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(tmp_path / "gca.pem")
    cctx.load_cert_chain(tmp_path / "dev.pem", tmp_path / "dev.key")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with cctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(2) == b"ok"
    t.join(5)
    lsock.close()
    assert dict(x[0] for x in seen["peer"]["subject"])["commonName"] == "dev1"
