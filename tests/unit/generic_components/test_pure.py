"""localcore/generic_components pure modules: interpolation, configuration updates, the lifecycle state machine."""
from pathlib import Path

import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.config import apply_update, deep_merge, effective_configuration, parse_pointer
from localcore.generic_components.errors import ConfigurationError, InterpolationError, TransitionError
from localcore.generic_components.interpolate import Context, DependencyInfo, interpolate, interpolate_lifecycle
from localcore.generic_components.lifecycle import LifecycleMachine, State, TRANSITIONS

ROOT = Path("/gg")
CTX = Context(
    root=ROOT, component="com.example.A", version="1.2.0", thing_name="Core1",
    configuration={"s": "text", "n": 3, "f": 1.5, "b": True, "z": None, "m": {"k": [1, "x"]}, "a/b": "slash",
                   "t~": "tilde", "list": ["p", "q"]},
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


DEFAULT = {"a": 1, "m": {"x": 1, "y": [1, 2]}, "keep": "k"}
CONFIG = [
    ("no update", None, None, DEFAULT),
    ("merge deep", None, {"merge": '{"m": {"z": 3}, "new": true}'},
     {"a": 1, "m": {"x": 1, "y": [1, 2], "z": 3}, "keep": "k", "new": True}),
    ("lists replace", None, {"merge": {"m": {"y": [9]}}}, {"a": 1, "m": {"x": 1, "y": [9]}, "keep": "k"}),
    ("map replaced by scalar", None, {"merge": {"m": 5}}, {"a": 1, "m": 5, "keep": "k"}),
    ("reset all then merge", {"a": 7, "extra": 1}, {"reset": [""], "merge": {"b": 2}}, dict(DEFAULT, b=2)),
    ("reset to default", {"a": 7, "m": {"x": 9}}, {"reset": ["/a", "/m/x"]}, {"a": 1, "m": {"x": 1}}),
    ("reset deletes a key without default", {"a": 1, "extra": {"q": 1}}, {"reset": ["/extra"]}, {"a": 1}),
    ("reset before merge", {"a": 7}, {"reset": ["/a"], "merge": {"a": 8}}, {"a": 8}),
    ("reset of something absent", {"a": 1}, {"reset": ["/nothing/here"]}, {"a": 1}),
    ("patches the current config", {"a": 7, "other": 1}, {"merge": {"b": 1}}, {"a": 7, "other": 1, "b": 1}),
]


@pytest.mark.parametrize("why,current,update,expected", CONFIG, ids=[c[0] for c in CONFIG])
def test_configuration_updates(why, current, update, expected):
    before = repr(DEFAULT)
    assert apply_update(DEFAULT, current, update) == expected
    assert repr(DEFAULT) == before  # inputs untouched


@pytest.mark.parametrize("update,match", [
    ({"merge": "{not json"}, "not valid JSON"),
    ({"merge": "[1]"}, "JSON object"),
    ({"reset": "/a"}, "list of JSON pointers"),
    ({"reset": ["a"]}, "start with '/'"),
    ({"reset": ["/m/y/0"]}, "inside a list"),
    ({"replace": {}}, "unknown keys"),
])
def test_bad_configuration_updates(update, match):
    with pytest.raises(ConfigurationError, match=match):
        apply_update(DEFAULT, None, update)


def test_effective_configuration_and_helpers():
    assert effective_configuration(DEFAULT, []) == DEFAULT
    assert effective_configuration(DEFAULT, [{"merge": {"a": 2}}, {"merge": {"b": 3}}])["a"] == 2
    assert effective_configuration(DEFAULT, [{"merge": {"a": 2}}, {"reset": [""]}]) == DEFAULT
    assert parse_pointer("/a~1b/c~0") == ["a/b", "c~"]
    assert deep_merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}


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
    ("broken, redeployed", ["error", "recover", "error", "recover", "error", "deploy"], State.NEW),
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
