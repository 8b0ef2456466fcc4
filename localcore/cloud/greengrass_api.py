"""Wire of the Greengrass V1 gap adapter (REST JSON, SigV4 service ``greengrass``).

Answered here (moto has no route, or drops data):
  logger / connector / subscription definitions and versions (``/greengrass/definition/<kind>...``);
  ``create_group`` / ``create_group_version`` (our ARNs are taken out before moto sees the
  request, kept, and merged back into ``get_group_version``); deployments (moto creates them, we
  track their status); ``reset_deployments``; connectivity info; group certificate authorities
  and configuration; the account's service role; bulk deployments.
Everything else under ``/greengrass/`` returns ``None`` and goes to moto unchanged.
Read-back (unsigned): ``GET /_local/greengrass/deployments[?groupId=]`` → ``{"deployments": [...]}``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from ..pki import LocalPKI, certificate_id
from .errors import ApiError, BadRequest, NotFound
from .greengrass_definitions import KINDS, iso_now, new_id
from .greengrass_deployments import Deployment, parse_bulk_input, parse_s3_uri
from .greengrass_state import GreengrassState
from .moto_link import MotoLink, MotoReply
from .routing import Router
from .wire import CloudRequest, CloudResponse, json_response

log = logging.getLogger(__name__)

SERVICE = "greengrass"
_ID = r"(?P<{}>[^/]+)"
_BULK_JOIN_S = 10.0


def _ensure_ok(reply: MotoReply) -> Any:
    """moto's JSON answer, or ``ApiError`` carrying moto's own error (so the caller sees it)."""
    if reply.ok:
        return reply.json()
    try:
        body = reply.json()
        code = body.get("__type") or body.get("code") or "BadRequestException"
        message = body.get("message") or body.get("Message") or reply.body.decode(errors="replace")
    except ValueError:
        code, message = "BadRequestException", reply.body.decode(errors="replace")[:500]
    raise ApiError(message, code=code, status=reply.status)


class GreengrassApi:
    def __init__(
        self, state: GreengrassState, moto: MotoLink, pki_dir: Path, s3_reader: Callable[[str, str], bytes]
    ) -> None:
        """``s3_reader(bucket, key)`` fetches a bulk deployment input file (from moto's S3)."""
        self.state = state
        self.moto = moto
        self.pki_dir = Path(pki_dir)
        self._pki: LocalPKI | None = None
        self._pki_lock = threading.Lock()
        self._s3_reader = s3_reader
        self._bulk_threads: list[threading.Thread] = []
        self._closing = threading.Event()
        r = self._router = Router()
        for kind in KINDS:
            base = f"/greengrass/definition/{kind.path}"
            store = state.definitions[kind.path]
            r.add("POST", base, self._def_create(store))
            r.add("GET", base, lambda req, s=store: json_response({"Definitions": s.list()}))
            one = base + "/" + _ID.format("def_id")
            r.add("GET", one, lambda req, def_id, s=store: json_response(s.get(def_id)))
            r.add("PUT", one, self._def_update(store))
            r.add("DELETE", one, self._def_delete(store))
            r.add(
                "POST",
                one + "/versions",
                lambda req, def_id, s=store: json_response(s.create_version(def_id, req.json())),
            )
            r.add(
                "GET",
                one + "/versions",
                lambda req, def_id, s=store: json_response({"Versions": s.list_versions(def_id)}),
            )
            r.add(
                "GET",
                one + "/versions/" + _ID.format("vid"),
                lambda req, def_id, vid, s=store: json_response(s.get_version(def_id, vid)),
            )
        f = "/greengrass/definition/functions"
        r.add("POST", f, self._create_function_definition)
        r.add("POST", f + "/" + _ID.format("def_id") + "/versions", self._create_function_definition_version)
        r.add(
            "GET",
            f + "/" + _ID.format("def_id") + "/versions/" + _ID.format("vid"),
            self._get_function_definition_version,
        )
        g = "/greengrass/groups/" + _ID.format("group_id")
        r.add("POST", "/greengrass/groups", self._create_group)
        r.add("DELETE", g, self._delete_group)
        r.add("POST", g + "/versions", self._create_group_version)
        r.add("GET", g + "/versions/" + _ID.format("vid"), self._get_group_version)
        r.add("POST", g + r"/deployments/\$reset", self._reset_deployments)
        r.add("POST", g + "/deployments", self._create_deployment)
        r.add("GET", g + "/deployments", self._list_deployments)
        r.add("GET", g + "/deployments/" + _ID.format("dep_id") + "/status", self._deployment_status)
        r.add("GET", g + "/certificateauthorities", self._list_cas)
        r.add("GET", g + "/certificateauthorities/configuration/expiry", self._get_cert_config)
        r.add("PUT", g + "/certificateauthorities/configuration/expiry", self._update_cert_config)
        r.add("GET", g + "/certificateauthorities/" + _ID.format("ca_id"), self._get_ca)
        r.add("PUT", "/greengrass/servicerole", self._associate_role)
        r.add("GET", "/greengrass/servicerole", lambda req: json_response(self.state.service_role()))
        r.add(
            "DELETE",
            "/greengrass/servicerole",
            lambda req: json_response({"DisassociatedAt": self.state.disassociate_service_role()}),
        )
        t = "/greengrass/things/" + _ID.format("thing") + "/connectivityInfo"
        r.add("GET", t, self._get_connectivity)
        r.add("PUT", t, self._update_connectivity)
        r.add("GET", "/_local/greengrass/deployments", self._local_deployments)
        b = "/greengrass/bulk/deployments"
        r.add("POST", b, self._start_bulk)
        r.add("GET", b, self._list_bulk)
        r.add(
            "GET",
            b + "/" + _ID.format("bulk_id") + "/status",
            lambda req, bulk_id: json_response(self.state.bulk.get(bulk_id).status_json()),
        )
        r.add("PUT", b + "/" + _ID.format("bulk_id") + r"/\$stop", self._stop_bulk)
        r.add(
            "GET",
            b + "/" + _ID.format("bulk_id") + "/detailed-reports",
            lambda req, bulk_id: json_response({"Deployments": list(self.state.bulk.get(bulk_id).results)}),
        )

    def handle(self, req: CloudRequest) -> CloudResponse | None:
        return self._router.dispatch(req)

    def close(self) -> None:
        """Stop running bulk deployments (they end ``Stopped``) and wait for their threads."""
        self._closing.set()
        for t in self._bulk_threads:
            t.join(timeout=_BULK_JOIN_S)

    def status(self) -> dict[str, Any]:
        return self.state.status()

    @property
    def pki(self) -> LocalPKI:
        with self._pki_lock:
            if self._pki is None:
                self._pki = LocalPKI(self.pki_dir)
            return self._pki

    # moto helpers --------------------------------------------------------------------------
    def _moto_json(self, req: CloudRequest, method: str, path: str, obj: Any = None) -> Any:
        return _ensure_ok(self.moto.json_request(method, path, req.headers, obj))

    def _require_group(self, req: CloudRequest, group_id: str) -> dict[str, Any]:
        return self._moto_json(req, "GET", f"/greengrass/groups/{urllib.parse.quote(group_id, safe='')}")

    # definitions ---------------------------------------------------------------------------
    @staticmethod
    def _def_create(store):
        def create(req: CloudRequest) -> CloudResponse:
            body = req.json()
            return json_response(store.create(body.get("Name"), body.get("InitialVersion"), body.get("tags")))

        return create

    def _def_update(self, store):
        def update(req: CloudRequest, def_id: str) -> CloudResponse:
            store.update(def_id, req.json().get("Name"))
            return json_response({})

        return update

    def _def_delete(self, store):
        def delete(req: CloudRequest, def_id: str) -> CloudResponse:
            store.delete(def_id)
            return json_response({})

        return delete

    # function definitions: moto answers, we keep DefaultConfig --------------------------------
    def _create_function_definition(self, req: CloudRequest) -> CloudResponse | None:
        initial = req.json().get("InitialVersion")
        if not isinstance(initial, dict) or "DefaultConfig" not in initial:
            return None
        out = self._moto_json(req, "POST", req.raw_path, req.json())
        self.state.set_function_default_config(out["Id"], out["LatestVersion"], initial["DefaultConfig"])
        return json_response(out)

    def _create_function_definition_version(self, req: CloudRequest, def_id: str) -> CloudResponse | None:
        body = req.json()
        if "DefaultConfig" not in body:
            return None
        out = self._moto_json(req, "POST", req.raw_path, body)
        self.state.set_function_default_config(def_id, out["Version"], body["DefaultConfig"])
        return json_response(out)

    def _get_function_definition_version(
        self, req: CloudRequest, def_id: str, vid: str
    ) -> CloudResponse | None:
        config = self.state.function_default_config(def_id, vid)
        if config is None:
            return None
        out = self._moto_json(req, "GET", req.raw_path)
        out.setdefault("Definition", {})["DefaultConfig"] = config
        return json_response(out)

    # groups --------------------------------------------------------------------------------
    def _create_group(self, req: CloudRequest) -> CloudResponse | None:
        body = req.json()
        initial = body.get("InitialVersion")
        if not isinstance(initial, dict):
            return None  # nothing of ours inside: moto answers as is
        to_moto, extras = self.state.split_group_version(initial)
        out = self._moto_json(req, "POST", req.raw_path, {**body, "InitialVersion": to_moto})
        self.state.set_group_extras(out["Id"], out["LatestVersion"], extras)
        return json_response(out)

    def _delete_group(self, req: CloudRequest, group_id: str) -> CloudResponse:
        reply = self.moto.request("DELETE", req.raw_path, req.headers, req.body or None)
        if reply.ok:
            self.state.forget_group(group_id)
        return reply.to_response()

    def _create_group_version(self, req: CloudRequest, group_id: str) -> CloudResponse:
        to_moto, extras = self.state.split_group_version(req.json())
        out = self._moto_json(req, "POST", req.raw_path, to_moto)
        self.state.set_group_extras(group_id, out["Version"], extras)
        return json_response(out)

    def _get_group_version(self, req: CloudRequest, group_id: str, vid: str) -> CloudResponse:
        reply = self.moto.request("GET", req.raw_path, req.headers)
        if not reply.ok:
            return reply.to_response()
        out = reply.json()
        out.setdefault("Definition", {}).update(self.state.group_extras(group_id, vid))
        return json_response(out)

    # deployments ---------------------------------------------------------------------------
    def _create_deployment(self, req: CloudRequest, group_id: str) -> CloudResponse:
        body = req.json()
        if body.get("DeploymentType") == "Redeployment" and not body.get("GroupVersionId"):
            # AWS redeploys the earlier deployment's group version; moto needs it spelled out.
            earlier = self.state.deployments.get(str(body.get("DeploymentId")))
            if earlier is not None and earlier.group_version_id:
                body = {**body, "GroupVersionId": earlier.group_version_id}
        out = self._moto_json(req, "POST", req.raw_path, body)
        self.state.deployments.add(
            Deployment(
                deployment_id=out["DeploymentId"],
                deployment_arn=out["DeploymentArn"],
                group_id=group_id,
                group_arn=self.state.group_arn(group_id),
                group_version_id=body.get("GroupVersionId"),
                deployment_type=body.get("DeploymentType", "NewDeployment"),
                created_at=iso_now(),
            )
        )
        return json_response(out)

    def _list_deployments(self, req: CloudRequest, group_id: str) -> CloudResponse:
        reply = self.moto.request("GET", req.raw_path, req.headers)
        if not reply.ok:
            return reply.to_response()
        out = reply.json()
        ours = {d.deployment_id: d for d in self.state.deployments.for_group(group_id)}
        listed = []
        for item in out.get("Deployments", []):
            d = ours.get(item.get("DeploymentId"))
            listed.append(d.list_json() if d is not None else item)  # moto's GroupArn is a version ARN
        listed += [d.list_json() for d in ours.values() if d.local_only]
        listed.sort(key=lambda x: x.get("CreatedAt", ""), reverse=True)
        return json_response({"Deployments": listed})

    def _deployment_status(self, req: CloudRequest, group_id: str, dep_id: str) -> CloudResponse | None:
        d = self.state.deployments.get(dep_id)
        if d is None or d.group_id != group_id:
            return None  # moto answers (and says it does not exist)
        return json_response(d.status_json())

    def _reset_deployments(self, req: CloudRequest, group_id: str) -> CloudResponse:
        force = bool(req.json().get("Force", False))
        self._require_group(req, group_id)
        if not force:
            deps = [d for d in self.state.deployments.for_group(group_id)]
            if not deps or deps[-1].deployment_type not in ("NewDeployment", "Redeployment"):
                raise BadRequest(f"Group id: {group_id} has not been deployed or has already been reset.")
        dep_id = new_id()
        dep = self.state.deployments.add(
            Deployment(
                deployment_id=dep_id,
                deployment_arn=f"arn:aws:greengrass:{self.state.region}:{self.state.account_id}:"
                f"/greengrass/groups/{group_id}/deployments/{dep_id}",
                group_id=group_id,
                group_arn=self.state.group_arn(group_id),
                group_version_id=None,
                deployment_type="ForceResetDeployment" if force else "ResetDeployment",
                created_at=iso_now(),
                local_only=True,
            )
        )
        return json_response({"DeploymentArn": dep.deployment_arn, "DeploymentId": dep.deployment_id})

    def _local_deployments(self, req: CloudRequest) -> CloudResponse:
        """Read-back for the dashboard: ``?groupId=`` narrows to one group; newest first."""
        group = req.query.get("groupId")
        deps = self.state.deployments.all() if group is None else self.state.deployments.for_group(group)
        return json_response(
            {
                "deployments": [
                    {
                        **d.list_json(),
                        **d.status_json(),
                        "GroupVersionId": d.group_version_id,
                        "Taken": d.taken,
                    }
                    for d in reversed(deps)
                ]
            }
        )

    # certificate authorities ---------------------------------------------------------------
    def _ca(self, group_id: str) -> tuple[str, str, str]:
        ca = self.pki.group_ca(group_id)
        pem = ca.cert_pem.decode()
        ca_id = certificate_id(pem)
        arn = (
            f"arn:aws:greengrass:{self.state.region}:{self.state.account_id}:"
            f"/greengrass/groups/{group_id}/certificateauthorities/{ca_id}"
        )
        return ca_id, arn, pem

    def _list_cas(self, req: CloudRequest, group_id: str) -> CloudResponse:
        self._require_group(req, group_id)
        ca_id, arn, _ = self._ca(group_id)
        return json_response(
            {
                "GroupCertificateAuthorities": [
                    {"GroupCertificateAuthorityArn": arn, "GroupCertificateAuthorityId": ca_id}
                ]
            }
        )

    def _get_ca(self, req: CloudRequest, group_id: str, ca_id: str) -> CloudResponse:
        self._require_group(req, group_id)
        real_id, arn, pem = self._ca(group_id)
        if ca_id != real_id:
            raise NotFound(f"Certificate authority {ca_id} does not belong to group {group_id}.")
        return json_response(
            {
                "GroupCertificateAuthorityArn": arn,
                "GroupCertificateAuthorityId": ca_id,
                "PemEncodedCertificate": pem,
            }
        )

    def _cert_config(self, group_id: str) -> dict[str, str]:
        ca = self.pki.group_ca(group_id)
        remaining = ca.cert.not_valid_after_utc - _dt.datetime.now(_dt.timezone.utc)
        return {
            "CertificateAuthorityExpiryInMilliseconds": str(int(remaining.total_seconds() * 1000)),
            "CertificateExpiryInMilliseconds": str(self.state.cert_expiry_ms(group_id)),
            "GroupId": group_id,
        }

    def _get_cert_config(self, req: CloudRequest, group_id: str) -> CloudResponse:
        self._require_group(req, group_id)
        return json_response(self._cert_config(group_id))

    def _update_cert_config(self, req: CloudRequest, group_id: str) -> CloudResponse:
        self._require_group(req, group_id)
        self.state.set_cert_expiry_ms(group_id, req.json().get("CertificateExpiryInMilliseconds"))
        return json_response(self._cert_config(group_id))

    # account, things -----------------------------------------------------------------------
    def _associate_role(self, req: CloudRequest) -> CloudResponse:
        return json_response({"AssociatedAt": self.state.associate_service_role(req.json().get("RoleArn"))})

    def _get_connectivity(self, req: CloudRequest, thing: str) -> CloudResponse:
        return json_response({"ConnectivityInfo": self.state.connectivity(thing)})

    def _update_connectivity(self, req: CloudRequest, thing: str) -> CloudResponse:
        version = self.state.update_connectivity(thing, req.json().get("ConnectivityInfo"))
        return json_response({"message": "Connectivity info updated.", "Version": version})

    # bulk deployments ----------------------------------------------------------------------
    def _start_bulk(self, req: CloudRequest) -> CloudResponse:
        body = req.json()
        bucket, key = parse_s3_uri(body.get("InputFileUri"))
        bulk = self.state.bulk.start(body.get("InputFileUri"), body.get("ExecutionRoleArn"), body.get("tags"))
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("authorization", "x-amz-date")}
        t = threading.Thread(
            target=self._run_bulk,
            args=(bulk.bulk_id, bucket, key, headers),
            name=f"localcloud-bulk-{bulk.bulk_id[:8]}",
            daemon=True,
        )
        self._bulk_threads = [x for x in self._bulk_threads if x.is_alive()] + [t]
        t.start()
        return json_response({"BulkDeploymentArn": bulk.arn, "BulkDeploymentId": bulk.bulk_id})

    def _list_bulk(self, req: CloudRequest) -> CloudResponse:
        return json_response(
            {
                "BulkDeployments": [
                    {"BulkDeploymentArn": b.arn, "BulkDeploymentId": b.bulk_id, "CreatedAt": b.created_at}
                    for b in self.state.bulk.list()
                ]
            }
        )

    def _stop_bulk(self, req: CloudRequest, bulk_id: str) -> CloudResponse:
        self.state.bulk.request_stop(bulk_id)
        return json_response({})

    def _run_bulk(self, bulk_id: str, bucket: str, key: str, headers: dict[str, str]) -> None:
        """Run one bulk deployment: one ``create_deployment`` per input record, through moto."""
        bulk = self.state.bulk
        try:
            text = self._s3_reader(bucket, key).decode("utf-8")
        except Exception as exc:  # S3 or decoding: the bulk deployment fails, as on AWS
            log.info("bulk deployment %s: cannot read s3://%s/%s: %s", bulk_id, bucket, key, exc)
            bulk.update(
                bulk_id, status="Failed", error_message=f"cannot read input file s3://{bucket}/{key}: {exc}"
            )
            return
        bulk.update(bulk_id, status="Running")
        for rec in parse_bulk_input(text):
            if bulk.get(bulk_id).stop_requested or self._closing.is_set():
                bulk.update(bulk_id, status="Stopped")
                return
            result: dict[str, Any] = {"CreatedAt": iso_now(), "DeploymentType": rec.deployment_type}
            if rec.group_id:
                result["GroupArn"] = self.state.group_arn(rec.group_id)
            if rec.error is not None:
                result.update(DeploymentStatus="Failure", ErrorMessage=rec.error)
                bulk.add_result(bulk_id, result, invalid=True)
                continue
            path = f"/greengrass/groups/{urllib.parse.quote(rec.group_id or '', safe='')}/deployments"
            reply = self.moto.json_request(
                "POST",
                path,
                headers,
                {"GroupVersionId": rec.group_version_id, "DeploymentType": rec.deployment_type},
            )
            try:
                out = _ensure_ok(reply)
            except ApiError as err:
                result.update(DeploymentStatus="Failure", ErrorMessage=f"{err.code}: {err.message}")
                bulk.add_result(bulk_id, result, invalid=True)
                continue
            dep = self.state.deployments.add(
                Deployment(
                    deployment_id=out["DeploymentId"],
                    deployment_arn=out["DeploymentArn"],
                    group_id=rec.group_id or "",
                    group_arn=self.state.group_arn(rec.group_id or ""),
                    group_version_id=rec.group_version_id,
                    deployment_type=rec.deployment_type,
                    created_at=result["CreatedAt"],
                )
            )
            result.update(
                DeploymentId=dep.deployment_id, DeploymentArn=dep.deployment_arn, DeploymentStatus=dep.status
            )
            bulk.add_result(bulk_id, result, invalid=False)
        bulk.update(bulk_id, status="Completed")
