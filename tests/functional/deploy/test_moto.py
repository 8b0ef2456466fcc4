"""deploy / plan / destroy of a fleet (Greengrass V1) against a plain moto server (``--target local`` + AWS_ENDPOINT_URL; V1 on real AWS is refused since its discontinuation)."""
from __future__ import annotations

import stat

import boto3
import pytest

import deploy
from group import package
from group import v1 as aws
from group.clients import Clients
from group.v1 import deploy_group, destroy_group, plan_group, poll_deployment
from group.errors import DeployError
from group.model import load
from group.state import State


def _deploy(h, path, state_dir, certs_dir, clients, pkg, **kw):
    group, _ = load(path)
    packages = {f.name: pkg for f in group.functions}
    packages.update({f"cloud:{cf.name}": package.build(cf.name, cf.code_dir(path.parent), ())
                     for cf in group.cloud.functions})
    return deploy_group(group, root=path.parent, clients=clients, state_dir=state_dir, target="local",
                        certs_dir=certs_dir, wait=False, service_role=False, packages=packages, **kw)


def _cli(*args, files, state_dir, certs_dir):
    argv = list(args) + ["--target", "local", "--state-dir", str(state_dir), "--certs-dir", str(certs_dir)]
    for f in files:
        argv += ["--group-file", str(f)]
    return deploy.main(argv)


