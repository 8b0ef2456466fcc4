import pytest

from localcore.discovery import Connectivity, DiscoveryGroup
from localcore.discovery.errors import DiscoveryConfigError
from localcore.discovery.state import answer

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
GROUP = DiscoveryGroup("g1", "arn:aws:iot:r:1:thing/Core",
                       [Connectivity("a", "127.0.0.1", 8883), Connectivity("b", "core.lan", 8883, "lan")], PEM)


@pytest.mark.parametrize("member,cert_ok,code", [(False, False, 404), (False, True, 404), (True, False, 401),
                                                 (True, True, 200)])
def test_answer(member, cert_ok, code):
    status, body = answer(GROUP, "Dev", member, cert_ok)
    assert status == code and body


@pytest.mark.parametrize("thing", ["", "a.b", "a b", "x" * 129, "thing/other"])
def test_a_name_that_is_no_thing_name_is_400_before_membership(thing):
    status, body = answer(GROUP, thing, True, True)
    assert status == 400 and body["errorCode"] == "InvalidRequestException" and "not valid" in body["errorMessage"]


def test_document_shape():
    doc = answer(GROUP, "Dev", True, True)[1]
    (group,) = doc["GGGroups"]
    assert group["GGGroupId"] == "g1" and group["CAs"] == [PEM]
    assert group["Cores"][0]["Connectivity"][1] == {"Id": "b", "HostAddress": "core.lan", "PortNumber": 8883,
                                                    "Metadata": "lan"}


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(group_id=""), "group_id"),
    (dict(connectivity=[]), "connectivity is empty"),
    (dict(connectivity=[Connectivity("a", "h", 0)]), r"connectivity\[0\].port 0 is not a port"),
    (dict(ca_pem="nope"), "ca_pem"),
])
def test_invalid_group(kwargs, fragment):
    base = dict(group_id="g", core_thing_arn="arn", connectivity=[Connectivity("a", "h", 1)], ca_pem=PEM)
    base.update(kwargs)
    with pytest.raises(DiscoveryConfigError, match=fragment):
        DiscoveryGroup(**base)
