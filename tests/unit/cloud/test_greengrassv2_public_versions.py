"""A public table with several published versions of a component (the stand-in as a region where AWS has released
newer ones): ListComponentVersions lists them newest first (paged), GetComponent serves each recipe,
ListComponents shows the newest, ResolveComponentCandidates picks the newest within every range."""
from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from group.v2 import catalog
from group.v2.catalog import Dependency
from localcore.cloud.errors import ApiError
from localcore.cloud.greengrassv2_components import public_table
from localcore.cloud.greengrassv2_state import GreengrassV2State

REGION, ACCOUNT = "eu-west-1", "123456789012"
LR = catalog.LAMBDA_RUNTIMES
PINNED = catalog.info(LR)


def arn(name: str, version: str | None = None) -> str:
    base = f"arn:aws:greengrass:{REGION}:aws:components:{name}"
    return f"{base}:versions:{version}" if version else base


@pytest.fixture
def st():
    newer = replace(PINNED, version="2.1.0", dependencies={catalog.NUCLEUS: Dependency(">=2.5.0 <3.0.0", "SOFT")})
    table = public_table(replace(PINNED, version="2.0.9"), PINNED, newer, catalog.info(catalog.NUCLEUS))
    return GreengrassV2State(REGION, ACCOUNT, public_components=table)


def test_every_published_version_is_listed_newest_first_and_paged(st):
    first = st.list_component_versions(arn(LR), 2, None)
    assert [v["componentVersion"] for v in first["componentVersions"]] == ["2.1.0", "2.0.9"]
    rest = st.list_component_versions(arn(LR), 2, first["nextToken"])
    assert [v["componentVersion"] for v in rest["componentVersions"]] == [PINNED.version]
    assert "nextToken" not in rest
    assert rest["componentVersions"][0] == {"componentName": LR, "componentVersion": PINNED.version,
                                            "arn": arn(LR, PINNED.version)}


def test_each_version_has_its_own_recipe_and_the_newest_is_the_latest(st):
    doc = json.loads(base64.b64decode(st.get_component(arn(LR, "2.1.0"), "JSON")["recipe"]))
    assert doc["ComponentVersion"] == "2.1.0"
    assert doc["ComponentDependencies"] == {catalog.NUCLEUS: {"VersionRequirement": ">=2.5.0 <3.0.0",
                                                              "DependencyType": "SOFT"}}
    pinned = json.loads(base64.b64decode(st.get_component(arn(LR, PINNED.version), "JSON")["recipe"]))
    assert pinned["ComponentDependencies"] == {}
    latest = {c["componentName"]: c["latestVersion"]["componentVersion"]
              for c in st.list_components("PUBLIC", None, None)["components"]}
    assert latest == {LR: "2.1.0", catalog.NUCLEUS: catalog.version(catalog.NUCLEUS)}
    with pytest.raises(ApiError) as e:
        st.get_component(arn(LR, "2.0.1"), "JSON")
    assert e.value.code == "ResourceNotFoundException"
    assert st.resolves(LR, "2.0.9") and not st.resolves(LR, "2.0.1")


def test_resolve_picks_the_newest_published_version_within_every_range(st):
    got = st.resolve_candidates([{"componentName": LR, "versionRequirements": {"a": ">=2.0.0 <2.1.0"}}])
    assert got["resolvedComponentVersions"][0]["componentVersion"] == "2.0.9"
    got = st.resolve_candidates([{"componentName": LR, "versionRequirements": {"a": "^2.0.0"}}])
    assert got["resolvedComponentVersions"][0]["componentVersion"] == "2.1.0"


def test_a_table_with_more_than_the_catalog_does_not_add_the_emulated_components(st):
    assert "aws.greengrass.Cli" not in st.public_components()
    assert "aws.greengrass.Cli" in GreengrassV2State(REGION, ACCOUNT).public_components()


@pytest.mark.parametrize("entries,what", [
    ((PINNED, PINNED), "given twice"),
    ((replace(PINNED, version="2.0"),), "not a semantic version"),
])
def test_a_bad_public_table_says_what_is_wrong(entries, what):
    with pytest.raises(ValueError, match=what):
        public_table(*entries)
