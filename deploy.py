#!/usr/bin/env python3
"""deploy.py — validate, plan, deploy, status, destroy a Greengrass V1 group (or a fleet); run it locally.

    python deploy.py validate                       # check group/group.yaml, all errors at once
    python deploy.py plan --exit-code               # 0 nothing to change, 2 changes, 1 error
    python deploy.py deploy [--no-wait]             # create/update in API order, then deploy
    python deploy.py status
    python deploy.py destroy                        # remove exactly what deploy made
    python deploy.py run                            # the whole group on this machine
    python deploy.py cli component list             # greengrass-cli against the running V2 core

``--target local`` (default) talks to the embedded local cloud that ``deploy.py run`` starts (its
URL is in ``.gg/endpoint.json``); ``--target aws`` uses the usual boto3 credential chain.
Configuration: argument > environment (AWS_ENDPOINT_URL, AWS_REGION) > group file > default.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent
DEFAULT_GROUP_FILE = ROOT / "group" / "group.yaml"
LOCAL_CREDENTIALS = ("testing", "testing")
EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


# ---- configuration -----------------------------------------------------------------------------


class CliError(Exception):
    """An error the CLI reports as one message and exit status 1."""


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, stderr=stderr)


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)


def resolve_region(args: argparse.Namespace, group: Any) -> str:
    return (args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or (group.group.region if group is not None else None) or "us-east-1")


def local_endpoint(state_dir: Path) -> Dict[str, Any]:
    """The running local cloud's ``endpoint.json``; CliError when none is running."""
    path = state_dir / "endpoint.json"
    how = "start it with `make run` (or `python deploy.py run`) in another terminal, or use --target aws"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        url = info["cloud_url"]
    except FileNotFoundError:
        raise CliError(f"no local cloud is running ({path} does not exist); {how}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"no local cloud is running ({path} is unreadable: {exc}); {how}") from None
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/_local/status", timeout=3) as resp:
            status = json.loads(resp.read() or b"{}")
        if isinstance(status, dict) and status.get("region"):
            info = dict(info, cloud_region=status["region"])  # the one region its stand-ins serve
    except urllib.error.HTTPError:
        pass  # it answers
    except ValueError:
        pass  # an older cloud without a JSON status: its region is unknown
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CliError(f"no local cloud is running ({url} from {path} does not answer: "
                       f"{getattr(exc, 'reason', exc)}); {how}") from None
    return info


def make_clients(args: argparse.Namespace, group: Any):
    """``(Clients, local endpoint info or None)`` for the target, per the configuration order."""
    from group.clients import Clients

    region = resolve_region(args, group)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if args.target == "local":
        info: Dict[str, Any] = {}
        if endpoint is None:
            info = local_endpoint(args.state_dir)
            endpoint = info["cloud_url"]
            served = info.get("cloud_region")
            if served and served != region:
                name = f"group '{group.name}'" if group is not None else "the group"
                raise CliError(f"the local cloud at {endpoint} serves region {served} (the region of the group "
                               f"`deploy.py run` started it with); {name} is in {region}: the Greengrass stand-ins "
                               f"serve one region (fix: start `deploy.py run` with this group file, or pass "
                               f"--region {served})")
        return Clients.create(region, endpoint, LOCAL_CREDENTIALS), info
    return Clients.create(region, endpoint), None


Issuer = Callable[[str], Tuple[bytes, bytes]]


def local_issuer(args: argparse.Namespace, info: Dict[str, Any]) -> Tuple[Issuer, bytes]:
    """Certificates from the local root CA (``localcore/pki.py``), the one the local core trusts."""
    from localcore.pki import LocalPKI

    ca_dir = info.get("pki_dir") or info.get("ca_dir")
    if not ca_dir:
        ca_dir = Path(info["state_dir"]) / "ca" if info.get("state_dir") else args.state_dir / "ca"
    ca_dir = Path(ca_dir)
    pki = LocalPKI(ca_dir)

    def issue(thing: str) -> Tuple[bytes, bytes]:
        cert = pki.root.issue_client(thing)
        return cert.cert_pem, cert.key_pem

    return issue, pki.root.cert_pem


# ---- loading -----------------------------------------------------------------------------------


def load_groups(args: argparse.Namespace, out) -> List[Any]:
    """Load and validate every group file; print all errors and raise CliError when any fails."""
    from group.errors import GroupValidationError
    from group.model import load
    from group.plan import target_warnings

    v2 = getattr(args, "platform", None) == "v2" or (args.target == "aws" and getattr(args, "platform", None) is None)
    groups, failed = [], False
    for path in args.group_file:
        try:
            group, issues = load(path)
        except GroupValidationError as err:
            failed = True
            issues = _for_platform(err.issues, v2)
            if v2:  # the recipes' errors too, all at once (validate --platform v2 would show them next)
                from group.v2.validate import recipe_issues_of_file

                issues += [i for i in recipe_issues_of_file(path) if i.severity == "error"]
            for issue in issues:
                _print_issue(out, issue)
            continue
        issues = _for_platform(issues, v2)
        # with --json, stdout carries the JSON only: notes go to stderr
        note_out = _console(stderr=True) if getattr(args, "json", False) else out
        if args.command == "validate":
            for issue in issues:
                _print_issue(out, issue)
        elif issues:
            note_out.print(escape(f"{path}: {len(issues)} warning(s) (see: deploy.py validate)"), style="yellow")
        for issue in target_warnings(group, args.target, str(path)):
            _print_issue(note_out, issue)
        groups.append((Path(path), group))
    names = [g.name for _, g in groups]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        failed = True
        out.print(f"[red]error[/red]: group name(s) {', '.join(dupes)} appear in more than one group file "
                  "(fix: give each group of the fleet its own group.name)")
    if failed:
        raise CliError("the group file(s) have errors; nothing was called")
    return groups


def _for_platform(issues, v2: bool) -> list:
    """The issues that concern the platform asked for: under V2, not the note that V1 ignores generic
    components."""
    if not v2:
        return list(issues)
    return [i for i in issues if not (i.path == "components" and i.severity == "warning")]


def _print_issue(out, issue) -> None:
    style = "red" if issue.severity == "error" else "yellow"
    where = f"{issue.file}: {issue.path}" if issue.path else issue.file
    fix = f"\n    fix: {issue.fix}" if issue.fix else ""
    out.print(f"[{style}]{issue.severity}[/{style}] " + escape(f"{where}: {issue.message}{fix}"))


# ---- commands ----------------------------------------------------------------------------------


V1_DISCONTINUED = ("AWS discontinued Greengrass V1 on 2026-10-07 (V1 resources can no longer be accessed): "
                   "--target aws --platform v1 can only fail; use --platform v2 (the default for --target aws)")


def resolve_platform(args: argparse.Namespace) -> str:
    """``--platform`` or its default: v2 on real AWS (the only Greengrass AWS still runs), v1 locally."""
    platform = getattr(args, "platform", None) or ("v2" if args.target == "aws" else "v1")
    if platform == "v1" and args.target == "aws":
        raise CliError(V1_DISCONTINUED)
    return platform


def _platform_module(platform: str):
    if platform == "v2":
        from group.v2 import apply as module
    else:
        from group import v1 as module
    return module


def _check_v2(out, groups) -> None:
    """Print what V2 cannot carry for each group (validate/plan/deploy with --platform v2); CliError if any
    of it is an error."""
    from group.v2.validate import issues_for_v2

    failed = False
    for path, g in groups:
        for issue in issues_for_v2(g, str(path)):
            _print_issue(out, issue)
            failed = failed or issue.severity == "error"
    if failed:
        raise CliError("the group file(s) cannot be carried to Greengrass V2 as they are; nothing was called")


def _target_of(args: argparse.Namespace, group: Any):
    """``(clients, certificate issuer, root CA PEM, where)`` of a deploy to ``args.target``."""
    clients, info = make_clients(args, group)
    issuer, root_ca = (local_issuer(args, info) if args.target == "local" else (None, None))
    return clients, issuer, root_ca, clients.endpoint_url or clients.region


def cmd_validate(args: argparse.Namespace, out) -> int:
    platform = resolve_platform(args)
    groups = load_groups(args, out)
    if platform == "v2":
        _check_v2(out, groups)
    for path, g in groups:
        out.print(f"[green]ok[/green] {path}: group '{g.name}' ({len(g.functions)} functions, "
                  f"{len(g.devices)} devices, {len(g.subscriptions)} subscriptions)")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out) -> int:
    platform = resolve_platform(args)
    plan_group = _platform_module(platform).plan_group

    groups = load_groups(args, out)
    if platform == "v2":
        _check_v2(out, groups)
    changed = False
    for path, g in groups:
        clients, _ = make_clients(args, g)
        plan = plan_group(g, root=_root_of(path), clients=clients, state_dir=args.state_dir,
                          target=args.target, certs_dir=args.certs_dir, service_role=args.service_role)
        where = clients.endpoint_url or clients.region
        out.print(f"[bold]group {g.name}[/bold] (target {args.target}, platform {platform}, {where}):")
        if plan.empty:
            out.print("  no changes")
        for line in plan.lines():
            style = {"+": "green", "~": "yellow", "-": "red"}[line[0]]
            out.print(f"  [{style}]{line[0]}[/{style}]{line[1:]}", markup=True)
        for issue in plan.warnings:  # V2: the catalog's public components against what the cloud publishes
            if issue.file == "group/v2/catalog.py":
                _print_issue(out, issue)
        if plan.ownership is not None:  # what this platform owns, lends to and borrows from the other
            for line in plan.ownership.lines(verbose=args.verbose):
                out.print("  " + escape(line), style="dim" if line.startswith(" ") else None)
        changed = changed or not plan.empty
    if args.exit_code and changed:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace, out) -> int:
    from group.clients import RichProgress
    from group.v1 import bulk_deploy

    platform = resolve_platform(args)
    groups = load_groups(args, out)
    progress = RichProgress(out)
    if platform == "v2":
        return _deploy_v2(args, out, groups, progress)
    from group.v1 import deploy_group

    if args.bulk and len({resolve_region(args, g) for _, g in groups}) > 1:
        raise CliError("--bulk needs every group of the fleet in one region (bulk deployments are regional); "
                       "deploy each region separately")
    results, clients = [], None
    for path, g in groups:
        clients, issuer, root_ca, where = _target_of(args, g)
        out.print(f"[bold]deploy {g.name}[/bold] → {args.target} ({where})")
        result = deploy_group(g, root=_root_of(path), clients=clients, state_dir=args.state_dir,
                              target=args.target, certs_dir=args.certs_dir, certificate_issuer=issuer,
                              root_ca_pem=root_ca, progress=progress, wait=not args.no_wait,
                              timeout=args.timeout, service_role=args.service_role,
                              redeploy=args.redeploy, deploy=not args.bulk)
        results.append(result)
        if not args.bulk:
            _print_result(out, result)
    if args.bulk and clients is not None:
        out.print(f"[bold]bulk deployment[/bold] of {sum(r.pending is not None for r in results)} group(s)")
        for result in bulk_deploy(results, clients=clients, state_dir=args.state_dir, target=args.target,
                                  progress=progress, wait=not args.no_wait, timeout=args.timeout):
            _print_result(out, result)
    return EXIT_OK


