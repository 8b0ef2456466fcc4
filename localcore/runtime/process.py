"""How one function instance process is launched: command line, environment, OS limits. Pure-ish
(no asyncio): ``LambdaRuntime`` calls these and owns the processes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sysconfig
from pathlib import Path
from typing import Callable, Optional

from localcore.interfaces import FunctionSpec
from localcore.lambda_ipc.directory import ROUTER_ARN, SECRETS_ARN, SHADOW_ARN


log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SDK_DIR = HERE / "sdk"
BOOTSTRAP = HERE / "bootstrap.py"
GGC_MAX_INTERFACE_VERSION = "1.5"  # greengrasssdk.INTERFACE_VERSION of 1.6.1
VENDOR_DIRS = ("vendor",)  # besides the code dir itself (pip install --target <code dir>, the AWS way)
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


def default_fallback_paths() -> list[str]:
    """site-packages of the core's interpreter: last on a function's sys.path, so greengrasssdk and
    boto3 resolve when a function does not vendor them (a vendored copy always wins)."""
    paths = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in paths:
            paths.append(path)
    return paths


def extra_paths(spec: FunctionSpec) -> list[str]:
    vendored = [str(Path(spec.code_dir) / d) for d in VENDOR_DIRS if (Path(spec.code_dir) / d).is_dir()]
    return vendored + [str(Path(lib)) for lib in spec.libraries]


FINGERPRINT_SKIPPED_DIRS = ("__pycache__", ".git")


def code_fingerprint(spec: FunctionSpec) -> str:
    """sha256 over the function's code: every file under its code dir and library folders
    (relative path and content; ``__pycache__``, ``.git`` and ``*.pyc`` left out). A deployment
    restarts a function whose fingerprint changed. A missing folder counts as empty."""
    digest = hashlib.sha256()
    for label, top in [("code", spec.code_dir)] + [(f"lib{i}", lib) for i, lib in enumerate(spec.libraries)]:
        digest.update(f"{label}\0{top}\0".encode())
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in FINGERPRINT_SKIPPED_DIRS)
            for name in sorted(filenames):
                if name.endswith(".pyc"):
                    continue
                path = os.path.join(dirpath, name)
                digest.update(os.path.relpath(path, top).encode("utf-8", "surrogateescape") + b"\0")
                try:
                    with open(path, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 16), b""):
                            digest.update(chunk)
                except OSError as e:  # unreadable file (dangling symlink, permissions): its error counts
                    digest.update(f"<unreadable: {e.strerror}>".encode())
                digest.update(b"\0")
    return digest.hexdigest()


def check_spec(spec: FunctionSpec) -> list[str]:
    """Problems that keep ``spec`` from starting, each naming the function and the path."""
    problems = []
    code_dir = Path(spec.code_dir)
    module, dot, attr = spec.handler.rpartition(".")
    if not dot or not module or not attr:
        problems.append(f"function {spec.name!r}: handler {spec.handler!r} must be 'module.function'")
    if spec.encoding not in ("json", "binary"):
        problems.append(f"function {spec.name!r}: encoding {spec.encoding!r} must be json or binary")
    if spec.timeout_s is None or spec.timeout_s <= 0:
        problems.append(f"function {spec.name!r}: timeout_s must be > 0, got {spec.timeout_s!r}")
    if not code_dir.is_dir():
        problems.append(f"function {spec.name!r}: code directory {code_dir} does not exist")
    elif module:
        relative = module.replace(".", "/")
        roots = [code_dir] + [Path(p) for p in extra_paths(spec)]
        candidates = ([root / f"{relative}.py" for root in roots]
                      + [root / relative / "__init__.py" for root in roots])
        extensions = [so for root in roots
                      for so in root.joinpath(relative).parent.glob(Path(relative).name + ".*.so")]
        if not any(c.is_file() for c in candidates) and not extensions:
            problems.append(f"function {spec.name!r}: handler module {module!r} not found: no "
                            f"{code_dir / (relative + '.py')} nor {code_dir / relative / '__init__.py'}")
    return problems


def environment(
    spec: FunctionSpec,
    *,
    token: str,
    ipc_port: int,
    credentials_uri: str,
    region: str,
    stream_manager_port: Optional[int],
    cloud_endpoint_url: Optional[str],
    home: Path,
    core_thing: Optional[str] = None,
) -> dict[str, str]:
    """The environment of a Lambda process (docs/protocols/lambda-ipc.md §2). The function's own variables come
    first; the core's variables win over them, as on GGC."""
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({str(k): str(v) for k, v in (spec.environment or {}).items()})
    fields = spec.arn.split(":")
    env.update({
        # A home of its own: boto3 must not pick up the developer's ~/.aws files before the
        # container credentials of the group role.
        "HOME": str(home),
        # /tmp of its own, as a Greengrass container gives each Lambda (tempfile honours TMPDIR):
        # state a Lambda keeps in its temp dir lives under the core's state dir, not the host's /tmp.
        "TMPDIR": str(home / "tmp"),
        "MY_FUNCTION_ARN": spec.arn,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentials_uri,
        "GG_DAEMON_PORT": str(ipc_port),
        "ROUTER_FUNCTION_ARN": ROUTER_ARN,
        "SHADOW_FUNCTION_ARN": SHADOW_ARN,
        "SECRETS_MANAGER_FUNCTION_ARN": SECRETS_ARN,
        "ENCODING_TYPE": spec.encoding,
        "GGC_MAX_INTERFACE_VERSION": GGC_MAX_INTERFACE_VERSION,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": fields[6] if len(fields) > 6 else spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": fields[7] if len(fields) > 7 else "$LATEST",
    })
    if spec.memory_mb:
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(spec.memory_mb)
    if stream_manager_port is not None:
        env["STREAM_MANAGER_SERVER_PORT"] = str(stream_manager_port)
    if cloud_endpoint_url:
        env["AWS_ENDPOINT_URL"] = cloud_endpoint_url
    if core_thing:
        env["AWS_IOT_THING_NAME"] = core_thing
    return env


