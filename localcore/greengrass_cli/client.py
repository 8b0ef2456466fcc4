"""``greengrass-cli`` for the local core: the Greengrass CLI's commands, talking to the running V2 core over its
nucleus IPC with awsiotsdk's own client, as the real CLI does.

    python deploy.py cli deployment create --recipeDir DIR --artifactDir DIR --merge com.example.Hello=1.0.0
    python deploy.py cli deployment status -i <id>      # also: deployment list, deployment cancel -i <id>
    python deploy.py cli component list                 # also: details -n N, restart -n A,B, stop -n A
    python deploy.py cli get-debug-password             # user debug, a password valid 8 hours
    python deploy.py cli pubsub sub -t 'a/#'            # also: pubsub pub -t T -m M, iotcore sub|pub (-q 0|1)
    python deploy.py cli logs get -ld .gg/v2/greengrass/logs -f level=WARN    # also: list-log-files, list-keywords
    python -m localcore.greengrass_cli ...              # the same, without deploy.py

Command and option names and the printed lines follow aws-greengrass/aws-greengrass-cli
(``client/.../commands/DeploymentCommand.java``, ``ComponentCommand.java``, ``PasswordCommand.java``, ``CLI.java``;
``pubsub``/``iotcore``: :mod:`.topics`; ``logs``, which reads log files and needs no core: :mod:`.logs`). The core is
found as
the real client finds its nucleus (``adapter/impl/NucleusAdapterIpcClientImpl``): ``--ggcRootPath`` or
``$GGC_ROOT_PATH``, else the root of the core ``deploy.py run --platform v2`` runs (its ``<state>/endpoint.json``);
there it reads ``cli_ipc_info/user-<uid>`` (then ``group-<gid>``, then any file) for the token and the socket,
which the core writes while ``aws.greengrass.Cli`` is deployed.

Added here (not in the real CLI): ``--state-dir`` (where ``endpoint.json`` is), and ``--deploy-dev-tools``, which
deploys ``aws.greengrass.Cli`` to the core device's thing through the local cloud (the other components of the
thing's deployment kept) and waits for it — what the installer's ``--deploy-dev-tools true`` does on a device.
The differences: a restart or stop that answers FAILED is printed with its reason and exits 1 (the real client
prints nothing); errors are one line on stderr, exit status 1.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from . import logs, topics
from .errors import CliError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".gg"
IPC_INFO_DIR = "cli_ipc_info"
TIMEOUT_S = 60.0                       # DEFAULT_TIMEOUT_IN_SEC
CONNECT_TIMEOUT_S = 10.0
DEV_TOOLS = "aws.greengrass.Cli"
DEV_TOOLS_WAIT_S = 90.0
CORE_GROUP_PREFIX = "greengrassV2-coreDevice-"   # run_v2.discovery_group_id


# ------------------------------------------------------------------------------ finding the core
def core_root(state_dir: Path) -> Path:
    """The root of the V2 core ``deploy.py run --platform v2`` runs with ``state_dir`` (``CoreDevice.root``)."""
    return Path(state_dir) / "v2" / "greengrass"


def running_endpoint(state_dir: Path) -> Dict[str, Any]:
    """The running V2 core's ``endpoint.json``; CliError when none runs."""
    path = Path(state_dir) / "endpoint.json"
    how = "start it with `python deploy.py run --platform v2` (or pass --state-dir / --ggcRootPath)"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"no local core is running ({path} does not exist); {how}") from None
    except (OSError, ValueError) as e:
        raise CliError(f"no local core is running ({path} is unreadable: {e}); {how}") from None
    if info.get("platform") != "v2":
        raise CliError(f"the core of {path} runs the group as Greengrass {str(info.get('platform') or 'v1').upper()}: "
                       f"the Greengrass CLI talks to a V2 core; {how}")
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise CliError(f"no local core is running (the run of {path}, pid {pid}, has ended); {how}") from None
        except PermissionError:
            pass
    return info


