"""The end-to-end fixture: the whole group under ``deploy.py run`` in a subprocess.

``group_run`` (session scope) writes a test copy of ``group/group.yaml`` into a tmp bundle
(see ``e2e_gg.write_test_group``: same functions, devices and subscriptions; paths under tmp,
seeds, short intervals, synthetic camera), starts
``deploy.py run --group-file <copy> --state-dir <tmp> --certs-dir <tmp> --ephemeral-ports --no-devices``,
waits (at most 60 s) for ``endpoint.json`` and yields an ``e2e_gg.RunningGroup``:

* ``.endpoint`` (endpoint.json), ``.cloud_url``, ``.dashboard_url``, ``.state_dir``, ``.certs_dir``,
  ``.group_file``, ``.frames_dir``, ``.function_log(name)``
* ``.client("dynamodb")`` etc.: boto3 clients on the local cloud (dummy keys)
* ``.console()``: the dashboard's SSE stream (``subscribe(filter)``, ``publish(topic, payload)``,
  ``wait_messages(topic, timeout, count)``, ``api(method, path, body)``)
* ``.start_device(script, thing, *args, client_id=None)``: a device script subprocess with
  ``-e 127.0.0.1 -r root-ca.pem -c -k --discovery-port --group-ca-dir``; stopped (SIGINT) at teardown
* ``.stream_client()``: the unmodified greengrasssdk ``StreamManagerClient`` on the core's port
* ``.deploy_cli(*args)``: ``deploy.py <args> --target local`` against this run

Teardown: devices stopped, SIGINT to the run, exit code 0 within 10 s, no child process left
(the run's descendants, and every process carrying this run's marker in its environment).

``group_run`` is parametrized over the platforms (``v1``, ``v2``): pytest runs every test of one
platform's run, then stops it and starts the other's (in one process never two shared runs at once; under
pytest-xdist each platform's run is its own group, so two workers may each hold one).

The run is shared, in any order: the tests that drive the traffic light (test_devices, the dashboard browser's,
test_v2_carstats) check what their own cycles added to what the light, the tables and the writers' logs held before
(``e2e_light_kit``, tests/e2e/light_kit.py); the stream_reader test expects the first trigger of stream_reader.
A module of one platform only selects that param: ``pytest.mark.parametrize("platform", ["v2"], indirect=True)``
(same run, same xdist group). A test that changes the group starts its own run:
``e2e_gg.start_group(tmp, overrides=..., source=...)``.

Helpers for tests: ``import e2e_gg`` (``wait_for``, ``message_payload``, ``start_group``, ...).
"""
import importlib.util
import sys
from pathlib import Path

import pytest

def _load(name: str, file: str):
    """A helper module of this folder under a unique name (``import e2e_gg`` in tests): with
    ``--import-mode=importlib`` the folder is not on sys.path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


e2e_gg = _load("e2e_gg", "gg.py")
_load("e2e_fidelity_kit", "fidelity_kit.py")  # the V2 fidelity modules' run and revisions
_load("e2e_light_kit", "light_kit.py")  # the traffic light's flows on the shared run


PLATFORMS = ("v1", "v2")


@pytest.fixture(scope="session", params=PLATFORMS)
def platform(request):
    """Every seed flow runs under both platforms: the group from its V1 group version, and the same
    group from its Greengrass V2 deployment (``deploy.py run --platform v2``)."""
    return request.param


@pytest.fixture(scope="session")
def group_run(tmp_path_factory, platform):
    running = e2e_gg.start_group(tmp_path_factory.mktemp(f"bundle-{platform}"), platform=platform)
    try:
        yield running
    finally:
        result = running.stop()
        e2e_gg.assert_clean_stop(result, running.run)


@pytest.fixture(scope="session")
def console(group_run):
    """One dashboard event stream shared by the tests (each subscribes to what it needs)."""
    return group_run.console()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """The shared run stops right after the last test that uses it, not at the end of the session: the tests a
    worker runs after it (the rest of the suite) do not share the machine with a whole group running for nothing.
    A failed clean stop is reported as an error of that last test's teardown."""
    result = yield
    if "group_run" in item.fixturenames and nextitem is not None and "group_run" not in nextitem.fixturenames:
        for fixturedef in item._fixtureinfo.name2fixturedefs.get("group_run", ()):
            fixturedef.finish(item._request)   # its dependants (``console``) first, as pytest finishes them
    return result


@pytest.hookimpl(tryfirst=True)  # before xdist's hook reads the groups (a conftest loaded first runs last)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test`` runs two workers), every test of one platform's shared run goes to
    one worker, in order, so each ``group_run`` starts once; the two platforms' runs are two groups, which
    may go to two workers at once (each run has its own ports, state and processes). Tests that start their
    own runs and every other test are spread over the workers."""
    for item in items:
        if "group_run" in getattr(item, "fixturenames", ()):
            platform = getattr(getattr(item, "callspec", None), "params", {}).get("platform", "any")
            item.add_marker(pytest.mark.xdist_group(f"group_run-{platform}"))