def bootstrap_config(spec: FunctionSpec, instance: str, fallback_paths: list[str],
                     memory_limit: Optional[int] = None) -> str:
    return json.dumps({
        "function": spec.name,
        "instance": instance,
        "handler": spec.handler,
        "code_dir": str(Path(spec.code_dir).resolve()),
        "sdk_dir": str(SDK_DIR),
        "extra_paths": extra_paths(spec),
        "fallback_paths": fallback_paths,
        "timeout_s": spec.timeout_s,
        "memory_mb": spec.memory_mb,
        "rlimit_as": memory_limit,
    })


def command(python: str, spec: FunctionSpec, instance: str, fallback_paths: list[str],
            memory_overhead_mb: Optional[int] = None) -> list[str]:
    # -u unbuffered (log lines appear at once), -S no site-packages (fresh sys.path, built by the
    # bootstrap), -B never write __pycache__ into the function's code dir.
    return [python, "-u", "-S", "-B", str(BOOTSTRAP),
            bootstrap_config(spec, instance, fallback_paths, memory_limit(spec, memory_overhead_mb))]


def memory_limit(spec: FunctionSpec, memory_overhead_mb: Optional[int]) -> Optional[int]:
    """The instance's ``RLIMIT_AS`` in bytes (None: none), which the bootstrap sets on itself before it imports
    anything of the function: ``memory_mb + memory_overhead_mb``. A Greengrass container limits resident memory
    with a cgroup; RLIMIT_AS limits *address space*, which the interpreter, thread stacks and malloc arenas
    inflate well beyond what is resident, so an allowance is added and the limit only catches runaway growth
    (``MemoryError`` in the function). ``memory_overhead_mb=None`` disables it."""
    if spec.memory_mb and memory_overhead_mb is not None:
        return (spec.memory_mb + memory_overhead_mb) * 1024 * 1024
    return None


def preexec(spec: FunctionSpec) -> Optional[Callable[[], None]]:
    """What the child does between fork and exec: the user/group switch of ``run_as``, honoured only when the
    core runs as root (setgid, setgroups([]), setuid; otherwise the function runs as the core's user, logged
    once at start). None when there is nothing to do — the usual case: a ``preexec`` makes the core fork in
    full instead of ``vfork`` (``localcore.processes.start``)."""
    run_as = spec.run_as if (spec.run_as and os.geteuid() == 0) else None
    if run_as is None:
        return None

    def apply() -> None:
        uid, gid = run_as
        os.setgid(gid)
        os.setgroups([])
        os.setuid(uid)

    return apply


def map_volumes(spec: FunctionSpec) -> tuple[list[str], list[str]]:
    """Volume resources without a container: make ``dest`` a symlink to ``source`` when ``dest``
    does not exist. Returns (symlinks created, notes on what could not be honoured)."""
    created, notes = [], []
    for volume in spec.volumes or ():
        source, dest = str(volume[0]), str(volume[1])
        permission = volume[2] if len(volume) > 2 else "rw"
        if permission == "ro":
            notes.append(f"volume {source} -> {dest}: read-only permission not enforced without a container")
        if os.path.realpath(source) == os.path.realpath(dest):
            continue
        if os.path.lexists(dest):
            notes.append(f"volume {source} -> {dest}: {dest} already exists; the function sees the host's "
                         f"{dest}, not {source}")
            continue
        try:
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            os.symlink(source, dest)
            created.append(dest)
        except OSError as e:
            notes.append(
                f"volume {source} -> {dest}: cannot create symlink ({e}); use the host path {source}")
    for dev in spec.devices or ():
        permission = dev[1] if len(dev) > 1 else "?"
        notes.append(f"device {dev[0]}: accessed directly (no container); permission {permission} "
                     "governed by the host's file mode")
    return created, notes
