"""The IoT and IAM policies of the V2 plan: the core certificate's IoT policies (packed into documents of at most
2048 characters), the client devices' discovery policy and the token exchange role's policy (AWS Developer
Guide: device-auth, client-device-components, device-service-role).

Part of the V2 converter (:class:`~.convert._Converter` mixes :class:`PoliciesPart` in); pure.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

from .model import canonical_json
from .routes import Routes, add_unique, policy_topic

IOT_POLICY_MAX_CHARS = 2048  # iot CreatePolicy: "maximum length of 2048, excluding whitespace" (botocore iot model)
IOT_POLICIES_PER_CERTIFICATE = 10  # AWS IoT quota: policies attached to one certificate


class PoliciesPart:
    """Routes and cloud resources → policy documents (needs ``self.g``, ``self.find``, ``self.iot``,
    ``self.region``, ``self.account`` and ``self.artifact_bucket``)."""

    # -- policies -----------------------------------------------------------------------------------------
    def core_policy(self, r: Routes, synced: Sequence[str], has_devices: bool, alias: str,
                    components: Sequence[Mapping[str, Any]] = ()) -> Dict[str, Any]:
        """``components``: the configurations of the bundle's own components; what their ``accessControl`` lets
        them publish to or subscribe from IoT Core (``aws.greengrass.ipc.mqttproxy``) goes through the core's
        MQTT connection, so the core's certificate needs it (AWS Developer Guide: device-auth, "Minimal AWS IoT
        policy" and the IPC IoT Core MQTT authorization)."""
        core = self.g.core.thing
        iot = self.iot
        statements: List[Dict[str, Any]] = [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{iot}:client/{core}*"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
                f"{iot}:topic/$aws/things/{core}*/greengrass/health/json",
                f"{iot}:topic/$aws/things/{core}*/greengrassv2/health/json",
                f"{iot}:topic/$aws/things/{core}*/jobs/*",
                f"{iot}:topic/$aws/things/{core}*/shadow/*"]},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
                f"{iot}:topicfilter/$aws/things/{core}*/jobs/*",
                f"{iot}:topicfilter/$aws/things/{core}*/shadow/*"]},
            {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": f"{iot}:rolealias/{alias}"},
            {"Effect": "Allow", "Action": ["greengrass:GetComponentVersionArtifact",
                                           "greengrass:ResolveComponentCandidates",
                                           "greengrass:GetDeploymentConfiguration",
                                           "greengrass:ListThingGroupsForCoreDevice"], "Resource": "*"},
        ]
        if has_devices:
            statements += [
                {"Effect": "Allow", "Action": "iot:Publish",
                 "Resource": f"{iot}:topic/$aws/things/{core}*-gci/shadow/get"},
                {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
                    f"{iot}:topicfilter/$aws/things/{core}*-gci/shadow/update/delta",
                    f"{iot}:topicfilter/$aws/things/{core}*-gci/shadow/get/accepted"]},
                {"Effect": "Allow", "Action": "iot:Receive", "Resource": [
                    f"{iot}:topic/$aws/things/{core}*-gci/shadow/update/delta",
                    f"{iot}:topic/$aws/things/{core}*-gci/shadow/get/accepted"]},
                {"Effect": "Allow", "Action": ["greengrass:PutCertificateAuthorities",
                                               "greengrass:VerifyClientDeviceIdentity"], "Resource": "*"},
                {"Effect": "Allow", "Action": "greengrass:VerifyClientDeviceIoTCertificateAssociation",
                 "Resource": f"{iot}:thing/*"},
                {"Effect": "Allow", "Action": ["greengrass:GetConnectivityInfo",
                                               "greengrass:UpdateConnectivityInfo"],
                 "Resource": f"{iot}:thing/{core}*"},
            ]
        if synced:
            statements += [
                {"Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow",
                                               "iot:DeleteThingShadow"],
                 "Resource": [f"{iot}:thing/{t}" for t in synced]},
                {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
                 "Resource": [f"{iot}:topic/$aws/things/{t}/shadow/*" for t in synced]},
                {"Effect": "Allow", "Action": "iot:Subscribe",
                 "Resource": [f"{iot}:topicfilter/$aws/things/{t}/shadow/*" for t in synced]},
            ]
        publish, subscribe = list(r.cloud_publish), list(r.cloud_subscribe)
        for config in components:
            grants = mqttproxy_grants(config, core)
            publish += grants["publish"]
            subscribe += grants["subscribe"]
        if publish:
            statements.append({"Effect": "Allow", "Action": "iot:Publish", "Resource": _unique(
                f"{iot}:topic/{policy_topic(t)}" for t in publish)})
        if subscribe:
            statements.append({"Effect": "Allow", "Action": "iot:Subscribe", "Resource": _unique(
                f"{iot}:topicfilter/{t}" for t in subscribe)})
            statements.append({"Effect": "Allow", "Action": "iot:Receive", "Resource": _unique(
                f"{iot}:topic/{policy_topic(t)}" for t in subscribe)})
        return {"Version": "2012-10-17", "Statement": statements}

    def device_policy(self) -> Dict[str, Any]:
        things = [d.thing for d in self.g.devices]
        statements: List[Dict[str, Any]] = []
        if things:
            statements.append({"Effect": "Allow", "Action": "greengrass:Discover",
                               "Resource": [f"{self.iot}:thing/{t}" for t in things]})
        return {"Version": "2012-10-17", "Statement": statements}

    def role_policy(self, compose_objects: Sequence[str], logs: bool) -> Dict[str, Any]:
        values = {v for f in self.g.functions for v in f.environment.values()}
        c = self.g.cloud
        # a bundle component names its tables and buckets in its own configuration or code (the group file cannot see
        # them): all of cloud.tables and cloud.buckets
        tables = [t.name for t in c.tables if t.name in values or self.g.components]
        buckets = [b for b in c.buckets if b in values or self.g.components]
        streams = [k.name for k in c.kinesis_streams if k.name in values]
        videos = [v for v in c.video_streams if v in values]
        for i, ch in enumerate(c.iotanalytics_channels):
            if ch in values:
                self.find(f"cloud.iotanalytics_channels[{i}]", "warning", f"IoT Analytics channel '{ch}' is not "
                          "granted: AWS retired IoT Analytics", "export to Kinesis (EXPORT_TARGET: kinesis)")
        r, a = self.region, self.account
        st: List[Dict[str, Any]] = [{
            "Sid": "Logs", "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": [f"arn:aws:logs:{r}:{a}:log-group:/aws/greengrass/*",
                         f"arn:aws:logs:{r}:{a}:log-group:/aws/greengrass/*:log-stream:*"]}]
        del logs  # the baseline grants logs either way (v2-migration §9.2); LogManager needs exactly these
        objects = list(compose_objects)
        if self.artifact_bucket:
            objects.insert(0, f"arn:aws:s3:::{self.artifact_bucket}/*")
        if objects:
            st.append({"Sid": "ComponentArtifacts", "Effect": "Allow", "Action": ["s3:GetObject"],
                       "Resource": _unique(objects)})
        all_buckets = _unique([o.split(":::")[1].split("/")[0] for o in objects] + buckets)
        if all_buckets:
            st.append({"Sid": "BucketLocation", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
                       "Resource": [f"arn:aws:s3:::{b}" for b in all_buckets]})
        if buckets:
            st.append({"Sid": "LambdaBuckets", "Effect": "Allow",
                       "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts",
                                  "s3:PutObject"],
                       "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets]})
        if tables:
            st.append({"Sid": "LambdaTables", "Effect": "Allow",
                       "Action": ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
                                  "dynamodb:Query", "dynamodb:UpdateItem"],
                       "Resource": [f"arn:aws:dynamodb:{r}:{a}:table/{t}" for t in tables]})
        if streams:
            st.append({"Sid": "StreamExports", "Effect": "Allow", "Action": ["kinesis:PutRecords"],
                       "Resource": [f"arn:aws:kinesis:{r}:{a}:stream/{s}" for s in streams]})
        if videos:
            st.append({"Sid": "VideoStreams", "Effect": "Allow",
                       "Action": ["kinesisvideo:DescribeStream", "kinesisvideo:GetDataEndpoint",
                                  "kinesisvideo:PutMedia"],
                       "Resource": [f"arn:aws:kinesisvideo:{r}:{a}:stream/{v}/*" for v in videos]})
        return {"Version": "2012-10-17", "Statement": st}


