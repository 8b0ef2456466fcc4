"""group.v2.versions: the one rule for versions and ranges (recipe model, catalog, greengrassv2 stand-in)."""
from __future__ import annotations

import pytest

from group.v2.versions import (VersionRequirement, is_version, parse_version, satisfies, sort_key,
                               version_problem)


@pytest.mark.parametrize("text,parts", [
    ("1.0.0", (1, 0, 0, (), "")),
    ("2.16.1", (2, 16, 1, (), "")),
    ("999999.999999.999999", (999999, 999999, 999999, (), "")),
    ("1.2.3-rc.1", (1, 2, 3, ("rc", "1"), "")),
    ("1.2.3-rc.1+build.5", (1, 2, 3, ("rc", "1"), "build.5")),
    ("0.0.0", (0, 0, 0, (), "")),
])
def test_parse_version(text, parts):
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == parts


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "", "1.0.0-", "latest", None, 1])
def test_not_versions(bad):
    assert not is_version(bad)
    with pytest.raises(ValueError, match="not a semantic version"):
        parse_version(bad)


@pytest.mark.parametrize("text,problem", [
    ("1.0.0", None),
    ("999999.0.999999", None),       # six digits per number are allowed
    ("1.0.1000000", "too large"),    # seven are not
    ("1000000.0.0", "too large"),
    ("1.0.0-" + "a" * 60, "too large"),  # more than 64 characters
    ("1.0", "not a semantic version"),
])
def test_component_version_problems(text, problem):
    got = version_problem(text)
    assert (got is None) if problem is None else (problem in got)


def test_ordering_is_semver_precedence_with_non_semver_first():
    texts = ["1.10.0", "1.2.0", "1.2.0-rc.10", "1.2.0-rc.2", "1.2.0-beta", "0.9.9", "junk", "1.2.0+b1"]
    assert sorted(texts, key=sort_key) == ["junk", "0.9.9", "1.2.0-beta", "1.2.0-rc.2", "1.2.0-rc.10", "1.2.0",
                                           "1.2.0+b1", "1.10.0"]
    assert sort_key("1.2.0") == sort_key("1.2.0+b1")  # build metadata does not order


@pytest.mark.parametrize("requirement,version,ok", [
    # caret: the left-most non-zero number stays
    ("^2.0.0", "2.0.0", True), ("^2.0.0", "2.99.99", True), ("^2.0.0", "3.0.0", False), ("^2.0.0", "1.9.9", False),
    ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False), ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False),
    ("^1.2", "1.9.0", True), ("^0.x", "0.9.0", True), ("^0.x", "1.0.0", False),
    # tilde: patch changes (minor given) or minor changes (major only)
    ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False), ("~1.2.3", "1.2.2", False), ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    # comparators and ranges, as the catalog's plugins pin the nucleus
    (">=2.0.0 <2.17.0", "2.16.1", True), (">=2.0.0 <2.17.0", "2.17.0", False), (">2.5.4", "2.5.4", False),
    ("<=2.5.4", "2.5.4", True), (">= 2.0.0", "2.0.0", True), (">1.2", "1.3.0", True), (">1.2", "1.2.9", False),
    ("<=1.2", "1.2.9", True), ("<=1.2", "1.3.0", False),
    # exact, partial and wildcards
    ("1.0.0", "1.0.0", True), ("=1.0.0", "1.0.1", False), ("1.x", "1.5.2", True), ("1.x", "2.0.0", False),
    ("1", "1.9.9", True), ("*", "0.0.1", True), ("x", "9.9.9", True),
    # hyphen ranges and alternatives
    ("1.0.0 - 1.5", "1.5.9", True), ("1.0.0 - 1.5", "1.6.0", False), ("1.0.0 - 1.5.2", "1.5.2", True),
    ("<1.0.0 || >=3.0.0", "0.5.0", True), ("<1.0.0 || >=3.0.0", "2.0.0", False),
    # six-digit numbers
    (">=999998.0.0", "999999.999999.999999", True), ("^999999.0.0", "999999.5.0", True),
    # pre-releases order below their release; like semver4j (the nucleus), a range does not exclude them
    ("^2.0.0", "2.0.0-rc.1", False), ("^2.0.0", "2.1.0-rc.1", True), ("2.0.0-beta.2", "2.0.0-beta.2", True),
    ("2.0.0-beta.2", "2.0.0", False), (">=1.0.0-rc.2", "1.0.0-rc.10", True),
    # a version that is not semver meets nothing
    ("*", "not-semver", False), ("*", "1.0", False),
])
def test_requirements(requirement, version, ok):
    assert VersionRequirement.parse(requirement).satisfied_by(version) is ok
    assert satisfies(version, requirement) is ok


@pytest.mark.parametrize("bad", ["", "  ", "^^1", ">=a.b", "1.2.3.4", "latest", ">=1.0.0 junk!"])
def test_bad_requirements(bad):
    with pytest.raises(ValueError):
        VersionRequirement.parse(bad)