def _deploy_v2(args: argparse.Namespace, out, groups, progress) -> int:
    from group.v2.apply import deploy_group

    _check_v2(out, groups)
    if args.bulk:
        raise CliError("--bulk is a V1 API (start_bulk_deployment); on V2 a fleet is a thing group: deploy each "
                       "group without --bulk")
    for path, g in groups:
        clients, issuer, root_ca, where = _target_of(args, g)
        out.print(f"[bold]deploy {g.name}[/bold] → {args.target}, Greengrass V2 ({where})")
        result = deploy_group(g, root=_root_of(path), clients=clients, state_dir=args.state_dir,
                              target=args.target, certs_dir=args.certs_dir, certificate_issuer=issuer,
                              root_ca_pem=root_ca, progress=progress, wait=not args.no_wait,
                              timeout=args.timeout, service_role=args.service_role, redeploy=args.redeploy)
        what = f"{len(result.changes)} change(s)" if result.changes else "no changes"
        out.print(f"[green]done[/green] {result.group}: {what}; deployment {result.deployment_id}: "
                  f"{result.status or '-'}; {len(result.components)} component(s)")
    return EXIT_OK


def _print_result(out, result) -> None:
    what = f"{len(result.changes)} change(s)" if result.changes else "no changes"
    out.print(f"[green]done[/green] {result.group}: {what}; group {result.group_id}, version "
              f"{result.group_version_id}, deployment {result.deployment_id}: {result.status or '-'}")


