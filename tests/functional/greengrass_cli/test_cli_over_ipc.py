"""greengrass-cli (the real client module, as a subprocess) against the nucleus IPC of a core: the token file the core
writes while aws.greengrass.Cli is deployed, the local deployment operations (queued, listed, status, cancel — of a
queued deployment and of the one in progress, before and after its merge began —, the request errors) and the
component operations; a component calling CreateLocalDeployment with the unmodified awsiotsdk client is authorized
by its accessControl. The processing of the queued deployments is CoreDevice's (tests/e2e/test_v2_local_deployments.py).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
import textwrap

import pytest

CLI = "aws.greengrass.Cli"


async def test_the_token_file_lives_while_the_cli_is_deployed(core):
    code, _, err = await core.cli("deployment", "list")
    assert code == 1 and f"{CLI} is not deployed" in err
    await core.ipc.configure({CLI: {}})
    token_file = core.root / "cli_ipc_info" / f"user-{os.geteuid()}"
    info = json.loads(token_file.read_text())
    assert info["domain_socket_path"] == str(core.root / "ipc.socket")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert core.tokens.component_of(info["cli_auth_token"]) == f"greengrass-cli#user-{os.geteuid()}"
    code, out, err = await core.cli("component", "list")
    assert (code, out) == (0, "Components currently running in Greengrass:\n"), err
    await core.ipc.configure({})                     # the CLI leaves the deployment
    assert not token_file.exists() and core.tokens.component_of(info["cli_auth_token"]) is None
    code, _, err = await core.cli("component", "list")
    assert code == 1 and f"{CLI} is not deployed" in err


async def test_local_deployments_are_queued_listed_and_followed(core, tmp_path):
    await core.ipc.configure({CLI: {}})
    recipes, artifacts = tmp_path / "recipes", tmp_path / "artifacts"
    recipes.mkdir()
    artifacts.mkdir()
    first = await core.create("--recipeDir", str(recipes), "--artifactDir", str(artifacts),
                              "--merge", "com.example.A=1.0.0", "-c", '{"com.example.A": {"MERGE": {"k": 1}}}')
    (deployment_id, request) = core.local.next()
    assert deployment_id == first
    assert request.recipe_dir == str(recipes) and request.to_add == {"com.example.A": "1.0.0"}
    assert request.configuration == {"com.example.A": {"merge": {"k": 1}}} and request.failure_policy == "DO_NOTHING"
    core.local.records.update(first, "FAILED", detailed="FAILED_NO_STATE_CHANGE",
                              error_stack=["DEPLOYMENT_FAILURE", "NO_AVAILABLE_COMPONENT_VERSION"],
                              failure_cause="no version")
    code, out, _ = await core.cli("deployment", "status", "-i", first)
    lines = out.splitlines()
    assert lines[0] == f"{first}: FAILED" and re.fullmatch(r"Created on: \d\d-\d\d-\d{4} \d\d:\d\d:\d\d UTC", lines[1])
    assert lines[2:] == ["Detailed Status: FAILED_NO_STATE_CHANGE",
                         "Deployment Error Stack: DEPLOYMENT_FAILURE, NO_AVAILABLE_COMPONENT_VERSION",
                         "Deployment Failure Cause: no version"]
    second = await core.create("--remove", "com.example.A", "-g", "dev")
    code, out, _ = await core.cli("deployment", "list")
    assert re.findall(r"Deployment ID: (\S+)\nCreated on: .*\nStatus: (\S+)", out) == \
        [(first, "FAILED"), (second, "QUEUED")]
    code, out, _ = await core.cli("deployment", "cancel", "-i", second)
    assert out == f"Cancel request submitted. Deployment ID: {second}\n"
    assert core.local.next() is None                                  # dropped from the queue
    code, out, _ = await core.cli("deployment", "status", "-i", second)
    assert out.splitlines()[0] == f"{second}: CANCELED"
    code, out, _ = await core.cli("deployment", "cancel", "-i", first)
    assert out == "Cancellation request is not processed because deployment is already finished\n"


@pytest.mark.parametrize("argv, error", [
    (["deployment", "status", "-i", "nope"],
     "InvalidArgumentsError: Invalid deploymentId format received. DeploymentId is a UUID"),
    (["deployment", "status", "-i", "0b8d3b0e-9d8a-4d8e-9a51-3f0f6f2b9a10"], "ResourceNotFoundError: Cannot find deployment"),
    (["deployment", "create", "--recipeDir", "{tmp}/missing"], "InvalidRecipeDirectoryPathError: Recipe directory"),
    (["deployment", "create", "--artifactDir", "{root}"],
     "InvalidArtifactsDirectoryPathError: Requested artifacts directory path is parent of kernel artifacts"),
    (["deployment", "create", "-g", "a:b"], "InvalidArgumentsError: Thing group name cannot contain colon characters"),
    (["deployment", "create", "-c", "{{nope"], "is not a properly formatted JSON"),
    (["component", "details", "-n", "com.example.Ghost"],
     "ResourceNotFoundError: Component with name com.example.Ghost not found in Greengrass"),
])
async def test_requests_the_core_refuses_say_why(core, tmp_path, argv, error):
    await core.ipc.configure({CLI: {}})
    argv = [a.format(tmp=tmp_path, root=core.root) for a in argv]
    code, out, err = await core.cli(*argv)
    assert code == 1 and error in err, (out, err)
    assert core.local.next() is None


CALLER = textwrap.dedent("""
    import json, sys
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    ipc = GreengrassCoreIPCClientV2()
    try:
        r = ipc.create_local_deployment(root_components_to_remove=["com.example.Gone"])
        print(json.dumps(["ok", r.deployment_id]))
    except Exception as e:
        print(json.dumps([type(e).__name__, e.message]))
