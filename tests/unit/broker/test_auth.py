from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from localcore.broker.auth import CertificateAuthorizer
from localcore.pki import CertificateAuthority, certificate_id


def _der(issued):
    return x509.load_pem_x509_certificate(issued.cert_pem).public_bytes(Encoding.DER)


def test_certificate_ids_and_cn_fallback():
    ca = CertificateAuthority.create("root")
    a, b, a2 = ca.issue_client("A"), ca.issue_client("B"), ca.issue_client("A")
    members = {"A": {certificate_id(a.cert_pem)}, "B": set()}
    auth = CertificateAuthorizer(lambda: members)
    assert auth("A", _der(a))
    assert not auth("A", _der(a2))          # same CN, but not the registered certificate
    assert not auth("A", _der(b))
    assert auth("B", _der(b))               # no ids registered: CN must equal the thing
    assert not auth("B", _der(a))
    assert not auth("C", _der(a)) and not auth.is_member("C")
    members["C"] = set()                    # the callable is read on every call (redeploy)
    assert auth.is_member("C")


def test_plain_collection_of_things_uses_cn():
    ca = CertificateAuthority.create("root")
    a = ca.issue_client("A")
    auth = CertificateAuthorizer({"A", "GG_Core"})
    assert auth("A", _der(a)) and not auth("GG_Core", _der(a)) and auth.is_member("GG_Core")