class _Named:
    """A group known only by name (``--group``): what status/destroy need, from the state file."""

    def __init__(self, name: str, region: Optional[str]) -> None:
        self.name = name
        self.group = argparse.Namespace(region=region)


def named_groups(args: argparse.Namespace, out) -> List[Any]:
    """``--group NAME``: groups by their state file (no group file needed); else the group files."""
    if not getattr(args, "group", None):
        return [g for _, g in load_groups(args, out)]
    from group.state import State, recorded_groups

    known = recorded_groups(args.state_dir, args.target)
    out_groups = []
    for name in args.group:
        if name not in known:
            raise CliError(f"no state for group '{name}' on target {args.target} in {args.state_dir} "
                           f"(recorded: {', '.join(known) or 'none'})")
        out_groups.append(_Named(name, State.load(args.state_dir, args.target, name).meta.get("region")))
    return out_groups


def cmd_status(args: argparse.Namespace, out) -> int:
    platform = resolve_platform(args)
    group_status = _platform_module(platform).group_status

    for g in named_groups(args, out):
        clients, _ = make_clients(args, g)
        st = group_status(g.name, clients=clients, state_dir=args.state_dir, target=args.target)
        if args.json:
            out.print_json(json.dumps(st))
            continue
        if platform == "v2":
            _print_v2_status(out, g.name, args.target, st)
            continue
        if not st["deployed"]:
            out.print(f"{g.name}: not deployed on target {args.target} (no {st['state_file']})")
            continue
        style = {"Success": "green", "Failure": "red"}.get(st["status"], "yellow")
        out.print(f"{g.name}: group {st['group_id']} version {st['group_version_id']} deployment "
                  f"{st['deployment_id']}: [{style}]{st['status']}[/{style}]"
                  + (f" ({st['error']})" if st.get("error") else ""))
        out.print("  " + ", ".join(f"{n} {k}" for k, n in st["kinds"].items()))
    return EXIT_OK


