"""The V2 reader's fetching part: what a Greengrass V2 core device asks the cloud — its effective deployments, the
component recipes, the Lambda packages, its client devices and connectivity — through the local greengrassv2
stand-in's device-side routes and a real boto3 ``greengrassv2`` client, and what it reports back (the
deployment's status on the device, its installed components, its health). The pure part — a deployment and its
recipes → the core's configuration — is ``v2.py``.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from group.model import Group
from group.v2 import catalog
from localcore.platform import CoreSetup

from .errors import DeploymentFailed, NoDeployment

from .v2 import LAMBDA_ARTIFACT, _is_public, catalog_artifact, setup_from_deployment

log = logging.getLogger(__name__)


HTTP_TIMEOUT_S = 30.0


def _http(method: str, url: str, body: Optional[Mapping[str, Any]] = None) -> Any:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:  # noqa: S310 (the local cloud's URL)
        raw = resp.read()
    return json.loads(raw) if raw else None


def _device_url(cloud_url: str, core_thing: str, *parts: str) -> str:
    quoted = [urllib.parse.quote(p, safe="") for p in (core_thing,) + parts]
    return f"{cloud_url.rstrip('/')}/_local/greengrassv2/coreDevices/" + "/".join(quoted)


def _client(cloud_url: str, region: str, credentials: Mapping[str, str]) -> Any:
    from group.clients import shared_session  # the fetching part only (the models the deploy parsed)

    return shared_session().client(
        "greengrassv2", endpoint_url=cloud_url, region_name=region,
        aws_access_key_id=credentials.get("AccessKeyId", "testing"),
        aws_secret_access_key=credentials.get("SecretAccessKey", "testing"),
        aws_session_token=credentials.get("Token") or None)


def latest_deployment(deployments: Sequence[Mapping[str, Any]], core_thing: str,
                      thing_groups: Iterable[str]) -> Optional[Mapping[str, Any]]:
    """The deployment a core applies (``group.v2.deployments.core_deployment``): the newest of its targets'
    (its thing, its thing groups) with the root components of the others; DeploymentFailed when they disagree."""
    from group.v2.deployments import core_deployment

    found = core_deployment(deployments, core_thing, thing_groups)
    if found is not None and found.conflicts:
        name, by_group = sorted(found.conflicts.items())[0]
        raise DeploymentFailed(f"No version of {name} satisfies every group of core device {core_thing}: "
                               + ", ".join(f"{g} requires {v}" for g, v in sorted(by_group.items())),
                               ["NO_AVAILABLE_COMPONENT_VERSION", "COMPONENT_VERSION_REQUIREMENTS_NOT_MET"])
    return found.document() if found is not None else None


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _unzip(data: bytes, dest: Path, component: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                target = (dest / info.filename).resolve()
                if dest.resolve() not in target.parents and target != dest.resolve():
                    raise DeploymentFailed(f"Lambda artifact of {component} has an entry outside its folder: "
                                           f"{info.filename}", ["IO_UNZIP_ERROR"])
            zf.extractall(dest)
    except zipfile.BadZipFile as e:
        raise DeploymentFailed(f"Failed to unzip the Lambda artifact of {component}: {e}", ["IO_UNZIP_ERROR"]) from None


def list_deployments(cloud_url: str, core_thing: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """What the core device is asked to apply: ``(deployments, thing groups)`` — the effective deployment of each
    of its targets (its thing and its thing groups; ``group/v2/deployments.effective_deployments``), oldest first,
    as GetDeployment documents, and the ARNs of the thing groups it is in (the local cloud's device-side route)."""
    from group.v2.deployments import effective_deployments

    try:
        body = _http("GET", _device_url(cloud_url, core_thing, "deployments")) or {}
    except (urllib.error.URLError, OSError) as e:
        raise NoDeployment(f"cannot ask {cloud_url} for the deployments of {core_thing}: {e}") from None
    groups = [str(g) for g in body.get("thingGroups") or []]
    return effective_deployments(body.get("deployments") or [], core_thing, groups), groups


def core_facts(gg: Any, core_thing: str) -> Tuple[List[str], List[Dict[str, Any]]]:
    """``(associated client devices, connectivity info)`` of the core device."""
    from botocore.exceptions import ClientError

    try:
        devices: List[str] = []
        for page in gg.get_paginator("list_client_devices_associated_with_core_device").paginate(
                coreDeviceThingName=core_thing):
            devices += [d["thingName"] for d in page.get("associatedClientDevices", [])]
        connectivity = gg.get_connectivity_info(thingName=core_thing).get("connectivityInfo", [])
    except ClientError as e:
        raise DeploymentFailed(f"Failed to read the client devices or connectivity of {core_thing}: {e}",
                               ["CLOUD_API_ERROR"]) from None
    return devices, list(connectivity)


def client(cloud_url: str, region: str, credentials: Mapping[str, str]) -> Any:
    """A boto3 greengrassv2 client as the core device uses it."""
    return _client(cloud_url, region, credentials)


def download_lambda(gg: Any, arn: str, component: str, version: str, work_dir: Path) -> Path:
    """A Lambda component version's code, unzipped (kept: versions are immutable); DeploymentFailed if not."""
    return _download_lambda(gg, arn, component, version, work_dir)


def _download_lambda(gg: Any, arn: str, component: str, version: str, work_dir: Path) -> Path:
    """GetComponentVersionArtifact → URL → zip → ``work_dir/packages/<component>/<version>/lambda-artifact``."""
    from botocore.exceptions import ClientError

    folder = Path(work_dir) / "packages" / component / version
    code = folder / LAMBDA_ARTIFACT[:-len(".zip")]
    done = folder / ".unpacked"
    if done.exists() and code.is_dir():  # the component store keeps a version's artifacts (immutable)
        return code
    where = f"artifact name: '{catalog_artifact()}' for component {component}-{version}"
    try:
        url = gg.get_component_version_artifact(arn=arn, artifactName=LAMBDA_ARTIFACT)["preSignedUrl"]
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:  # noqa: S310
            data = resp.read()
    except ClientError as e:
        raise DeploymentFailed(f"Failed to download {where}, reason: {e.response['Error'].get('Message', e)}",
                               ["ARTIFACT_DOWNLOAD_ERROR", "DOWNLOAD_GREENGRASS_ARTIFACT_ERROR"]) from None
    except (urllib.error.URLError, OSError) as e:
        raise DeploymentFailed(f"Failed to download {where}, reason: {e}",
                               ["ARTIFACT_DOWNLOAD_ERROR", "DOWNLOAD_GREENGRASS_ARTIFACT_ERROR"]) from None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LAMBDA_ARTIFACT).write_bytes(data)
    if code.exists():
        shutil.rmtree(code)
    code.mkdir()
    _unzip(data, code, component)
    done.touch()
    return code


