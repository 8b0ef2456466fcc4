"""localcore/generic_components pure modules: interpolation, configuration updates, the lifecycle state machine."""
from pathlib import Path

import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.errors import InterpolationError, TransitionError
from localcore.generic_components.interpolate import (Context, DependencyInfo, interpolate, interpolate_configuration,
                                                       interpolate_lifecycle)
from localcore.generic_components.lifecycle import LifecycleMachine, State, TRANSITIONS

ROOT = Path("/gg")
CTX = Context(
    root=ROOT, component="com.example.A", version="1.2.0", thing_name="Core1",
    configuration={"s": "text", "n": 3, "f": 1.5, "b": True, "z": None, "m": {"k": [1, "x"]}, "a/b": "slash",
                   "t~": "tilde", "list": ["p", "q"],
                   "o": {"b": [True, None], "a": {"z": "é", "y": 1}}, "big": 1e20, "tiny": 1.5e-5, "whole": 100.0},
    dependencies={"aws.greengrass.StreamManager": DependencyInfo("2.1.0", {"STREAM_MANAGER_SERVER_PORT": "8088"})},
)

INTERP = [
    ("{artifacts:path}/a.py", "/gg/packages/artifacts/com.example.A/1.2.0/a.py", 0),
    ("{artifacts:decompressedPath}/sdk", "/gg/packages/artifacts-unarchived/com.example.A/1.2.0/sdk", 0),
    ("cd {work:path}", "cd /gg/work/com.example.A", 0),
    ("{kernel:rootPath}", "/gg", 0),
    ("thing={iot:thingName}", "thing=Core1", 0),
    ("{configuration:/s} {configuration:/n} {configuration:/f} {configuration:/b} {configuration:/z}",
     "text 3 1.5 true null", 0),
    ("{configuration:/m}", '{"k":[1,"x"]}', 0),
    # an object: compact JSON, keys sorted as the nucleus' mapper writes them, non-ASCII as is
    ("{configuration:/o}", '{"a":{"y":1,"z":"é"},"b":[true,null]}', 0),
    ("{configuration:/big} {configuration:/tiny} {configuration:/whole}", "1.0E20 1.5E-5 100.0", 0),
    ("{configuration:/m/k/1}", "x", 0),
    ("{configuration:/a~1b}{configuration:/t~0}", "slashtilde", 0),
    ("{configuration:/list}", '["p","q"]', 0),
    ("{configuration:/s}-{configuration:/s}", "text-text", 0),  # every occurrence
    ("port={aws.greengrass.StreamManager:configuration:/STREAM_MANAGER_SERVER_PORT}", "port=8088", 0),
    ("{aws.greengrass.StreamManager:artifacts:path}", "/gg/packages/artifacts/aws.greengrass.StreamManager/2.1.0", 0),
    ("{aws.greengrass.StreamManager:work:path}", "/gg/work/aws.greengrass.StreamManager", 0),
    # left literal, with a problem, as the nucleus does
    ("{configuration:/missing}", "{configuration:/missing}", 1),
    ("{configuration:nopointer}", "{configuration:nopointer}", 1),
    ("{artifacts:bogus}", "{artifacts:bogus}", 1),
    ("{iot:thingname}", "{iot:thingname}", 1),  # keys are case-sensitive
    ("{foo:bar}", "{foo:bar}", 1),
    ("{other.Comp:configuration:/x}", "{other.Comp:configuration:/x}", 1),
    ("{aws.greengrass.StreamManager:configuration:/nope}", "{aws.greengrass.StreamManager:configuration:/nope}", 1),
    # not variables at all: shell syntax stays untouched and unreported
    ("echo ${HOME} ${X:-default} {a} awk '{print $1}'", "echo ${HOME} ${X:-default} {a} awk '{print $1}'", 0),
]


@pytest.mark.parametrize("text,expected,n_problems", INTERP)
def test_interpolation(text, expected, n_problems):
    out, problems = interpolate(text, CTX, "Lifecycle.Run.Script")
    assert out == expected
    assert len(problems) == n_problems
    assert all(p.startswith("Lifecycle.Run.Script: ") for p in problems)


RECIPE = """
RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.A
ComponentVersion: '1.2.0'
Manifests:
  - Lifecycle:
      Setenv: {ROOT: '{kernel:rootPath}'}
      Install: {Script: 'echo {configuration:/s}', Skipif: 'exists {work:path}/done', Setenv: {T: '{iot:thingName}'}}
      Run: 'python3 {artifacts:path}/x.py {configuration:/nope}'
"""


def test_interpolate_lifecycle_names_the_step_and_strict_raises():
    lc = parse_recipe(RECIPE).manifests[0].lifecycle
    out, problems = interpolate_lifecycle(lc, CTX)
    assert out.setenv["ROOT"] == "/gg"
    assert (out.install.script, out.install.skipif, out.install.setenv["T"]) == (
        "echo text", "exists /gg/work/com.example.A/done", "Core1")
    assert out.run.script == "python3 /gg/packages/artifacts/com.example.A/1.2.0/x.py {configuration:/nope}"
    assert problems == ["Lifecycle.Run.Script: {configuration:/nope} has no value in the configuration of "
                        "com.example.A (left as is)"]
    with pytest.raises(InterpolationError, match=r"com.example.A: Lifecycle: Lifecycle.Run.Script"):
        interpolate_lifecycle(lc, CTX, strict=True)


