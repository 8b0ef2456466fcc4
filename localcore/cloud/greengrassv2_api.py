"""Wire of the Greengrass V2 stand-in (REST JSON; SigV4 signing name ``greengrass``, paths
``/greengrass/v2/…`` and ``/tags/<V2 ARN>``). State: :mod:`.greengrassv2_state`.

Registered for service ``greengrass`` **after** the V1 adapter (whose routes never match
``/greengrass/v2/``); every ``/greengrass/v2/`` request ends here — one this module does not know is
a 404, never a fall-through to moto's V1 backend. ``Get/UpdateConnectivityInfo`` use the V1 path and
casing and are answered by the V1 adapter (same data for both clients). ``/tags/<arn>`` is answered
only for V2 ARNs (``…:components|deployments|coreDevices:…``); others go on to moto.

The rest of the cloud is read from moto with boto3 clients on the cloud's moto URL: Lambda versions
(``get_function``), S3 objects (artifact existence and digests), IoT things, thing groups and
membership. A Lambda version's code zip is read from moto's in-process Lambda backend, because the
``Code.Location`` moto returns is not a URL anything serves.

Device side (unsigned, what a core does; service ``greengrassv2``)::

    GET  /_local/greengrassv2/coreDevices/<thing>/deployments
         → {"deployments": [<GetDeployment document>, ...],   latest of each target, oldest first
            "thingGroups": [<ARN of each thing group the core is in>]}
    POST /_local/greengrassv2/coreDevices/<thing>/deployments/<id>/status
         {"status": "SUCCEEDED"|"FAILED"|"IN_PROGRESS"|..., "reason", "errorStack", "errorTypes"}
    PUT  /_local/greengrassv2/coreDevices/<thing>/installedComponents
         {"components": [{componentName, componentVersion, lifecycleState, isRoot, ...}], "deploymentId"}
    PUT  /_local/greengrassv2/coreDevices/<thing>/health
         {"status": "HEALTHY", "coreVersion", "platform", "architecture", "runtime"}
    GET  /_local/greengrassv2/components/<version arn>/artifacts/lambda-artifact.zip   (the code zip)
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import urllib.parse
from typing import Any, Callable, Mapping

from botocore.config import Config
from botocore.exceptions import ClientError

from group.v2.lambda_recipe import ARTIFACT_NAME as LAMBDA_ARTIFACT
from group.v2.lambda_recipe import ARTIFACT_URI as LAMBDA_ARTIFACT_URI

from .errors import ApiError
from .greengrassv2_state import (
    GreengrassV2State,
    LambdaInfo,
    not_found,
    parse_inline_recipe,
    parse_target,
    split_lambda_arn,
    validation,
)
from .wire import CloudRequest, CloudResponse, b64decode_field, json_response

log = logging.getLogger(__name__)

SERVICE = "greengrass"
LOCAL_SERVICE = "greengrassv2"
def _query(req: CloudRequest) -> dict[str, list[str]]:
    _, _, qs = req.raw_path.partition("?")
    return urllib.parse.parse_qs(qs, keep_blank_values=True)


def _q1(q: Mapping[str, list[str]], key: str) -> str | None:
    vals = q.get(key)
    return vals[0] if vals else None


def _segments(req: CloudRequest) -> list[str]:
    path = req.raw_path.partition("?")[0]
    return [urllib.parse.unquote(s) for s in path.strip("/").split("/")]


def _no_content() -> CloudResponse:
    return CloudResponse(204, b"", {})


class GreengrassV2Api:
    def __init__(
        self,
        state: GreengrassV2State,
        *,
        moto_url: str,
        public_url: Callable[[], str],
    ) -> None:
        """``moto_url``: where the cloud's moto server listens (Lambda, S3, IoT are read there);
        ``public_url()``: the cloud's endpoint URL, for the artifact URLs handed to cores."""
        self.state = state
        self.moto_url = moto_url
        self.public_url = public_url
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        state.thing_groups = self.thing_group_arns  # in-process readers get membership too

    # ------------------------------------------------------------------ entry
    def handle(self, req: CloudRequest) -> CloudResponse | None:
        seg = _segments(req)
        if req.service == LOCAL_SERVICE and seg[:2] == ["_local", LOCAL_SERVICE]:
            return self._local(req, seg[2:])
        if req.service != SERVICE:
            return None
        if seg[:1] == ["tags"] and len(seg) >= 2:
            arn = "/".join(seg[1:])
            if not arn.startswith("arn:") or not any(
                f":{k}:" in arn for k in ("components", "deployments", "coreDevices")
            ):
                return None  # a V1 resource: moto's
            return self._tags(req, arn)
        if seg[:2] != ["greengrass", "v2"]:
            return None
        out = self._v2(req, seg[2:])
        if out is None:
            raise ApiError(
                f"the Greengrass V2 stand-in has no operation {req.method} {req.path}",
                code="UnknownOperationException",
                status=404,
            )
        return out

    def close(self) -> None:
        with self._clients_lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

    # ------------------------------------------------------------------ moto access
    def _client(self, service: str, *, presign: bool = False) -> Any:
        """A boto3 client on moto (or, ``presign``: an S3 client on the public URL that only signs)."""
        key = "s3-presign" if presign else service
        with self._clients_lock:
            c = self._clients.get(key)
            if c is None:
                from group.clients import shared_session  # the models the deploy parsed, not parsed again

                # a Session of its own: boto3's default session is not thread-safe to create clients on
                c = self._clients[key] = shared_session().client(
                    service,
                    endpoint_url=self.public_url() if presign else self.moto_url,
                    region_name=self.state.region,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",
                    config=Config(
                        retries={"max_attempts": 1},
                        signature_version="s3v4" if presign else None,
                        s3={"addressing_style": "path"},
                    ),
                )
            return c

    def _iot_exists(self, operation: str, **params: str) -> bool:
        """Whether moto's IoT finds what ``operation`` (``describe_thing``, ``describe_thing_group``) names."""
        try:
            getattr(self._client("iot"), operation)(**params)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise

    def _thing_exists(self, name: str) -> bool:
        return self._iot_exists("describe_thing", thingName=name)

    def _thing_group_exists(self, name: str) -> bool:
        return self._iot_exists("describe_thing_group", thingGroupName=name)

    def thing_group_arns(self, thing: str) -> list[str]:
        """The ARNs of the thing groups ``thing`` is in (moto's IoT); ``[]`` for an unknown thing."""
        try:
            out = self._client("iot").list_thing_groups_for_thing(thingName=thing)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return []
            raise
        return [g["groupArn"] for g in out.get("thingGroups", [])]

    def _lambda_info(self, arn: str) -> LambdaInfo:
        region, account, name, version = split_lambda_arn(arn)
        if region != self.state.region or account != self.state.account_id:
            raise validation(
                f"lambdaArn {arn} is in {region}/{account}; this cloud is {self.state.region}/{self.state.account_id}"
            )
        try:
            out = self._client("lambda").get_function(FunctionName=name, Qualifier=version)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ResourceNotFoundException", "ResourceNotFound"):
                raise validation(
                    f"Lambda function {name} version {version} does not exist ({arn}): "
                    "create the function and publish that version first",
                    [("lambdaFunction.lambdaArn", "version not found")],
                ) from None
            raise
        cfg = out["Configuration"]
        return LambdaInfo(
            arn=f"arn:aws:lambda:{region}:{account}:function:{name}:{version}",
            function_name=name,
            version=version,
            runtime=cfg.get("Runtime"),
            handler=cfg.get("Handler"),
            code_sha256=cfg.get("CodeSha256", ""),
            code_size=int(cfg.get("CodeSize", 0)),
        )

    def _lambda_code(self, lambda_arn: str) -> bytes:
        region, account, name, version = split_lambda_arn(lambda_arn)
        from moto.awslambda.models import lambda_backends  # moto runs in this process

        try:
            fn = lambda_backends[account][region].get_function(name, version)
        except Exception as exc:  # moto's own not-found types vary by version
            raise not_found(f"Lambda function {name} version {version} no longer exists: {exc}") from exc
        return bytes(fn.code_bytes)

    def _s3_digest(self, uri: str) -> str | None:
        """base64 SHA-256 of an ``s3://`` artifact in the cloud's S3, or ``None`` if unreadable."""
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket or not key:
            return None
        try:
            body = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"]
            try:
                h = hashlib.sha256()
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    h.update(chunk)
            finally:
                body.close()
        except ClientError as exc:
            log.info("artifact %s not readable: %s", uri, exc)
            return None
        return base64.b64encode(h.digest()).decode()

    # ------------------------------------------------------------------ /greengrass/v2
    def _v2(self, req: CloudRequest, seg: list[str]) -> CloudResponse | None:
        m, n = req.method, len(seg)
        q = _query(req)
        st = self.state
        if seg == ["createComponentVersion"] and m == "POST":
            return json_response(self._create_component_version(req.json()), 201)
        if seg == ["resolveComponentCandidates"] and m == "POST":
            return json_response(st.resolve_candidates(req.json().get("componentCandidates") or []))
        if seg[:1] == ["components"]:
            if n == 1 and m == "GET":
                return json_response(
                    st.list_components(_q1(q, "scope"), _q1(q, "maxResults"), _q1(q, "nextToken"))
                )
            if n < 2:
                return None
            arn = seg[1]
            if n == 2 and m == "GET":
                return json_response(st.get_component(arn, _q1(q, "recipeOutputFormat")))
            if n == 2 and m == "DELETE":
                st.delete_component(arn)
                return _no_content()
            if n == 3 and seg[2] == "metadata" and m == "GET":
                return json_response(st.describe_component(arn))
            if n == 3 and seg[2] == "versions" and m == "GET":
                return json_response(
                    st.list_component_versions(arn, _q1(q, "maxResults"), _q1(q, "nextToken"))
                )
            if n >= 4 and seg[2] == "artifacts" and m == "GET":
                return json_response({"preSignedUrl": self._artifact_url(arn, "/".join(seg[3:]))})
            return None
        if seg[:1] == ["deployments"]:
            if n == 1 and m == "POST":
                return json_response(self._create_deployment(req.json()), 201)
            if n == 1 and m == "GET":
                return json_response(
                    st.list_deployments(
                        target_arn=_q1(q, "targetArn"),
                        history_filter=_q1(q, "historyFilter"),
                        parent_target_arn=_q1(q, "parentTargetArn"),
                        max_results=_q1(q, "maxResults"),
                        next_token=_q1(q, "nextToken"),
                    )
                )
            if n == 2 and m == "GET":
                return json_response(st.get_deployment(seg[1]))
            if n == 2 and m == "DELETE":
                st.delete_deployment(seg[1])
                return _no_content()
            if n == 3 and seg[2] == "cancel" and m == "POST":
                return json_response(st.cancel_deployment(seg[1]))
            return None
        if seg[:1] == ["coreDevices"]:
            return self._core_devices(req, seg, q)
        return None

    def _create_component_version(self, body: Mapping[str, Any]) -> dict[str, Any]:
        st = self.state
        recipe_b64, source = body.get("inlineRecipe"), body.get("lambdaFunction")
        if (recipe_b64 is None) == (source is None):
            raise validation(
                "give exactly one of inlineRecipe and lambdaFunction",
                [("inlineRecipe", "exactly one of inlineRecipe / lambdaFunction")],
            )
        tags, token = body.get("tags"), body.get("clientToken")
        if source is not None:
            info = self._lambda_info(source.get("lambdaArn"))
            return st.create_lambda_component(
                source, info, tags=tags, client_token=token
            )
        blob = b64decode_field(recipe_b64, "inlineRecipe")
        recipe = parse_inline_recipe(blob)
        digests: dict[str, str] = {}
        unreadable: list[str] = []
        for uri in recipe.artifact_uris():
            if uri.startswith("s3://"):
                digest = self._s3_digest(uri)
                if digest is None:
                    unreadable.append(uri)
                else:
                    digests[uri] = digest
        if unreadable:
            # the service's own wording (seen in AWS CLI reports)
            raise validation(
                "Invalid Input: Encountered following errors in Artifacts: {"
                + ", ".join(f"{u} = Specified artifact resource cannot be accessed" for u in unreadable)
                + "}",
                [("Artifacts", u) for u in unreadable],
            )
        return st.create_component_from_recipe(
            blob, tags=tags, client_token=token, artifact_digests=digests, recipe=recipe
        )

    def _artifact_url(self, arn: str, name: str) -> str:
        rec, uri = self.state.artifact_uri(arn, name)
        if uri == LAMBDA_ARTIFACT_URI:
            if rec.lambda_arn is None:
                raise not_found(f"{arn} is not a Lambda component: it has no {LAMBDA_ARTIFACT}")
            self._lambda_code(rec.lambda_arn)  # still there? (404 now rather than at download)
            quoted = urllib.parse.quote(rec.arn, safe="")
            return (
                f"{self.public_url()}/_local/{LOCAL_SERVICE}/components/{quoted}/artifacts/{LAMBDA_ARTIFACT}"
            )
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://") :].partition("/")
            return self._client("s3", presign=True).generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
            )
        raise validation(
            f"artifact {uri} of {arn} is not stored in the cloud (only s3:// and greengrass: are)"
        )

    def _create_deployment(self, body: Mapping[str, Any]) -> dict[str, Any]:
        kind, name, _, _ = parse_target(str(body.get("targetArn") or ""))
        exists = self._thing_exists(name) if kind == "thing" else self._thing_group_exists(name)
        if not exists:
            raise not_found(
                f"{'Thing' if kind == 'thing' else 'Thing group'} {name} does not exist in IoT "
                f"(targetArn {body.get('targetArn')})"
            )
        members: list[str] = []
        if kind == "thinggroup" and self.state.auto_complete:
            found = self._client("iot").list_things_in_thing_group(thingGroupName=name)
            members = list(found.get("things", []))
        return self.state.create_deployment(body, client_token=body.get("clientToken"), members=members)

    def _core_devices(
        self, req: CloudRequest, seg: list[str], q: Mapping[str, list[str]]
    ) -> CloudResponse | None:
        st, m, n = self.state, req.method, len(seg)
        mr, nt = _q1(q, "maxResults"), _q1(q, "nextToken")
        if n == 1 and m == "GET":
            things = None
            group_arn = _q1(q, "thingGroupArn")
            if group_arn:
                _, group, _, _ = parse_target(group_arn)
                try:
                    out = self._client("iot").list_things_in_thing_group(thingGroupName=group)
                    things = out.get("things", [])
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                        raise
                    things = []
            return json_response(
                st.list_core_devices(
                    things=things,
                    status=_q1(q, "status"),
                    runtime=_q1(q, "runtime"),
                    max_results=mr,
                    next_token=nt,
                )
            )
        if n < 2:
            return None
        thing = seg[1]
        if n == 2 and m == "GET":
            return json_response(st.get_core_device(thing))
        if n == 2 and m == "DELETE":
            st.delete_core_device(thing)
            return _no_content()
        if n != 3:
            return None
        op = seg[2]
        if op == "effectiveDeployments" and m == "GET":
            if not st.has_core(thing) and not self._thing_exists(thing):
                raise not_found(f"Core device {thing} not found (no such core device or IoT thing)")
            return json_response(st.list_effective_deployments(thing, self.thing_group_arns(thing), mr, nt))
        if op == "installedComponents" and m == "GET":
            return json_response(st.list_installed_components(thing, _q1(q, "topologyFilter"), mr, nt))
        if op in ("associateClientDevices", "disassociateClientDevices") and m == "POST":
            names = [str(e.get("thingName")) for e in req.json().get("entries") or []]
            if not st.has_core(thing) and not self._thing_exists(thing):
                raise not_found(f"Core device {thing} not found (no such core device or IoT thing)")
            if op == "associateClientDevices":
                missing = [x for x in names if not self._thing_exists(x)]
                errors = st.associate_client_devices(thing, names, missing)
            else:
                errors = st.disassociate_client_devices(thing, names)
            return json_response({"errorEntries": errors})
        if op == "associatedClientDevices" and m == "GET":
            if not st.has_core(thing) and not self._thing_exists(thing):
                raise not_found(f"Core device {thing} not found (no such core device or IoT thing)")
            return json_response(st.associated_client_devices(thing, mr, nt))
        return None

    # ------------------------------------------------------------------ tags
    def _tags(self, req: CloudRequest, arn: str) -> CloudResponse | None:
        st = self.state
        if req.method == "GET":
            return json_response({"tags": st.tags(arn)})
        if req.method == "POST":
            st.tag_resource(arn, req.json().get("tags") or {})
            return json_response({})
        if req.method == "DELETE":
            st.untag_resource(arn, _query(req).get("tagKeys", []))
            return json_response({})
        return None

    # ------------------------------------------------------------------ device side
    def _local(self, req: CloudRequest, seg: list[str]) -> CloudResponse | None:
        st, m, n = self.state, req.method, len(seg)
        if n >= 4 and seg[0] == "components" and seg[2] == "artifacts" and m == "GET":
            rec, uri = st.artifact_uri(seg[1], "/".join(seg[3:]))
            if uri != LAMBDA_ARTIFACT_URI or rec.lambda_arn is None:
                raise not_found(f"{seg[1]} has no Lambda code artifact {'/'.join(seg[3:])}")
            code = self._lambda_code(rec.lambda_arn)
            return CloudResponse(
                200,
                code,
                {
                    "Content-Type": "application/zip",
                    "Content-Disposition": f'attachment; filename="{LAMBDA_ARTIFACT}"',
                },
            )
        if n < 3 or seg[0] != "coreDevices":
            return None
        thing, op = seg[1], seg[2]
        if op == "deployments" and n == 3 and m == "GET":
            groups = self.thing_group_arns(thing)
            return json_response({"deployments": st.core_deployments(thing, groups), "thingGroups": groups})
        if op == "deployments" and n == 5 and seg[4] == "status" and m in ("POST", "PUT"):
            body = req.json()
            row = st.report_deployment(
                thing,
                seg[3],
                str(body.get("status")),
                reason=body.get("reason"),
                error_stack=body.get("errorStack") or [],
                error_types=body.get("errorTypes") or [],
            )
            return json_response(row)
        if op == "installedComponents" and n == 3 and m in ("POST", "PUT"):
            body = req.json()
            comps = body.get("components")
            if not isinstance(comps, list):
                raise validation('body must be {"components": [...]}')
            st.report_installed(thing, comps, deployment_id=body.get("deploymentId"))
            return json_response(st.list_installed_components(thing, "ALL", 100, None))
        if op == "health" and n == 3 and m in ("POST", "PUT"):
            body = req.json()
            return json_response(
                st.report_health(
                    thing,
                    status=str(body.get("status", "HEALTHY")),
                    core_version=body.get("coreVersion"),
                    platform=body.get("platform"),
                    architecture=body.get("architecture"),
                    runtime=body.get("runtime"),
                )
            )
        return None