def find_root(ggc_root: Optional[str], state_dir: Optional[Path]) -> Path:
    """``--ggcRootPath``, ``$GGC_ROOT_PATH``, else the running core of ``state_dir``."""
    given = ggc_root or os.environ.get("GGC_ROOT_PATH")
    if given:
        return Path(given).expanduser().absolute()
    state = Path(state_dir) if state_dir else DEFAULT_STATE_DIR
    info = running_endpoint(state)
    return core_root(Path(info.get("state_dir") or state))


def read_ipc_info(root: Path) -> Tuple[str, str]:
    """``(token, socket path)`` from ``root/cli_ipc_info`` (``loadCliIpcInfo``'s order)."""
    folder = root / IPC_INFO_DIR
    names = [f"user-{os.geteuid()}", f"group-{os.getegid()}"]
    candidates = [folder / n for n in names]
    if folder.is_dir():
        candidates += sorted(p for p in folder.iterdir() if p.name not in names)
    for path in candidates:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return str(info["cli_auth_token"]), str(info["domain_socket_path"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    raise CliError(f"{DEV_TOOLS} is not deployed on the core at {root} (no client token in {folder}): deploy it "
                   f"(`python deploy.py cli --deploy-dev-tools` adds it to the core device's deployment), or run the "
                   "CLI as the user that runs the core")


# ------------------------------------------------------------------------------ talking IPC
class Nucleus:
    """One IPC connection as the CLI client; every call bounded by :data:`TIMEOUT_S`."""

    def __init__(self, root: Path) -> None:
        token, socket_path = read_ipc_info(root)
        import awsiot.greengrasscoreipc as ipc
        from awscrt.exceptions import AwsCrtError

        try:
            self.client = ipc.connect(ipc_socket=socket_path, authtoken=token, timeout=CONNECT_TIMEOUT_S)
        except (AwsCrtError, OSError, TimeoutError) as e:
            raise CliError(f"cannot connect to the core's IPC socket {socket_path}: {e} (is `deploy.py run "
                           "--platform v2` still running?)") from None

    def call(self, operation: str, request: Any, *, handler: Any = None, raw_errors: bool = False,
             keep: bool = False) -> Any:
        """The response of ``operation``; ``handler``: a streaming operation's StreamResponseHandler; ``raw_errors``:
        the modeled error raised as the SDK raises it (else a CliError); ``keep``: the operation is left open and
        returned instead (a subscription)."""
        import concurrent.futures

        from awsiot.greengrasscoreipc.model import GreengrassCoreIPCError

        new = getattr(self.client, f"new_{operation}")
        op = new(handler) if handler is not None else new()
        done = False
        try:
            op.activate(request).result(TIMEOUT_S)
            response = op.get_response().result(TIMEOUT_S)
            done = keep
            return op if keep else response
        except GreengrassCoreIPCError as e:
            if raw_errors:
                raise
            raise CliError(f"{type(e).__name__}: {getattr(e, 'message', None) or e}") from None
        except concurrent.futures.TimeoutError:
            raise CliError(f"the core did not answer {operation} within {TIMEOUT_S:.0f} s") from None
        finally:
            if not done:
                op.close()

    def close(self) -> None:
        self.client.close().result(CONNECT_TIMEOUT_S)


# ------------------------------------------------------------------------------ options
def _json_option(value: Optional[str], what: str) -> Optional[Any]:
    """A JSON file (``~`` expanded) or a JSON string, as the CLI reads --update-config and --systemLimits."""
    if not value:
        return None
    path = Path(value).expanduser()
    try:
        if _names_a_file(path):
            return json.loads(path.read_text(encoding="utf-8"))
        return json.loads(value)
    except ValueError as e:
        raise CliError(f"{what} is not a properly formatted JSON file or a JSON string: {e}") from None
    except OSError as e:
        raise CliError(f"{what}: cannot read {path}: {e}") from None


def _names_a_file(path: Path) -> bool:
    """Whether the option names an existing file; a value the system cannot take as a path (a JSON string longer than
    a file name may be: ENAMETOOLONG) is not one."""
    try:
        return path.is_file()
    except OSError:
        return False


def _merge_map(items: Optional[List[str]]) -> Optional[Dict[str, str]]:
    if not items:
        return None
    out = {}
    for item in items:
        for part in item.split(","):
            name, sep, version = part.partition("=")
            if not sep or not name.strip() or not version.strip():
                raise CliError(f"--merge {part!r}: expected <component>=<version>, e.g. com.example.Hello=1.0.0")
            out[name.strip()] = version.strip()
    return out


def _run_with(items: Optional[List[str]], limits: Optional[Any]) -> Optional[Dict[str, Any]]:
    from awsiot.greengrasscoreipc.model import RunWithInfo, SystemResourceLimits

    out: Dict[str, Any] = {}
    for item in items or ():
        key, sep, user = item.partition("=")
        parts = key.split(":")
        if not sep or len(parts) != 2 or parts[1] not in ("posixUser", "windowsUser"):
            raise CliError("--runWith must be in the following format <component>:{posixUser|windowsUser}=<user>[:<group>]")
        info = out.setdefault(parts[0], RunWithInfo())
        if parts[1] == "posixUser":
            info.posix_user = user
        else:
            info.windows_user = user
    if limits is not None:
        if not isinstance(limits, dict):
            raise CliError("--systemLimits must be a map of component name to {memory, cpus}")
        for name, lim in limits.items():
            if not isinstance(lim, dict):
                raise CliError(f"--systemLimits {name}: must be {{\"memory\": KB, \"cpus\": N}}")
            out.setdefault(name, RunWithInfo()).system_resource_limits = SystemResourceLimits(
                memory=lim.get("memory"), cpus=lim.get("cpus"))
    return out or None


def _absolute(path: Optional[str]) -> Optional[str]:
    """``deTilde``: ``~/`` expanded, made absolute (the core resolves nothing relative to your shell)."""
    return str(Path(path).expanduser().absolute()) if path else None


def _names(text: str) -> List[str]:
    return [n for n in re.split(r" *[&,]+ *", text.strip()) if n]


# ------------------------------------------------------------------------------ commands
def _print_component(c: Any, out: TextIO) -> None:
    out.write(f"Component Name: {c.component_name}\n")
    out.write(f"    Version: {c.version}\n")
    out.write(f"    State: {c.state}\n")
    out.write(f"    Configuration: {json.dumps(c.configuration, separators=(',', ':'))}\n")


def component(args: argparse.Namespace, nucleus: Nucleus, out: TextIO) -> int:
    from awsiot.greengrasscoreipc import model

    if args.action == "list":
        resp = nucleus.call("list_components", model.ListComponentsRequest())
        out.write("Components currently running in Greengrass:\n")
        for c in resp.components or []:
            _print_component(c, out)
        return 0
    if args.action == "details":
        resp = nucleus.call("get_component_details", model.GetComponentDetailsRequest(component_name=args.name))
        _print_component(resp.component_details, out)
        return 0
    failed = 0
    for name in _names(args.names):
        if args.action == "restart":
            resp = nucleus.call("restart_component", model.RestartComponentRequest(component_name=name))
            status, message = resp.restart_status, resp.message
        else:
            resp = nucleus.call("stop_component", model.StopComponentRequest(component_name=name))
            status, message = resp.stop_status, resp.message
        if status != model.RequestStatus.SUCCEEDED:
            failed += 1
            sys.stderr.write(f"{args.action} {name}: {status}{': ' + message if message else ''}\n")
    return 1 if failed else 0


def deployment(args: argparse.Namespace, nucleus: Nucleus, out: TextIO) -> int:
    from awsiot.greengrasscoreipc import model

    if args.action == "create":
        config = _json_option(args.update_config, "Update configuration parameter")
        if config is not None and not isinstance(config, dict):
            raise CliError('--update-config must be a JSON object: {"<component>": {"MERGE": {...}, "RESET": [...]}}')
        limits = _json_option(args.system_limits, "systemLimits parameter")
        request = model.CreateLocalDeploymentRequest(
            group_name=args.group_id, root_component_versions_to_add=_merge_map(args.merge),
            root_components_to_remove=list(args.remove) if args.remove else None,
            component_to_configuration=config, component_to_run_with_info=_run_with(args.run_with, limits),
            recipe_directory_path=_absolute(args.recipe_dir), artifacts_directory_path=_absolute(args.artifact_dir),
            failure_handling_policy=args.failure_handling_policy)
        resp = nucleus.call("create_local_deployment", request)
        out.write(f"Local deployment submitted! Deployment Id: {resp.deployment_id}\n")
        return 0
    if args.action == "status":
        d = nucleus.call("get_local_deployment_status",
                         model.GetLocalDeploymentStatusRequest(deployment_id=args.deployment_id)).deployment
        out.write(f"{d.deployment_id}: {d.status}\n")
        out.write(f"Created on: {d.created_on}\n")
        details = d.deployment_status_details
        if d.status == model.DeploymentStatus.FAILED and details is not None:
            if details.detailed_deployment_status:
                out.write(f"Detailed Status: {details.detailed_deployment_status}\n")
            if details.deployment_error_stack:
                out.write(f"Deployment Error Stack: {', '.join(details.deployment_error_stack)}\n")
            if details.deployment_error_types:
                out.write(f"Deployment Error Types: {', '.join(details.deployment_error_types)}\n")
            if details.deployment_failure_cause:
                out.write(f"Deployment Failure Cause: {details.deployment_failure_cause}\n")
        return 0
    if args.action == "list":
        listed = nucleus.call("list_local_deployments", model.ListLocalDeploymentsRequest()).local_deployments or []
        out.write("\n".join(f"Deployment ID: {d.deployment_id}\nCreated on: {d.created_on}\nStatus: {d.status}\n"
                            for d in listed))
        return 0
    resp = nucleus.call("cancel_local_deployment",
                        model.CancelLocalDeploymentRequest(deployment_id=args.deployment_id))
    out.write(f"{resp.message}\n")
    return 0


def java_offset_date_time(when: Any) -> str:
    """``DateTimeFormatter.ISO_OFFSET_DATE_TIME`` in this machine's time zone (``2026-12-08T01:02:03.5+01:00``,
    ``Z`` for UTC; the fraction only as long as needed)."""
    local = when.astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += "." + f"{local.microsecond:06d}".rstrip("0")
    offset = local.utcoffset()
    if not offset:
        return text + "Z"
    seconds = int(offset.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return text + f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def get_debug_password(nucleus: Nucleus, out: TextIO) -> int:
    """``PasswordCommand``: what the Local Debug Console's login takes."""
    from awsiot.greengrasscoreipc import model

    resp = nucleus.call("create_debug_password", model.CreateDebugPasswordRequest())
    out.write(f"Username: {resp.username}\n")
    out.write(f"Password: {resp.password}\n")
    out.write(f"Password expires at: {java_offset_date_time(resp.password_expiration)}\n")
    if resp.certificate_sha1_hash is not None or resp.certificate_sha256_hash is not None:
        out.write("\nThe local debug console is configured to use TLS security. The certificate is self-signed so you "
                  "will need to bypass your web browser's security warnings to open the console.\n")
        out.write("Before you bypass the security warning, verify that the certificate fingerprint matches one of the "
                  "following fingerprints.\n")
        if resp.certificate_sha256_hash is not None:
            out.write(f"SHA-256: {resp.certificate_sha256_hash}\n")
        if resp.certificate_sha1_hash is not None:
            out.write(f"SHA-1: {resp.certificate_sha1_hash}\n")
    return 0


# ------------------------------------------------------------------------------ --deploy-dev-tools
def deploy_dev_tools(state_dir: Path, out: TextIO, timeout: float = DEV_TOOLS_WAIT_S) -> str:
    """Deploy ``aws.greengrass.Cli`` to the running core device's thing through the local cloud (its thing
    deployment's other components kept) and wait until the core reports it and wrote the client token.
    Returns the deployment id."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    info = running_endpoint(state_dir)
    group_id = str(info.get("group_id") or "")
    if not group_id.startswith(CORE_GROUP_PREFIX):
        raise CliError(f"{state_dir / 'endpoint.json'} names no V2 core device (group_id {group_id!r})")
    thing = group_id[len(CORE_GROUP_PREFIX):]
    kw = dict(endpoint_url=info["cloud_url"], region_name=info.get("region") or "us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    gg, iot = boto3.client("greengrassv2", **kw), boto3.client("iot", **kw)
    root = core_root(Path(info.get("state_dir") or state_dir))
    try:
        thing_arn = iot.describe_thing(thingName=thing)["thingArn"]
        public = f"arn:aws:greengrass:{kw['region_name']}:aws:components:{DEV_TOOLS}"
        version = gg.list_component_versions(arn=public)["componentVersions"][0]["componentVersion"]
        components: Dict[str, Any] = {}
        listed = gg.list_deployments(targetArn=thing_arn, historyFilter="LATEST_ONLY")["deployments"]
        if listed:
            components = dict(gg.get_deployment(deploymentId=listed[0]["deploymentId"]).get("components") or {})
        if components.get(DEV_TOOLS, {}).get("componentVersion") == version and (root / IPC_INFO_DIR).is_dir() \
                and any((root / IPC_INFO_DIR).iterdir()):
            out.write(f"{DEV_TOOLS} {version} is already deployed on {thing}\n")
            return listed[0]["deploymentId"]
        components[DEV_TOOLS] = {"componentVersion": version}
        deployment_id = gg.create_deployment(targetArn=thing_arn, deploymentName=f"{thing} dev tools",
                                             components=components)["deploymentId"]
    except (ClientError, BotoCoreError) as e:
        raise CliError(f"cannot deploy {DEV_TOOLS} through the local cloud {info['cloud_url']}: {e}") from None
    out.write(f"deploying {DEV_TOOLS} {version} to core device {thing}: deployment {deployment_id}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            effective = gg.list_effective_deployments(coreDeviceThingName=thing)["effectiveDeployments"]
        except (ClientError, BotoCoreError) as e:
            raise CliError(f"cannot read the core's deployments: {e}") from None
        mine = next((e for e in effective if e["deploymentId"] == deployment_id), None)
        status = (mine or {}).get("coreDeviceExecutionStatus")
        if status == "FAILED":
            raise CliError(f"deployment {deployment_id} FAILED on {thing}: {(mine or {}).get('reason')}")
        if status in ("SUCCEEDED", "COMPLETED"):
            try:
                read_ipc_info(root)
                return deployment_id
            except CliError:
                pass
        time.sleep(0.25)
    raise CliError(f"the core did not report deployment {deployment_id} within {timeout:.0f} s")


# ------------------------------------------------------------------------------ the parser
def build_parser(prog: str = "greengrass-cli") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="The Greengrass CLI, for the local V2 core.")
    p.add_argument("--ggcRootPath", dest="ggc_root", help="the root folder of the core (default: $GGC_ROOT_PATH, "
                                                           "else the core of the running `deploy.py run --platform v2`)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="where `deploy.py run` writes endpoint.json (default: .gg of this repository)")
    p.add_argument("--deploy-dev-tools", action="store_true",
                   help=f"first deploy {DEV_TOOLS} to the core device's thing through the local cloud and wait")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("help", help="show this help")

    comp = sub.add_parser("component", help="list, inspect, restart and stop components")
    csub = comp.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("list", help="Retrieve the names, component information, and runtime arguments for components.")
    d = csub.add_parser("details", help="the details of one component")
    d.add_argument("-n", "--name", required=True, help="The name of the component.")
    for action in ("restart", "stop"):
        a = csub.add_parser(action, help=f"{action} components")
        a.add_argument("-n", "--names", required=True,
                       help="The names of the target components, separated with commas.")

    dep = sub.add_parser("deployment", help="create and follow local deployments")
    dsub = dep.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = dsub.add_parser("create", help="Create local deployment with provided recipes, artifacts, and runtime "
                                       "parameters")
    c.add_argument("-m", "--merge", action="append", metavar="COMPONENT=VERSION",
                   help="a root component to add or update (repeatable)")
    c.add_argument("--remove", action="append", metavar="COMPONENT", help="a root component to remove (repeatable)")
    c.add_argument("-g", "--groupId", dest="group_id", help="Thing group ID (default: the LOCAL_DEPLOYMENT group)")
    c.add_argument("-r", "--recipeDir", dest="recipe_dir",
                   help="Recipe directory (a GDK project or its greengrass-build folder works too)")
    c.add_argument("-a", "--artifactDir", dest="artifact_dir", help="Artifacts directory (<name>/<version>/<files>)")
    c.add_argument("--runWith", dest="run_with", action="append", metavar="COMPONENT:posixUser=USER[:GROUP]",
                   help="Component user and/or group (repeatable)")
    c.add_argument("--systemLimits", dest="system_limits", help="Component system resource limits (JSON or file)")
    c.add_argument("-c", "--update-config", dest="update_config",
                   help='Component configuration: {"<component>": {"MERGE": {...}, "RESET": ["/path"]}} (JSON or '
                        'file)')
    c.add_argument("-fp", "--failure-handling-policy", dest="failure_handling_policy",
                   choices=("ROLLBACK", "DO_NOTHING"), help="Failure handling policy (default: DO_NOTHING)")
    s = dsub.add_parser("status", help="Retrieve the status of a specific deployment")
    s.add_argument("-i", "--deploymentId", dest="deployment_id", required=True, help="Deployment ID")
    dsub.add_parser("list", help="Retrieve the status of local deployments")
    k = dsub.add_parser("cancel", help="Cancel a local deployment")
    k.add_argument("-i", "--deploymentId", dest="deployment_id", required=True, help="Deployment ID")

    logs.add_parser(sub)
    sub.add_parser("get-debug-password", help="Generate a password for use with the HTTP debug view component.")
    for name, where in (("pubsub", "local topic"), ("iotcore", "IoT Core")):
        t = sub.add_parser(name, help=f"Publish or subscribe to {where}.")
        tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
        pub = tsub.add_parser("pub", help=f"Publish to {where}.")
        pub.add_argument("-t", "--topic", required=True, help="The name of the topic.")
        pub.add_argument("-m", "--message", required=True,
                         help="The message that is published (the content of a file when it names one).")
        subscribe = tsub.add_parser("sub", help=f"Subscribe to {where}.")
        subscribe.add_argument("-t", "--topic", required=True, help="The name of the topic.")
        if name == "iotcore":
            for a in (pub, subscribe):
                a.add_argument("-q", "--qos", default="0", help="The MQTT QoS to use: 0 (default) or 1.")
    return p


def main(argv: Optional[Sequence[str]] = None, *, state_dir: Optional[Path] = None, out: Optional[TextIO] = None,
         prog: str = "greengrass-cli") -> int:
    out = out if out is not None else sys.stdout
    parser = build_parser(prog)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    state = args.state_dir or state_dir
    try:
        if args.deploy_dev_tools:
            deploy_dev_tools(Path(state) if state else DEFAULT_STATE_DIR, out)
        if args.command in (None, "help"):
            if not args.deploy_dev_tools:
                parser.print_help(out)
            return 0
        if args.command == "logs":
            return logs.run(args, out)
        nucleus = Nucleus(find_root(args.ggc_root, state))
        try:
            if args.command == "get-debug-password":
                return get_debug_password(nucleus, out)
            if args.command in ("pubsub", "iotcore"):
                return topics.run(args, nucleus, out)
            return (component if args.command == "component" else deployment)(args, nucleus, out)
        finally:
            nucleus.close()
    except CliError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
