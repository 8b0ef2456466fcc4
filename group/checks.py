"""The rules across ``group.yaml`` that a schema cannot express: references, duplicates, runtimes, resources,
subscriptions that can never fire, code that is missing (:func:`check`). Pure but for reading the bundle's
code folders.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import topics
from .errors import Issue
from .loading import Parsed
from .sections import (CLOUD, DOCKER_CONNECTOR, MIN_MEMORY_MB, PUBSUB, SHADOW_PREFIX, SHADOW_REPLIES,
                       SHADOW_REQUESTS, SUPPORTED_RUNTIMES, Group)


def check(g: Group, file: str, root: Path, parsed: Optional[Parsed] = None) -> List[Issue]:
    """Cross-reference and semantic rules that a schema cannot express.

    With ``parsed`` (from :func:`parse_partial`), ``g`` may be a best-effort Group: paths name the
    items' places in the file, nothing is reported at a path whose schema check failed, and
    references to items that failed to parse are not reported again.
    """
    pp = parsed or Parsed()
    at = pp.at
    issues: List[Issue] = []

    def err(path: str, msg: str, fix: str = "") -> None:
        if pp.ok(path):
            issues.append(Issue(file, path, msg, fix))

    def warn(path: str, msg: str, fix: str = "") -> None:
        if pp.ok(path):
            issues.append(Issue(file, path, msg, fix, "warning"))

    # duplicates ------------------------------------------------------------------------------
    def dupes(items, key, what, where) -> None:
        seen: Dict[str, str] = {}
        for i, item in enumerate(items):
            k = key(item)
            if k in seen:
                err(at(where, i), f"duplicate {what} '{k}' (first at {seen[k]})",
                    f"give each {what} a unique name")
            else:
                seen[k] = at(where, i)

    dupes(g.functions, lambda f: f.name, "function name", "functions")
    dupes(g.devices, lambda d: d.thing, "device thing", "devices")
    dupes(g.resources, lambda r: r.name, "resource name", "resources")
    dupes(g.connectors, lambda c: c.name, "connector name", "connectors")
    dupes(g.streams, lambda s: s.name, "stream name", "streams")
    dupes(g.cloud.functions, lambda f: f.name, "cloud function name", "cloud.functions")
    dupes(g.loggers, lambda lg: f"{lg.component}/{lg.type}", "logger (component, type)", "loggers")
    for i, d in enumerate(g.devices):
        if pp.ok("core.thing") and d.thing == g.core.thing:
            err(f"{at('devices', i)}.thing", f"'{d.thing}' is the core's thing name",
                "use another thing name")
        if g.function(d.thing) is not None:
            err(f"{at('devices', i)}.thing", f"'{d.thing}' is also a function name; subscriptions would be "
                "ambiguous", "rename the device or the function")

    # resources ---------------------------------------------------------------------------------
    for i, r in enumerate(g.resources):
        p = at("resources", i)
        if pp.ok(f"{p}.device") and pp.ok(f"{p}.volume") and (r.device is None) == (r.volume is None):
            err(p, f"resource '{r.name}' must have exactly one of 'device' or 'volume'",
                "keep one of the two keys")

    # functions ---------------------------------------------------------------------------------
    ram_known = pp.ok("core.ram_mb")
    for i, f in enumerate(g.functions):
        p = at("functions", i)
        kind_known = pp.ok(f"{p}.isolation") and pp.ok(f"{p}.pinned")
        if f.runtime not in SUPPORTED_RUNTIMES:
            err(f"{p}.runtime", f"runtime '{f.runtime}' is not an AWS Lambda Python runtime",
                f"use one of {', '.join(SUPPORTED_RUNTIMES)}")
        if f.timeout_s <= 0:
            err(f"{p}.timeout_s", f"timeout must be > 0 seconds (got {f.timeout_s})", "set timeout_s to 1 or more")
        if f.pinned and f.max_instances is not None and pp.ok(f"{p}.pinned"):
            err(f"{p}.max_instances", "a pinned (long-lived) function has exactly one instance; "
                "max_instances is for on-demand functions", "remove max_instances or set pinned: false")
        if not kind_known:
            pass  # isolation or pinned failed the schema: the rules that depend on them would guess
        elif f.isolation == "NoContainer":
            if f.memory_mb is not None:
                err(f"{p}.memory_mb", "NoContainer functions cannot have a memory limit",
                    "remove memory_mb or use isolation: GreengrassContainer")
            for j, ra in enumerate(f.resources):
                res = g.resource(ra.ref)
                if res is not None and res.device is not None:
                    err(at(f"{p}.resources", j),
                        f"NoContainer functions cannot use device resource '{ra.ref}'",
                        "use isolation: GreengrassContainer")
        elif f.memory_mb is None:
            kind = "pinned" if f.pinned else "containerized"
            err(f"{p}.memory_mb", f"{kind} function '{f.name}' needs memory_mb (MemorySize)",
                "set memory_mb, e.g. 128")
        if f.memory_mb is not None:
            top = g.core.ram_mb if ram_known else None
            if f.memory_mb < MIN_MEMORY_MB or (top is not None and f.memory_mb > top):
                bound = (f"{MIN_MEMORY_MB}..{top} MB (core.ram_mb)" if top is not None
                         else f"{MIN_MEMORY_MB}.. MB")
                err(f"{p}.memory_mb", f"memory {f.memory_mb} MB is outside {bound}",
                    f"use a value between {MIN_MEMORY_MB} and {top if top is not None else 'core.ram_mb'}")
        if f.run_as is not None and f.run_as.uid == 0 and f.isolation == "GreengrassContainer" \
                and pp.ok(f"{p}.isolation"):
            err(f"{p}.run_as", "running as root is only allowed with isolation: NoContainer",
                "use a non-root uid or NoContainer")
        for j, ra in enumerate(f.resources):
            if g.resource(ra.ref) is None and ra.ref not in pp.unchecked:
                err(f"{at(f'{p}.resources', j)}.ref", f"unknown resource '{ra.ref}'",
                    f"declare it under resources: or use one of {[r.name for r in g.resources]}")
        for j, lib in enumerate(f.libraries):
            if not (root / lib).is_dir():
                err(f"{p}.libraries[{j}]", f"library folder {lib} does not exist",
                    "create it or fix the path (relative to the bundle root)")
        if not all(pp.ok(f"{p}.{k}") for k in ("handler", "path", "code")):
            continue  # where the code is failed the schema
        code_dir = f.code_dir(root)
        module_file = code_dir / (f.handler_module.replace(".", "/") + ".py")
        if f.code == "pending":
            if module_file.exists():
                warn(f"{p}.code", f"'code: pending' but {_rel(module_file, root)} exists",
                     "remove 'code: pending'")
            else:
                warn(f"{p}.code", f"function '{f.name}' has no code yet ({_rel(module_file, root)} is missing)",
                     "write the handler and remove 'code: pending'")
        elif not module_file.exists():
            err(f"{p}.handler", f"handler file {_rel(module_file, root)} for '{f.handler}' does not exist",
                "create the file, fix 'handler'/'path', or mark the function 'code: pending'")

    # subscriptions -----------------------------------------------------------------------------
    def unchecked(symbol: str) -> bool:
        name = symbol[len(SHADOW_PREFIX):] if symbol.startswith(SHADOW_PREFIX) else symbol
        return name in pp.unchecked

    seen_subs: Dict[Tuple[str, str, str], str] = {}
    for i, s in enumerate(g.subscriptions):
        p = at("subscriptions", i)
        for problem in topics.filter_problems(s.topic):
            err(f"{p}.topic", f"invalid topic filter '{s.topic[:80]}': {problem}",
                "use '/'-separated levels; '+' and '#' only as a whole level, '#' only last (e.g. sensors/+/data)")
        src, dst = g.endpoint(s.source), g.endpoint(s.target)
        for key, sym, ep in (("source", s.source, src), ("target", s.target, dst)):
            if (ep is None or ep == PUBSUB) and not unchecked(sym):   # 'pubsub': the V2 reader's routes only
                err(f"{p}.{key}", f"'{sym}' is not a device, function, 'cloud' or 'shadow:<thing>' of this group",
                    "add it under devices:/functions: or fix the name")
        k = (s.source, s.target, s.topic)
        if k in seen_subs:
            err(p, f"duplicate subscription (same as {seen_subs[k]})", "remove one of them")
        else:
            seen_subs[k] = p
        if src is None or dst is None:
            continue
        if src == dst:
            err(p, f"source and target are both '{s.source}'; a subscription never routes back to its sender",
                "change the target")
        if src == CLOUD and dst == CLOUD:
            err(p, "cloud → cloud never passes through the core", "remove the subscription")
        if src.startswith(SHADOW_PREFIX) and dst.startswith(SHADOW_PREFIX):
            err(p, "shadow → shadow can never fire", "remove the subscription")
        for key, ep in (("target", dst), ("source", src)):
            if ep.startswith(SHADOW_PREFIX):
                thing = ep[len(SHADOW_PREFIX):]
                allowed = SHADOW_REQUESTS if key == "target" else SHADOW_REPLIES
                if not _can_reach_shadow(s.topic, thing, allowed):
                    what = "requests to" if key == "target" else "messages from"
                    err(f"{p}.topic", f"topic '{s.topic}' can never carry {what} the shadow of '{thing}'",
                        f"use $aws/things/{thing}/shadow/" + ("update|get|delete" if key == "target"
                                                              else "update/accepted|update/delta|..."))
    # functions nobody can reach (warning only: pinned ones may be self-driven); not when a
    # subscription failed the schema (it may be the one that targets the function)
    targets = {s.target for s in g.subscriptions}
    if pp.ok("subscriptions") and "subscriptions" not in pp.index:
        for i, f in enumerate(g.functions):
            if not f.pinned and f.name not in targets and pp.ok(f"{at('functions', i)}.pinned"):
                warn(at("functions", i), f"on-demand function '{f.name}' is the target of no subscription; "
                     "nothing will ever invoke it", "add a subscription or make it pinned")

    # stream manager, connectors, cloud -----------------------------------------------------------
    if g.stream_manager.store_root is not None and not g.stream_manager.store_root.startswith("/") \
            and not g.stream_manager.store_root.startswith("."):
        err("stream_manager.store_root", "store_root must be absolute (or relative to the state dir with './')",
            "e.g. /greengrass/v2/work/streams or ./streams")
    for i, c in enumerate(g.connectors):
        p = at("connectors", i)
        if c.compose_file is not None:
            if c.kind != DOCKER_CONNECTOR:
                err(f"{p}.compose_file", "compose_file is only for the Docker application "
                    "deployment connector", "remove it")
            elif not (root / c.compose_file).is_file():
                err(f"{p}.compose_file", f"compose file {c.compose_file} does not exist",
                    "fix the path (relative to the bundle root)")
        if c.kind == DOCKER_CONNECTOR and pp.ok(f"{p}.parameters"):
            for required in ("DockerComposeFileS3Bucket", "DockerComposeFileS3Key", "DockerUserId"):
                if required not in c.parameters:
                    err(f"{p}.parameters", f"Docker application deployment connector needs '{required}'",
                        f"add {required} under parameters")
    _check_components(g, root, err, warn, at, pp)
    for i, cf in enumerate(g.cloud.functions):
        p = at("cloud.functions", i)
        if not (pp.ok(f"{p}.handler") and pp.ok(f"{p}.path")):
            continue
        module_file = cf.code_dir(root) / (cf.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not module_file.exists():
            err(f"{p}.handler", f"handler file {_rel(module_file, root)} does not exist",
                "create it or fix 'path'/'handler'")
    return issues


def _check_components(g: Group, root: Path, err, warn, at, pp: Parsed) -> None:
    """Platform-independent rules of ``components:`` (the recipe itself is checked by ``validate --platform
    v2``: it parses, names its artifacts, clashes with no other component)."""
    if not g.components:
        return
    warn("components", f"{len(g.components)} generic component(s): they run only with --platform v2; "
         "Greengrass V1 (validate/deploy/run --platform v1) ignores them",
         "use --platform v2 to deploy or run them (see docs/group-yaml.md#component)")
    seen: Dict[str, str] = {}
    for i, c in enumerate(g.components):
        p = at("components", i)
        key = c.path.rstrip("/")
        if key in seen:
            err(f"{p}.path", f"duplicate component folder '{key}' (first at {seen[key]})",
                "give each component its own folder")
        else:
            seen[key] = p
        if pp.ok(f"{p}.path") and pp.ok(f"{p}.recipe"):
            _, problem = c.recipe_file(root)
            if problem:
                err(f"{p}.recipe" if c.recipe else f"{p}.path", problem,
                    "create the folder with its recipe, or fix 'path'/'recipe' (relative to the bundle root)")
        cu = c.configuration_update
        if cu is not None:
            for j, ptr in enumerate(cu.reset):
                if ptr and not ptr.startswith("/"):
                    err(f"{p}.configuration_update.reset[{j}]", f"'{ptr}' is not a JSON pointer",
                        "start it with '/' (e.g. /streamName), or use \"\" for the whole configuration")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _can_reach_shadow(topic_filter: str, thing: str, suffixes: Tuple[str, ...]) -> bool:
    """Whether some topic under ``$aws/things/<thing>/shadow/<suffix>`` matches the filter."""
    return any(topics.filters_overlap(topic_filter, f"$aws/things/{thing}/shadow/{sfx}") for sfx in suffixes)
