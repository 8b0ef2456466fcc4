"""Issue #21, what the core runs when several deployments and dependencies are involved, under the real
``deploy.py run --platform v2`` with revisions made through the AWS API: unsatisfiable dependencies fail a
deployment before anything is installed, versions resolve as the nucleus resolves them and a HARD dependency's
failure stops its dependents (7); a deployment to the core's own thing adds its components while the thing
group's keep running (6); each deployment is reported under its own id and the core reports what it applied
(13). One run for the module (fidelity_kit.py).
"""
import e2e_fidelity_kit as kit
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fid(tmp_path_factory):
    yield from kit.start(tmp_path_factory, "v2-fidelity-targets")


def test_7_dependencies_resolve_as_the_nucleus_does(fid):
    keep = "fid.Keep"
    fid.component(keep, "1.0.0", run=kit.run_step("keep"))
    fid.succeeded(fid.deploy({keep: "1.0.0"}))
    fid.wait_lines(keep, 1)
    keep_pid = fid.pid(keep)

    # unsatisfiable: FAILED with the reason before anything is installed; what ran keeps running
    fid.component("fid.NeedsNope", "1.0.0", run=kit.run_step("x"), deps={"fid.Nope": "^1.0.0"})
    fid.component("fid.Lib", "1.0.0", run=kit.run_step("lib 1.0.0"))
    fid.component("fid.Lib", "1.5.0", run=kit.run_step("lib 1.5.0"))
    fid.component("fid.Lib", "2.0.0", run=kit.run_step("lib 2.0.0"))
    fid.component("fid.WantsOld", "1.0.0", run=kit.run_step("x"), deps={"fid.Lib": "<1.0.0"})
    for bad, missing in (("fid.NeedsNope", "fid.Nope"), ("fid.WantsOld", "fid.Lib")):
        e = fid.failed(fid.deploy({keep: "1.0.0", bad: "1.0.0"}))
        reason = e.get("reason", "")
        assert f"Component {missing} version constraints" in reason and "No local or cloud component version" \
            in reason, e
        assert "NO_AVAILABLE_COMPONENT_VERSION" in e["statusDetails"]["errorStack"], e
        installed = fid.installed()
        assert bad not in installed and missing not in installed, sorted(installed)
        assert installed[keep]["lifecycleState"] == "RUNNING" and fid.pid(keep) == keep_pid

    # a range: the newest version that meets it, installed as a dependency (not a root), started first
    fid.component("fid.App", "1.0.0", run=kit.run_step("app"), deps={"fid.Lib": "^1.0.0"})
    fid.succeeded(fid.deploy({keep: "1.0.0", "fid.App": "1.0.0"}))
    lib = fid.wait_state("fid.Lib", "RUNNING")
    assert (lib["componentVersion"], lib["isRoot"]) == ("1.5.0", False), lib
    assert fid.installed()["fid.App"]["isRoot"] is True

    # a HARD dependency that fails stops its dependents: they wait in INSTALLED, their processes gone
    fid.component("fid.Lib", "1.6.0", lifecycle=kit.failing("lib 1.6.0"))
    app_pid = fid.pid("fid.App")
    e = fid.failed(fid.deploy({keep: "1.0.0", "fid.App": "1.0.0", "fid.Lib": "1.6.0"}, policy="DO_NOTHING"))
    assert "Service fid.Lib in broken state after deployment" in e.get("reason", ""), e
    assert fid.installed()["fid.Lib"]["lifecycleState"] == "BROKEN"
    app = fid.wait_state("fid.App", "INSTALLED")
    assert not kit.alive(app_pid), app
    assert fid.installed()[keep]["lifecycleState"] == "RUNNING"   # SOFT or no dependency: unaffected

    # the dependency back in order: the dependent starts again
    fid.succeeded(fid.deploy({keep: "1.0.0", "fid.App": "1.0.0", "fid.Lib": "1.5.0"}))
    fid.wait_state("fid.App", "RUNNING")
    assert fid.lines("fid.App")[-1] == "run app"


def test_6_and_13_thing_and_thing_group_deployments_combine(fid):
    group_comp, thing_comp = "fid.G", "fid.T"
    fid.component(group_comp, "1.0.0", run=kit.run_step("group {configuration:/n}"), config={"n": 1})
    fid.component(thing_comp, "1.0.0", run=kit.run_step("thing"))
    d1 = fid.deploy({group_comp: "1.0.0"})
    fid.succeeded(d1)
    fid.wait_lines(group_comp, 1)
    group_pid = fid.pid(group_comp)

    # a deployment to the core's own thing adds its components; the group's keep running (same process)
    d2 = fid.deploy({thing_comp: "1.0.0"}, thing=True)
    assert fid.succeeded(d2)["coreDeviceExecutionStatus"] == "COMPLETED"   # a thing target's execution
    installed = fid.installed()
    assert installed[thing_comp]["lifecycleState"] == "RUNNING" and installed[group_comp]["lifecycleState"] == \
        "RUNNING", installed
    assert fid.pid(group_comp) == group_pid and kit.alive(group_pid)
    assert "aws.greengrass.Nucleus" in installed     # the group's public components stay too
    # 13: each deployment has its own status; the core says it applied the thing's, and reports under it
    assert fid.effective(d1)["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert fid.run.api("GET", "/api/status")["group"]["deployment"]["id"] == d2
    assert {c["lastInstallationSource"] for c in installed.values()} == {d2}

    # a new revision for the thing group keeps the thing's components; the core applies and reports it
    thing_pid = fid.pid(thing_comp)
    d3 = fid.deploy({group_comp: {"componentVersion": "1.0.0", "configurationUpdate": {"merge": {"n": 2}}}})
    fid.succeeded(d3)
    assert fid.wait_lines(group_comp, 2)[-1] == "run group 2"
    installed = fid.installed()
    assert installed[thing_comp]["lifecycleState"] == "RUNNING" and fid.pid(thing_comp) == thing_pid
    assert fid.run.api("GET", "/api/status")["group"]["deployment"]["id"] == d3
    assert fid.effective(d2)["coreDeviceExecutionStatus"] == "COMPLETED"

    # the thing's next revision without components removes its own, not the group's
    d4 = fid.deploy({}, thing=True)
    fid.succeeded(d4)
    installed = fid.installed()
    assert thing_comp not in installed and installed[group_comp]["lifecycleState"] == "RUNNING", sorted(installed)
    assert not kit.alive(thing_pid)
