"""The environment of a generic component's process (localcore/generic_components/environment.py): what the
nucleus sets, the long-socket rule, the Setenv order and the container credentials."""
from pathlib import Path

import pytest

from localcore.generic_components.environment import component_environment

BASE = {"PATH": "/usr/bin", "AWS_ACCESS_KEY_ID": "static", "AWS_PROFILE": "dev", "KEEP": "1"}


def env(**kw):
    args = dict(token="TOKEN16CHARSXXXX", region="eu-west-1", thing_name="Core1", nucleus_version="2.16.1",
                work=Path("/gg/work/com.example.A"), shims=Path("/gg/bin"))
    args.update(kw)
    return component_environment(BASE, **args)


def test_what_the_nucleus_sets():
    e = env(ipc_socket=Path("/gg/ipc.socket"), root_ca_path="/gg/root.pem")
    assert e["SVCUID"] == e["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == "TOKEN16CHARSXXXX"
    assert (e["AWS_REGION"], e["AWS_DEFAULT_REGION"], e["AWS_IOT_THING_NAME"]) == ("eu-west-1", "eu-west-1", "Core1")
    assert e["GGC_VERSION"] == "2.16.1" and e["GG_ROOT_CA_PATH"] == "/gg/root.pem"
    assert e["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH"] == "/gg/ipc.socket"
    assert e["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] == "/gg/ipc.socket"
    assert e["HOME"] == "/gg/work/com.example.A" and e["PYTHONUSERBASE"] == "/gg/work/com.example.A/.local"
    assert e["PATH"] == "/gg/bin:/gg/work/com.example.A/.local/bin:/usr/bin" and e["KEEP"] == "1"


def test_no_socket_no_socket_variables_and_no_empty_extras():
    e = env()
    assert not {k for k in e if k.startswith("AWS_GG_NUCLEUS")}
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in e and "STREAM_MANAGER_SERVER_PORT" not in e
    assert e["AWS_ACCESS_KEY_ID"] == "static" and e["GG_ROOT_CA_PATH"] == ""


def test_a_socket_path_too_long_for_sockaddr_un_is_given_relative_to_the_work_folder():
    root = Path("/" + "r" * 120)
    e = env(ipc_socket=root / "ipc.socket", work=root / "work" / "com.example.A")
    assert e["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] == "../../ipc.socket"
    assert e["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH"] == str(root / "ipc.socket")


def test_container_credentials_replace_static_keys():
    e = env(credentials_uri="http://localhost:9/2016-11-01/credentialprovider/")
    assert e["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://localhost:9/2016-11-01/credentialprovider/"
    assert "AWS_ACCESS_KEY_ID" not in e and "AWS_PROFILE" not in e and e["KEEP"] == "1"


@pytest.mark.parametrize("layers, want", [
    (({"A": "global"},), "global"),
    (({"A": "global"}, {"A": "step"}), "step"),            # the step's Setenv wins over the recipe's
    (({}, {"GGC_VERSION": "mine"}), "mine"),                # a recipe may set what the nucleus set
])
def test_setenv_layers_apply_in_order(layers, want):
    e = env(setenv=layers)
    key = next(iter(layers[-1])) if layers[-1] else "A"
    assert e[key] == want


def test_extra_pythonpath_goes_first():
    assert env(extra_pythonpath=("/shim",))["PYTHONPATH"] == "/shim"
    e = component_environment({**BASE, "PYTHONPATH": "/mine"}, token="t", region="r", thing_name="T",
                              nucleus_version="2.16.1", work=Path("/w"), shims=Path("/b"), extra_pythonpath=("/shim",))
    assert e["PYTHONPATH"] == "/shim:/mine"
