"""greengrass-cli's grammar and how it finds the core, without a core (the IPC calls are in the functional and
end-to-end tests)."""
from __future__ import annotations

import io
import json
import os

import pytest

from localcore.greengrass_cli import client
from localcore.greengrass_cli.errors import CliError


def parse(*argv: str):
    return client.build_parser().parse_args(list(argv))


def test_deployment_create_takes_the_real_clis_options():
    a = parse("deployment", "create", "-r", "recipes", "-a", "artifacts", "-m", "A=1.0.0", "--merge", "B=2.0.0",
              "--remove", "C", "--remove", "D", "-g", "dev", "-c", '{"A":{"MERGE":{"k":1}}}', "-fp", "ROLLBACK",
              "--runWith", "A:posixUser=ggc_user:ggc_group")
    assert (a.command, a.action, a.recipe_dir, a.artifact_dir, a.group_id) == \
        ("deployment", "create", "recipes", "artifacts", "dev")
    assert client._merge_map(a.merge) == {"A": "1.0.0", "B": "2.0.0"}
    assert a.remove == ["C", "D"] and a.failure_handling_policy == "ROLLBACK"
    info = client._run_with(a.run_with, {"A": {"memory": 1024, "cpus": 0.5}})["A"]
    assert (info.posix_user, info.system_resource_limits.memory) == ("ggc_user:ggc_group", 1024)
    assert parse("deployment", "status", "--deploymentId", "x").deployment_id == "x"
    assert parse("component", "restart", "--names", "A, B").names == "A, B"
    assert client._names("A, B&C ,D") == ["A", "B", "C", "D"]


@pytest.mark.parametrize("bad", ["A", "=1.0.0", "A="])
def test_a_merge_without_name_and_version_is_refused(bad):
    with pytest.raises(CliError, match="<component>=<version>"):
        client._merge_map([bad])


def test_update_config_is_a_json_file_or_a_json_string(tmp_path):
    f = tmp_path / "config.json"
    f.write_text('{"A": {"RESET": ["/k"]}}')
    assert client._json_option(str(f), "x") == {"A": {"RESET": ["/k"]}}
    assert client._json_option('{"A": {}}', "x") == {"A": {}}
    with pytest.raises(CliError, match="not a properly formatted JSON"):
        client._json_option("{A:", "Update configuration parameter")


def test_the_core_is_found_through_endpoint_json_of_a_running_v2_run(tmp_path, monkeypatch):
    monkeypatch.delenv("GGC_ROOT_PATH", raising=False)
    with pytest.raises(CliError, match="no local core is running"):
        client.find_root(None, tmp_path)
    (tmp_path / "endpoint.json").write_text(json.dumps({"platform": "v1", "pid": os.getpid()}))
    with pytest.raises(CliError, match="talks to a V2 core"):
        client.find_root(None, tmp_path)
    (tmp_path / "endpoint.json").write_text(json.dumps({"platform": "v2", "pid": os.getpid(),
                                                        "state_dir": str(tmp_path)}))
    assert client.find_root(None, tmp_path) == tmp_path / "v2" / "greengrass"
    assert client.find_root(str(tmp_path / "elsewhere"), tmp_path) == tmp_path / "elsewhere"
    monkeypatch.setenv("GGC_ROOT_PATH", str(tmp_path / "env"))
    assert client.find_root(None, tmp_path) == tmp_path / "env"


def test_the_token_file_is_the_users_then_the_groups_then_any(tmp_path):
    with pytest.raises(CliError, match="aws.greengrass.Cli is not deployed"):
        client.read_ipc_info(tmp_path)
    folder = tmp_path / client.IPC_INFO_DIR
    folder.mkdir()
    (folder / "zz-other").write_text(json.dumps({"cli_auth_token": "other", "domain_socket_path": "/s"}))
    assert client.read_ipc_info(tmp_path) == ("other", "/s")
    (folder / f"group-{os.getegid()}").write_text(json.dumps({"cli_auth_token": "grp", "domain_socket_path": "/s"}))
    assert client.read_ipc_info(tmp_path)[0] == "grp"
    (folder / f"user-{os.geteuid()}").write_text(json.dumps({"cli_auth_token": "me", "domain_socket_path": "/s"}))
    assert client.read_ipc_info(tmp_path)[0] == "me"


def test_without_a_core_the_cli_says_so_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GGC_ROOT_PATH", raising=False)
    assert client.main(["component", "list"], state_dir=tmp_path, out=io.StringIO()) == 1
    assert "no local core is running" in capsys.readouterr().err
    out = io.StringIO()
    assert client.main(["help"], out=out) == 0 and "deployment" in out.getvalue()
