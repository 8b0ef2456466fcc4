"""The deploy context every step works in: a platform's table of kinds (:class:`Kinds`), the context of one
deploy or destroy (:class:`Ctx`: clients, state, target, certificate issuer, packages, progress, what it
adopts), reference resolution (``"@key"`` → the recorded ARN / id) and adoption of objects that exist outside
the state (:func:`adopted`).

Adopted objects are recorded ``owned: False`` and never deleted; deploy prints one line summing them up at
the end (:func:`report_adoptions`), the objects one by one go to the log (``--verbose``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from botocore.exceptions import ClientError

from . import package as packaging
from .clients import Clients, Progress, collision, is_not_found
from .errors import DeployError
from .plan import REF_RE, Desired
from .state import State

log = logging.getLogger(__name__)

CertificateIssuer = Callable[[str], Tuple[bytes, bytes]]
Step = Callable[["Ctx", str, Desired, Dict[str, Any], Optional[dict]], None]
Exists = Callable[["Ctx", Dict[str, Any]], bool]
Delete = Callable[["Ctx", Dict[str, Any]], None]


@dataclass(frozen=True)
class Kinds:
    """A platform's kinds of object: how to make, check and delete each (see ``SHARED``)."""

    apply: Mapping[str, Step]
    exists: Mapping[str, Exists]
    delete: Mapping[str, Delete]
    destroy_order: Sequence[str]

    def extend(self, *, apply: Mapping[str, Step] = {}, exists: Mapping[str, Exists] = {},
               delete: Mapping[str, Delete] = {}, destroy_order: Sequence[str] = ()) -> "Kinds":
        return Kinds({**self.apply, **apply}, {**self.exists, **exists}, {**self.delete, **delete},
                     tuple(destroy_order) or tuple(self.destroy_order))


# ---- context -----------------------------------------------------------------------------------


@dataclass
class Ctx:
    group_name: str
    clients: Clients
    state: State
    target: str
    certs_dir: Optional[Path] = None
    issuer: Optional[CertificateIssuer] = None
    packages: Mapping[str, packaging.Package] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    kinds: Optional[Kinds] = None
    # take over objects that exist outside the state (recorded owned: False): True for any (the V2
    # migration adopts the account's things, certificates, functions, cloud resources), or a
    # predicate on the state key (V1 adopts what the group's V2 deployment made)
    adopt: Any = False
    # the same group's deployment on the other platform (V1 for a V2 deploy and the other way round): what it
    # records decides who owns a shared object (see ``steps.remove_objects``)
    other: Optional[State] = None
    other_platform: str = ""
    adoptions: List[Tuple[str, str]] = field(default_factory=list)  # (state key, kind) adopted by this run
    _buckets: Optional[List[str]] = None

    def adopts(self, key: str) -> bool:
        return bool(self.adopt(key)) if callable(self.adopt) else bool(self.adopt)

    def buckets(self) -> List[str]:
        if self._buckets is None:
            self._buckets = [b["Name"] for b in self.clients.s3.list_buckets().get("Buckets", [])]
        return self._buckets

    def table(self) -> Kinds:
        if self.kinds is None:
            from .steps import SHARED  # the shared kinds are built on this module

            return SHARED
        return self.kinds


def context(group_name: str, clients: Clients, state_dir: Path | str, target: str,
            certs_dir: Optional[Path], **kw: Any) -> Ctx:
    state = State.load(state_dir, target, group_name)
    return Ctx(group_name, clients, state, target, Path(certs_dir) if certs_dir else None, **kw)


def resolve(spec: Any, state: State) -> Any:
    """Replace ``"@key"`` / ``"@key#id"`` by the recorded ref / id of that object."""
    if isinstance(spec, str):
        m = REF_RE.match(spec)
        if not m:
            return spec
        rec = state.get(m.group(1))
        field_ = (m.group(2) or "#ref")[1:]
        if rec is None or rec.get(field_) in (None, ""):
            raise DeployError("resolve", m.group(1), "referenced object is not deployed yet",
                              "re-run deploy")
        return rec[field_]
    if isinstance(spec, dict):
        return {k: resolve(v, state) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve(v, state) for v in spec]
    return spec


def adopted(ctx: Ctx, key: str, d: Desired, kind: str, name: str, what: str, **fields: Any) -> None:
    """Record an object that exists outside the state: adopt it (V2) or refuse (collision)."""
    if not ctx.adopts(key):
        raise collision(kind, name, what)
    owner = _other_owner(ctx, key)
    log.info("%s '%s' exists already: adopted as it is (%s)", what, name,
             f"owned by Greengrass {owner.upper()}; destroy leaves it" if owner else "destroy leaves it")
    ctx.adoptions.append((key, kind))
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "owned": False, **fields})


def _other_owner(ctx: Ctx, key: str) -> str:
    rec = ctx.other.get(key) if ctx.other is not None else None
    return ctx.other_platform if rec is not None and rec.get("owned") is not False else ""


def under_state_lock(ctx: Ctx, work: Callable[[], Any]) -> Any:
    """``work()`` holding the state's lock (one deploy of a group at a time), then the one line of what it
    adopted — whichever platform deploys."""
    with ctx.state.lock():
        try:
            return work()
        finally:
            report_adoptions(ctx)


def report_adoptions(ctx: Ctx) -> None:
    """One note summing up what this run adopted (the objects one by one are in the log: ``--verbose``)."""
    if not ctx.adoptions:
        return
    kinds: Dict[str, int] = {}
    for _, kind in ctx.adoptions:
        kinds[kind] = kinds.get(kind, 0) + 1
    shared = sum(1 for key, _ in ctx.adoptions if _other_owner(ctx, key))
    whose = f", {shared} of them Greengrass {ctx.other_platform.upper()}'s" if shared and ctx.other_platform else ""
    ctx.progress.note(f"{len(ctx.adoptions)} existing object(s) adopted as they are{whose} "
                      f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); destroy leaves them "
                      "(each one: --verbose)")
    ctx.adoptions.clear()


def ignore_not_found(fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def checking(fn: Callable[[Clients, Dict[str, Any]], Any]) -> Exists:
    """An existence check that is one read call (NotFound raised by it means gone)."""
    def check(ctx: Ctx, rec: Dict[str, Any]) -> bool:
        fn(ctx.clients, rec)
        return True
    return check


def deleting(fn: Callable[[Clients, Dict[str, Any]], Any]) -> Delete:
    """A delete step that is one call; NotFound counts as done."""
    def delete(ctx: Ctx, rec: Dict[str, Any]) -> None:
        try:
            fn(ctx.clients, rec)
        except ClientError as err:
            if not is_not_found(err):
                raise
    return delete
