"""Issue #20 item 5, the local iteration loop, under the real ``deploy.py run --platform v2``: aws.greengrass.Cli and
aws.greengrass.SecretManager added by a boto3 deployment, then ``python deploy.py cli ...`` (greengrass-cli over the
core's nucleus IPC) — a local deployment from a recipe folder and an artifact folder, its configuration MERGEd and
RESET, restart, stop, remove; a GDK project; a bad recipe folder; a local component kept by a later cloud deployment;
a deployment held in its configuration validation cancelled.
One run for the module (fidelity_kit.py); the tests share it in order (one xdist group).
"""
import json
import re
import subprocess
import textwrap
import time
from pathlib import Path

import e2e_fidelity_kit as kit
import e2e_gg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("v2-local-deployments")]

CLI, SECRETS = "aws.greengrass.Cli", "aws.greengrass.SecretManager"
HELLO = "com.example.LocalHello"
STATUS_TIMEOUT_S = 45.0
ID = re.compile(r"Local deployment submitted! Deployment Id: ([0-9a-f-]{36})")


@pytest.fixture(scope="module")
def fid(tmp_path_factory):
    yield from kit.start(tmp_path_factory, "v2-local-deployments")


def cli(fid, *argv: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``python deploy.py cli --state-dir <the run's> <argv>``, as a user types it."""
    done = subprocess.run([e2e_gg.PYTHON, str(e2e_gg.ROOT / "deploy.py"), "cli", "--state-dir", str(fid.run.state_dir),
                           *argv], capture_output=True, text=True, timeout=90, cwd=str(e2e_gg.ROOT))
    if ok:
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done


def create(fid, *argv: str) -> str:
    return ID.search(cli(fid, "deployment", "create", *argv).stdout).group(1)


def status(fid, deployment_id: str, want: str = "SUCCEEDED") -> list:
    """The lines of ``deployment status`` once the deployment ended (asserting it ended ``want``)."""
    def ended():
        lines = cli(fid, "deployment", "status", "-i", deployment_id).stdout.splitlines()
        return lines if lines[0].split(": ")[1] in ("SUCCEEDED", "FAILED", "CANCELED") else None
    lines = e2e_gg.wait_for(ended, STATUS_TIMEOUT_S, f"local deployment {deployment_id} to end", interval=0.2)
    assert lines[0] == f"{deployment_id}: {want}", (lines, fid.run.run.output()[-2000:])
    return lines


def details(fid, name: str) -> dict:
    out = cli(fid, "component", "details", "-n", name).stdout
    fields = dict(re.findall(r"^\s*(Component Name|Version|State|Configuration): (.*)$", out, re.M))
    fields["Configuration"] = json.loads(fields["Configuration"])
    return fields


@pytest.fixture(scope="module")
def with_cli(fid):
    """The boto3 deployment a user makes: the thing group's components plus the secret manager and the CLI."""
    gg = fid.gg
    versions = {n: gg.list_component_versions(arn=f"arn:aws:greengrass:us-east-1:aws:components:{n}")
                ["componentVersions"][0]["componentVersion"] for n in (CLI, SECRETS)}
    deployment_id = fid.deploy({n: v for n, v in versions.items()})
    return fid.succeeded(deployment_id), versions


def test_a_boto3_deployment_adding_the_secret_manager_and_the_cli_is_accepted(fid, with_cli):
    effective, versions = with_cli
    assert versions == {CLI: "2.16.1", SECRETS: "2.2.6"}
    installed = fid.installed()
    assert {n: installed[n]["lifecycleState"] for n in versions} == {CLI: "RUNNING", SECRETS: "RUNNING"}
    token = fid.root / "cli_ipc_info"
    assert [p.name for p in token.iterdir()] and fid.health() == "HEALTHY"
    listed = cli(fid, "component", "list").stdout
    assert listed.startswith("Components currently running in Greengrass:\n")
    assert f"Component Name: {CLI}\n    Version: 2.16.1\n    State: RUNNING" in listed


def write_component(folder: Path, version: str = "1.0.0", message: str = "from the artifact") -> tuple:
    recipes, artifacts = folder / "recipes", folder / "artifacts" / HELLO / version
    recipes.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    (recipes / "hello.yaml").write_text(textwrap.dedent(f"""\
        RecipeFormatVersion: "2020-01-25"
        ComponentName: {HELLO}
        ComponentVersion: "{version}"
        ComponentConfiguration:
          DefaultConfiguration: {{greeting: hello, who: world}}
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              Run: >-
                echo $$ > pid;
                echo "$(cat {{artifacts:path}}/message.txt) {{configuration:/greeting}} {{configuration:/who}}" >> out.log;
                exec sleep 600
        """))
    (artifacts / "message.txt").write_text(message)
    return str(folder / "recipes"), str(folder / "artifacts")


def test_the_local_iteration_loop(fid, with_cli, tmp_path):
    recipes, artifacts = write_component(tmp_path)
    first = create(fid, "--recipeDir", recipes, "--artifactDir", artifacts, "--merge", f"{HELLO}=1.0.0")
    lines = status(fid, first)
    assert re.fullmatch(r"Created on: \d\d-\d\d-\d{4} \d\d:\d\d:\d\d UTC", lines[1])
    assert fid.wait_lines(HELLO, 1) == ["from the artifact hello world"]
    assert details(fid, HELLO) == {"Component Name": HELLO, "Version": "1.0.0", "State": "RUNNING",
                                   "Configuration": {"greeting": "hello", "who": "world"}}
    cloud = fid.installed()[HELLO]              # the core reports its fleet status to the cloud
    assert (cloud["lifecycleState"], cloud["isRoot"]) == ("RUNNING", True)
    pid = fid.pid(HELLO)

    # configuration: MERGE, then RESET brings the default back; each restarts the component that uses it
    status(fid, create(fid, "--update-config", json.dumps({HELLO: {"MERGE": {"greeting": "hi", "who": "you"}}})))
    assert fid.wait_lines(HELLO, 2)[-1] == "from the artifact hi you"
    status(fid, create(fid, "-c", json.dumps({HELLO: {"RESET": ["/who"]}})))
    assert fid.wait_lines(HELLO, 3)[-1] == "from the artifact hi world"
    assert details(fid, HELLO)["Configuration"] == {"greeting": "hi", "who": "world"}
    assert not kit.alive(pid)

    # restart and stop
    pid = fid.pid(HELLO)
    cli(fid, "component", "restart", "--names", HELLO)
    assert fid.wait_lines(HELLO, 4)[-1] == "from the artifact hi world" and fid.pid(HELLO) != pid
    pid = fid.pid(HELLO)
    cli(fid, "component", "stop", "-n", HELLO)
    e2e_gg.wait_for(lambda: details(fid, HELLO)["State"] == "FINISHED", 20, f"{HELLO} FINISHED")
    assert not kit.alive(pid)

    # a new artifact at a new version replaces it; then --remove ends it
    recipes, artifacts = write_component(tmp_path / "v2", "1.1.0", "new artifact")
    status(fid, create(fid, "-r", recipes, "-a", artifacts, "-m", f"{HELLO}=1.1.0"))
    assert fid.wait_lines(HELLO, 5)[-1] == "new artifact hi world"   # the running configuration survives
    pid = fid.pid(HELLO)
    status(fid, create(fid, "--remove", HELLO))
    assert HELLO not in cli(fid, "component", "list").stdout
    e2e_gg.wait_for(lambda: not kit.alive(pid), 20, f"{HELLO}'s process to end")
    listed = cli(fid, "deployment", "list").stdout
    assert re.findall(r"Status: (\S+)", listed) == ["SUCCEEDED"] * 5 and first in listed


def test_a_gdk_project_folder_deploys(fid, with_cli, tmp_path):
    name = "com.example.GdkHello"
    project = tmp_path / "gdk-hello"
    project.mkdir()
    (project / "gdk-config.json").write_text(json.dumps({
        "component": {name: {"author": "Me", "version": "1.0.0", "build": {"build_system": "zip"},
                             "publish": {"bucket": "b", "region": "us-east-1"}}}, "gdk_version": "1.3.0"}))
    (project / "recipe.yaml").write_text(textwrap.dedent("""\
        RecipeFormatVersion: "2020-01-25"
        ComponentName: "{COMPONENT_NAME}"
        ComponentVersion: "{COMPONENT_VERSION}"
        ComponentPublisher: "{COMPONENT_AUTHOR}"
        ComponentConfiguration:
          DefaultConfiguration: {message: gdk}
        Manifests:
          - Platform: {os: all}
            Artifacts:
              - URI: "s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/gdk-hello.zip"
                Unarchive: ZIP
            Lifecycle:
              Run: "python3 -u {artifacts:decompressedPath}/gdk-hello/main.py {configuration:/message}"
        """))
    (project / "main.py").write_text("import sys, time\nopen('out.log', 'a').write('gdk ' + sys.argv[1] + '\\n')\n"
                                     "time.sleep(600)\n")
    status(fid, create(fid, "--recipeDir", str(project), "--merge", f"{name}=1.0.0"))
    assert fid.wait_lines(name, 1) == ["gdk gdk"]
    assert details(fid, name)["State"] == "RUNNING"
    assert not (project / "greengrass-build").exists()
    status(fid, create(fid, "--remove", name))


def test_a_bad_recipe_folder_gets_the_nucleus_error(fid, with_cli, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.yaml").write_text("RecipeFormatVersion: '2020-01-25'\nComponentName: com.example.Broken\n")
    lines = status(fid, create(fid, "--recipeDir", str(bad), "--merge", "com.example.Broken=1.0.0"), "FAILED")
    assert lines[2:] == [
        "Detailed Status: FAILED_NO_STATE_CHANGE",
        "Deployment Error Stack: DEPLOYMENT_FAILURE, IO_ERROR, IO_WRITE_ERROR, IO_MAPPING_ERROR",
        "Deployment Error Types: DEVICE_ERROR",
        f"Deployment Failure Cause: Error copying recipes and artifacts. Unable to parse {bad / 'broken.yaml'} as a "
        "recipe due to: ComponentVersion: is required"]
    missing = cli(fid, "deployment", "create", "--recipeDir", str(tmp_path / "nowhere"), ok=False)
    assert missing.returncode == 1 and "InvalidRecipeDirectoryPathError" in missing.stderr
    # a version that neither the store nor the cloud has: FAILED, nothing changed
    text = "\n".join(status(fid, create(fid, "--merge", "com.example.Nowhere=1.0.0"), "FAILED"))
    assert "NO_AVAILABLE_COMPONENT_VERSION" in text and "Component com.example.Nowhere version constraints" in text
    assert fid.health() == "HEALTHY"


def test_a_local_component_stays_through_a_cloud_deployment(fid, with_cli, tmp_path):
    recipes, artifacts = write_component(tmp_path, "2.0.0", "kept")
    status(fid, create(fid, "-r", recipes, "-a", artifacts, "-m", f"{HELLO}=2.0.0"))
    e2e_gg.wait_for(lambda: fid.lines(HELLO)[-1:] == ["kept hello world"], 20, f"{HELLO} 2.0.0's line")
    pid = fid.pid(HELLO)
    base = {n: v for n, v in with_cli[1].items()}           # the thing group keeps the CLI and the secret manager
    fid.succeeded(fid.deploy(base))                         # a new cloud revision: the local group's roots stay
    assert fid.installed()[HELLO]["lifecycleState"] == "RUNNING" and fid.pid(HELLO) == pid and kit.alive(pid)
    status(fid, create(fid, "--remove", HELLO))


VALIDATOR = "com.example.SlowValidator"


def test_cancelling_a_deployment_in_progress_changes_nothing(fid, with_cli, tmp_path):
    """A component that validates configuration updates and never answers holds the next deployment in its
    validation (20 s); ``deployment cancel`` ends it CANCELED at once, before its merge: the configuration stays."""
    recipes, artifacts = tmp_path / "recipes", tmp_path / "artifacts" / VALIDATOR / "1.0.0"
    recipes.mkdir()
    artifacts.mkdir(parents=True)
    (artifacts / "validator.py").write_text(textwrap.dedent("""\
        import time
        from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
        def note(text):
            with open("out.log", "a") as f:
                f.write(text + "\\n")
        ipc = GreengrassCoreIPCClientV2()
        ipc.subscribe_to_validate_configuration_updates(on_stream_event=lambda e: note(
            "asked v=%s" % e.validate_configuration_update_event.configuration.get("v")))
        note("subscribed")
        while True:
            time.sleep(60)
        """))
    (recipes / "validator.yaml").write_text(textwrap.dedent(f"""\
        RecipeFormatVersion: "2020-01-25"
        ComponentName: {VALIDATOR}
        ComponentVersion: "1.0.0"
        ComponentConfiguration:
          DefaultConfiguration: {{v: 1}}
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              Run: python3 -u {{artifacts:path}}/validator.py
        """))
    status(fid, create(fid, "-r", str(recipes), "-a", str(tmp_path / "artifacts"), "-m", f"{VALIDATOR}=1.0.0"))
    assert fid.wait_lines(VALIDATOR, 1) == ["subscribed"]
    held = create(fid, "-c", json.dumps({VALIDATOR: {"MERGE": {"v": 2}}}))
    assert fid.wait_lines(VALIDATOR, 2)[-1] == "asked v=2"          # the deployment waits in the validation
    cancelled_at = time.monotonic()
    assert cli(fid, "deployment", "cancel", "-i", held).stdout == f"Cancel request submitted. Deployment ID: {held}\n"
    assert cli(fid, "deployment", "status", "-i", held).stdout.splitlines()[0] == f"{held}: CANCELED"
    assert details(fid, VALIDATOR)["Configuration"] == {"v": 1}     # the cancelled merge never happened
    status(fid, create(fid, "--remove", VALIDATOR))
    assert time.monotonic() - cancelled_at < 15                      # the queue went on without waiting out the 20 s
    assert cli(fid, "deployment", "status", "-i", held).stdout.splitlines()[0] == f"{held}: CANCELED"
    assert VALIDATOR not in cli(fid, "component", "list").stdout
