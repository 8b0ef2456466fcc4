"""Greengrass V1 gaps filled by the adapter, through real boto3 calls on a real LocalCloud."""

from __future__ import annotations

import json
import threading

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from localcore.pki import LocalPKI

ACCOUNT = "123456789012"
THING_ARN = "arn:aws:iot:us-east-1:123456789012:thing/{}"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}:live"


@pytest.fixture(scope="module")
def gg(client):
    return client("greengrass")


def _core_version(gg, thing="GG_Core") -> str:
    core = gg.create_core_definition(
        Name="core",
        InitialVersion={
            "Cores": [
                {
                    "Id": "core1",
                    "ThingArn": THING_ARN.format(thing),
                    "SyncShadow": True,
                    "CertificateArn": f"arn:aws:iot:us-east-1:{ACCOUNT}:cert/" + "a" * 64,
                }
            ]
        },
    )
    return core["LatestVersionArn"]


def _group(gg, name="grp", **extra) -> tuple[str, str]:
    """A group whose latest version has a core; returns (group id, version id)."""
    g = gg.create_group(Name=name)
    v = gg.create_group_version(GroupId=g["Id"], CoreDefinitionVersionArn=_core_version(gg), **extra)
    return g["Id"], v["Version"]


def test_logger_and_connector_definitions_and_their_arns_in_group_versions(gg):
    lg = gg.create_logger_definition(
        Name="logs",
        InitialVersion={
            "Loggers": [
                {
                    "Id": "sys",
                    "Component": "GreengrassSystem",
                    "Level": "INFO",
                    "Type": "FileSystem",
                    "Space": 1024,
                },
                {"Id": "fn", "Component": "Lambda", "Level": "DEBUG", "Type": "AWSCloudWatch"},
            ]
        },
    )
    conn_arn = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/5"
    cn = gg.create_connector_definition(
        Name="conns",
        InitialVersion={
            "Connectors": [
                {
                    "Id": "docker-app",
                    "ConnectorArn": conn_arn,
                    "Parameters": {"DockerComposeFileS3Bucket": "b"},
                }
            ]
        },
    )
    assert gg.get_logger_definition(LoggerDefinitionId=lg["Id"])["Name"] == "logs"
    assert lg["Id"] in [d["Id"] for d in gg.list_logger_definitions()["Definitions"]]
    v = gg.get_connector_definition_version(
        ConnectorDefinitionId=cn["Id"], ConnectorDefinitionVersionId=cn["LatestVersion"]
    )
    assert v["Definition"]["Connectors"][0]["ConnectorArn"] == conn_arn

    group_id, version = _group(
        gg,
        LoggerDefinitionVersionArn=lg["LatestVersionArn"],
        ConnectorDefinitionVersionArn=cn["LatestVersionArn"],
    )
    definition = gg.get_group_version(GroupId=group_id, GroupVersionId=version)["Definition"]
    assert definition["LoggerDefinitionVersionArn"] == lg["LatestVersionArn"]
    assert definition["ConnectorDefinitionVersionArn"] == cn["LatestVersionArn"]
    assert definition["CoreDefinitionVersionArn"].startswith("arn:aws:greengrass:")

    lv2 = gg.create_logger_definition_version(
        LoggerDefinitionId=lg["Id"],
        Loggers=[
            {
                "Id": "sys",
                "Component": "GreengrassSystem",
                "Level": "WARN",
                "Type": "FileSystem",
                "Space": 512,
            }
        ],
    )
    assert len(gg.list_logger_definition_versions(LoggerDefinitionId=lg["Id"])["Versions"]) == 2
    assert gg.get_logger_definition(LoggerDefinitionId=lg["Id"])["LatestVersion"] == lv2["Version"]
    gg.delete_connector_definition(ConnectorDefinitionId=cn["Id"])
    with pytest.raises(ClientError) as exc:
        gg.get_connector_definition(ConnectorDefinitionId=cn["Id"])
    assert exc.value.response["Error"]["Code"] == "IdNotFoundException"