def pack_policy(statements: Sequence[Dict[str, Any]], limit: int = IOT_POLICY_MAX_CHARS) -> List[Dict[str, Any]]:
    """Spread IAM-style statements over as few policy documents of at most ``limit`` characters (canonical JSON,
    i.e. without whitespace) as the order allows; a statement too long alone is split by its resources."""
    def size(stmts: List[Dict[str, Any]]) -> int:
        return len(canonical_json({"Version": "2012-10-17", "Statement": stmts}))

    pieces: List[Dict[str, Any]] = []
    for st in statements:
        if size([st]) <= limit or isinstance(st.get("Resource"), str):
            pieces.append(st)
            continue
        chunk: List[str] = []
        for res in st["Resource"]:
            if chunk and size([{**st, "Resource": chunk + [res]}]) > limit:
                pieces.append({**st, "Resource": chunk})
                chunk = []
            chunk.append(res)
        pieces.append({**st, "Resource": chunk})
    docs: List[List[Dict[str, Any]]] = [[]]
    for piece in pieces:
        if docs[-1] and size(docs[-1] + [piece]) > limit:
            docs.append([])
        docs[-1].append(piece)
    return [{"Version": "2012-10-17", "Statement": stmts} for stmts in docs]


MQTTPROXY = "aws.greengrass.ipc.mqttproxy"
_PUBLISH, _SUBSCRIBE = "aws.greengrass#PublishToIoTCore", "aws.greengrass#SubscribeToIoTCore"


def mqttproxy_grants(configuration: Mapping[str, Any], core_thing: str) -> Dict[str, List[str]]:
    """The IoT Core topics a component's ``accessControl`` lets it publish to and the filters it may subscribe to
    (``aws.greengrass.ipc.mqttproxy``; ``*`` operations grant both; ``{iot:thingName}`` as the nucleus
    interpolates it with ``interpolateComponentConfiguration``, which the converter's deployments set). Keys are
    matched case-insensitively, as the nucleus' AuthorizationPolicyParser does."""
    out: Dict[str, List[str]] = {"publish": [], "subscribe": []}
    access = next((v for k, v in (configuration or {}).items() if k.lower() == "accesscontrol"), None)
    if not isinstance(access, Mapping):
        return out
    for policy in (access.get(MQTTPROXY) or {}).values():
        if not isinstance(policy, Mapping):
            continue
        fields = {str(k).lower(): v for k, v in policy.items()}
        operations = [str(o) for o in fields.get("operations") or []]
        resources = [str(r).replace("{iot:thingName}", core_thing) for r in fields.get("resources") or []]
        if "*" in operations or _PUBLISH in operations:
            out["publish"] += resources
        if "*" in operations or _SUBSCRIBE in operations:
            out["subscribe"] += resources
    return out


def _unique(items: Any) -> List[str]:
    out: List[str] = []
    for x in items:
        add_unique(out, x)
    return out