def test_configuration_values_get_system_variables_only():
    """interpolateComponentConfiguration: {iot:thingName} etc. inside configuration values, keys untouched,
    {configuration:...} left as written (KernelConfigResolver.interpolateSystemParametersOnly)."""
    config = {"topic": "things/{iot:thingName}/out", "{iot:thingName}": "key kept", "n": 3,
              "nested": [{"dir": "{work:path}/x"}, "{configuration:/n}", "{unknown:x}"],
              "sm": "{aws.greengrass.StreamManager:work:path}"}
    out, problems = interpolate_configuration(config, CTX)
    assert out == {"topic": "things/Core1/out", "{iot:thingName}": "key kept", "n": 3,
                   "nested": [{"dir": "/gg/work/com.example.A/x"}, "{configuration:/n}", "{unknown:x}"],
                   "sm": "/gg/work/aws.greengrass.StreamManager"}
    assert len(problems) == 1 and "unknown namespace" in problems[0]  # {configuration:/n} is not a problem there


# ---------------------------------------------------------------------------------- lifecycle machine
def run(machine, *events):
    t = 0.0
    for e in events:
        t += 1
        machine.fire(e, at=t, reason=f"because {e}" if e == "error" else None,
                     status_code="RUN_ERROR" if e == "error" else None)
    return machine.state


PATHS = [
    ("happy Run", ["installed", "start", "running"], State.RUNNING),
    ("Run exits 0", ["installed", "start", "running", "finished", "stopped"], State.FINISHED),
    ("stop while running", ["installed", "start", "running", "stop", "stopped"], State.FINISHED),
    ("install fails then works", ["error", "recover", "installed"], State.INSTALLED),
    ("install fails thrice", ["error", "recover", "error", "recover", "error"], State.BROKEN),
    ("run fails, restarts", ["installed", "start", "running", "error", "recover", "restart", "start", "running"],
     State.RUNNING),
    ("run fails thrice", ["installed", "start", "running"] + ["error", "recover", "restart", "start", "running"] * 2
     + ["error"], State.BROKEN),
    ("startup fails thrice", ["installed", "start"] + ["error", "recover", "restart", "start"] * 2 + ["error"],
     State.BROKEN),
    ("shutdown fails", ["installed", "start", "running", "stop", "error", "recover"], State.FINISHED),
    ("broken, reinstalled", ["error", "recover", "error", "recover", "error", "reinstall"], State.NEW),
    ("restart requested", ["installed", "start", "running", "stop", "restart", "start", "running"],
     State.RUNNING),
    ("finished, restart requested", ["installed", "start", "running", "finished", "stopped", "start"],
     State.INSTALLED),
    ("finished, started again", ["installed", "start", "finished", "start"], State.INSTALLED),
    ("nothing to run", ["installed", "start", "finished"], State.FINISHED),
]


@pytest.mark.parametrize("why,events,expected", PATHS, ids=[p[0] for p in PATHS])
def test_lifecycle_paths(why, events, expected):
    assert run(LifecycleMachine("c"), *events) == expected


def test_errors_in_a_row_only_count_per_state_and_a_success_clears_them():
    m = LifecycleMachine("c")
    # the install errors twice, then succeeds: its count is cleared
    run(m, "error", "recover", "error", "recover", "installed", "start", "running")
    assert m.error_count(State.NEW) == 0
    # two run errors do not break it; a clean stop out of RUNNING clears the count
    run(m, "error", "recover", "restart", "start", "running", "error", "recover", "restart", "start", "running")
    assert (m.state, m.error_count(State.RUNNING)) == (State.RUNNING, 2)
    run(m, "stop", "stopped", "start", "start", "running", "error")
    assert m.state == State.ERRORED


def test_error_count_resets_after_the_reset_window():
    m = LifecycleMachine("c", error_reset_s=10)
    m.fire("error", at=0)
    m.fire("recover", at=1)
    m.fire("error", at=2)
    m.fire("recover", at=3)
    m.fire("error", at=20)  # 18 s after the last error: counting starts again
    assert m.state == State.ERRORED and m.error_count(State.NEW) == 1


def test_the_error_that_moved_it_is_recorded():
    m = LifecycleMachine("c")
    run(m, "installed", "start", "running")
    m.fire("error", reason="Run exited with 3", status_code="RUN_ERROR", at=5)
    assert m.status() == {"state": "ERRORED", "statusCode": "RUN_ERROR", "reason": "Run exited with 3",
                          "erroredFrom": "RUNNING"}
    m.fire("recover", at=6)
    assert m.state == State.STOPPING and m.reason == "Run exited with 3"  # still shown while it retries
    last = m.history[-2]
    assert (last.old, last.new, last.event, last.reason, last.at) == (
        State.RUNNING, State.ERRORED, "error", "Run exited with 3", 5)


@pytest.mark.parametrize("state,event", [(State.NEW, "start"), (State.INSTALLED, "running"),
                                         (State.RUNNING, "installed"), (State.BROKEN, "start"),
                                         (State.FINISHED, "error")])
def test_illegal_events_are_refused(state, event):
    m = LifecycleMachine("c", state=state)
    with pytest.raises(TransitionError, match=f"not allowed in state {state.value}"):
        m.fire(event)
    assert m.state == state and (state, event) not in TRANSITIONS
