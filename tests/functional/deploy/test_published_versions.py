"""The catalog against what the cloud publishes (#21.14), through ``deploy.py plan/deploy --platform v2`` and a real
boto3 ``greengrassv2`` client on the LocalCloud: its stand-in is given a public table that differs from the catalog
(a pinned version missing, a dependency range changed, newer versions) — plan shows it, deploy refuses before any
mutating call; a table with only newer versions deploys and says so; the default stand-in (the catalog) passes."""
from __future__ import annotations

import pytest

import deploy
from group.errors import DeployError
from group.model import load
from group.state import State
from group.v2 import catalog
from group.v2.apply import deploy_group
from group.v2.catalog import Dependency
from localcore.cloud.greengrassv2_components import public_table

REGION = "us-east-1"
CAT = catalog.PUBLIC_COMPONENTS
LR, LM, TES = catalog.LAMBDA_RUNTIMES, catalog.LAMBDA_MANAGER, catalog.TOKEN_EXCHANGE


def _with(name: str, version: str, **changes):
    from dataclasses import replace

    return replace(CAT[name], version=version, **changes)


def _table(*, missing_pin: bool, changed_range: bool):
    """The catalog as published, with newer LambdaRuntimes / TokenExchangeService versions; the pinned
    LambdaRuntimes taken away (``missing_pin``); LambdaManager's pinned version republished with another nucleus
    range (``changed_range``)."""
    infos = [i for n, i in CAT.items() if n not in (LR, LM)]
    infos += [_with(LR, "2.0.9"), _with(LR, "2.0.7"), _with(TES, "2.0.4")]
    if not missing_pin:
        infos.append(CAT[LR])
    nucleus = {catalog.NUCLEUS: Dependency(">=2.0.0 <2.18.0", "SOFT")} if changed_range else CAT[LM].dependencies
    infos.append(_with(LM, CAT[LM].version, dependencies=nucleus))
    return public_table(*infos)


@pytest.fixture
def cloud_publishing(region_cloud):
    """``cloud_publishing(table)``: a LocalCloud whose greengrassv2 stand-in publishes ``table`` (the catalog when
    None), found by ``deploy.py --target local``; ``(cloud, state_dir)``."""
    return lambda table=None: region_cloud(REGION, table)


def _args(h, tmp_path, state_dir):
    gf = h.small_bundle(tmp_path / "bundle", "pubcheck", core="PubCore")
    return gf, ["--platform", "v2", "--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs"),
                "--group-file", str(gf)]


def test_a_cloud_that_publishes_otherwise_is_shown_by_plan_and_refused_by_deploy(h, cloud_publishing, tmp_path,
                                                                                  capsys):
    cloud, state_dir = cloud_publishing(_table(missing_pin=True, changed_range=True))
    gf, common = _args(h, tmp_path, state_dir)
    capsys.readouterr()
    assert deploy.main(["plan"] + common) == 0
    out = capsys.readouterr().out
    assert f"error group/v2/catalog.py: {LR} 2.0.8 (pinned by the catalog) is not published in {REGION}; " \
           "published: 2.0.9, 2.0.7" in out
    assert f"{LM} 2.3.7 published in {REGION} declares other dependency ranges than the catalog: " \
           f"{catalog.NUCLEUS} >=2.0.0 <2.18.0 (catalog: >=2.0.0 <2.17.0)" in out
    assert f"info group/v2/catalog.py: {LR} 2.0.9 is published in {REGION}; the catalog pins 2.0.8" in out
    assert f"{TES} 2.0.4 is published in {REGION}; the catalog pins 2.0.3 (within the catalog's ranges" in out
    assert "2 error(s)" in out

    assert deploy.main(["deploy", "--no-wait"] + common) == 1
    out = capsys.readouterr().out
    assert "step 'catalog' failed for" in out and LR in out and LM in out
    assert "update group/v2/catalog.py" in out

    # nothing changed: only read-only calls, no state, nothing in the cloud
    clients, log = h.counted_clients(cloud.url)
    group, _ = load(gf)
    with pytest.raises(DeployError) as err:
        deploy_group(group, root=gf.parent.parent, clients=clients, state_dir=state_dir, target="local",
                     certs_dir=tmp_path / "certs", wait=False)
    assert err.value.step == "catalog" and "2.0.8" in err.value.cause and "<2.18.0" in err.value.cause
    assert log.mutating == []
    assert "greengrassv2.ListComponentVersions" in log.calls and "greengrassv2.GetComponent" in log.calls
    assert len(State.load(state_dir, "local-v2", "pubcheck")) == 0
    assert clients.iot.list_things()["things"] == []
    assert clients.greengrassv2.list_components(scope="PRIVATE")["components"] == []
    assert clients.greengrassv2.list_deployments()["deployments"] == []


def test_newer_versions_alone_are_info_and_the_deploy_goes_on(h, cloud_publishing, tmp_path, capsys):
    cloud, state_dir = cloud_publishing(_table(missing_pin=False, changed_range=False))
    gf, common = _args(h, tmp_path, state_dir)
    capsys.readouterr()
    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    out = capsys.readouterr().out
    assert f"{LR} 2.0.9 is published in {REGION}; the catalog pins 2.0.8" in out
    state = State.load(state_dir, "local-v2", "pubcheck")
    dep = cloud.greengrassv2.get_deployment(state.get("deployment:pubcheck")["id"])
    assert dep["components"][LR]["componentVersion"] == "2.0.8"  # the pin, not the newest


def test_the_default_stand_in_serves_the_catalog_and_the_check_passes(h, cloud_publishing, tmp_path, capsys):
    cloud, state_dir = cloud_publishing()
    _, common = _args(h, tmp_path, state_dir)
    capsys.readouterr()
    assert deploy.main(["plan"] + common) == 0
    out = capsys.readouterr().out
    assert f"public components checked against what {REGION} publishes: every pinned version is published" in out
    assert "error" not in out
    assert deploy.main(["deploy", "--no-wait"] + common) == 0


def test_an_endpoint_without_greengrassv2_gives_a_warning_not_a_refusal(moto_server):
    """A plain moto server has no greengrassv2: the check says it could not ask, and names the component."""
    import boto3

    from group.v2 import published

    gg = boto3.client("greengrassv2", endpoint_url=moto_server, region_name=REGION, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    got = published.fetch(gg, REGION, [LR])
    assert got[LR].problem and got[LR].versions == ()
    (f,) = published.compare(CAT, got, REGION, [LR])
    assert (f.severity, f.component) == ("warning", LR) and "could not read what us-east-1 publishes" in f.message
    assert published.errors([f]) == []