def test_group_version_with_unknown_logger_arn_is_refused(gg):
    g = gg.create_group(Name="bad-refs")
    with pytest.raises(ClientError) as exc:
        gg.create_group_version(
            GroupId=g["Id"],
            LoggerDefinitionVersionArn=(
                "arn:aws:greengrass:us-east-1:123456789012:greengrass/definition/loggers/x/versions/y"
            ),
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    assert "Logger definition reference does not exist" in exc.value.response["Error"]["Message"]


def test_bad_logger_is_a_bad_request_naming_the_field(gg):
    with pytest.raises(ClientError) as exc:
        gg.create_logger_definition(
            InitialVersion={
                "Loggers": [
                    {"Id": "x", "Component": "Lambda", "Level": "LOUD", "Type": "FileSystem", "Space": 1}
                ]
            }
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    assert "Loggers[0].Level" in exc.value.response["Error"]["Message"]


def test_subscriptions_with_underscore_thing_names_round_trip(gg):
    subs = [
        {
            "Id": "switch-to-shadow",
            "Source": THING_ARN.format("GG_Switch"),
            "Target": "GGShadowService",
            "Subject": "$aws/things/GG_TrafficLight/shadow/update",
        },
        {
            "Id": "shadow-to-light",
            "Source": "GGShadowService",
            "Target": THING_ARN.format("GG_TrafficLight"),
            "Subject": "$aws/things/GG_TrafficLight/shadow/update/delta",
        },
        {
            "Id": "hello",
            "Source": THING_ARN.format("HelloWorld_Publisher"),
            "Target": "cloud",
            "Subject": "hello/world/+",
        },
        {"Id": "fn", "Source": LAMBDA_ARN.format("car_aggregator"), "Target": "cloud", "Subject": "stats/#"},
    ]
    sd = gg.create_subscription_definition(Name="subs", InitialVersion={"Subscriptions": subs})
    got = gg.get_subscription_definition_version(
        SubscriptionDefinitionId=sd["Id"], SubscriptionDefinitionVersionId=sd["LatestVersion"]
    )
    assert got["Definition"]["Subscriptions"] == subs
    v2 = gg.create_subscription_definition_version(SubscriptionDefinitionId=sd["Id"], Subscriptions=subs[:1])
    assert {
        v["Version"]
        for v in gg.list_subscription_definition_versions(SubscriptionDefinitionId=sd["Id"])["Versions"]
    } == {sd["LatestVersion"], v2["Version"]}
    assert sd["Id"] in [d["Id"] for d in gg.list_subscription_definitions()["Definitions"]]

    group_id, version = _group(gg, SubscriptionDefinitionVersionArn=sd["LatestVersionArn"])
    definition = gg.get_group_version(GroupId=group_id, GroupVersionId=version)["Definition"]
    assert definition["SubscriptionDefinitionVersionArn"] == sd["LatestVersionArn"]


@pytest.mark.parametrize(
    "source,target,subject",
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST", "cloud", "t"),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", "cloud", "t"),
        ("not-an-arn", "cloud", "t"),
        ("cloud", "GGShadowService", "a/#/b"),
    ],
)
def test_invalid_subscriptions_are_refused(gg, source, target, subject):
    with pytest.raises(ClientError) as exc:
        gg.create_subscription_definition(
            InitialVersion={
                "Subscriptions": [{"Id": "s", "Source": source, "Target": target, "Subject": subject}]
            }
        )
    assert exc.value.response["Error"]["Code"] == "BadRequestException"


def test_connectivity_info_update_and_get(gg):
    info = [
        {"Id": "lo", "HostAddress": "127.0.0.1", "PortNumber": 8883, "Metadata": ""},
        {"Id": "lan", "HostAddress": "192.168.1.20", "PortNumber": 8883},
    ]
    out = gg.update_connectivity_info(ThingName="GG_Core", ConnectivityInfo=info)
    assert out["Version"] and out["Message"]
    assert gg.get_connectivity_info(ThingName="GG_Core")["ConnectivityInfo"] == info
    assert gg.get_connectivity_info(ThingName="Never_Set")["ConnectivityInfo"] == []
    with pytest.raises(ClientError) as exc:
        gg.update_connectivity_info(ThingName="GG_Core", ConnectivityInfo=[{"Id": "x", "PortNumber": 1}])
    assert "HostAddress" in exc.value.response["Error"]["Message"]


