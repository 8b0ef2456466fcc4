"""The recipe the greengrassv2 service generates when it imports a Lambda (``CreateComponentVersion{lambdaFunction}``).

Follows AWS's documented ``CreateComponentVersion`` ``lambdaFunction`` behaviour (AWS IoT Greengrass V2 Developer
Guide, import-lambda-function-cli and run-lambda-functions; botocore ``greengrassv2`` model, shape
``LambdaFunctionRecipeSource``). Pure: ``recipe_for_lambda(request, region, account)`` turns the request into
the recipe ``GetComponent`` returns. The one generator: ``export --platform v2`` writes it, the local
greengrassv2 stand-in stores it (with the function's handler, runtime and code digest), and the local core's
V2 reader reads the Lambda's parameters back from ``ComponentConfiguration.DefaultConfiguration``.

Shape (docs/protocols/v2-migration.md §2, last bullets):

* ``ComponentType: aws.greengrass.lambda``, ``ComponentPublisher: AWS Lambda``, ``ComponentSource: <lambdaArn>``.
* Dependencies: the declared ones, plus what the service adds: ``LambdaLauncher`` (HARD), ``LambdaManager``
  (HARD), ``LambdaRuntimes`` (SOFT) and ``TokenExchangeService`` (HARD), each ``>=2.0.0 <3.0.0``.
* ``DefaultConfiguration`` (the keys a deployment may override): ``lambdaExecutionParameters.EnvironmentVariables``,
  ``containerMode``, ``containerParams{memorySize (KB), mountROSysfs, volumes, devices}`` with lists turned into
  index-keyed maps (``{"0": {...}}``, because a configuration merge cannot patch list items),
  ``pubsubTopics{"0": {topic, type}}``, and the scalars ``timeoutInSeconds``, ``pinned``, ``maxQueueSize``,
  ``maxIdleTimeInSeconds``, ``maxInstancesCount``, ``statusTimeoutInSeconds``, ``inputPayloadEncodingType``.
  The service fills every key with the model default when the request leaves it out, so a reader never
  needs to know the defaults. Only ``EnvironmentVariables``, ``containerMode``, ``containerParams.memorySize``
  and ``pubsubTopics`` are documented by AWS; the rest follows public fixtures (unverified).
* One manifest per requested platform (default ``os: linux``) with the artifact
  ``greengrass:lambda-artifact.zip`` (unzipped; ``Digest`` only when the caller knows the code hash).
* A global ``Lifecycle`` that starts the function through the Lambda launcher; ``handler`` and ``runtime``
  come from the Lambda function's configuration, which the request does not carry: pass them when known.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional

from . import catalog

# Defaults of LambdaExecutionParameters (botocore model documentation, docs/protocols/v2-migration.md §2).
DEFAULTS: Dict[str, Any] = {
    "maxQueueSize": 1000,
    "maxInstancesCount": 100,
    "maxIdleTimeInSeconds": 60,
    "timeoutInSeconds": 3,
    "statusTimeoutInSeconds": 60,
    "pinned": True,
    "inputPayloadEncodingType": "json",
}
DEFAULT_MEMORY_KB = 16384
DEFAULT_ISOLATION = "GreengrassContainer"
ARTIFACT_NAME = "lambda-artifact.zip"
ARTIFACT_URI = "greengrass:" + ARTIFACT_NAME
SERVICE_DEPENDENCIES: Dict[str, catalog.Dependency] = {
    catalog.LAMBDA_LAUNCHER: catalog.Dependency(">=2.0.0 <3.0.0", "HARD"),
    catalog.LAMBDA_MANAGER: catalog.Dependency(">=2.0.0 <3.0.0", "HARD"),
    catalog.LAMBDA_RUNTIMES: catalog.Dependency(">=2.0.0 <3.0.0", "SOFT"),
    catalog.TOKEN_EXCHANGE: catalog.Dependency(">=2.0.0 <3.0.0", "HARD"),
}


def component_version_default(lambda_arn: str) -> str:
    """What the service picks without ``componentVersion``: the Lambda version as semver (``7`` → ``7.0.0``)."""
    return f"{lambda_version_of(lambda_arn)}.0.0"


def lambda_version_of(lambda_arn: str) -> str:
    parts = lambda_arn.split(":")
    if len(parts) != 8 or parts[5] != "function":
        raise ValueError(f"lambdaArn must be a versioned function ARN "
                         f"(arn:aws:lambda:<region>:<account>:function:<name>:<version>), got {lambda_arn!r}")
    version = parts[7]
    if not version.isdigit():
        raise ValueError(f"lambdaArn must end in a published version number, not {version!r}")
    return version


def function_name_of(lambda_arn: str) -> str:
    return lambda_arn.split(":")[6]


def _index_map(items: List[Mapping[str, Any]], defaults: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {str(i): {**defaults, **dict(item)} for i, item in enumerate(items)}


def default_configuration(params: Mapping[str, Any]) -> Dict[str, Any]:
    """``DefaultConfiguration`` of the generated recipe for ``componentLambdaParameters``."""
    linux = params.get("linuxProcessParams") or {}
    container = linux.get("containerParams") or {}
    config: Dict[str, Any] = {
        "lambdaExecutionParameters": {
            "EnvironmentVariables": dict(sorted((params.get("environmentVariables") or {}).items())),
        },
        "containerParams": {
            "memorySize": container.get("memorySizeInKB", DEFAULT_MEMORY_KB),
            "mountROSysfs": container.get("mountROSysfs", False),
            "volumes": _index_map(container.get("volumes") or [], {"permission": "ro", "addGroupOwner": False}),
            "devices": _index_map(container.get("devices") or [], {"permission": "ro", "addGroupOwner": False}),
        },
        "containerMode": linux.get("isolationMode", DEFAULT_ISOLATION),
    }
    for key, default in DEFAULTS.items():
        config[key] = params.get(key, default)
    config["pubsubTopics"] = {str(i): {"topic": s["topic"], "type": s["type"]}
                              for i, s in enumerate(params.get("eventSources") or [])}
    return config


def recipe_for_lambda(request: Mapping[str, Any], region: str, account: str, *,
                      handler: Optional[str] = None, runtime: Optional[str] = None,
                      artifact_sha256: Optional[str] = None) -> Dict[str, Any]:
    """The recipe (as a dict in AWS's key order) that importing ``request`` creates.

    ``region``/``account`` are where the component lives (the ARN the stand-in reports); ``handler``/``runtime``
    are the Lambda function's configuration; ``artifact_sha256`` (base64 or hex, as the caller has it) fills
    the artifact ``Digest``.
    """
    arn = str(request["lambdaArn"])
    name = str(request.get("componentName") or function_name_of(arn))
    version = str(request.get("componentVersion") or component_version_default(arn))
    params = request.get("componentLambdaParameters") or {}

    deps: Dict[str, Dict[str, str]] = {}
    for dep_name, dep in sorted((request.get("componentDependencies") or {}).items()):
        deps[dep_name] = {"VersionRequirement": dep.get("versionRequirement", "*"),  # optional in the model
                          "DependencyType": dep.get("dependencyType", "HARD")}
    for dep_name, dep in SERVICE_DEPENDENCIES.items():
        deps.setdefault(dep_name, dep.recipe())

    artifact: Dict[str, Any] = {"Uri": ARTIFACT_URI}
    if artifact_sha256:
        artifact.update({"Digest": artifact_sha256, "Algorithm": "SHA-256"})
    artifact.update({"Unarchive": "ZIP", "Permission": {"Read": "OWNER", "Execute": "NONE"}})
    platforms = request.get("componentPlatforms") or [{"name": "Linux", "attributes": {"os": "linux"}}]
    manifests = [{"Platform": dict(sorted((p.get("attributes") or {"os": "linux"}).items())),
                  "Lifecycle": {}, "Selections": ["all"], "Artifacts": [dict(artifact)]} for p in platforms]

    setenv: Dict[str, str] = {
        "AWS_GREENGRASS_LAMBDA_ARN": arn,
        "AWS_GREENGRASS_LAMBDA_CONTAINER_MODE": "{configuration:/containerMode}",
        "AWS_GREENGRASS_LAMBDA_CONTAINER_PARAMS": "{configuration:/containerParams}",
        "AWS_GREENGRASS_LAMBDA_ENCODING_TYPE": "{configuration:/inputPayloadEncodingType}",
        "AWS_GREENGRASS_LAMBDA_PARAMS": "{configuration:/lambdaExecutionParameters}",
        "AWS_GREENGRASS_LAMBDA_STATUS_TIMEOUT_SECONDS": "{configuration:/statusTimeoutInSeconds}",
        "AWS_GREENGRASS_LAMBDA_ARTIFACT_PATH": "{artifacts:decompressedPath}/lambda-artifact",
        "AWS_GREENGRASS_LAMBDA_RUNTIME_PATH": "{aws.greengrass.LambdaRuntimes:artifacts:decompressedPath}/runtime/",
    }
    if handler:
        setenv["AWS_GREENGRASS_LAMBDA_FUNCTION_HANDLER"] = handler
    if runtime:
        setenv["AWS_GREENGRASS_LAMBDA_RUNTIME"] = runtime
    exec_args = list(params.get("execArgs") or [])
    if exec_args:
        setenv["AWS_GREENGRASS_LAMBDA_EXEC_ARGS"] = json.dumps(exec_args, separators=(",", ":"))
    launcher = "{aws.greengrass.LambdaLauncher:artifacts:path}/lambda-launcher"
    lifecycle = {
        "setenv": dict(sorted(setenv.items())),
        "startup": {"requiresPrivilege": True, "script": f"{launcher} start"},
        "shutdown": {"requiresPrivilege": True, "script": f"{launcher} stop; {launcher} clean"},
    }
    return {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": version,
        "ComponentType": catalog.LAMBDA_TYPE,
        "ComponentDescription": "",
        "ComponentPublisher": "AWS Lambda",
        "ComponentSource": arn,
        "ComponentDependencies": deps,
        "ComponentConfiguration": {"DefaultConfiguration": default_configuration(params)},
        "Manifests": manifests,
        "Lifecycle": lifecycle,
    }


def lambda_parameters_from_recipe(recipe: Mapping[str, Any]) -> Dict[str, Any]:
    """The inverse the local core needs: ``componentLambdaParameters`` back from a generated recipe
    (index-keyed maps become lists again, in index order)."""
    cfg = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    cp = cfg.get("containerParams", {})

    def as_list(m: Mapping[str, Any]) -> List[Dict[str, Any]]:
        return [dict(m[k]) for k in sorted(m, key=int)]

    out: Dict[str, Any] = {k: cfg[k] for k in DEFAULTS if k in cfg}
    out["environmentVariables"] = dict(cfg.get("lambdaExecutionParameters", {}).get("EnvironmentVariables", {}))
    out["eventSources"] = as_list(cfg.get("pubsubTopics", {}))
    linux: Dict[str, Any] = {"isolationMode": cfg.get("containerMode", DEFAULT_ISOLATION)}
    if linux["isolationMode"] == "GreengrassContainer":
        linux["containerParams"] = {"memorySizeInKB": cp.get("memorySize", DEFAULT_MEMORY_KB),
                                    "mountROSysfs": cp.get("mountROSysfs", False),
                                    "volumes": as_list(cp.get("volumes", {})),
                                    "devices": as_list(cp.get("devices", {}))}
    out["linuxProcessParams"] = linux
    return out