def read_core_deployment(cloud_url: str, core_thing: str, region: str, work_dir: Path | str,
                         credentials: Mapping[str, str], *, base: Optional[Group] = None) -> Tuple[str, CoreSetup]:
    """As a V2 core device: fetch the core's effective deployment, its custom components' recipes (GetComponent)
    and Lambda code (GetComponentVersionArtifact, unzipped under ``work_dir/packages/<component>/<version>/``),
    the associated client devices and the connectivity info; return ``(deployment id, CoreSetup)``.

    Raises :class:`NoDeployment` when nothing is deployed to the core, :class:`DeploymentFailed` when the
    deployment cannot be applied (the caller reports it with :func:`report`)."""
    from botocore.exceptions import ClientError

    try:
        listed = _http("GET", _device_url(cloud_url, core_thing, "deployments")) or {}
    except (urllib.error.URLError, OSError) as e:
        raise NoDeployment(f"cannot ask {cloud_url} for the deployments of {core_thing}: {e}") from None
    deployment = latest_deployment(listed.get("deployments") or [], core_thing, listed.get("thingGroups") or [])
    if deployment is None:
        raise NoDeployment(f"no deployment targets core device {core_thing} or a thing group it is in")
    deployment_id = str(deployment.get("deploymentId"))
    account = _account_of(str(deployment.get("targetArn", "")))
    gg = _client(cloud_url, region, credentials)
    recipes: Dict[str, Dict[str, Any]] = {}
    code_dirs: Dict[str, Path] = {}
    for name, entry in (deployment.get("components") or {}).items():
        if _is_public(name):
            continue
        version = str((entry or {}).get("componentVersion"))
        arn = f"arn:aws:greengrass:{region}:{account}:components:{name}:versions:{version}"
        try:
            got = gg.get_component(arn=arn, recipeOutputFormat="JSON")
        except ClientError as e:
            if e.response["Error"].get("Code") in ("ResourceNotFoundException", "ValidationException"):
                continue  # setup_from_deployment fails it as the nucleus does (NO_AVAILABLE_COMPONENT_VERSION)
            raise DeploymentFailed(f"Failed to negotiate component {name} version {version} with cloud: {e}",
                                   ["CLOUD_API_ERROR"]) from None
        try:
            recipe = json.loads(got["recipe"])
        except (ValueError, TypeError) as e:
            raise DeploymentFailed(f"Failed to parse the recipe of {name}-{version}: {e}",
                                   ["RECIPE_PARSE_ERROR"]) from None
        recipes[name] = recipe
        if recipe.get("ComponentType") == catalog.LAMBDA_TYPE:
            code_dirs[name] = _download_lambda(gg, arn, name, version, Path(work_dir))
    devices, connectivity = core_facts(gg, core_thing)
    setup = setup_from_deployment(deployment, recipes, core_thing=core_thing, region=region, account=account,
                                  code_dirs=code_dirs, connectivity=connectivity, base=base, client_devices=devices)
    return deployment_id, setup


