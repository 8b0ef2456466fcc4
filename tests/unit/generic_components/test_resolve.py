"""Dependency resolution as the nucleus' DependencyResolver does it: roots at their exact versions, the other
groups' roots with theirs, dependencies from every requirer, the active version kept when it satisfies."""
import pytest

from localcore.generic_components.resolve import (ResolutionError, Resolved, keep_active, no_version, order,
                                                  resolve_dependencies, satisfies_all)

# the "cloud": name -> version -> dependencies
CLOUD = {
    "A": {"1.0.0": {"B": "^1.0.0"}, "2.0.0": {"B": ">=2.0.0", "C": "~1.1.0"}},
    "B": {"1.0.0": {}, "1.5.0": {}, "2.0.0": {}, "2.1.0-beta": {}},
    "C": {"1.0.0": {}, "1.1.0": {}, "1.1.4": {}, "1.2.0": {}},
    "Loop1": {"1.0.0": {"Loop2": "*"}},
    "Loop2": {"1.0.0": {"Loop1": "*"}},
    "OldOnly": {"1.0.0": {"B": "<1.0.0"}},
}


def cloud(active=None):
    active = active or {}
    asked = []

    def resolve(name, requirements):
        asked.append((name, dict(requirements)))
        if keep_active(active.get(name), requirements):
            v = active[name]
            return Resolved(name, v, CLOUD[name][v])
        from group.v2.versions import sort_key
        ok = [v for v in CLOUD.get(name, {}) if satisfies_all(v, requirements)]
        if not ok:
            raise no_version(name, requirements)
        v = max(ok, key=sort_key)
        return Resolved(name, v, CLOUD[name][v])
    resolve.asked = asked
    return resolve


def versions(resolved):
    return {n: r.version for n, r in resolved.items()}


CASES = [
    ("a root pulls its dependency, newest satisfying", {"A": "1.0.0"}, {}, {}, {"A": "1.0.0", "B": "1.5.0"}),
    ("a newer root changes the dependency tree", {"A": "2.0.0"}, {}, {},
     {"A": "2.0.0", "B": "2.1.0-beta", "C": "1.1.4"}),   # semver4j: a pre-release is not kept out of a range
    ("the active version is kept while it satisfies", {"A": "1.0.0"}, {}, {"B": "1.0.0"},
     {"A": "1.0.0", "B": "1.0.0"}),
    ("the active version is left when it does not", {"A": "2.0.0"}, {}, {"B": "1.0.0", "C": "1.0.0"},
     {"A": "2.0.0", "B": "2.1.0-beta", "C": "1.1.4"}),
    ("other groups' roots join with their requirements", {"C": "1.2.0"}, {"thing/Core": {"A": "1.0.0"}}, {},
     {"C": "1.2.0", "A": "1.0.0", "B": "1.5.0"}),
    ("a root listed as a dependency gets both requirements", {"B": "1.0.0", "A": "1.0.0"}, {}, {},
     {"A": "1.0.0", "B": "1.0.0"}),
]


@pytest.mark.parametrize("why,roots,other,active,expected", CASES, ids=[c[0] for c in CASES])
def test_resolution(why, roots, other, active, expected):
    assert versions(resolve_dependencies("thinggroup/G", roots, other, cloud(active))) == expected


def test_conflicting_groups_fail_with_the_nucleus_message():
    with pytest.raises(ResolutionError) as e:
        resolve_dependencies("thinggroup/G", {"A": "2.0.0"}, {"thing/Core": {"A": "1.0.0"}}, cloud())
    msg = str(e.value)
    assert msg.startswith("No local or cloud component version satisfies the requirements.")
    assert "Component A version constraints: thinggroup/G requires 2.0.0, thing/Core requires 1.0.0." in msg
    assert e.value.codes == ("NO_AVAILABLE_COMPONENT_VERSION", "COMPONENT_VERSION_REQUIREMENTS_NOT_MET")


@pytest.mark.parametrize("roots,missing", [({"Nope": "1.0.0"}, "Nope"), ({"A": "9.0.0"}, "A"),
                                           ({"OldOnly": "1.0.0"}, "B")])
def test_unsatisfiable(roots, missing):
    with pytest.raises(ResolutionError, match=f"Component {missing} version constraints"):
        resolve_dependencies("thinggroup/G", roots, {}, cloud())


def test_a_cycle_fails_and_a_bad_version_is_refused():
    with pytest.raises(ResolutionError, match="Circular dependency detected for component Loop1") as e:
        resolve_dependencies("thinggroup/G", {"Loop1": "1.0.0"}, {}, cloud())
    assert e.value.codes == ("COMPONENT_CIRCULAR_DEPENDENCY_ERROR",)
    with pytest.raises(ResolutionError, match="Unsupported component version"):
        resolve_dependencies("thinggroup/G", {"A": "not-a-version"}, {}, cloud())


def test_a_dropped_version_drops_its_own_dependencies():
    # first A 2.0.0 is resolved (B>=2, C~1.1), then another group pins A to... itself: the tree is A's only
    resolved = resolve_dependencies("thinggroup/G", {"A": "2.0.0"}, {}, cloud())
    assert set(resolved) == {"A", "B", "C"}
    resolved = resolve_dependencies("thinggroup/G", {"A": "1.0.0"}, {}, cloud({"A": "2.0.0", "C": "1.1.0"}))
    assert set(resolved) == {"A", "B"}  # C was only A 2.0.0's


def test_order_puts_dependencies_first():
    comps = {"A": Resolved("A", "1", {"B": "*"}), "B": Resolved("B", "1", {"C": "*"}), "C": Resolved("C", "1"),
             "D": Resolved("D", "1", {"aws.greengrass.Nucleus": "*"})}
    assert order(comps) == ["C", "D", "B", "A"]
