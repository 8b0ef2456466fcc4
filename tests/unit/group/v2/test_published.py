"""The catalog against hand-made published tables (group/v2/published.py): what is an error, a warning, an info line,
and which public components a plan needs checked. Pure: no cloud."""
from __future__ import annotations

import pytest

from group.v2 import catalog, published
from group.v2.catalog import Dependency, PublicComponentInfo
from group.v2.convert import convert
from group.v2.published import Published, compare

from .conftest import ACCOUNT, REGION, REPO, make_group

NUC, LM, LL, LR = catalog.NUCLEUS, catalog.LAMBDA_MANAGER, catalog.LAMBDA_LAUNCHER, catalog.LAMBDA_RUNTIMES
TABLE = {
    NUC: PublicComponentInfo(NUC, "2.16.1", catalog.NUCLEUS_TYPE),
    LM: PublicComponentInfo(LM, "2.3.7", catalog.PLUGIN, {NUC: Dependency(">=2.0.0 <2.17.0", "SOFT")}),
    LL: PublicComponentInfo(LL, "2.0.13", catalog.GENERIC, {LM: Dependency(">=2.0.0 <2.4.0", "HARD")}),
    LR: PublicComponentInfo(LR, "2.0.8", catalog.GENERIC),
}


def recipe_of(info: PublicComponentInfo, **changes) -> dict:
    """A published recipe as GetComponent gives it (JSON, the reference's key spellings) for ``info``."""
    doc = {"RecipeFormatVersion": "2020-01-25", "ComponentName": info.name, "ComponentVersion": info.version,
           "ComponentType": info.component_type, "ComponentPublisher": "AWS",
           "ComponentDependencies": {n: d.recipe() for n, d in info.dependencies.items()},
           "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {}}]}
    doc.update(changes)
    return doc


def as_published(table=TABLE, extra_versions=None, **recipes) -> dict:
    """What a cloud serving exactly ``table`` publishes, plus ``extra_versions`` (name → versions) and recipes
    replaced by name (``recipes[short name]``)."""
    out = {}
    for name, info in table.items():
        versions = [info.version] + list((extra_versions or {}).get(name, ()))
        out[name] = Published(name, tuple(sorted(versions, key=lambda v: tuple(map(int, v.split("."))),
                                                 reverse=True)), recipe_of(info))
    for short, doc in recipes.items():
        name = next(n for n in table if n.endswith("." + short))
        out[name] = Published(name, out[name].versions, doc)
    return out


def lines(findings):
    return [(f.severity, f.component) for f in findings]


def test_a_cloud_serving_exactly_the_catalog_gives_no_finding():
    assert compare(TABLE, as_published(), REGION) == []
    assert compare(catalog.PUBLIC_COMPONENTS, as_published(catalog.PUBLIC_COMPONENTS), "eu-west-1") == []
    s = published.summary([], 4, REGION)
    assert s.severity == "info" and "4 public components" in s.message and REGION in s.message


def test_a_pinned_version_not_published_is_an_error_naming_component_version_region_and_the_fix():
    pub = as_published()
    pub[LR] = Published(LR, ("2.0.9", "2.0.7"))
    f, newer = compare(TABLE, pub, "ap-south-1")
    assert (f.severity, f.component) == ("error", LR) and (newer.severity, newer.component) == ("info", LR)
    assert "2.0.9 is published in ap-south-1" in newer.message
    assert f"{LR} 2.0.8" in f.message and "ap-south-1" in f.message and "2.0.9, 2.0.7" in f.message
    assert "group/v2/catalog.py" in f.fix
    issue = f.to_issue()
    assert (issue.file, issue.severity) == ("group/v2/catalog.py", "error")


def test_a_component_not_published_in_the_region_at_all_is_an_error():
    pub = as_published()
    pub[LL] = Published(LL, ())
    (f,) = compare(TABLE, pub, "il-central-1")
    assert f.severity == "error" and "not published in il-central-1" in f.message and "2.0.13" in f.message


@pytest.mark.parametrize("deps,expected", [
    ({NUC: {"VersionRequirement": ">=2.0.0 <2.18.0", "DependencyType": "SOFT"}},
     f"{NUC} >=2.0.0 <2.18.0 (catalog: >=2.0.0 <2.17.0)"),
    ({}, f"no {NUC} (catalog: >=2.0.0 <2.17.0)"),
    ({NUC: {"VersionRequirement": ">=2.0.0 <2.17.0", "DependencyType": "SOFT"},
      "aws.greengrass.TokenExchangeService": {"VersionRequirement": "^2.0.0"}},
     "aws.greengrass.TokenExchangeService ^2.0.0 (not in the catalog)"),
])
def test_dependency_ranges_that_differ_from_the_catalog_are_an_error(deps, expected):
    pub = as_published(LambdaManager=recipe_of(TABLE[LM], ComponentDependencies=deps))
    (f,) = compare(TABLE, pub, REGION)
    assert (f.severity, f.component) == ("error", LM)
    assert expected in f.message and "2.3.7" in f.message and REGION in f.message
    assert "resolve" in f.message


def test_the_same_range_spelled_otherwise_and_keys_in_any_case_are_no_difference():
    doc = {"componentdependencies": {NUC: {"versionrequirement": ">=2.0.0  <2.17.0", "dependencytype": "soft"}},
           "componenttype": catalog.PLUGIN}
    assert compare(TABLE, as_published(LambdaManager=doc), REGION) == []
    caret = {LM: {"VersionRequirement": ">=2.0.0 <3.0.0"}}
    info = PublicComponentInfo("x.Y", "1.0.0", catalog.GENERIC, {LM: Dependency("^2.0.0")})
    table = {**TABLE, "x.Y": info}
    assert compare(table, as_published(table, Y=recipe_of(info, ComponentDependencies=caret)), REGION) == []
    assert published.same_range("^2.0.0", ">=2.0.0 <3.0.0") and not published.same_range("^2.0.0", "~2.0.0")


def test_only_another_dependency_type_or_component_type_is_a_warning():
    deps = {NUC: {"VersionRequirement": ">=2.0.0 <2.17.0", "DependencyType": "HARD"}}
    pub = as_published(LambdaManager=recipe_of(TABLE[LM], ComponentDependencies=deps, ComponentType=catalog.GENERIC))
    found = compare(TABLE, pub, REGION)
    assert lines(found) == [("warning", LM), ("warning", LM)]
    assert any("HARD (catalog: SOFT)" in f.message for f in found)
    assert any("type aws.greengrass.generic" in f.message for f in found)


def test_newer_versions_within_the_ranges_and_outside_them_are_info_lines():
    pub = as_published(extra_versions={LR: ["2.0.9"], NUC: ["2.16.2", "2.17.0", "2.18.1"], LM: ["2.4.0"]})
    found = compare(TABLE, pub, REGION)
    assert all(f.severity == "info" for f in found)
    text = {f.component: [] for f in found}
    for f in found:
        text[f.component].append(f.message)
    assert text[LR] == [f"{LR} 2.0.9 is published in {REGION}; the catalog pins 2.0.8 (within the catalog's ranges "
                        "on it)"]
    nuc = " | ".join(text[NUC])
    assert f"{NUC} 2.16.2 is published" in nuc  # within LambdaManager's <2.17.0
    assert f"{NUC} 2.18.1 is published" in nuc and f"outside {LM} 2.3.7's >=2.0.0 <2.17.0" in nuc
    assert "2 newer versions outside" in nuc
    assert text[LM] == [f"{LM} 2.4.0 is published in {REGION}; the catalog pins 2.3.7 (2.4.0 is outside {LL} 2.0.13's "
                        ">=2.0.0 <2.4.0)"]
    older = as_published(extra_versions={LR: ["2.0.1"]})
    assert compare(TABLE, older, REGION) == []  # older versions say nothing


def test_the_bundles_own_ranges_count_for_newer_versions():
    reqs = published.requirements_on(TABLE, [(LR, "^2.0.0", "com.example.App 1.0.0"), (LR, "~2.0.8", "fn 1.0.0")])
    pub = as_published(extra_versions={LR: ["2.1.0"]})
    (f,) = compare(TABLE, pub, REGION, requirements=reqs)
    assert "outside fn 1.0.0's ~2.0.8" in f.message


def test_errors_come_first_and_an_unreadable_cloud_is_a_warning():
    pub = as_published(extra_versions={LR: ["2.0.9"]})
    pub[NUC] = Published(NUC, problem="ListComponentVersions → AccessDeniedException (HTTP 403)")
    pub[LL] = Published(LL, ("2.0.12",))
    found = compare(TABLE, pub, REGION)
    assert [f.severity for f in found] == ["error", "warning", "info"]
    assert "AccessDeniedException" in found[1].message and "greengrass:ListComponentVersions" in found[1].fix
    obj, cause, fix = published.refusal(found)
    assert obj == LL and "2.0.13" in cause and "group/v2/catalog.py" in fix
    s = published.summary(found, 4, REGION)
    assert "1 error(s), 2 other finding(s)" in s.message


def test_a_plan_checks_its_public_components_and_what_its_own_components_depend_on():
    group = make_group()
    plan = convert(group, root=REPO, account_id=ACCOUNT, region=REGION)
    names = published.checked_names(plan)
    assert set(names) >= {p.name for p in plan.public}
    assert {LM, LL, LR, catalog.TOKEN_EXCHANGE, NUC} <= set(names)
    assert all(n in catalog.PUBLIC_COMPONENTS for n in names)
    own = published.own_requirements(plan)
    assert (LR, ">=2.0.0 <3.0.0") in {(n, r) for n, r, _ in own}  # the generated Lambda recipes' dependency
    no_lambdas = convert(make_group(functions=[], subscriptions=[]), root=REPO, account_id=ACCOUNT, region=REGION)
    assert LR not in published.checked_names(no_lambdas)


def test_a_finding_refuses_an_unknown_severity():
    with pytest.raises(ValueError):
        published.Finding("x", "fatal", "m")


def test_a_component_only_depended_on_resolves_to_the_newest_within_the_ranges_and_that_is_a_warning():
    pub = as_published(extra_versions={LR: ["2.0.9"]})
    (f,) = compare(TABLE, pub, REGION, deployed=[NUC, LM, LL])
    assert (f.severity, f.component) == ("warning", LR)
    assert f"resolve {LR} to 2.0.9" in f.message and "not the catalog's 2.0.8" in f.message
    assert compare(TABLE, as_published(), REGION, deployed=[NUC]) == []  # the pin is the newest: nothing to say