def installed_components(setup: CoreSetup, states: Optional[Mapping[str, str]] = None,
                         default: str = "RUNNING") -> List[Dict[str, Any]]:
    """The installed-components report of a setup's components (``states``: name → lifecycle state)."""
    states = states or {}
    return [{"componentName": c.name, "componentVersion": c.version, "isRoot": c.root,
             "lifecycleState": states.get(c.name, default)} for c in setup.profile.components]


def report(cloud_url: str, core_thing: str, deployment_id: str, status: str, reason: Optional[str] = None,
           components: Iterable[Mapping[str, Any]] = (), health: str = "HEALTHY", *,
           error_stack: Sequence[str] = (), error_types: Sequence[str] = (),
           core_version: Optional[str] = None) -> None:
    """Report as a core device: the deployment's status on this device (SUCCEEDED / FAILED with the reason),
    the installed components with their states (see :func:`installed_components`) and the device's health."""
    body: Dict[str, Any] = {"status": status, "errorStack": list(error_stack), "errorTypes": list(error_types)}
    if reason is not None:
        body["reason"] = reason
    _http("POST", _device_url(cloud_url, core_thing, "deployments", deployment_id, "status"), body)
    comps = [dict(c) for c in components]
    if comps:
        for c in comps:
            c.setdefault("lastInstallationSource", deployment_id)
        _http("PUT", _device_url(cloud_url, core_thing, "installedComponents"),
              {"deploymentId": deployment_id, "components": comps})
    health_body: Dict[str, Any] = {"status": health, "platform": "linux", "architecture": "amd64",
                                   "runtime": "aws_nucleus_classic"}
    if core_version:
        health_body["coreVersion"] = core_version
    _http("PUT", _device_url(cloud_url, core_thing, "health"), health_body)


def report_failure(cloud_url: str, core_thing: str, deployment_id: str, error: DeploymentFailed) -> None:
    """Report a :class:`DeploymentFailed` the way the nucleus does (status FAILED, reason, error stack/types)."""
    report(cloud_url, core_thing, deployment_id, "FAILED", error.reason, error_stack=error.error_stack,
           error_types=error.error_types)
