"""The client device auth operations (aws.greengrass.clientdevices.Auth) over the local PKI, the certificate
authorizer and the Auth policy engine, from components using the unmodified awsiotsdk clients (V1 and V2)."""
from __future__ import annotations

import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from localcore.pki import CertificateAuthority

from tests.functional.nucleus_ipc.plugin_kit import plugin_core

AUTH = "aws.greengrass.clientdevices.Auth"
ME = "com.example.Broker"
POLICY = {"accessControl": {AUTH: {"all": {
    "operations": ["aws.greengrass#VerifyClientDeviceIdentity", "aws.greengrass#GetClientDeviceAuthToken",
                   "aws.greengrass#AuthorizeClientDeviceAction", "aws.greengrass#SubscribeToCertificateUpdates"],
    "resources": ["*"]}}}}
DEVICE_GROUPS = {"deviceGroups": {
    "formatVersion": "2021-03-05",
    "definitions": {"sensors": {"selectionRule": "thingName: Sensor", "policyName": "sensorPolicy"}},
    "policies": {"sensorPolicy": {
        "connect": {"operations": ["mqtt:connect"], "resources": ["mqtt:clientId:*"]},
        "publish": {"operations": ["mqtt:publish"],
                    "resources": ["mqtt:topic:sensors/${iot:Connection.Thing.ThingName}/*"]}}}}}

CALLER = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import (CertificateOptions, ClientDeviceCredential, CredentialDocument,
                                            MQTTCredential, VerifyClientDeviceIdentityRequest)
pems = json.loads(sys.stdin.readline())
ipc = GreengrassCoreIPCClientV2()
def err(call):
    try:
        return call()
    except Exception as e:
        return [type(e).__name__, e.message]
verify = lambda pem: ipc.verify_client_device_identity(
    credential=ClientDeviceCredential(client_device_certificate=pem)).is_valid_client_device
token = lambda client_id, pem: ipc.get_client_device_auth_token(credential=CredentialDocument(
    mqtt_credential=MQTTCredential(client_id=client_id, certificate_pem=pem))).client_device_auth_token
allow = lambda tok, op, res: ipc.authorize_client_device_action(
    client_device_auth_token=tok, operation=op, resource=res).is_authorized
out = {}
bare = "".join(l for l in pems["sensor"].splitlines() if not l.startswith("-----"))
out["verify"] = [verify(pems["sensor"]), verify(bare), verify(pems["foreign"]), verify(pems["expired"])]
out["verify_empty"] = err(lambda: verify(""))
tok = token("Sensor", pems["sensor"])
out["allow"] = [allow(tok, "mqtt:publish", "mqtt:topic:sensors/Sensor/temp"),
                allow(tok, "mqtt:publish", "mqtt:topic:sensors/Other/temp"),
                allow(tok, "mqtt:connect", "mqtt:clientId:Sensor"),
                allow(tok, "mqtt:subscribe", "mqtt:topicfilter:sensors/#"),
                allow(tok, "mqtt:publish", "nope")]
out["services_differ"] = err(lambda: allow(tok, "mqtt:publish", "iot:topic:x"))
out["wrong_thing"] = err(lambda: token("Other", pems["sensor"]))
out["foreign"] = err(lambda: token("Sensor", pems["foreign"]))
out["no_credential"] = err(lambda: ipc.get_client_device_auth_token(credential=CredentialDocument()))
out["unknown_token"] = err(lambda: allow("not-a-token", "mqtt:publish", "mqtt:topic:a"))
out["no_operation"] = err(lambda: allow(tok, "", "mqtt:topic:a"))
got = []
ipc.subscribe_to_certificate_updates(certificate_options=CertificateOptions(certificate_type="SERVER"),
                                     on_stream_event=lambda e: got.append(e.certificate_update))
out["no_options"] = err(lambda: ipc.subscribe_to_certificate_updates(certificate_options=CertificateOptions()))
wait_for(lambda: got, 10)
update = got[0]
out["update"] = {"certificate": update.certificate, "private_key": update.private_key,
                 "public_key": update.public_key, "cas": update.ca_certificates}
