"""deploy.py configuration order: argument > environment > group file > default."""
from __future__ import annotations

import argparse

import pytest

import deploy
from group.model import parse


def args(**kw):
    base = dict(region=None, endpoint_url=None, target="aws", state_dir=None)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture()
def group():
    g, issues = parse({"group": {"name": "g", "region": "eu-west-1"}, "core": {"thing": "C"}})
    assert g is not None, issues
    return g


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)


def test_region_order(monkeypatch, group):
    assert deploy.resolve_region(args(), None) == "us-east-1"
    assert deploy.resolve_region(args(), group) == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert deploy.resolve_region(args(), group) == "ap-south-1"
    assert deploy.resolve_region(args(region="us-west-2"), group) == "us-west-2"


def test_endpoint_order_for_aws(monkeypatch, group):
    clients, info = deploy.make_clients(args(), group)
    assert clients.endpoint_url is None and info is None and clients.region == "eu-west-1"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env:1")
    assert deploy.make_clients(args(), group)[0].endpoint_url == "http://env:1"
    assert deploy.make_clients(args(endpoint_url="http://arg:2"), group)[0].endpoint_url == "http://arg:2"


def test_local_target_uses_dummy_credentials_and_an_explicit_endpoint(group, tmp_path):
    clients, _ = deploy.make_clients(args(target="local", endpoint_url="http://arg:2", state_dir=tmp_path), group)
    creds = clients.session.get_credentials()
    assert (creds.access_key, creds.secret_key) == ("testing", "testing")
    assert clients.endpoint_url == "http://arg:2"


def test_local_target_without_endpoint_file_says_how_to_start_it(group, tmp_path):
    with pytest.raises(deploy.CliError, match=r"no local cloud is running .*make run.*deploy.py run"):
        deploy.make_clients(args(target="local", state_dir=tmp_path), group)
