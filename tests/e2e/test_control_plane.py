"""deploy.py against the running embedded cloud (never destroy on the shared run)."""
import pytest

pytestmark = pytest.mark.slow


def test_plan_finds_nothing_to_change_while_running(group_run):
    done = group_run.deploy_cli("plan", "--exit-code")
    assert done.returncode == 0, f"plan --exit-code -> {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_status_reports_the_running_deployment(group_run):
    done = group_run.deploy_cli("status", "--json")
    assert done.returncode == 0, done.stderr
    assert group_run.endpoint["group_id"] in done.stdout, done.stdout
