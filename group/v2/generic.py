"""Generic components of the V2 plan: the V1 Docker connector as a compose component (with
DockerApplicationManager), and the bundle's own components (group.yaml ``components:``) with their ``s3://``
artifacts pointed at the artifact bucket.

Part of the V2 converter (:class:`~.convert._Converter` mixes :class:`GenericPart` in); reads only the
compose files and the components' folders.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Dict, List, Mapping, Tuple

from ..model import DOCKER_CONNECTOR
from . import catalog
from .catalog import DOCKER_MANAGER, TOKEN_EXCHANGE
from .model import Artifact, GenericComponent
from .names import compose_component_name, file_component_version
from .recipe import RecipeError, load_recipe

PLACEHOLDER_ARTIFACT_BUCKET = "artifacts-bucket"
# V1 connectors that have their own V2 public component (docs/protocols/v2-migration.md §1.2;
# not converted automatically).
CONNECTOR_REPLACEMENTS = {
    "CloudWatchMetrics": "aws.greengrass.Cloudwatch",
    "SNS": "aws.greengrass.SNS",
    "KinesisFirehose": "aws.greengrass.KinesisFirehose",
    "IoTSiteWise": "aws.iot.SiteWiseEdgeCollectorOpcua",
    "SageMakerNeoDeployment": "aws.greengrass.DLRImageClassification (rewrite)",
}
DOCKER_PARAMS_MAPPED = {"DockerComposeFileS3Bucket", "DockerComposeFileS3Key", "DockerUserId",
                        "DockerPullBeforeUp", "DockerComposeFileDestinationPath"}


class GenericPart:
    """Connectors and ``components:`` → :class:`GenericComponent` (needs ``self.g``, ``self.root``,
    ``self.find``, ``self.artifact_bucket``, ``self.run_with`` and ``self.configuration_updates``)."""

    # -- docker connector ------------------------------------------------------------------------------
    def connectors(self) -> Tuple[List[GenericComponent], List[str]]:
        generic: List[GenericComponent] = []
        s3_objects: List[str] = []
        for i, c in enumerate(self.g.connectors):
            p = f"connectors[{i}]"
            if c.kind != DOCKER_CONNECTOR:
                repl = CONNECTOR_REPLACEMENTS.get(c.kind)
                self.find(p, "error", f"connector '{c.name}' ({c.kind}) is not converted: V1 connectors do not run "
                          "on V2", f"deploy {repl} instead" if repl else "replace it with a V2 component")
                continue
            if c.compose_file is None:
                self.find(f"{p}.compose_file", "error", "the Docker connector needs compose_file to become a V2 "
                          "component (the compose file is its artifact)", "set compose_file")
                continue
            path = self.root / c.compose_file
            try:
                data = path.read_bytes()
            except OSError as exc:
                self.find(f"{p}.compose_file", "error", f"cannot read {c.compose_file}: {exc.strerror}",
                          "fix the path (relative to the bundle root)")
                continue
            sha = hashlib.sha256(data).hexdigest()
            name = compose_component_name(self.g, c.name)
            version = file_component_version(sha)
            bucket = self.artifact_bucket or str(c.parameters.get("DockerComposeFileS3Bucket", ""))
            if not bucket:
                self.find(f"{p}.parameters", "error", "no bucket for the compose artifact",
                          "pass an artifact bucket or set DockerComposeFileS3Bucket")
                continue
            basename = PurePosixPath(c.compose_file).name
            key = f"components/{name}/{version}/{basename}"
            uri = f"s3://{bucket}/{key}"
            s3_objects.append(f"arn:aws:s3:::{bucket}/components/{name}/*")
            project = re.sub(r"[^a-z0-9_-]", "-", c.name.lower())
            compose = f"docker compose -f {{artifacts:path}}/{basename} -p {project}"
            run = f"{compose} up"
            if str(c.parameters.get("DockerPullBeforeUp", "false")).lower() == "true":
                run = f"{compose} pull && {run}"
            recipe = {
                "RecipeFormatVersion": "2020-01-25",
                "ComponentName": name,
                "ComponentVersion": version,
                "ComponentDescription": f"Runs the compose file of the V1 Docker connector '{c.name}' "
                                        f"(group {self.g.name})",
                "ComponentPublisher": self.g.name,
                "ComponentDependencies": {
                    DOCKER_MANAGER: {"VersionRequirement": catalog.info(DOCKER_MANAGER).caret,
                                     "DependencyType": "HARD"},
                    TOKEN_EXCHANGE: {"VersionRequirement": catalog.info(TOKEN_EXCHANGE).caret,
                                     "DependencyType": "HARD"}},
                "Manifests": [{"Platform": {"os": "linux"},
                               "Lifecycle": {"Run": run, "Shutdown": f"{compose} down"},
                               "Artifacts": [{"URI": uri}]}],
            }
            generic.append(GenericComponent(name, version, recipe, (Artifact(basename, sha, uri, c.compose_file),)))
            uid = c.parameters.get("DockerUserId")
            if uid is not None:
                self.run_with[name] = {"posixUser": str(uid)}
                self.find(f"{p}.parameters.DockerUserId", "info", f"DockerUserId {uid} becomes runWith.posixUser",
                          "the user must be in the docker group on the core device")
            if "DockerComposeFileDestinationPath" in c.parameters:
                self.find(f"{p}.parameters.DockerComposeFileDestinationPath", "info",
                          "no V2 equivalent: compose runs from the component's read-only artifact folder")
            for k in sorted(set(c.parameters) - DOCKER_PARAMS_MAPPED):
                self.find(f"{p}.parameters.{k}", "warning", f"connector parameter '{k}' has no V2 equivalent",
                          "remove it or express it in the compose file")
            self.find(p, "info", f"Docker connector '{c.name}' becomes DockerApplicationManager + component '{name}' "
                      "running docker compose (no direct AWS replacement)",
                      "the core needs Docker Engine and Compose installed and running")
        return generic, s3_objects

    # -- the bundle's own generic components (group.yaml components:) ------------------------------------
    def bundle_components(self, taken: Mapping[str, str]) -> Tuple[List[GenericComponent], List[str]]:
        """Each ``components[i]`` as a GenericComponent: the user's recipe with only its ``s3://`` artifact URIs
        pointed at ``s3://<artifact bucket>/components/<name>/<version>/<file>``; findings for what is wrong.
        ``taken``: component names already in the plan → what they are (clashes are errors)."""
        out: List[GenericComponent] = []
        s3_objects: List[str] = []
        names: Dict[str, str] = dict(taken)
        # deploy and export always name the managed bucket; validate converts without one
        bucket = self.artifact_bucket or PLACEHOLDER_ARTIFACT_BUCKET
        for i, c in enumerate(self.g.components):
            p = f"components[{i}]"
            rfile, problem = c.recipe_file(self.root)
            if rfile is None:
                self.find(f"{p}.recipe" if c.recipe else f"{p}.path", "error", problem,
                          "create the folder with its recipe, or fix 'path'/'recipe'")
                continue
            rel = _relpath(rfile, self.root)
            try:
                recipe = load_recipe(rfile)
            except RecipeError as exc:
                for issue in exc.issues:
                    where = f" at {issue.path}" if issue.path else ""
                    self.find(f"{p}.recipe", "error", f"recipe {rel}{where}: {issue.message}", issue.fix)
                continue
            name, version = recipe.name, recipe.version
            if c.name is not None and c.name != name:
                self.find(f"{p}.name", "error", f"name '{c.name}' differs from the recipe's ComponentName "
                          f"'{name}' ({rel})", "remove 'name' or make the two equal")
                continue
            if name in names:
                self.find(f"{p}.recipe", "error", f"component name '{name}' ({rel}) is already {names[name]}",
                          "rename the component in its recipe")
                continue
            if name.startswith("aws.greengrass."):
                self.find(f"{p}.recipe", "warning", f"component name '{name}' uses the aws.greengrass prefix "
                          "AWS reserves for its own components", "use your own prefix (e.g. com.example.)")
            names[name] = f"the component of {p}"
            folder = c.folder(self.root)
            uris: Dict[str, str] = {}
            artifacts: List[Artifact] = []
            missing = False
            for uri in recipe.artifact_uris():
                if not uri.lower().startswith("s3://"):
                    continue  # docker: images and the like are fetched by the device as they are
                file_name = uri.rstrip("/").rsplit("/", 1)[-1]
                src = folder / file_name
                if not src.is_file():
                    self.find(f"{p}.recipe", "error", f"recipe {rel} names the artifact {uri} but {c.path.rstrip('/')}/"
                              f"{file_name} does not exist", "put the file in the component folder or fix the URI")
                    missing = True
                    continue
                key = f"components/{name}/{version}/{file_name}"
                new_uri = f"s3://{bucket}/{key}"
                uris[uri] = new_uri
                if all(a.name != file_name for a in artifacts):
                    data = src.read_bytes()
                    artifacts.append(Artifact(file_name, hashlib.sha256(data).hexdigest(), new_uri,
                                              _relpath(src, self.root), data))
            if missing:
                continue
            if uris:
                s3_objects.append(f"arn:aws:s3:::{bucket}/components/{name}/*")
            final = recipe.with_artifact_uris(uris) if uris else recipe
            out.append(GenericComponent(name, version, final.raw, tuple(artifacts)))
            if c.run_with is not None:
                self.run_with[name] = {"posixUser": c.run_with.posix_user}
            if c.configuration_update is not None:
                self.configuration_updates[name] = c.configuration_update
        return out, s3_objects


def _relpath(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
