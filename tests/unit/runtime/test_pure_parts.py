"""Secrets store, function directory, process set-up, connectors: pure parts of runtime and ipc."""
from __future__ import annotations

import json
import os

import pytest

from localcore.interfaces import FunctionSpec
from localcore.lambda_ipc.directory import FunctionDirectory, unqualified
from localcore.lambda_ipc.errors import SecretNotFound, SecretsFileError
from localcore.lambda_ipc.secrets import SecretsStore
from localcore.lambda_ipc.server import decode_client_context, encode_client_context
from localcore.runtime import connectors_status, process

ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo:live"


def test_secrets_store_by_name_arn_and_stage(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"secrets": {
        "a": {"SecretString": "x", "CreatedDate": 1000},
        "b": {"SecretBinary": "eHk=", "ARN": "arn:aws:secretsmanager:us-east-1:1:secret:b-XYZ",
              "VersionStages": ["AWSPREVIOUS"]}}}))
    store = SecretsStore(path, region="us-east-1", account="1")
    a = store.get_secret_value("a")
    assert a["SecretString"] == "x" and a["CreatedDate"] == 1000 and a["VersionStages"] == ["AWSCURRENT"]
    assert store.get_secret_value("arn:aws:secretsmanager:us-east-1:1:secret:a")["Name"] == "a"
    b = store.get_secret_value("arn:aws:secretsmanager:us-east-1:1:secret:b-XYZ", "AWSPREVIOUS")
    assert b["SecretBinary"] == "eHk="
    with pytest.raises(SecretNotFound, match="staging label: AWSCURRENT"):
        store.get_secret_value("b")
    with pytest.raises(SecretNotFound, match="nope"):
        store.get_secret_value("nope")


def test_secrets_store_missing_and_broken_files(tmp_path):
    assert SecretsStore(tmp_path / "none.json").names() == []
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SecretsFileError, match="broken.json"):
        SecretsStore(broken).get_secret_value("a")


def test_directory_finds_by_qualified_unqualified_arn_and_token():
    d = FunctionDirectory()
    entry = d.add("echo", ARN)
    assert d.by_arn(ARN) is entry
    assert d.by_arn(unqualified(ARN)) is entry
    assert d.by_arn(unqualified(ARN) + ":$LATEST") is entry
    assert d.by_arn("arn:aws:lambda:us-east-1:123456789012:function:other") is None
    assert d.by_token(entry.token) is entry and d.by_token("x") is None and d.by_token(None) is None
    assert len(entry.token) == 64
    with pytest.raises(ValueError, match="twice"):
        d.add("echo", ARN)


def test_client_context_round_trip_and_errors():
    context = {"custom": {"subject": "a/b"}}
    assert decode_client_context(encode_client_context(context)) == context
    assert decode_client_context("") == {}
    with pytest.raises(Exception, match="base64"):
        decode_client_context("%%%")


def _spec(tmp_path, **kw) -> FunctionSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "handler.py").write_text("def function_handler(e, c):\n    return e\n")
    base = dict(name="echo", code_dir=str(code), handler="handler.function_handler", arn=ARN)
    base.update(kw)
    return FunctionSpec(**base)


def test_check_spec_names_function_and_path(tmp_path):
    assert process.check_spec(_spec(tmp_path)) == []
    problems = process.check_spec(_spec(tmp_path, handler="missing.h", encoding="xml", timeout_s=0))
    assert any("'echo'" in p and "missing.py" in p for p in problems)
    assert any("encoding 'xml'" in p for p in problems) and any("timeout_s" in p for p in problems)
    assert "does not exist" in process.check_spec(_spec(tmp_path, code_dir=str(tmp_path / "nope")))[0]
    pkg = tmp_path / "code" / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("")
    assert process.check_spec(_spec(tmp_path, handler="pkg.mod.handler")) == []


def test_environment_core_variables_win_over_the_functions(tmp_path):
    spec = _spec(tmp_path, environment={"MY_FUNCTION_ARN": "spoof", "X": 1}, encoding="binary", memory_mb=64)
    env = process.environment(spec, token="t", ipc_port=9, credentials_uri="http://127.0.0.1:9/c/",
                              region="eu-west-1", stream_manager_port=None, cloud_endpoint_url=None,
                              home=tmp_path)
    assert env["MY_FUNCTION_ARN"] == ARN and env["X"] == "1" and env["ENCODING_TYPE"] == "binary"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "64"
    assert "STREAM_MANAGER_SERVER_PORT" not in env and "AWS_ENDPOINT_URL" not in env


def test_volume_mapping_by_symlink(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    dest = tmp_path / "mnt" / "dest"
    existing = tmp_path / "exists"
    existing.mkdir()
    spec = _spec(tmp_path, volumes=((str(source), str(dest), "rw"), (str(source), str(existing), "ro")))
    created, notes = process.map_volumes(spec)
    assert created == [str(dest)] and os.path.realpath(dest) == str(source)
    assert any("already exists" in n for n in notes) and any("read-only" in n for n in notes)


def test_connectors_status():
    rows = connectors_status([
        {"name": "docker-app",
         "arn": "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"},
        {"name": "sns", "arn": "arn:aws:greengrass:us-east-1::/connectors/SNSNotification/versions/4"},
    ])
    assert [r["state"] for r in rows] == ["not-run", "not-run"]
    assert "Docker" in rows[0]["reason"] and "real Greengrass core" in rows[1]["reason"]