def _print_v2_status(out, name: str, target: str, st: Dict[str, Any]) -> None:
    if not st["deployed"]:
        out.print(f"{name}: not deployed to Greengrass V2 on target {target} (no {st['state_file']})")
        return
    device = st.get("device_status") or "QUEUED (no report from the core device yet)"
    style = "green" if device in ("SUCCEEDED", "COMPLETED") else ("red" if "FAIL" in device else "yellow")
    out.print(f"{name}: deployment {st['deployment_id']} {st['status']}; core device {st.get('core_device')}: "
              f"[{style}]{escape(device)}[/{style}]" + (f" ({escape(st['reason'])})" if st.get("reason") else "")
              + f"; health {st.get('core_device_status')}")
    latest = st.get("latest_deployment") or {}
    if latest and not latest.get("ours"):
        out.print(f"  [yellow]![/yellow] the thing group's latest deployment is {latest['id']} (not this deploy's): "
                  f"{latest.get('device_status') or 'QUEUED'}" + (f" ({escape(latest['reason'])})"
                                                                  if latest.get("reason") else ""))
    for comp, c in sorted(st.get("components", {}).items()):
        out.print(f"  {comp} {c.get('version')}: {c.get('state')}"
                  + (f" ({escape(str(c['details']))})" if c.get("details") else ""))
    out.print("  " + ", ".join(f"{n} {k}" for k, n in st["kinds"].items()))


