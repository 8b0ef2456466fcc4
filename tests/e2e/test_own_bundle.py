"""A user's own bundle runs from its own folder (issue #12, item 3).

A bundle outside this repository — ``<tmp>/my-bundle/group/group.yaml`` with its own
``lambdas/greeter`` (a handler that imports a module beside it and one from the bundle's shared
library folder) — is started with ``deploy.py run --group-file``, as a user would from anywhere.
The pinned function publishes to the cloud with the unmodified ``greengrasssdk``; the message it
sends names the files it was loaded from, which must be the bundle's, not this repository's.
``validate`` on the same file resolves the same paths (one rule for every command).
"""
import json
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import e2e_gg

TOPIC = "own/hello"

HANDLER = '''\
"""Pinned: publishes where its code came from on TOPIC every half second (test bundle)."""
import json
import os
import threading

import greengrasssdk

import greeting  # beside this file
import shared  # from the bundle's libraries: folder


def _publish_forever():
    client = greengrasssdk.client("iot-data")
    body = json.dumps({"handler": os.path.abspath(__file__), "greeting": greeting.TEXT,
                       "greeting_file": os.path.abspath(greeting.__file__),
                       "shared_file": os.path.abspath(shared.__file__)})
    stop = threading.Event()
    while not stop.wait(0.5):
        client.publish(topic=os.environ["TOPIC"], payload=body)


def function_handler(event, context):
    return None


if os.environ.get("MY_FUNCTION_ARN"):  # started by the Greengrass runtime: a long-lived worker
    threading.Thread(target=_publish_forever, name="greeter", daemon=True).start()
'''


def write_bundle(bundle: Path, marker: str) -> Path:
    """The user's bundle: group/group.yaml (relative code paths only), lambdas/greeter, lambdas/_shared."""
    fn = bundle / "lambdas" / "greeter"
    fn.mkdir(parents=True)
    (fn / "handler.py").write_text(HANDLER, encoding="utf-8")
    (fn / "greeting.py").write_text('TEXT = "hello from my own bundle"\n', encoding="utf-8")
    lib = bundle / "lambdas" / "_shared"
    lib.mkdir()
    (lib / "shared.py").write_text("VALUE = 1\n", encoding="utf-8")
    (bundle / "group").mkdir()
    group_file = bundle / "group" / "group.yaml"
    group_file.write_text(textwrap.dedent(f"""\
        group: {{name: own-bundle-{marker[:8]}}}
        core: {{thing: Own_Core}}
        functions:
          - name: greeter            # code at lambdas/greeter of this bundle
            pinned: true
            memory_mb: 64
            timeout_s: 3
            libraries: [lambdas/_shared]
            environment: {{TOPIC: {TOPIC}, {e2e_gg.MARKER_VAR}: {marker}}}
        subscriptions:
          - {{source: greeter, target: cloud, topic: {TOPIC}}}
        stream_manager: {{enabled: false}}
        """), encoding="utf-8")
    return group_file


def start_run(tmp_path: Path, group_file: Path, marker: str) -> e2e_gg.RunningGroup:
    """``deploy.py run --group-file <bundle> --no-devices --ephemeral-ports``, started from a folder
    that is neither this repository nor the bundle; returns once endpoint.json is written."""
    state_dir, certs_dir = tmp_path / "state", tmp_path / "certs"
    argv = [e2e_gg.PYTHON, str(e2e_gg.ROOT / "deploy.py"), "run", "--group-file", str(group_file),
            "--state-dir", str(state_dir), "--certs-dir", str(certs_dir), "--no-devices", "--ephemeral-ports"]
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    run = e2e_gg.OutputProcess(argv, "deploy.py run (own bundle)", env=e2e_gg._env(marker), cwd=str(elsewhere),
                               log_file=tmp_path / "run.log")
    endpoint_file = state_dir / "endpoint.json"
    t0 = time.monotonic()
    try:
        e2e_gg.wait_for(lambda: endpoint_file.exists() or run.proc.poll() is not None,
                        e2e_gg.READY_TIMEOUT_S, "endpoint.json of deploy.py run", interval=0.05)
    except AssertionError:
        run.kill()
        run.stop()
        raise
    if not endpoint_file.exists():
        run.stop()
        raise AssertionError(f"deploy.py run exited {run.proc.returncode} before ready:\n{run.output()[-4000:]}")
    return e2e_gg.RunningGroup(run=run, bundle=group_file.parent.parent, group_file=group_file,
                               state_dir=state_dir, certs_dir=certs_dir, marker=marker,
                               endpoint=json.loads(endpoint_file.read_text()), ready_seconds=time.monotonic() - t0)


def test_run_takes_the_code_of_the_bundle_of_the_group_file(tmp_path):
    marker = uuid.uuid4().hex
    bundle = tmp_path / "my-bundle"
    group_file = write_bundle(bundle, marker)
    repo = e2e_gg.ROOT
    assert not (repo / "lambdas" / "greeter").exists(), "the test needs a function this repository lacks"

    checked = subprocess.run([e2e_gg.PYTHON, str(repo / "deploy.py"), "validate", "--group-file", str(group_file)],
                             cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    running = start_run(tmp_path, group_file, marker)
    try:
        console = running.console()
        console.subscribe(TOPIC)
        [msg] = console.wait_messages(TOPIC, timeout=30)
        body = e2e_gg.message_payload(msg)
        here = str(bundle.resolve())
        assert body["greeting"] == "hello from my own bundle"
        assert Path(body["handler"]).resolve() == (bundle / "lambdas" / "greeter" / "handler.py").resolve()
        assert body["greeting_file"].startswith(here), body
        assert body["shared_file"].startswith(here), body
    finally:
        result = running.stop()
    e2e_gg.assert_clean_stop(result, running.run)
