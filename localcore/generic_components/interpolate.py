"""Recipe variables in lifecycle scripts, ``Setenv`` values and ``Skipif`` checks (pure).

Matches the nucleus' ``KernelConfigResolver``:

* same component ``{namespace:key}``: ``{artifacts:path}``, ``{artifacts:decompressedPath}``, ``{work:path}``,
  ``{kernel:rootPath}``, ``{iot:thingName}``, ``{configuration:/json/pointer}``;
* another component ``{name:namespace:key}`` (``{dep:configuration:/ptr}``, ``{dep:artifacts:path}``, ...),
  for **direct dependencies only**;
* a configuration value is inserted as the nucleus' Jackson ``asText`` writes it (a string as is, numbers as
  Java writes them, ``true``/``false``/``null``); a map or list as compact JSON with its keys sorted (the
  nucleus' mapper sorts them) and non-ASCII text unescaped; the pointer ``""`` is the whole configuration;
* with the nucleus' ``interpolateComponentConfiguration`` on, :func:`interpolate_configuration` replaces the
  *system* variables (``{iot:thingName}``, ``{artifacts:path}``, ``{work:path}``, ``{kernel:rootPath}``, and
  those of direct dependencies) inside string values of the configuration itself — never
  ``{configuration:...}`` there, and never in keys (``interpolateSystemParametersOnly``).

What the nucleus does with a variable it cannot resolve — an unknown key, a missing configuration value,
a component that is not a direct dependency, an unknown namespace — is **leave the text literal and log
an error**; the step still runs. We do the same (each problem is returned, naming the step, and the
runner writes it to the component's log and status). ``strict=True`` raises :class:`InterpolationError`
instead (for deploy-time validation). Shell parameter expansions such as ``${VAR:-default}`` also look
like ``{ns:key}``; an unknown namespace right after ``$`` is therefore not reported.

Escapes: the nucleus has none for lifecycle text (the ``${*}``, ``${?}``, ``${$}`` escapes belong to IPC
``accessControl`` resources, not to scripts); text without a ``{word:...}`` shape is never touched.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from group.v2.recipe import Lifecycle, Step

from .config import resolve_pointer
from .errors import InterpolationError

SAME_RE = r"\{([.\w-]+):([^:}]*)\}"
CROSS_RE = r"\{([.\w-]+):([.\w-]+):([^:}]*)\}"
_MISSING = object()


@dataclass(frozen=True)
class ComponentPaths:
    """Where a component's files live under the core's root (the nucleus' layout)."""

    root: Path
    name: str
    version: str

    @property
    def artifacts(self) -> Path:
        return self.root / "packages" / "artifacts" / self.name / self.version

    @property
    def unarchived(self) -> Path:
        return self.root / "packages" / "artifacts-unarchived" / self.name / self.version

    @property
    def work(self) -> Path:
        return self.root / "work" / self.name

    @property
    def log(self) -> Path:
        return self.root / "logs" / f"{self.name}.log"


@dataclass(frozen=True)
class DependencyInfo:
    version: str
    configuration: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Context:
    """Everything a component's variables can refer to."""

    root: Path
    component: str
    version: str
    thing_name: str
    configuration: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dependencies: Mapping[str, DependencyInfo] = field(default_factory=lambda: MappingProxyType({}))

    def paths(self, name: str | None = None, version: str | None = None) -> ComponentPaths:
        return ComponentPaths(Path(self.root).absolute(), name or self.component, version or self.version)


def _java_double(x: float) -> str:
    """``Double.toString`` (what Jackson's ``asText`` gives): plain from 10^-3 to 10^7, else ``1.0E20``."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(float(x))  # Python writes this range plainly too: 1.5, 100.0, 0.001
    _, digits, exp = Decimal(repr(abs(x))).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if x < 0 else "") + f"{mantissa}E{exp + len(text) - 1}"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if isinstance(value, float):
        return _java_double(value)
    return json.dumps(value)  # true/false/null, integers


def _system(ctx: Context, name: str, version: str, namespace: str, key: str) -> str | None:
    p = ctx.paths(name, version)
    table = {
        ("artifacts", "path"): lambda: str(p.artifacts),
        ("artifacts", "decompressedPath"): lambda: str(p.unarchived),
        ("work", "path"): lambda: str(p.work),
        ("kernel", "rootPath"): lambda: str(Path(ctx.root).absolute()),
        ("iot", "thingName"): lambda: ctx.thing_name,
    }
    f = table.get((namespace, key))
    return f() if f else None


_NAMESPACES = ("artifacts", "work", "kernel", "iot", "configuration")


def interpolate(text: str, ctx: Context, where: str = "", *, configuration: bool = True) -> tuple[str, list[str]]:
    """Expand the variables in ``text``; return the text and the problems (each naming ``where``).

    ``configuration=False``: system variables only; ``{configuration:...}`` stays as written, unreported
    (``KernelConfigResolver.interpolateSystemParametersOnly``)."""
    problems: list[str] = []
    out = text

    def problem(placeholder: str, why: str) -> None:
        problems.append(f"{where}: {placeholder} {why} (left as is)" if where else f"{placeholder} {why} (left as is)")

    def value_of(component: str, version: str, config: Mapping[str, Any], ns: str, key: str) -> tuple[Any, str]:
        """(the text for ``{ns:key}`` of ``component``, or None with why not)."""
        if ns == "configuration":
            value = resolve_pointer(config, key, _MISSING) if key == "" or key.startswith("/") else _MISSING
            if value is _MISSING:
                return None, f"has no value in the configuration of {component}"
            return _as_text(value), ""
        value = _system(ctx, component, version, ns, key)
        return (value, "") if value is not None else (None, f"is not a {ns} variable")

    def expand(ph: str, component: str, version: str, config: Mapping[str, Any], ns: str, key: str) -> None:
        nonlocal out
        if ns == "configuration" and not configuration:
            return
        if ns not in _NAMESPACES:
            problem(ph, f"uses the unknown namespace {ns!r}")
            return
        value, why = value_of(component, version, config, ns, key)
        if value is None:
            problem(ph, why)
        else:
            out = out.replace(ph, value)

    for m in re.finditer(SAME_RE, text):
        ns, key, ph = m.group(1), m.group(2), m.group(0)
        if ns not in _NAMESPACES and m.start() > 0 and text[m.start() - 1] == "$":
            continue  # ``${x:y}``: an accessControl escape or a shell variable, not a recipe variable
        expand(ph, ctx.component, ctx.version, ctx.configuration, ns, key)
    for m in re.finditer(CROSS_RE, out):
        dep, ns, key, ph = m.group(1), m.group(2), m.group(3), m.group(0)
        info = ctx.dependencies.get(dep)
        if info is None:
            problem(ph, f"names {dep}, which is not a direct dependency of {ctx.component}")
            continue
        expand(ph, dep, info.version, info.configuration, ns, key)
    return out, problems


def interpolate_configuration(value: Any, ctx: Context, where: str = "configuration") -> tuple[Any, list[str]]:
    """``value`` (a component's configuration) with the system variables replaced in every string value, keys
    untouched (``KernelConfigResolver.interpolateSystemParametersOnly``, used when the nucleus'
    ``interpolateComponentConfiguration`` is on)."""
    problems: list[str] = []
    if isinstance(value, str):
        return interpolate(value, ctx, where, configuration=False)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[k], p = interpolate_configuration(v, ctx, f"{where}/{k}")
            problems += p
        return out, problems
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            item, p = interpolate_configuration(v, ctx, f"{where}/{i}")
            items.append(item)
            problems += p
        return items, problems
    return value, problems


def interpolate_step(step: Step, ctx: Context, where: str) -> tuple[Step, list[str]]:
    problems: list[str] = []
    script, p = interpolate(step.script, ctx, f"{where}.Script")
    problems += p
    skipif = step.skipif
    if skipif is not None:
        skipif, p = interpolate(skipif, ctx, f"{where}.Skipif")
        problems += p
    env = {}
    for k, v in step.setenv.items():
        env[k], p = interpolate(v, ctx, f"{where}.Setenv.{k}")
        problems += p
    return replace(step, script=script, skipif=skipif, setenv=MappingProxyType(env)), problems


def interpolate_lifecycle(lifecycle: Lifecycle, ctx: Context, *, strict: bool = False,
                          where: str = "Lifecycle") -> tuple[Lifecycle, list[str]]:
    """Expand every step, ``Skipif`` and ``Setenv`` of ``lifecycle``; return it with the problems found.

    ``strict``: raise :class:`InterpolationError` (naming the component and the step) on the first problems.
    """
    problems: list[str] = []
    env = {}
    for k, v in lifecycle.setenv.items():
        env[k], p = interpolate(v, ctx, f"{where}.Setenv.{k}")
        problems += p
    steps = {}
    for name, step in lifecycle.steps().items():
        steps[name.lower()], p = interpolate_step(step, ctx, f"{where}.{name}")
        problems += p
    if strict and problems:
        raise InterpolationError(ctx.component, where, problems)
    return replace(lifecycle, setenv=MappingProxyType(env), **steps), problems