def test_group_certificate_authority_is_the_local_group_ca(gg, cloud):
    group_id, _ = _group(gg, name="ca-group")
    cas = gg.list_group_certificate_authorities(GroupId=group_id)["GroupCertificateAuthorities"]
    assert len(cas) == 1
    ca = gg.get_group_certificate_authority(
        GroupId=group_id, CertificateAuthorityId=cas[0]["GroupCertificateAuthorityId"]
    )
    pem = ca["PemEncodedCertificate"].encode()
    assert pem == LocalPKI(cloud.pki_dir).group_ca(group_id).cert_pem
    assert (
        x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    )
    conf = gg.get_group_certificate_configuration(GroupId=group_id)
    assert conf["GroupId"] == group_id and int(conf["CertificateExpiryInMilliseconds"]) == 604800000
    assert int(conf["CertificateAuthorityExpiryInMilliseconds"]) > 86400 * 1000
    gg.update_group_certificate_configuration(GroupId=group_id, CertificateExpiryInMilliseconds="864000000")
    assert (
        gg.get_group_certificate_configuration(GroupId=group_id)["CertificateExpiryInMilliseconds"]
        == "864000000"
    )
    with pytest.raises(ClientError) as exc:
        gg.list_group_certificate_authorities(GroupId="no-such-group")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_service_role_for_account(gg):
    role = "arn:aws:iam::123456789012:role/service-role/Greengrass_ServiceRole"
    assert gg.associate_service_role_to_account(RoleArn=role)["AssociatedAt"]
    assert gg.get_service_role_for_account()["RoleArn"] == role
    assert gg.disassociate_service_role_from_account()["DisassociatedAt"]
    with pytest.raises(ClientError):
        gg.get_service_role_for_account()
    with pytest.raises(ClientError) as exc:
        gg.associate_service_role_to_account(RoleArn="not-a-role")
    assert exc.value.response["Error"]["Code"] == "BadRequestException"


def test_deployment_reaches_success_when_a_core_acknowledges(gg, cloud, local_get):
    group_id, version = _group(gg, name="deployed")
    arrived = threading.Event()
    cloud.deployments.add_listener(lambda d: arrived.set() if d.group_id == group_id else None)
    dep = gg.create_deployment(GroupId=group_id, GroupVersionId=version, DeploymentType="NewDeployment")
    assert arrived.is_set()
    status = gg.get_deployment_status(GroupId=group_id, DeploymentId=dep["DeploymentId"])
    assert status["DeploymentStatus"] == "InProgress"

    taken = cloud.deployments.take_next(group_id)  # what a local core does
    assert (taken.deployment_id, taken.group_version_id) == (dep["DeploymentId"], version)
    assert cloud.deployments.take_next(group_id) is None
    cloud.deployments.report(taken.deployment_id, "Success")
    status = gg.get_deployment_status(GroupId=group_id, DeploymentId=dep["DeploymentId"])
    assert (status["DeploymentStatus"], status["DeploymentType"]) == ("Success", "NewDeployment")

    # A Redeployment names the earlier deployment only (moto alone would need the version too).
    dep2 = gg.create_deployment(
        GroupId=group_id, DeploymentType="Redeployment", DeploymentId=dep["DeploymentId"]
    )
    failed = cloud.deployments.wait_next(group_id, timeout=5)
    assert failed.group_version_id == version
    cloud.deployments.report(failed.deployment_id, "Failure", "lambda producer did not start")
    status = gg.get_deployment_status(GroupId=group_id, DeploymentId=dep2["DeploymentId"])
    assert status["DeploymentStatus"] == "Failure"
    assert status["ErrorMessage"] == "lambda producer did not start"
    status, back = local_get(f"/_local/greengrass/deployments?groupId={group_id}")
    assert status == 200
    assert [(d["DeploymentId"], d["DeploymentStatus"]) for d in back["deployments"]] == [
        (dep2["DeploymentId"], "Failure"),
        (dep["DeploymentId"], "Success"),
    ]
    listed = gg.list_deployments(GroupId=group_id)["Deployments"]
    assert {d["DeploymentId"] for d in listed} == {dep["DeploymentId"], dep2["DeploymentId"]}
    assert all(d["GroupArn"].endswith(f"/groups/{group_id}") for d in listed)