def cmd_export(args: argparse.Namespace, out) -> int:
    from group.state import State, state_target
    from group.v2.apply import artifact_bucket_name
    from group.v2.convert import convert
    from group.v2.export import export

    if args.platform == "v1":
        raise CliError("export writes the Greengrass V2 form of the group (V1 has no file form to install): "
                       "use --platform v2 (the default of export)")
    groups = load_groups(args, out)
    if len(groups) > 1 and args.out is not None:
        raise CliError("--out takes one group file; export a fleet with one command per group")
    for path, g in groups:
        region = resolve_region(args, g)
        account = args.account_id or os.environ.get("AWS_ACCOUNT_ID") or _account_for_export(args, g)
        state = State.load(args.state_dir, state_target(args.target, "v2"), g.name)
        versions = {f.name: str(state.get(f"function:{f.name}")["version"]) for f in g.functions
                    if (state.get(f"function:{f.name}") or {}).get("version")}
        plan = convert(g, root=_root_of(path), account_id=account, region=region, lambda_versions=versions,
                       artifact_bucket=artifact_bucket_name(g, account, region))
        dest = Path(args.out) if args.out else Path("export") / g.name
        written = export(plan, dest, root=_root_of(path))  # artifacts read from the bundle (compose file)
        errors = plan.errors()
        out.print(f"[green]exported[/green] {g.name} → {dest} ({len(written) if written else 'all'} files; "
                  f"{len(plan.findings)} finding(s), {len(errors)} error(s): see {dest / 'MIGRATION.md'})")
        if errors:
            for f in errors:
                out.print("[red]error[/red] " + escape(str(f)))
            return EXIT_ERROR
    return EXIT_OK


def _account_for_export(args: argparse.Namespace, group: Any) -> str:
    """The account in the exported ARNs: --account-id, $AWS_ACCOUNT_ID, STS on --target aws, else the local cloud's."""
    if args.target == "aws":
        clients, _ = make_clients(args, group)
        return clients.account_id()
    return "123456789012"  # the local cloud's account (moto's default)


def cmd_destroy(args: argparse.Namespace, out) -> int:
    from group.clients import RichProgress
    from group.v1 import destroy_bulk_infra_if_unused

    platform = resolve_platform(args)
    destroy_group = _platform_module(platform).destroy_group
    for g in reversed(named_groups(args, out)):
        clients, _ = make_clients(args, g)
        out.print(f"[bold]destroy {g.name}[/bold] on {args.target} (Greengrass {platform.upper()})")
        if platform == "v2":
            removed = destroy_group(g.name, clients=clients, state_dir=args.state_dir, target=args.target,
                                    certs_dir=args.certs_dir, progress=RichProgress(out))
            out.print(f"[green]done[/green] {g.name}: {len(removed)} object(s) removed")
            continue
        removed = destroy_group(g.name, clients=clients, state_dir=args.state_dir, target=args.target,
                                certs_dir=args.certs_dir, progress=RichProgress(out))
        out.print(f"[green]done[/green] {g.name}: {len(removed)} object(s) removed")
        removed = destroy_bulk_infra_if_unused(clients=clients, state_dir=args.state_dir, target=args.target,
                                               progress=RichProgress(out))
        if removed:
            out.print(f"[green]done[/green] bulk deployment objects: {len(removed)} removed (no group left)")
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out) -> int:
    from localcore import run
    from localcore.readers.errors import NoDeployment

    try:
        return int(run.main(args) or 0)
    except NoDeployment as err:  # the core found nothing to run: say what to do, no traceback
        clean = " ".join(["python deploy.py run", *(["--platform", args.platform] if args.platform else []),
                          "--clean"])
        out.print("[red]error[/red]: " + escape(f"{err}: the cloud holds no deployment for this core "
                                                f"(fix: `{clean}` starts from fresh state)"))
        return EXIT_ERROR


