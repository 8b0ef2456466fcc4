"""Deploy steps every platform shares: the shared kinds (``SHARED``: the IAM, IoT and Lambda objects of
``group/steps_iot.py`` and the cloud resources of ``group/steps_cloud.py``), verification (``missing_objects``),
the generic apply step (``apply_one``), removal (``remove_objects``) and the packages and files a deploy uploads.

A platform (``group/v1``, ``group/v2``) adds its own kinds with a :class:`Kinds` table and calls these. Every
object made is recorded in the state file (``group/state.py``) right after the call that made it; a step that
fails raises :class:`DeployError` naming the step and the object, and a re-run converges. Names that exist
outside the state are a collision (an error), unless the context *adopts* them (``Ctx.adopt``, the V2
migration: an account's existing things, certificates, functions and cloud resources are used as they are,
recorded ``owned: False``, and never deleted).

Ownership between the platforms: one group's V1 and V2 deployments share objects (V2 adopts what V1 made, V1
adopts what V2 made). The platform that made an object owns it; when it destroys it while the other platform
still records it (adopted), the object is handed over instead of deleted (:func:`remove_objects`).
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from botocore.exceptions import BotoCoreError, ClientError

from . import package as packaging
from .clients import error_cause, error_fix, is_not_found
from .context import (CertificateIssuer, Ctx, Delete, Exists, Kinds, Step, adopted, context, ignore_not_found,
                      report_adoptions, resolve, under_state_lock)
from .errors import DeployError
from .model import Group
from .plan import ADD, CHANGE, Desired, cloud_package_key, spec_hash
from .state import state_path
from .steps_cloud import CLOUD_APPLY, CLOUD_DELETE, CLOUD_EXISTS
from .steps_iot import (IOT_APPLY, IOT_DELETE, IOT_EXISTS, access_policy, delete_role, ensure_role, sha256_file,
                        trust_policy, wait_function_ready, write_private)

log = logging.getLogger(__name__)

__all__ = ["CertificateIssuer", "Ctx", "Delete", "Exists", "Kinds", "SHARED", "Step", "access_policy",
           "adopted", "amazon_root_ca", "apply_one", "build_packages", "connector_files", "context",
           "delete_role", "destroy_all", "ensure_role", "exists", "exists_quietly", "ignore_not_found",
           "missing_objects", "remove_objects", "report_adoptions", "resolve", "sha256_file", "state_file",
           "trust_policy", "under_state_lock", "wait_function_ready", "write_private", "write_root_ca"]

SHARED = Kinds({**IOT_APPLY, **CLOUD_APPLY}, {**IOT_EXISTS, **CLOUD_EXISTS}, {**IOT_DELETE, **CLOUD_DELETE}, (
    "certificate", "thing", "policy", "cloud-function", "function", "role", "table", "bucket-object", "bucket",
    "kinesis-stream", "video-stream", "iotanalytics-channel"))


# ---- existence checks (read-only) --------------------------------------------------------------


def exists(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    check = ctx.table().exists.get(rec["kind"])
    return True if check is None else bool(check(ctx, rec))


def exists_quietly(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    try:
        return exists(ctx, rec)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise DeployError("verify", f"{rec['kind']}:{rec['name']}", error_cause(err), error_fix(err)) from None


def missing_objects(ctx: Ctx) -> List[str]:
    """Read-only: the recorded objects that are gone."""
    missing: List[str] = []
    for key in ctx.state:
        rec = ctx.state.get(key)
        assert rec is not None
        try:
            if not exists(ctx, rec):
                missing.append(key)
        except (ClientError, BotoCoreError) as err:
            if is_not_found(err):
                missing.append(key)
            else:
                raise DeployError("verify", key, error_cause(err), error_fix(err)) from None
    return missing



# kinds whose delete step knows ``owned: False`` (it removes only what is ours on the object: a certificate
# loses our policies, the account's service role is left associated)
_PARTLY_OURS = ("certificate", "service-role")


def destroy_all(ctx: Ctx) -> List[str]:
    """Everything the state lists, removed under the state's lock (reloaded first: another process may have
    deployed meanwhile), then the state file: what each platform's destroy does."""
    with ctx.state.lock():
        ctx.state.reload()
        removed = remove_objects(ctx, list(ctx.state))
        ctx.state.delete_file()
    return removed


def remove_objects(ctx: Ctx, keys: Sequence[str]) -> List[str]:
    """Delete the recorded objects ``keys`` in destroy order; each leaves the state once gone.
    Adopted objects (``owned: False``) are only forgotten (a certificate loses our policy). An object this
    platform made that the other platform's deployment of the group also records is handed over to it (its
    state records it as its own) instead of deleted: destroying one platform leaves the other running."""
    order = {k: i for i, k in enumerate(ctx.table().destroy_order)}
    removed = []
    for key in sorted(keys, key=lambda k: (order.get(k.split(":", 1)[0], len(order)), keys.index(k))):
        rec = ctx.state.get(key)
        if rec is None:
            continue
        adopted_ = rec.get("owned") is False and rec["kind"] not in _PARTLY_OURS
        handed = rec.get("owned") is not False and _hand_over(ctx, key, rec)
        detail = ("adopted: left as it is" if adopted_ else
                  f"used by Greengrass {ctx.other_platform.upper()} too: left to it" if handed else "")
        ctx.progress.step("-", rec["kind"], rec["name"], detail)
        try:
            delete = ctx.table().delete.get(rec["kind"])
            if delete is not None and not adopted_ and not (handed and rec["kind"] not in _PARTLY_OURS):
                # handed over: only what is ours on it goes (a certificate loses our policies)
                delete(ctx, dict(rec, owned=False) if handed else rec)
        except (ClientError, BotoCoreError) as err:
            raise DeployError(f"delete {rec['kind']}", rec["name"], error_cause(err), error_fix(err)) from None
        ctx.state.remove(key)
        removed.append(key)
    return removed