def test_reset_deployments(gg, cloud):
    group_id, version = _group(gg, name="to-reset")
    with pytest.raises(ClientError):  # never deployed: a plain reset is refused
        gg.reset_deployments(GroupId=group_id)
    gg.create_deployment(GroupId=group_id, GroupVersionId=version, DeploymentType="NewDeployment")
    reset = gg.reset_deployments(GroupId=group_id, Force=True)
    status = gg.get_deployment_status(GroupId=group_id, DeploymentId=reset["DeploymentId"])
    assert (status["DeploymentStatus"], status["DeploymentType"]) == ("Success", "ForceResetDeployment")
    assert reset["DeploymentId"] in [
        d["DeploymentId"] for d in gg.list_deployments(GroupId=group_id)["Deployments"]
    ]
    gg.delete_group(GroupId=group_id)
    with pytest.raises(ClientError) as exc:
        gg.reset_deployments(GroupId="no-such-group", Force=True)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bulk_deployment_runs_each_record_as_a_deployment(gg, client, cloud):
    groups = [_group(gg, name=f"fleet-{i}") for i in range(2)]
    lines = [
        json.dumps({"GroupId": g, "GroupVersionId": v, "DeploymentType": "NewDeployment"}) for g, v in groups
    ]
    lines.append(json.dumps({"GroupId": "missing"}))
    s3 = client("s3")
    s3.create_bucket(Bucket="bulk-input")
    s3.put_object(Bucket="bulk-input", Key="fleet.jsonl", Body="\n".join(lines).encode())

    bulk = gg.start_bulk_deployment(
        ExecutionRoleArn="arn:aws:iam::123456789012:role/bulk", InputFileUri="s3://bulk-input/fleet.jsonl"
    )
    for _ in range(200):  # the runner is a thread: poll its status, bounded
        st = gg.get_bulk_deployment_status(BulkDeploymentId=bulk["BulkDeploymentId"])
        if st["BulkDeploymentStatus"] not in ("Initializing", "Running"):
            break
        threading.Event().wait(0.02)
    assert st["BulkDeploymentStatus"] == "Completed"
    assert st["BulkDeploymentMetrics"] == {
        "InvalidInputRecords": 1,
        "RecordsProcessed": 3,
        "RetryAttempts": 0,
    }
    report = gg.list_bulk_deployment_detailed_reports(BulkDeploymentId=bulk["BulkDeploymentId"])[
        "Deployments"
    ]
    started = [r for r in report if "DeploymentId" in r]
    assert len(started) == 2
    for (group_id, _), r in zip(groups, started, strict=True):
        assert (
            gg.get_deployment_status(GroupId=group_id, DeploymentId=r["DeploymentId"])["DeploymentStatus"]
            == "InProgress"
        )
        assert cloud.deployments.take_next(group_id).deployment_id == r["DeploymentId"]
    assert bulk["BulkDeploymentId"] in [
        b["BulkDeploymentId"] for b in gg.list_bulk_deployments()["BulkDeployments"]
    ]
    with pytest.raises(ClientError) as exc:  # already Completed
        gg.stop_bulk_deployment(BulkDeploymentId=bulk["BulkDeploymentId"])
    assert exc.value.response["Error"]["Code"] == "BadRequestException"

    bad = gg.start_bulk_deployment(
        ExecutionRoleArn="arn:aws:iam::123456789012:role/bulk", InputFileUri="s3://bulk-input/missing.jsonl"
    )
    for _ in range(200):
        st = gg.get_bulk_deployment_status(BulkDeploymentId=bad["BulkDeploymentId"])
        if st["BulkDeploymentStatus"] not in ("Initializing", "Running"):
            break
        threading.Event().wait(0.02)
    assert st["BulkDeploymentStatus"] == "Failed" and "missing.jsonl" in st["ErrorMessage"]


