"""The public components the local core emulates beside the deploy catalog (SecretManager, Cli): listed, their
versions listed and described, resolved — by the stand-in serving the whole catalog (its default); a state given its
own table serves exactly that table."""
from __future__ import annotations

import base64
import json

import pytest

from group.v2 import catalog
from localcore.cloud.errors import ApiError
from localcore.cloud.greengrassv2_components import EMULATED_PUBLIC_COMPONENTS
from localcore.cloud.greengrassv2_state import GreengrassV2State

REGION, ACCOUNT = "us-east-1", "123456789012"


def public_arn(name: str) -> str:
    return f"arn:aws:greengrass:{REGION}:aws:components:{name}"


def test_the_default_stand_in_lists_the_emulated_public_components_beside_the_catalog():
    st = GreengrassV2State(REGION, ACCOUNT)
    names = {c["componentName"] for c in st.list_components("PUBLIC", None, None)["components"]}
    assert names == set(catalog.PUBLIC_COMPONENTS) | {"aws.greengrass.SecretManager", "aws.greengrass.Cli"}
    for name, info in EMULATED_PUBLIC_COMPONENTS.items():
        (v,) = st.list_component_versions(public_arn(name), None, None)["componentVersions"]
        assert v["componentVersion"] == info.version and v["arn"] == f"{public_arn(name)}:versions:{info.version}"
        assert st.describe_component(v["arn"])["publisher"] == "AWS"
        recipe = json.loads(base64.b64decode(st.get_component(v["arn"], "JSON")["recipe"]))
        assert recipe["ComponentType"] == "aws.greengrass.plugin"
        assert st.resolves(name, info.version) and not st.resolves(name, "0.0.1")
    got = st.resolve_candidates([{"componentName": "aws.greengrass.SecretManager",
                                  "versionRequirements": {"com.example.App": "^2.1.0"}}])
    assert got["resolvedComponentVersions"][0]["componentVersion"] == "2.2.6"


def test_a_state_with_its_own_table_serves_exactly_that_table():
    own = {catalog.NUCLEUS: catalog.info(catalog.NUCLEUS)}
    st = GreengrassV2State(REGION, ACCOUNT, public_components=own)
    assert [c["componentName"] for c in st.list_components("PUBLIC", None, None)["components"]] == [catalog.NUCLEUS]
    with pytest.raises(ApiError) as e:
        st.list_component_versions(public_arn("aws.greengrass.Cli"), None, None)
    assert e.value.code == "ResourceNotFoundException"