def _same_object(ours: Dict[str, Any], theirs: Dict[str, Any]) -> bool:
    """Records of one key in the two platforms' states name the same object (the ARN, where both know it)."""
    return not (ours.get("arn") and theirs.get("arn")) or ours["arn"] == theirs["arn"]


def _hand_over(ctx: Ctx, key: str, rec: Dict[str, Any]) -> bool:
    """Whether the other platform's state records ``key`` (it adopted what this platform made); if so it
    becomes the owner there (under its lock), so that its own destroy removes the object later."""
    other = ctx.other
    if other is None or other.get(key) is None:
        return False
    with other.lock():
        other.reload()
        theirs = other.get(key)
        if theirs is None or not _same_object(rec, theirs):
            return False
        if theirs.get("owned") is False:
            other.update(key, owned=True)
            log.info("%s: handed over to the %s deployment of %s", key, ctx.other_platform, ctx.group_name)
    return True


# ---- the apply loop ----------------------------------------------------------------------------


def apply_one(ctx: Ctx, key: str, d: Desired, missing: Iterable[str], action: Optional[str] = None) -> bool:
    """Apply one desired object when its resolved spec differs from what the state applied.
    Returns whether a step ran."""
    rec = ctx.state.get(key)
    gone = key in set(missing)
    spec = resolve(d.spec, ctx.state)
    applied = spec_hash(spec)
    if rec is not None and not gone and rec.get("applied") == applied:
        if rec.get("hash") != d.hash:
            ctx.state.update(key, hash=d.hash)
        return False
    ctx.progress.step(action or (ADD if rec is None or gone else CHANGE), d.kind, d.name)
    try:
        if gone and rec is not None and d.kind == "certificate" and rec.get("owned") is not False:
            delete = ctx.table().delete["certificate"]
            delete(ctx, rec)  # ours, but unusable (key files lost or inactive): replace it
            ctx.state.remove(key)
        handler = ctx.table().apply.get(d.kind)
        if handler is None:
            raise DeployError(d.kind, d.name, f"no deploy step for kind '{d.kind}'", "report this as a bug")
        handler(ctx, key, d, spec, None if gone else rec)
    except (ClientError, BotoCoreError) as err:
        raise DeployError(d.kind, d.name, error_cause(err), error_fix(err)) from None
    ctx.state.update(key, hash=d.hash, applied=applied)
    return True



# ---- packages, files -----------------------------------------------------------------------------


def build_packages(group: Group, root: Path) -> Dict[str, packaging.Package]:
    """Core functions with greengrasssdk vendored; cloud functions (``cloud:<name>``) as they are
    (their runtime brings boto3; anything heavier belongs in a layer)."""
    out = {}
    jobs = [(f.name, f.name, f.code_dir(root), packaging.DEFAULT_VENDOR, f.library_dirs(root))
            for f in group.functions]
    jobs += [(cloud_package_key(cf.name), cf.name, cf.code_dir(root), (), []) for cf in group.cloud.functions]
    for key, name, code_dir, vendor, libraries in jobs:
        try:
            # the group's shared libraries go into the package (at its root): the function needs them
            # wherever it runs (a V1 or V2 core), not only on the local core's sys.path
            out[key] = packaging.build(name, code_dir, vendor, libraries=libraries)
        except packaging.PackageError as err:
            raise DeployError("package", name, str(err)) from None
    return out


def connector_files(group: Group, root: Path) -> Dict[str, Tuple[str, str]]:
    """connector name → (absolute path, sha256) of the compose file deploy uploads for it."""
    out = {}
    for c in group.connectors:
        if c.compose_file is not None:
            path = (root / c.compose_file).resolve()
            out[c.name] = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def write_root_ca(certs_dir: Path, pem: Optional[bytes]) -> None:
    if not pem:
        return
    path = certs_dir / "root-ca.pem"
    if path.exists() and path.read_bytes() == pem:
        return
    certs_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pem.tmp")
    tmp.write_bytes(pem)
    os.replace(tmp, path)


def amazon_root_ca() -> Optional[bytes]:
    """Amazon Root CA 1 (what AWS IoT's ATS endpoints chain to), from certifi's bundle."""
    try:
        import certifi
    except ImportError:
        return None
    text = Path(certifi.where()).read_text(encoding="ascii", errors="replace")
    marker = '# Label: "Amazon Root CA 1"'
    start = text.find(marker)
    if start < 0:
        return None
    begin = text.find("-----BEGIN CERTIFICATE-----", start)
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        return None
    return (text[begin:end] + "-----END CERTIFICATE-----\n").encode()


def state_file(state_dir: Path | str, target: str, group_name: str) -> Path:
    return state_path(state_dir, target, group_name)

