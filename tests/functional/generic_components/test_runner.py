"""ComponentRunner with real processes: lifecycle steps, env, artifacts, errors, timeouts, process groups."""
from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.lifecycle import State
from localcore.generic_components.runner import ComponentRunner
from localcore.generic_components.tokens import ComponentTokens

NAME = "com.example.Test"


def recipe(lifecycle: dict, artifacts=(), version="1.0.0", default_config=None):
    doc = {
        "RecipeFormatVersion": "2020-01-25", "ComponentName": NAME, "ComponentVersion": version,
        "ComponentConfiguration": {"DefaultConfiguration": default_config or {"greeting": "hello", "n": 3}},
        "Manifests": [{"Platform": {"os": "windows"}, "Lifecycle": {"Run": "exit 99"}},
                      {"Platform": {"os": "*"}, "Lifecycle": lifecycle, "Artifacts": list(artifacts)}],
    }
    return parse_recipe(json.dumps(doc))


@pytest.fixture
async def make(tmp_path):
    made = []
    tokens = ComponentTokens()

    def make_runner(r, **kw) -> ComponentRunner:
        kw.setdefault("root", tmp_path / "gg")
        kw.setdefault("kill_grace_s", 1.0)
        runner = ComponentRunner(r, tokens=tokens, thing_name="CoreThing", region="eu-west-3", **kw)
        made.append(runner)
        return runner

    make_runner.tokens = tokens
    yield make_runner
    for r in made:  # a failed test must not leave processes behind
        await r.stop()


