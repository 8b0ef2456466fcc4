"""CloudFunctionRunner refuses a bad configuration at construction, naming the setting."""
from __future__ import annotations

import pytest

from localcore.cloud_lambdas import CloudFunctionRunner, FunctionConfigError, local_environment


@pytest.fixture
def code(tmp_path):
    (tmp_path / "handler.py").write_text("def lambda_handler(event, context):\n    return event\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "handler.py").write_text("def h(event, context):\n    return 1\n")
    return tmp_path


def test_valid_configurations(code):
    r = CloudFunctionRunner("fn", code)
    assert r.handler == "handler.lambda_handler" and r.arn.endswith(":function:fn")
    assert CloudFunctionRunner("fn2", code, "pkg.handler.h", timeout_s=20, memory_mb=512).status()["state"] == "new"


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "bad name"}, "the name must be 1-64 characters"),
    ({"code_dir": "/nonexistent/x"}, "code dir /nonexistent/x does not exist"),
    ({"handler": "lambda_handler"}, "handler 'lambda_handler' must be module.function"),
    ({"handler": "missing.lambda_handler"}, "handler module 'missing' not found under"),
    ({"handler": "pkg.nothere.h"}, "expected pkg/nothere.py"),
    ({"timeout_s": 0}, "timeout_s must be in (0, 900] seconds, got 0"),
    ({"timeout_s": 901}, "timeout_s must be in (0, 900]"),
    ({"memory_mb": 64}, "memory_mb must be an integer 128..10240, got 64"),
    ({"environment": {"A": 1}}, "environment variable A must be a string, got int"),
    ({"environment": {"1A": "x"}}, "environment variable name '1A' is invalid"),
    ({"environment": {"_HANDLER": "x"}}, "environment variable _HANDLER is reserved"),
])
def test_bad_configuration_names_the_setting(code, kwargs, message):
    args = {"name": "fn", "code_dir": code, **kwargs}
    with pytest.raises(FunctionConfigError) as info:
        CloudFunctionRunner(**args)
    assert message in str(info.value)
    assert f"cloud function {args['name']!r}" in str(info.value)


def test_local_environment_points_at_the_local_cloud():
    env = local_environment({"SNAPSHOT_BUCKET": "b", "AWS_REGION": "eu-west-1"}, "http://127.0.0.1:1", "us-east-1")
    assert env == {"SNAPSHOT_BUCKET": "b", "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing"}