def test_fleet_deploy_is_idempotent_and_destroy_removes_exactly_it(h, moto_url, tmp_path, producer_package):
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    files = [h.write_group(tmp_path, h.moto_group("FleetA", cloud_function=True)),
             h.write_group(tmp_path, h.moto_group("FleetB"))]
    raw = boto3.session.Session(*h.keys, region_name=h.region)
    iot = raw.client("iot", endpoint_url=moto_url)
    gg = raw.client("greengrass", endpoint_url=moto_url)
    iot.create_thing(thingName="Outsider")  # not ours: destroy must leave it

    results = [_deploy(h, f, state_dir, certs, Clients.create(h.region, moto_url), producer_package)
               for f in files]
    assert all(r.group_id and r.group_version_id and r.deployment_id for r in results)
    ours = {r.group_id for r in results}
    assert ours <= {g["Id"] for g in gg.list_groups()["Groups"]}
    # what the API read back: symbolic ARNs made real, KB memory, the alias `live`
    ver = gg.get_group_version(GroupId=results[0].group_id, GroupVersionId=results[0].group_version_id)
    fdv_arn = ver["Definition"]["FunctionDefinitionVersionArn"]
    fdef_id, fver = fdv_arn.split("/definition/functions/")[1].split("/versions/")
    fdv = gg.get_function_definition_version(FunctionDefinitionId=fdef_id, FunctionDefinitionVersionId=fver)
    fn = next(f for f in fdv["Definition"]["Functions"] if f["Id"] == "producer")
    assert fn["FunctionArn"].endswith(":function:FleetA-grp-producer:live")
    assert fn["FunctionConfiguration"]["MemorySize"] == 128 * 1024
    assert fn["FunctionConfiguration"]["Environment"]["ResourceAccessPolicies"] == [
        {"ResourceId": "frames", "Permission": "rw"}]
    # the cloud function: its environment on the Lambda, its folder only
    lam = raw.client("lambda", endpoint_url=moto_url)
    snap = lam.get_function_configuration(FunctionName="FleetA-grp-snap")
    assert snap["Environment"]["Variables"] == {"SNAPSHOT_BUCKET": "fleeta-bucket"}
    assert snap["Handler"] == "snapshot.handler.lambda_handler" and snap["Runtime"] == "python3.12"
    assert lam.get_alias(FunctionName="FleetA-grp-snap", Name="live")["FunctionVersion"] == "1"
    # credentials on disk
    key = certs / "FleetACore" / "private.key"
    assert (certs / "FleetACore" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (certs / "root-ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")

    # re-deploy with nothing changed: read-only calls only
    for f in files:
        clients, log = h.counted_clients(moto_url)
        again = _deploy(h, f, state_dir, certs, clients, producer_package)
        assert log.calls, "the re-deploy must check what exists"
        assert log.mutating == [], log.mutating
        assert again.changes == []
    plan = ("plan", "--exit-code", "--no-service-role")
    assert _cli(*plan, files=files, state_dir=state_dir, certs_dir=certs) == 0

    assert _cli("destroy", files=files, state_dir=state_dir, certs_dir=certs) == 0
    assert not ours & {g["Id"] for g in gg.list_groups()["Groups"]}
    things = [t["thingName"] for t in iot.list_things()["things"]]
    assert [t for t in things if t.startswith(("Fleet", "Out"))] == ["Outsider"]
    assert not [f for f in raw.client("lambda", endpoint_url=moto_url).list_functions()["Functions"]
                if f["FunctionName"].startswith("Fleet")]
    assert not (state_dir / "state" / "local" / "FleetA-grp.json").exists()
    assert not (certs / "FleetACore").exists()
    assert _cli(*plan, files=files, state_dir=state_dir, certs_dir=certs) == 2
    assert _cli("destroy", files=files, state_dir=state_dir, certs_dir=certs) == 0  # twice is fine


def test_name_collision_is_an_error_and_rerun_converges(h, moto_url, tmp_path, producer_package):
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    path = h.write_group(tmp_path, h.moto_group("Coll"))
    raw = boto3.session.Session(*h.keys, region_name=h.region)
    lam, iam = raw.client("lambda", endpoint_url=moto_url), raw.client("iam", endpoint_url=moto_url)
    role = iam.create_role(RoleName="someone-elses-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    theirs = lam.create_function(FunctionName="Coll-grp-producer", Runtime="python3.7", Role=role,
                                 Handler="x.y", Code={"ZipFile": producer_package.data})

    with pytest.raises(DeployError) as info:
        _deploy(h, path, state_dir, certs, Clients.create(h.region, moto_url), producer_package)
    err = info.value
    assert err.step == "function" and err.obj == "Coll-grp-producer"
    assert "already exists" in str(err) and "fix:" in str(err)
    still = lam.get_function(FunctionName="Coll-grp-producer")["Configuration"]
    assert still["CodeSha256"] == theirs["CodeSha256"]
    recorded = State.load(state_dir, "local", "Coll-grp")
    assert {"thing:CollCore", "certificate:CollCore", "role:Coll-grp-lambda-role"} <= set(recorded)
    assert "function:producer" not in recorded

    lam.delete_function(FunctionName="Coll-grp-producer")  # the operator clears the way
    result = _deploy(h, path, state_dir, certs, Clients.create(h.region, moto_url), producer_package)
    assert result.deployment_id
    assert all(not c.startswith("+ thing") for c in result.changes)  # made by the first run, not again
    group, _ = load(path)
    plan = plan_group(group, root=tmp_path, clients=Clients.create(h.region, moto_url), state_dir=state_dir,
                      target="local", certs_dir=certs, service_role=False,
                      packages={"producer": producer_package})
    assert plan.empty, plan.lines()
    destroy_group("Coll-grp", clients=Clients.create(h.region, moto_url), state_dir=state_dir, target="local",
                  certs_dir=certs)
    assert iam.get_role(RoleName="someone-elses-role")["Role"]["Arn"] == role  # not ours: kept


def test_unsupported_step_fails_with_step_and_object_then_converges(h, moto_url, tmp_path, producer_package):
    """moto has no logger definitions: a clear DeployError; state kept; without loggers it converges."""
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    path = h.write_group(tmp_path, h.moto_group("Logs", loggers=True))
    with pytest.raises(DeployError) as info:
        _deploy(h, path, state_dir, certs, Clients.create(h.region, moto_url), producer_package)
    assert info.value.step == "logger-definition" and info.value.obj == "Logs-grp"
    assert "CreateLoggerDefinition" in str(info.value)
    assert "core-definition:Logs-grp" in State.load(state_dir, "local", "Logs-grp")

    h.write_group(tmp_path, h.moto_group("Logs"))  # the operator drops the loggers
    clients, log = h.counted_clients(moto_url)
    _deploy(h, path, state_dir, certs, clients, producer_package)
    assert not any("CreateThing" in c or "CreateCoreDefinition" in c for c in log.mutating)
    clients, log = h.counted_clients(moto_url)
    _deploy(h, path, state_dir, certs, clients, producer_package)
    assert log.mutating == []

    # a broken (or renamed) group file does not block destroy: --group takes the name from the state
    path.write_text("group: [unclosed\n")
    common = ["--target", "local", "--state-dir", str(state_dir), "--certs-dir", str(certs)]
    assert deploy.main(["destroy", "--group", "Nope-grp"] + common) == 1
    assert deploy.main(["destroy", "--group", "Logs-grp"] + common) == 0
    assert not State.load(state_dir, "local", "Logs-grp").exists


def test_code_change_updates_function_and_deploys_again(h, moto_url, tmp_path, producer_package):
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text("def function_handler(event, context):\n    return 1\n")
    data = h.moto_group("Code")
    data["functions"][0]["path"] = str(code)
    path = h.write_group(tmp_path, data)
    group, _ = load(path)
    kw = dict(root=tmp_path, state_dir=state_dir, target="local", certs_dir=certs, wait=False,
              service_role=False)
    first = deploy_group(group, clients=Clients.create(h.region, moto_url), **kw)
    (code / "handler.py").write_text("def function_handler(event, context):\n    return 2\n")
    clients, log = h.counted_clients(moto_url)
    second = deploy_group(group, clients=clients, **kw)
    assert sorted(second.changes) == ["~ deployment Code-grp", "~ function producer"]
    assert [c for c in log.mutating if c.startswith("lambda.")] == [
        "lambda.UpdateFunctionCode", "lambda.PublishVersion", "lambda.UpdateAlias"]
    assert "greengrass.CreateDeployment" in log.mutating
    assert second.deployment_id != first.deployment_id and second.group_version_id == first.group_version_id


def test_poller_is_injectable_and_the_default_times_out_on_moto(h, moto_url, tmp_path, producer_package):
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    path = h.write_group(tmp_path, h.moto_group("Poll"))
    seen = []

    def poller(clients, group_id, deployment_id, timeout):
        seen.append((group_id, deployment_id, timeout))
        return "Success", ""

    result = _deploy(h, path, state_dir, certs, Clients.create(h.region, moto_url), producer_package)
    assert result.status == "InProgress"  # --no-wait
    group, _ = load(path)
    data = h.moto_group("Poll")
    data["functions"][0]["environment"]["STREAM_NAME"] = "Other"  # force a new group version
    h.write_group(tmp_path, data)
    group, _ = load(path)
    done = deploy_group(group, root=tmp_path, clients=Clients.create(h.region, moto_url), state_dir=state_dir,
                        target="local", certs_dir=certs, wait=True, timeout=7.0, poller=poller,
                        service_role=False, packages={"producer": producer_package})
    assert done.status == "Success" and seen == [(done.group_id, done.deployment_id, 7.0)]
    # moto never completes a deployment: the real poller gives up at its time-out
    status, _ = poll_deployment(Clients.create(h.region, moto_url), done.group_id, done.deployment_id, 0.3)
    assert status == "InProgress"


def test_certificate_files_replaced_by_another_target_are_detected(h, moto_url, tmp_path, producer_package):
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    path = h.write_group(tmp_path, h.moto_group("Files"))
    _deploy(h, path, state_dir, certs, Clients.create(h.region, moto_url), producer_package)
    old = State.load(state_dir, "local", "Files-grp").get("certificate:FilesSensor")
    (certs / "FilesSensor" / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nother\n")
    clients, log = h.counted_clients(moto_url)
    result = _deploy(h, path, state_dir, certs, clients, producer_package)
    assert "+ certificate FilesSensor  (recorded in the state but gone)" in result.changes
    assert "~ device-definition Files-grp" in [c.split("  (")[0] for c in result.changes]
    new = State.load(state_dir, "local", "Files-grp").get("certificate:FilesSensor")
    assert new["id"] != old["id"]
    assert "iot.DeleteCertificate" in log.mutating  # the unusable old one, ours, is removed
    iot = boto3.client("iot", endpoint_url=moto_url, region_name=h.region)
    assert [p for p in iot.list_thing_principals(thingName="FilesSensor")["principals"]] == [new["arn"]]


def test_bulk_deployment_where_the_endpoint_has_none(h, moto_url, tmp_path, producer_package):
    """moto has no start_bulk_deployment: a DeployError naming the step and the groups."""
    state_dir, certs = tmp_path / ".gg", tmp_path / "certs"
    path = h.write_group(tmp_path, h.moto_group("Bulk"))
    clients = Clients.create(h.region, moto_url)
    result = _deploy(h, path, state_dir, certs, clients, producer_package, deploy=False)
    assert result.pending is not None and result.deployment_id is None
    with pytest.raises(DeployError) as info:
        aws.bulk_deploy([result], clients=clients, state_dir=state_dir, target="local")
    assert info.value.step == "bulk-deployment" and info.value.obj == "Bulk-grp"
    assert "StartBulkDeployment" in str(info.value)
    assert State.load(state_dir, "local", "_bulk").exists  # its bucket and role are recorded...
    assert _cli("destroy", files=[path], state_dir=state_dir, certs_dir=certs) == 0
    assert not State.load(state_dir, "local", "_bulk").exists  # ...and go with the last group