""")


async def run_caller(core, name: str) -> list:
    token = core.tokens.issue(name)
    env = dict(os.environ, SVCUID=token, AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=str(core.root / "ipc.socket"))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CALLER, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_a_component_creates_a_local_deployment_when_its_access_control_allows_it(core):
    allowed = {"accessControl": {CLI: {"p": {"operations": ["aws.greengrass#CreateLocalDeployment"],
                                             "resources": ["*"]}}}}
    await core.ipc.configure({CLI: {}, "com.example.Deployer": allowed, "com.example.Other": {}})
    kind, text = await run_caller(core, "com.example.Other")
    assert kind == "UnauthorizedError" and "aws.greengrass#CreateLocalDeployment" in text
    kind, deployment_id = await run_caller(core, "com.example.Deployer")
    assert kind == "ok" and core.local.next()[1].to_remove == ("com.example.Gone",)
    await core.ipc.configure({"com.example.Deployer": allowed})       # without the CLI: not served
    kind, text = await run_caller(core, "com.example.Deployer")
    assert kind == "ServiceError" and "is not supported by Greengrass" in text


async def test_cancel_interrupts_the_deployment_in_progress_until_its_merge_begins(core):
    await core.ipc.configure({CLI: {}})
    first = await core.create("--remove", "com.example.A")
    deployment_id, _ = core.local.next()
    assert deployment_id == first
    code, out, _ = await core.cli("deployment", "status", "-i", first)
    assert out.splitlines()[0] == f"{first}: IN_PROGRESS"
    steps, waiting = [], asyncio.Event()

    async def processing(commit_at: int):
        for step in range(3):                     # e.g. resolve, download, validate; then the merge
            if step == commit_at:
                core.local.commit(deployment_id)
            steps.append(step)
            if step == 1:
                waiting.set()
            await asyncio.sleep(3600 if step == 1 else 0)
        core.local.records.update(deployment_id, "SUCCEEDED", detailed="SUCCESSFUL")

    run = asyncio.ensure_future(core.local.run(deployment_id, processing(commit_at=2)))
    await asyncio.wait_for(waiting.wait(), 10)
    code, out, err = await core.cli("deployment", "cancel", "-i", first)
    assert (code, out) == (0, f"Cancel request submitted. Deployment ID: {first}\n"), err
    assert await asyncio.wait_for(run, 10) is False and steps == [0, 1]      # interrupted: the merge never began
    code, out, _ = await core.cli("deployment", "status", "-i", first)
    assert out.splitlines()[0] == f"{first}: CANCELED"

    second = await core.create("--remove", "com.example.B")
    deployment_id, _ = core.local.next()
    steps.clear()
    waiting.clear()
    release = asyncio.Event()

    async def merging():
        core.local.commit(deployment_id)          # the merge began
        waiting.set()
        await release.wait()
        steps.append("merged")
        core.local.records.update(deployment_id, "SUCCEEDED", detailed="SUCCESSFUL")

    run = asyncio.ensure_future(core.local.run(deployment_id, merging()))
    await asyncio.wait_for(waiting.wait(), 10)
    code, out, _ = await core.cli("deployment", "cancel", "-i", second)
    assert out == f"Cancel request submitted. Deployment ID: {second}\n"
    release.set()
    assert await asyncio.wait_for(run, 10) is True and steps == ["merged"]   # it ran to its end
    code, out, _ = await core.cli("deployment", "status", "-i", second)
    assert out.splitlines()[0] == f"{second}: CANCELED"                     # its outcome is not reported over it
    code, out, _ = await core.cli("deployment", "cancel", "-i", second)
    assert out == "Cancellation request is not processed because deployment is already finished\n"
    assert core.local.status_summary()["cancelled_in_progress"] == 2


async def test_the_core_stopping_is_not_taken_for_a_cancel(core):
    await core.ipc.configure({CLI: {}})
    await core.create("--remove", "com.example.A")
    deployment_id, _ = core.local.next()
    started = asyncio.Event()

    async def processing():
        started.set()
        await asyncio.sleep(3600)

    outer = asyncio.ensure_future(core.local.run(deployment_id, processing()))
    await asyncio.wait_for(started.wait(), 10)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert core.local.status(deployment_id)["status"] == "IN_PROGRESS"