def _root_of(group_file: Path) -> Path:
    """The bundle root code paths resolve against: one rule for every command (``group.model.bundle_root``)."""
    from group.model import bundle_root

    return bundle_root(group_file)


# ---- parser ------------------------------------------------------------------------------------


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--group-file", action="append", type=Path, metavar="FILE",
                        help="group file; repeat for a fleet (default: group/group.yaml)")
    common.add_argument("--target", choices=("local", "aws"), default="local",
                        help="local: the embedded local cloud of `deploy.py run` (default); aws: real AWS "
                             "(boto3 credential chain)")
    common.add_argument("--region",
                        help="AWS region (default: $AWS_REGION, then the group file's group.region)")
    common.add_argument("--endpoint-url", help="AWS endpoint URL (default: $AWS_ENDPOINT_URL; with --target "
                                               "local, the cloud_url of .gg/endpoint.json)")
    common.add_argument("--state-dir", type=Path, default=ROOT / ".gg",
                        help="where deploy state, endpoint.json and the local CA live (default: .gg)")
    common.add_argument("--certs-dir", type=Path, default=ROOT / "certs",
                        help="where certs/<Thing>/cert.pem, private.key and root-ca.pem are written")
    common.add_argument("-v", "--verbose", action="store_true", help="log every AWS call's outcome")
    common.add_argument("--platform", choices=("v1", "v2"), default=None,
                        help="Greengrass V1 or V2 (default: v2 with --target aws — AWS discontinued V1 on "
                             "2026-10-07 — and v1 on the local target)")
    svc = argparse.ArgumentParser(add_help=False)
    svc.add_argument("--no-service-role", dest="service_role", action="store_false",
                     help="leave the account's Greengrass service role alone (managed elsewhere)")

    parser = argparse.ArgumentParser(prog="deploy.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", parents=[common], help="check the group file(s); all errors at once",
                   description="Validate the group file(s) before any AWS call: exit 1 listing every error "
                               "(file, path, fix), 0 when clean (warnings are printed).")
    p = sub.add_parser("plan", parents=[common, svc], help="show what deploy would change",
                       description="Compare the group file(s) with the deploy state, checked with read-only "
                                   "calls; print '+ kind name' / '~ kind name' / '- kind name'.")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 0 when nothing would change, 2 when something would, 1 on error")
    p = sub.add_parser("deploy", parents=[common, svc], help="create/update and deploy the group(s)",
                       description="Create or update every object in API order, then create a deployment "
                                   "and wait for it. Nothing changed → no mutating call.")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the deployment to finish")
    p.add_argument("--redeploy", action="store_true",
                   help="make a new deployment of the current group version even if nothing changed")
    p.add_argument("--bulk", action="store_true",
                   help="deploy the fleet with one bulk deployment (start_bulk_deployment) instead of one "
                        "create_deployment per group; all group files must share a region")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the deployment (300)")
    by_name = argparse.ArgumentParser(add_help=False)
    by_name.add_argument("--group", action="append", metavar="NAME",
                         help="a group by its name in the state (no group file needed, e.g. after a rename "
                              "or with a broken file); repeatable")
    p = sub.add_parser("status", parents=[common, by_name],
                       help="show the deployed group and its deployment status",
                       description="Show what the state records for each group and the live "
                                   "deployment status.")
    p.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("destroy", parents=[common, by_name], help="remove exactly what deploy made",
                   description="Reset deployments, then delete the group, definitions, certificates, things, "
                               "policies, Lambdas, roles and cloud resources listed in the state (reverse "
                               "order; NotFound counts as done), then the state file.")
    # localcore/run.py adds its own options (it may redefine common ones: theirs win)
    p = sub.add_parser("run", parents=[common], conflict_handler="resolve",
                       help="bring the whole group up on this machine",
                       description="Start the local cloud, deploy the group to it, run the local core, the "
                                   "device scripts and the dashboard (localcore/run.py).")
    if "run" in argv:  # imported only for run: the other commands start faster without the core
        from localcore import run

        run.add_arguments(p)
    p = sub.add_parser("export", parents=[common], help="write the group's Greengrass V2 form to files",
                       description="export --platform v2 --out DIR: one recipe per component, deployment.json "
                                   "(the CreateDeployment input), the IAM and IoT policy documents, a nucleus "
                                   "config.yaml template and MIGRATION.md with every finding. Deterministic; no "
                                   "AWS call (except STS for the account with --target aws and no --account-id).")
    p.add_argument("--out", type=Path, help="output folder (default: export/<group>)")
    p.add_argument("--account-id", help="AWS account in the ARNs (default: $AWS_ACCOUNT_ID, STS with --target aws, "
                                        "else the local cloud's 123456789012)")
    p = sub.add_parser("kvs-put", parents=[common], conflict_handler="resolve",
                       help="put video frames into a Kinesis Video stream of the local cloud",
                       description="kvs-put --stream NAME (FILE | --synthetic) [--endpoint-url URL]: feeds the "
                                   "local Kinesis Video stand-in (creates the stream with retention if missing). "
                                   "See `python -m localcore.cloud_lambdas.kvs_put --help`.")
    p.add_argument("kvs_args", nargs=argparse.REMAINDER, help="--stream NAME (FILE | --synthetic)")
    p = sub.add_parser("cli", help="greengrass-cli against the running V2 core (local deployments, components)",
                       description="cli [--state-dir DIR] [--deploy-dev-tools] (component list|details|restart|stop "
                                   "| deployment create|status|list|cancel) ...: the Greengrass CLI's commands over "
                                   "the nucleus IPC of the core `deploy.py run --platform v2` runs. See `python "
                                   "deploy.py cli --help` (localcore/greengrass_cli/client.py).")
    p.add_argument("cli_args", nargs=argparse.REMAINDER, help="the greengrass-cli command and its options")
    return parser