def test_function_definition_default_config_is_kept(gg):
    fn = {
        "Id": "producer",
        "FunctionArn": LAMBDA_ARN.format("producer"),
        "FunctionConfiguration": {"Pinned": True, "MemorySize": 131072, "Timeout": 3, "EncodingType": "json"},
    }
    default = {"Execution": {"IsolationMode": "NoContainer", "RunAs": {"Uid": 1000, "Gid": 1000}}}
    fd = gg.create_function_definition(
        Name="fns", InitialVersion={"Functions": [fn], "DefaultConfig": default}
    )
    v = gg.get_function_definition_version(
        FunctionDefinitionId=fd["Id"], FunctionDefinitionVersionId=fd["LatestVersion"]
    )
    assert v["Definition"] == {"Functions": [fn], "DefaultConfig": default}
    v2 = gg.create_function_definition_version(
        FunctionDefinitionId=fd["Id"],
        Functions=[fn],
        DefaultConfig={"Execution": {"IsolationMode": "GreengrassContainer"}},
    )
    got = gg.get_function_definition_version(
        FunctionDefinitionId=fd["Id"], FunctionDefinitionVersionId=v2["Version"]
    )
    assert got["Definition"]["DefaultConfig"] == {"Execution": {"IsolationMode": "GreengrassContainer"}}
    plain = gg.create_function_definition(Name="plain", InitialVersion={"Functions": [fn]})
    assert (
        "DefaultConfig"
        not in gg.get_function_definition_version(
            FunctionDefinitionId=plain["Id"], FunctionDefinitionVersionId=plain["LatestVersion"]
        )["Definition"]
    )


def test_moto_still_answers_what_it_has(gg):
    g = gg.create_group(Name="plain")
    assert gg.get_group(GroupId=g["Id"])["Name"] == "plain"
    gg.associate_role_to_group(GroupId=g["Id"], RoleArn="arn:aws:iam::123456789012:role/r")
    assert gg.get_associated_role(GroupId=g["Id"])["RoleArn"].endswith("role/r")


def test_iot_describe_endpoint_is_stable_and_local(client, cloud):
    iot = client("iot")
    first = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    assert first == iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == "127.0.0.1"
    assert (
        iot.describe_endpoint(endpointType="iot:CredentialProvider")["endpointAddress"]
        == cloud.advertised_host
    )


def test_iot_certificates_from_the_local_ca(client, cloud):
    iot = client("iot")
    pki = LocalPKI(cloud.pki_dir)
    dev = pki.root.issue_client("GG_TrafficLight")
    iot.create_thing(thingName="GG_TrafficLight")
    cert = iot.register_certificate_without_ca(certificatePem=dev.cert_pem.decode(), status="ACTIVE")
    iot.attach_thing_principal(thingName="GG_TrafficLight", principal=cert["certificateArn"])
    described = iot.describe_certificate(certificateId=cert["certificateId"])["certificateDescription"]
    assert described["certificatePem"].strip() == dev.cert_pem.decode().strip()
    assert described["status"] == "ACTIVE"
    assert iot.list_thing_principals(thingName="GG_TrafficLight")["principals"] == [cert["certificateArn"]]


def test_auto_complete_deployments(tmp_path):
    import boto3

    from localcore.cloud import LocalCloud

    with LocalCloud(tmp_path, auto_complete_deployments=True) as c:
        gg2 = boto3.client(
            "greengrass",
            endpoint_url=c.url,
            region_name="us-east-1",
            aws_access_key_id="t",
            aws_secret_access_key="t",
        )
        group_id, version = _group(gg2, name="auto")
        dep = gg2.create_deployment(GroupId=group_id, GroupVersionId=version, DeploymentType="NewDeployment")
        assert (
            gg2.get_deployment_status(GroupId=group_id, DeploymentId=dep["DeploymentId"])["DeploymentStatus"]
            == "Success"
        )