async def until(pred, timeout=20.0):
    """Bounded wait for something no event announces (a file a child process writes)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def tiny_wheel(path: Path) -> Path:
    """A minimal pure-Python wheel (module ``tinymod``), built by hand so the test needs no build backend."""
    whl = path / "tinymod-0.1-py3-none-any.whl"
    files = {
        "tinymod.py": "VALUE = 42\n",
        "tinymod-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinymod\nVersion: 0.1\n",
        "tinymod-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(whl, "w") as z:
        for n, body in files.items():
            z.writestr(n, body)
        z.writestr("tinymod-0.1.dist-info/RECORD", "".join(f"{n},,\n" for n in files) + "tinymod-0.1.dist-info/RECORD,,\n")
    return whl


ENV_VARS = ["SVCUID", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_IOT_THING_NAME", "GG_ROOT_CA_PATH", "STREAM_MANAGER_SERVER_PORT", "HOME",
            "PYTHONUSERBASE", "GLOBAL_VAR", "STEP_VAR", "OVERRIDE"]


async def test_install_run_shutdown_env_artifacts_and_process_group(make, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(textwrap.dedent("""
        import json, os, sys, subprocess
        import tinymod
        env = {k: os.environ.get(k) for k in %r}
        print("ENV " + json.dumps(env), flush=True)
        print("PY " + json.dumps({"prefix": sys.prefix, "tinymod": tinymod.__file__, "cwd": os.getcwd(),
                                  "argv": sys.argv[1:]}), flush=True)
    """ % ENV_VARS))
    with zipfile.ZipFile(src / "sdk.zip", "w") as z:
        z.writestr("pkg/__init__.py", "X = 1\n")
    wheel = tiny_wheel(src)
    arts = [{"URI": "s3://bucket/c/1.0.0/app.py"}, {"URI": "s3://bucket/c/1.0.0/sdk.zip", "Unarchive": "ZIP"},
            {"URI": "s3://bucket/c/1.0.0/" + wheel.name, "Permission": {"Read": "ALL"}}]
    r = recipe({
        "Setenv": {"GLOBAL_VAR": "g-{iot:thingName}", "OVERRIDE": "global"},
        "Install": {"Script": "echo installed > {work:path}/installed.txt && "
                              "pip3 install --user --no-index --no-deps --disable-pip-version-check -q "
                              "{artifacts:path}/" + wheel.name, "Timeout": 60},
        "Run": {"Script": "sleep 600 & echo $! > bg.pid; "
                          "PYTHONPATH={artifacts:decompressedPath}/sdk python3 {artifacts:path}/app.py "
                          "'{configuration:/greeting}' {configuration:/n}; wait",
                "Setenv": {"STEP_VAR": "s", "OVERRIDE": "step"}, "RequiresPrivilege": True},
        "Shutdown": "echo shutdown ran > {work:path}/shutdown.txt",
    }, arts)
    changes = []
    runner = make(r, artifacts={"s3://bucket/c/1.0.0/app.py": src / "app.py", "s3://bucket/c/1.0.0/sdk.zip": src / "sdk.zip",
                                "s3://bucket/c/1.0.0/" + wheel.name: wheel},
                  credentials_uri="http://127.0.0.1:1234/2016-11-01/credentialprovider/", stream_manager_port=18088,
                  root_ca_path="/certs/root.pem", on_change=changes.append)
    await runner.start()
    assert await runner.wait_for(State.RUNNING, State.BROKEN, timeout=60) == State.RUNNING
    work = tmp_path / "gg" / "work" / NAME
    logf = tmp_path / "gg" / "logs" / f"{NAME}.log"
    await until(lambda: "PY " in logf.read_text() and (work / "bg.pid").exists())
    text = logf.read_text()
    env = json.loads(text.split("ENV ", 1)[1].splitlines()[0])
    py = json.loads(text.split("PY ", 1)[1].splitlines()[0])
    token = make.tokens.issue(NAME)
    assert env == {
        "SVCUID": token, "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1234/2016-11-01/credentialprovider/",
        "AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3", "AWS_IOT_THING_NAME": "CoreThing",
        "GG_ROOT_CA_PATH": "/certs/root.pem", "STREAM_MANAGER_SERVER_PORT": "18088", "HOME": str(work),
        "PYTHONUSERBASE": str(work / ".local"), "GLOBAL_VAR": "g-CoreThing", "STEP_VAR": "s", "OVERRIDE": "step",
    }
    assert py["prefix"] == sys.prefix                          # python3 is the bundle's interpreter
    assert py["tinymod"].startswith(str(work / ".local"))      # pip3 --user landed in the work folder
    assert py["cwd"] == str(work) and py["argv"] == ["hello", "3"]
    assert (work / "installed.txt").read_text() == "installed\n"
    art_dir = tmp_path / "gg" / "packages" / "artifacts" / NAME / "1.0.0"
    assert oct((art_dir / "app.py").stat().st_mode & 0o777) == "0o400"  # read-only, Read: OWNER (default)
    assert oct(art_dir.stat().st_mode & 0o777) == "0o555"
    assert oct((art_dir / wheel.name).stat().st_mode & 0o777) == "0o444"
    unz = tmp_path / "gg" / "packages" / "artifacts-unarchived" / NAME / "1.0.0" / "sdk" / "pkg" / "__init__.py"
    assert unz.read_text() == "X = 1\n"
    assert "RequiresPrivilege is ignored" in text and runner.status()["warnings"]
    st = runner.status()
    assert st["state"] == "RUNNING" and st["pid"] and st["component"] == NAME
    bg = int((work / "bg.pid").read_text())
    assert alive(bg)

    await runner.stop()
    assert runner.state == State.FINISHED
    assert (work / "shutdown.txt").read_text() == "shutdown ran\n"
    assert not alive(bg)                                         # the whole process group is gone
    assert [c["state"] for c in changes] == ["INSTALLED", "STARTING", "RUNNING", "STOPPING", "FINISHED"]
    assert not list(tmp_path.glob("*.txt")) and sorted(p.name for p in (tmp_path / "gg").iterdir()) == [
        "bin", "logs", "packages", "state", "work"]


async def test_failing_install_is_errored_with_the_reason_then_broken(make):
    changes = []
    runner = make(recipe({"Install": "echo oops >&2; exit 3", "Run": "sleep 600"}), on_change=changes.append)
    await runner.start()
    assert await runner.wait_for(State.BROKEN, timeout=30) == State.BROKEN
    errored = [c for c in changes if c["state"] == "ERRORED"]
    assert len(errored) == 2 and errored[0]["reason"] == "Install exited with code 3"
    assert errored[0]["statusCode"] == "INSTALL_ERROR"
    assert runner.status()["reason"] == "Install exited with code 3"
    assert "oops" in Path(runner.status()["log"]).read_text()
    await runner.stop()
    assert runner.state == State.BROKEN


async def test_run_failing_again_and_again_is_broken_after_three(make):
    runner = make(recipe({"Run": "echo run-attempt; exit 7", "Shutdown": "echo shutdown-after-error"}))
    await runner.start()
    assert await runner.wait_for(State.BROKEN, timeout=30) == State.BROKEN
    st = runner.status()
    assert (st["reason"], st["statusCode"], st["restarts"], st["pid"]) == ("Run exited with code 7", "RUN_ERROR", 2, None)
    log_text = Path(st["log"]).read_text()
    lines = log_text.splitlines()
    assert lines.count("run-attempt") == 3 and lines.count("shutdown-after-error") == 2
    await runner.stop()


async def test_run_exiting_zero_is_finished(make):
    runner = make(recipe({"Run": "echo done", "Shutdown": "echo bye"}))
    await runner.start()
    assert await runner.wait_for(State.FINISHED, State.BROKEN, timeout=30) == State.FINISHED
    assert runner.status()["reason"] == "Run exited 0"
    assert "bye" in Path(runner.status()["log"]).read_text()
    await runner.stop()


async def test_install_timeout_kills_the_step_group(make, tmp_path):
    runner = make(recipe({"Install": {"Script": "sleep 600 & echo $! > inst.pid; wait", "Timeout": 1},
                          "Run": "sleep 600"}))
    await runner.start()
    assert await runner.wait_for(State.ERRORED, timeout=30) == State.ERRORED
    assert runner.status()["statusCode"] == "INSTALL_TIMEOUT"
    assert "Timeout" in runner.status()["reason"]
    await runner.stop()
    pid = int((tmp_path / "gg" / "work" / NAME / "inst.pid").read_text())
    assert not alive(pid)


async def test_run_timeout_is_an_error(make):
    runner = make(recipe({"Run": {"Script": "sleep 600", "Timeout": 1}}))
    await runner.start()
    assert await runner.wait_for(State.ERRORED, timeout=30) == State.ERRORED
    assert runner.status()["statusCode"] == "RUN_TIMEOUT"
    await runner.stop()


async def test_shutdown_timeout_then_sigkill_for_a_group_that_ignores_sigterm(make, tmp_path):
    runner = make(recipe({"Run": "trap '' TERM; sleep 600 & echo $! > bg.pid; wait",
                          "Shutdown": {"Script": "sleep 600", "Timeout": 1}}))
    await runner.start()
    await runner.wait_for(State.RUNNING, timeout=30)
    work = tmp_path / "gg" / "work" / NAME
    await until(lambda: (work / "bg.pid").exists())
    bg = int((work / "bg.pid").read_text())
    await runner.stop()
    assert runner.state == State.FINISHED
    assert not alive(bg)
    text = Path(runner.status()["log"]).read_text()
    assert "ignored SIGTERM" in text and "Shutdown did not finish within its Timeout of 1 s" in text


async def test_skipif_and_startup(make, tmp_path):
    runner = make(recipe({
        "Install": {"Script": "exit 1", "Skipif": "onpath sh"},
        "Startup": "sleep 600 >/dev/null 2>&1 & echo $! > svc.pid",
        "Shutdown": {"Script": "echo never", "Skipif": "! exists /no/such/file"},
    }))
    await runner.start()
    assert await runner.wait_for(State.RUNNING, State.ERRORED, timeout=30) == State.RUNNING
    svc = int((tmp_path / "gg" / "work" / NAME / "svc.pid").read_text())
    assert alive(svc)  # the background service outlives the Startup script
    await runner.stop()
    assert runner.state == State.FINISHED and not alive(svc)
    text = Path(runner.status()["log"]).read_text()
    assert "Install: skipped" in text and "Shutdown: skipped" in text and "\nnever" not in text


async def test_bootstrap_runs_once_per_version_and_restart_requests_are_errors(make, tmp_path):
    r = recipe({"Bootstrap": "echo x >> {kernel:rootPath}/../boot.count", "Run": "true"})
    for _ in range(2):
        runner = make(r)
        await runner.start()
        assert await runner.wait_for(State.FINISHED, State.BROKEN, timeout=30) == State.FINISHED
        await runner.stop()
    assert (tmp_path / "boot.count").read_text() == "x\n"
    runner = make(recipe({"Bootstrap": "exit 100", "Run": "true"}, version="2.0.0"))
    await runner.start()
    await runner.wait_for(State.ERRORED, timeout=30)
    assert "nucleus restart" in runner.status()["reason"]
    await runner.stop()


async def test_missing_artifact_and_unresolved_variables(make):
    runner = make(recipe({"Run": "true"}, [{"URI": "s3://b/k/missing.py"}]))
    await runner.start()
    assert await runner.wait_for(State.BROKEN, timeout=30) == State.BROKEN
    assert "s3://b/k/missing.py" in runner.status()["reason"] and "not downloaded" in runner.status()["reason"]
    await runner.stop()
    runner = make(recipe({"Run": "echo '{configuration:/nope}'"}), root=Path(runner.root.parent / "gg2"))
    await runner.start()
    assert await runner.wait_for(State.FINISHED, timeout=30) == State.FINISHED
    assert runner.status()["warnings"] == [
        "interpolation: Manifests[1].Lifecycle.Run.Script: {configuration:/nope} has no value in the configuration "
        "of com.example.Test (left as is)"]
    assert "\n{configuration:/nope}\n" in Path(runner.status()["log"]).read_text()  # literal, as the nucleus
    await runner.stop()


async def test_stop_during_install_stops_at_once(make):
    runner = make(recipe({"Install": "sleep 600", "Run": "true"}))
    await runner.start()
    await runner.wait_for(State.NEW, timeout=5)
    t0 = time.monotonic()
    await runner.stop()
    assert runner.state == State.FINISHED and time.monotonic() - t0 < 10