out["component_verify"] = verify(update.certificate)
component_token = token("anything", update.certificate)
out["component_allow"] = allow(component_token, "mqtt:publish", "mqtt:topic:anywhere")
v1 = gg.connect()
op = v1.new_verify_client_device_identity()
op.activate(VerifyClientDeviceIdentityRequest(credential=ClientDeviceCredential(client_device_certificate=pems["other"])))
out["v1_verify"] = op.get_response().result(10).is_valid_client_device
report(**out)
"""

REFUSED = """
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ClientDeviceCredential
try:
    GreengrassCoreIPCClientV2().verify_client_device_identity(credential=ClientDeviceCredential(
        client_device_certificate="x"))
except Exception as e:
    report(error=[type(e).__name__, e.message])
"""


def expired_certificate(ca: CertificateAuthority) -> str:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sensor")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=10)).not_valid_after(now - dt.timedelta(days=1))
            .sign(ca.key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def test_client_device_auth_operations(tmp_path):
    from localcore.pki import LocalPKI

    pki = LocalPKI(tmp_path / "ca")          # the same folder the kit's PKI uses: the same CAs
    sensor, other = pki.root.issue_client("Sensor"), pki.root.issue_client("Other")
    members = {"Sensor": [sensor.certificate_id], "Other": [other.certificate_id]}
    async with plugin_core(tmp_path, members=members) as core:
        await core.configure({ME: POLICY, "com.example.Nobody": {}, AUTH: DEVICE_GROUPS})
        pems = {"sensor": sensor.cert_pem.decode(), "other": other.cert_pem.decode(),
                "foreign": CertificateAuthority.create("Foreign CA").issue_client("Sensor").cert_pem.decode(),
                "expired": expired_certificate(pki.root)}
        caller = await core.start(ME, CALLER)
        await caller.send(json.dumps(pems))
        out = (await caller.finish())[0]
        bad = "InvalidArgumentsError"
        assert out["verify"] == [True, True, False, False]
        assert out["verify_empty"] == [bad, "Client device certificate is required"]
        assert out["allow"] == [True, False, True, False, False]
        assert out["services_differ"] == ["ServiceError", "Authorizing client device action failed. Check Greengrass "
                                                          "log for details."]
        credential_error = ["InvalidCredentialError", "Unable to authenticate the client device with the given "
                                                      "credentials. Check Greengrass log for details."]
        assert out["wrong_thing"] == out["foreign"] == credential_error
        assert out["no_credential"] == [bad, "Invalid client device credentials"]
        assert out["unknown_token"] == ["InvalidClientDeviceAuthTokenError", "Unable to find a valid session with the "
                                        "given auth token. Check Greengrass log for details."]
        assert out["no_operation"] == [bad, "Operation is required"]
        assert out["no_options"] == [bad, "Valid certificate type is required."]
        # the server certificate: signed by the core's CA for the core's hosts, with its own key pair
        update = out["update"]
        cert = x509.load_pem_x509_certificate(update["certificate"].encode())
        cert.verify_directly_issued_by(core.group_ca.cert)
        assert update["cas"] == [core.group_ca.cert_pem.decode()]
        key = serialization.load_pem_private_key(update["private_key"].encode(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert public.decode() == update["public_key"] == cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        assert out["component_verify"] is True and out["component_allow"] is True
        assert out["v1_verify"] is True
        status = core.ipc.status()["client_devices"]
        assert status["counts"]["sessions_created"] == 2 and status["counts"]["sessions_refused"] == 2
        assert status["policy"]["decisions"]["publish"] == {"allowed": 1, "refused": 1}

        assert await core.run("com.example.Nobody", REFUSED) == [{"error": [
            "UnauthorizedError", "Principal com.example.Nobody is not authorized to perform "
            "aws.greengrass.clientdevices.Auth:aws.greengrass#VerifyClientDeviceIdentity on resource *"]}]
        await core.configure({"com.example.Nobody": {}})             # the Auth component removed
        assert await core.run("com.example.Nobody", REFUSED) == [{"error": [
            "ServiceError", "Operation aws.greengrass#VerifyClientDeviceIdentity is not supported by Greengrass"]}]
