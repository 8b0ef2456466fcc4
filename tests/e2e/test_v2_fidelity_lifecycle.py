"""Issue #21, deployments as the nucleus runs them, under the real ``deploy.py run --platform v2`` with revisions
made through the AWS API (boto3 greengrassv2): rollback (1), atomic preparation (2), BROKEN retried (3), health
(10), a component BROKEN during a deployment fails it (11). One run for the module (fidelity_kit.py).
"""
import e2e_fidelity_kit as kit
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fid(tmp_path_factory):
    yield from kit.start(tmp_path_factory, "v2-fidelity-lifecycle")


def test_1_rollback_brings_the_previous_version_and_configuration_back(fid):
    name = "fid.Roll"
    fid.component(name, "1.0.0", run=kit.run_step("v1 {configuration:/greeting}"), config={"greeting": "default"})
    fid.component(name, "2.0.0", lifecycle=kit.failing("v2"), config={"greeting": "default"})
    fid.succeeded(fid.deploy({name: {"componentVersion": "1.0.0",
                                     "configurationUpdate": {"merge": {"greeting": "mine"}}}}))
    assert fid.wait_lines(name, 1) == ["run v1 mine"]

    # ROLLBACK (the default policy): the new version fails, the previous version and configuration run again
    bad = fid.failed(fid.deploy({name: "2.0.0"}))
    assert f"Service {name} in broken state after deployment" in bad.get("reason", ""), bad
    comp = fid.wait_state(name, "RUNNING")
    assert comp["componentVersion"] == "1.0.0"
    lines = fid.wait_lines(name, 5)
    assert lines[1:4] == ["failing v2"] * 3 and lines[-1] == "run v1 mine", lines   # three tries, then rolled back
    assert kit.alive(fid.pid(name))
    assert fid.health() == "HEALTHY"

    # DO_NOTHING: it stays as it is — the new version BROKEN, the core UNHEALTHY
    stays = fid.failed(fid.deploy({name: "2.0.0"}, policy="DO_NOTHING"))
    assert f"Service {name} in broken state after deployment" in stays.get("reason", "")
    comp = fid.installed()[name]
    assert (comp["componentVersion"], comp["lifecycleState"]) == ("2.0.0", "BROKEN"), comp
    assert fid.health() == "UNHEALTHY"


def test_2_an_artifact_that_cannot_be_fetched_changes_nothing(fid):
    name = "fid.Atomic"
    fid.component(name, "1.0.0", run=kit.run_step("v1"), artifacts={"data.txt": b"v1"})
    fid.component(name, "2.0.0", run=kit.run_step("v2"), missing_artifact=True)
    fid.succeeded(fid.deploy({name: "1.0.0"}))
    fid.wait_lines(name, 1)
    pid = fid.pid(name)

    bad = fid.failed(fid.deploy({name: "2.0.0"}))
    assert "gone.txt" in bad.get("reason", ""), bad
    comp = fid.installed()[name]
    assert (comp["componentVersion"], comp["lifecycleState"]) == ("1.0.0", "RUNNING"), comp
    assert fid.pid(name) == pid and kit.alive(pid)   # the same process: it was never stopped
    assert fid.lines(name) == ["run v1"]
    assert fid.health() == "HEALTHY"                  # a failed deployment that changed nothing: still healthy


def test_3_a_broken_component_is_installed_and_started_again_by_the_next_deployment(fid, tmp_path):
    name = "fid.Flaky"
    marker = tmp_path / "ok"
    fid.component(name, "1.0.0", install="echo install >> install.log",
                  lifecycle={"Startup": f"test -f {marker} && echo started >> out.log"})
    spec = {name: "1.0.0"}
    fid.failed(fid.deploy(spec, policy="DO_NOTHING"))
    fid.wait_state(name, "BROKEN")
    assert fid.health() == "UNHEALTHY"
    installs = len(fid.lines(name, "install.log"))

    marker.write_text("now it can run")
    fid.succeeded(fid.deploy(spec))                   # the same component, unchanged: reinstalled and started
    fid.wait_state(name, "RUNNING")
    assert len(fid.lines(name, "install.log")) == installs + 1
    assert fid.lines(name) == ["started"]
    assert fid.health() == "HEALTHY"


def test_10_health_follows_broken_components_only(fid):
    good, bad = "fid.Good", "fid.Bad"
    fid.component(good, "1.0.0", run=kit.run_step("good"))
    fid.component(bad, "1.0.0", lifecycle=kit.failing("bad"))
    fid.succeeded(fid.deploy({good: "1.0.0"}))
    assert fid.health() == "HEALTHY"
    fid.component("fid.Missing", "1.0.0", run=kit.run_step("m"), missing_artifact=True)
    fid.failed(fid.deploy({good: "1.0.0", "fid.Missing": "1.0.0"}))
    assert fid.health() == "HEALTHY"                  # FAILED, but nothing changed and nothing is BROKEN
    fid.failed(fid.deploy({good: "1.0.0", bad: "1.0.0"}, policy="DO_NOTHING"))
    assert fid.installed()[bad]["lifecycleState"] == "BROKEN" and fid.health() == "UNHEALTHY"
    fid.succeeded(fid.deploy({good: "1.0.0"}))        # the BROKEN one removed
    assert bad not in fid.installed() and fid.health() == "HEALTHY"


def test_11_a_component_that_goes_broken_fails_the_deployment(fid):
    good, bad = "fid.Good11", "fid.Bad11"
    fid.component(good, "1.0.0", run=kit.run_step("good"))
    fid.component(bad, "1.0.0", install="echo installed >> install.log", lifecycle=kit.failing("bad"))
    e = fid.failed(fid.deploy({good: "1.0.0", bad: "1.0.0"}, policy="DO_NOTHING"))
    assert f"Service {bad} in broken state after deployment" in e.get("reason", ""), e
    states = {n: c["lifecycleState"] for n, c in fid.installed().items() if n.startswith("fid.")}
    # fid.Good (the last deployment's) is still there: a failed deployment never gets to removeObsoleteServices
    assert states == {good: "RUNNING", bad: "BROKEN", "fid.Good": "RUNNING"}, states
    assert fid.lines(bad) == ["failing bad"] * 3     # the nucleus' three tries
    assert "STARTUP_ERROR" in fid.installed()[bad].get("lifecycleStatusCodes", [])