def cmd_cli(argv: Sequence[str]) -> int:
    """``deploy.py cli ...``: every argument goes to the greengrass-cli client (it has its own --state-dir)."""
    from localcore.greengrass_cli import client

    return client.main(list(argv), prog="deploy.py cli")


def cmd_kvs_put(args: argparse.Namespace, out) -> int:
    from localcore.cloud_lambdas import kvs_put

    return int(kvs_put.main(list(args.kvs_args) + ["--state-dir", str(args.state_dir)]) or 0)


COMMANDS = {"validate": cmd_validate, "plan": cmd_plan, "deploy": cmd_deploy, "status": cmd_status,
            "destroy": cmd_destroy, "run": cmd_run, "kvs-put": cmd_kvs_put, "export": cmd_export}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cli"]:   # the CLI's own grammar (options before its command, e.g. --deploy-dev-tools)
        return cmd_cli(argv[1:])
    args = build_parser(argv).parse_args(argv)
    args.group_file = args.group_file or [DEFAULT_GROUP_FILE]
    args.state_dir = Path(args.state_dir or ROOT / ".gg").resolve()
    args.certs_dir = Path(getattr(args, "certs_dir", None) or ROOT / "certs").resolve()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    out = _console()
    from group.errors import GroupError

    try:
        return COMMANDS[args.command](args, out)
    except CliError as err:
        out.print("[red]error[/red]: " + escape(str(err)))
        return EXIT_ERROR
    except GroupError as err:  # DeployError, StateError, PackageError: step, object and fix
        out.print("[red]error[/red]: " + escape(str(err)))
        return EXIT_ERROR
    except KeyboardInterrupt:
        out.print("interrupted; the state file records everything made so far; re-run to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
