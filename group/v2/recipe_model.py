"""The parsed Greengrass V2 recipe (``RecipeFormatVersion: 2020-01-25``): one frozen model, its key spellings.

The object :mod:`group.v2.recipe_parser` builds and everything else reads: the converter, the deploy steps,
the local greengrassv2 stand-in (which stores :attr:`Recipe.canonical`) and the local core (which manifest
runs here, which lifecycle steps, which artifacts). Manifest selection and platform matching follow
aws-greengrass/aws-greengrass-component-common ``PlatformHelper`` (used by the nucleus' ``RecipeLoader``); step
timeouts aws-greengrass/aws-greengrass-nucleus ``Lifecycle``.
Pure: no I/O.
"""
from __future__ import annotations

import json
import platform as _platform
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from group.errors import GroupError, Issue

from .versions import VersionRequirement

RECIPE_FORMAT_VERSION = "2020-01-25"
STEP_NAMES = ("Bootstrap", "Install", "Startup", "Run", "Shutdown", "Recover", "Uninstall")
# Per-step default timeouts in seconds, as the nucleus applies them (Lifecycle.java); Run has none.
DEFAULT_TIMEOUTS: Mapping[str, int | None] = MappingProxyType(
    {"Bootstrap": 120, "Install": 120, "Startup": 120, "Run": None, "Shutdown": 15, "Recover": 60, "Uninstall": 120}
)
COMPONENT_NAME_RE = re.compile(r"^[a-zA-Z0-9\-_.]+$")
SKIPIF_RE = re.compile(r"^!?\s*(exists|onpath) +(.+)$")

_TOP_KEYS = (
    "RecipeFormatVersion", "ComponentName", "ComponentVersion", "ComponentDescription", "ComponentPublisher",
    "ComponentType", "ComponentSource", "ComponentConfiguration", "ComponentDependencies", "Manifests", "Lifecycle",
)
_CONFIG_KEYS = ("DefaultConfiguration",)
_DEP_KEYS = ("VersionRequirement", "DependencyType")
_MANIFEST_KEYS = ("Name", "Platform", "Lifecycle", "Selections", "Artifacts")
_ARTIFACT_KEYS = ("URI", "Unarchive", "Permission", "Digest", "Algorithm")
_PERMISSION_KEYS = ("Read", "Execute")
_LIFECYCLE_KEYS = ("Setenv",) + STEP_NAMES
_STEP_KEYS = ("Script", "RequiresPrivilege", "Skipif", "Timeout", "Setenv", "BootstrapOnRollback")
_COMPONENT_TYPES = (
    "aws.greengrass.generic", "aws.greengrass.lambda", "aws.greengrass.plugin", "aws.greengrass.nucleus",
)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64", "i386": "x86",
         "i686": "x86", "x86": "x86"}


class RecipeError(GroupError):
    """A recipe is invalid; ``issues`` holds every problem found (all at once), each with path and fix."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = list(issues)
        src = self.issues[0].file if self.issues else "recipe"
        super().__init__(f"{len(self.issues)} error(s) in recipe {src}:\n" + "\n".join(str(i) for i in self.issues))


# --------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Step:
    """One lifecycle step, normalised from the string or the object form."""

    script: str
    requires_privilege: bool = False
    skipif: str | None = None
    timeout: int | None = None
    setenv: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bootstrap_on_rollback: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The normalised ``{Script, RequiresPrivilege, Skipif, Timeout, Setenv}`` form."""
        return {"Script": self.script, "RequiresPrivilege": self.requires_privilege, "Skipif": self.skipif,
                "Timeout": self.timeout, "Setenv": dict(self.setenv)}


@dataclass(frozen=True)
class Lifecycle:
    setenv: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bootstrap: Step | None = None
    install: Step | None = None
    startup: Step | None = None
    run: Step | None = None
    shutdown: Step | None = None
    recover: Step | None = None
    uninstall: Step | None = None

    def step(self, name: str) -> Step | None:
        """The step called ``name`` (``Install``, ``run``, ...; any case) or None."""
        return getattr(self, name.lower())

    def steps(self) -> dict[str, Step]:
        return {n: s for n in STEP_NAMES if (s := self.step(n)) is not None}


@dataclass(frozen=True)
class Permission:
    read: str = "OWNER"      # NONE | OWNER | ALL
    execute: str = "NONE"    # NONE | OWNER | ALL


@dataclass(frozen=True)
class Artifact:
    uri: str
    unarchive: str = "NONE"  # NONE | ZIP
    permission: Permission = Permission()
    digest: str | None = None
    algorithm: str | None = None

    @property
    def file_name(self) -> str:
        """The artifact's file name: the last segment of its URI (what the nucleus stores it as)."""
        tail = self.uri.rstrip("/")
        return tail.rsplit("/", 1)[-1] if "/" in tail else tail.rsplit(":", 1)[-1]

    @property
    def unarchived_dir_name(self) -> str:
        """Folder a ZIP artifact unpacks into under ``{artifacts:decompressedPath}``: its name without ``.zip``."""
        name = self.file_name
        return name[: -len(".zip")] if name.lower().endswith(".zip") else name


@dataclass(frozen=True)
class Platform:
    """A manifest's platform requirements: key → exact label, ``*``, ``//``, ``/regex/`` or a list of those."""

    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def matches(self, target: Mapping[str, str]) -> bool:
        """Whether a core with platform attributes ``target`` satisfies every requirement (empty = any)."""
        return all(_platform_field_matches(k, target.get(k), v) for k, v in self.attributes.items())


def _platform_field_matches(name: str, label: str | None, template: Any) -> bool:
    if isinstance(template, list):
        return any(_platform_field_matches(name, label, t) for t in template)
    if template == "*":
        return True  # documented: matches any value, also when the attribute is absent
    if template is None:
        return label is None
    if label is None or not isinstance(template, str):
        return False
    if template == "//":
        return True
    if len(template) > 2 and template.startswith("/") and template.endswith("/"):
        try:
            return re.fullmatch(template[1:-1], label) is not None  # Java String.matches: whole label
        except re.error:
            return False
    if name in ("os", "architecture") and template in ("all", "any"):
        return True  # legacy wildcards the nucleus still accepts
    return template == label


@dataclass(frozen=True)
class Dependency:
    name: str
    version_requirement: VersionRequirement
    dependency_type: str = "HARD"  # HARD | SOFT


@dataclass(frozen=True)
class Manifest:
    index: int
    name: str | None
    platform: Platform
    lifecycle: Lifecycle
    artifacts: tuple[Artifact, ...]
    selections: tuple[str, ...]


@dataclass(frozen=True)
class Recipe:
    """One parsed recipe. ``raw`` is the document as written (original key spellings) for round-trips."""

    format_version: str
    name: str
    version: str
    description: str | None
    publisher: str | None
    component_type: str | None
    component_source: str | None
    dependencies: tuple[Dependency, ...]
    manifests: tuple[Manifest, ...]
    source: str
    source_format: str           # "yaml" | "json"
    source_text: str
    _default_configuration: str  # canonical JSON of DefaultConfiguration
    _raw: str                    # canonical JSON of the whole document

    @property
    def default_configuration(self) -> dict[str, Any]:
        """A fresh copy of ``ComponentConfiguration.DefaultConfiguration`` ({} when absent)."""
        return json.loads(self._default_configuration)

    @property
    def raw(self) -> dict[str, Any]:
        """A fresh copy of the document as parsed (original key spellings)."""
        return json.loads(self._raw)

    @property
    def canonical(self) -> dict[str, Any]:
        """A fresh copy of the document with the reference's key spellings (:func:`canonical_document`)."""
        return canonical_document(self.raw)

    def dependency(self, name: str) -> Dependency | None:
        return next((d for d in self.dependencies if d.name == name), None)

    def select_manifest(self, target: Mapping[str, str]) -> Manifest | None:
        """The first manifest whose platform ``target`` satisfies (the nucleus' rule), or None."""
        return next((m for m in self.manifests if m.platform.matches(target)), None)

    def artifact_uris(self) -> list[str]:
        """Every artifact URI of every manifest, in order, without repeats."""
        seen: dict[str, None] = {}
        for m in self.manifests:
            for a in m.artifacts:
                seen.setdefault(a.uri, None)
        return list(seen)

    def text(self) -> str:
        """The recipe text (YAML or JSON as it came in; after :meth:`with_artifact_uris`, with the new URIs)."""
        return self.source_text

    def with_artifact_uris(self, uris: Mapping[str, str]) -> "Recipe":
        """A recipe changed only in artifact URIs: every artifact whose URI is a key of ``uris`` gets the value.

        Every key must be an artifact URI of this recipe (a typo would silently deploy the old URI).
        The text keeps everything else byte for byte where it can (each URI is replaced on its own line);
        otherwise it is re-serialised in the source format.
        """
        from .recipe_parser import replace_artifact_uris  # the parser builds the new Recipe (it imports this module)

        return replace_artifact_uris(self, uris)


# --------------------------------------------------------------------------------------------- key spellings
def canonical_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` (a valid recipe, any key case) with every key the recipe reference defines spelled as it does;
    free-form maps (configuration, ``Setenv``, ``Platform``, dependency and selection names) stay as written.

    The recipe mapper of Greengrass reads keys case-insensitively into one typed recipe
    (aws-greengrass/aws-greengrass-component-common ``SerializerFactory.getRecipeSerializer``: Jackson's
    ``ACCEPT_CASE_INSENSITIVE_PROPERTIES``); the local greengrassv2 stand-in stores recipes in this one spelling,
    so readers of a stored recipe need no case rules of their own.
    """
    top = _renamed(doc, _TOP_KEYS)
    config = top.get("ComponentConfiguration")
    if isinstance(config, dict):
        top["ComponentConfiguration"] = _renamed(config, _CONFIG_KEYS)
    deps = top.get("ComponentDependencies")
    if isinstance(deps, dict):
        top["ComponentDependencies"] = {name: _renamed(d, _DEP_KEYS) for name, d in deps.items()}
    manifests = top.get("Manifests")
    if isinstance(manifests, list):
        top["Manifests"] = [_canonical_manifest(m) for m in manifests]
    if isinstance(top.get("Lifecycle"), dict):
        lc = top["Lifecycle"]
        step_keys = {k.lower() for k in _LIFECYCLE_KEYS}
        top["Lifecycle"] = (_canonical_lifecycle(lc) if all(str(k).lower() in step_keys for k in lc)
                            else {sel: _canonical_lifecycle(section) for sel, section in lc.items()})
    return top


def _renamed(value: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(value, dict):
        return value
    canon = {k.lower(): k for k in keys}
    return {canon.get(str(k).lower(), k): v for k, v in value.items()}


def _canonical_manifest(manifest: Any) -> Any:
    m = _renamed(manifest, _MANIFEST_KEYS)
    if isinstance(m, dict):
        if "Lifecycle" in m:
            m["Lifecycle"] = _canonical_lifecycle(m["Lifecycle"])
        if isinstance(m.get("Artifacts"), list):
            m["Artifacts"] = [_canonical_artifact(a) for a in m["Artifacts"]]
    return m


def _canonical_artifact(artifact: Any) -> Any:
    a = _renamed(artifact, _ARTIFACT_KEYS)
    if isinstance(a, dict) and "Permission" in a:
        a["Permission"] = _renamed(a["Permission"], _PERMISSION_KEYS)
    return a


def _canonical_lifecycle(lifecycle: Any) -> Any:
    lc = _renamed(lifecycle, _LIFECYCLE_KEYS)
    if isinstance(lc, dict):
        for name in STEP_NAMES:
            if isinstance(lc.get(name), dict):
                lc[name] = _renamed(lc[name], _STEP_KEYS)
    return lc


# --------------------------------------------------------------------------------------------- helpers
def current_platform(system: str | None = None, machine: str | None = None) -> dict[str, str]:
    """This machine's platform attributes as the nucleus names them (``os``: linux|darwin|windows,
    ``architecture``: amd64|aarch64|arm|x86)."""
    system = (system if system is not None else _platform.system()).lower()
    machine = (machine if machine is not None else _platform.machine()).lower()
    arch = _ARCH.get(machine) or ("arm" if machine.startswith("arm") else machine)
    out = {"os": system, "architecture": arch}
    if arch == "arm" and machine.startswith("armv"):
        out["architecture.detail"] = machine[:5]
    return out


def with_defaults(step_name: str, step: Step | None) -> int | None:
    """The timeout that applies to ``step`` (its own, else the nucleus default for ``step_name``)."""
    if step is not None and step.timeout is not None:
        return step.timeout
    return DEFAULT_TIMEOUTS.get(step_name)


__all__ = [
    "Artifact", "Dependency", "Lifecycle", "Manifest", "Permission", "Platform", "Recipe", "RecipeError", "Step",
    "VersionRequirement", "COMPONENT_NAME_RE", "DEFAULT_TIMEOUTS", "RECIPE_FORMAT_VERSION", "SKIPIF_RE",
    "STEP_NAMES", "canonical_document", "current_platform", "with_defaults",
]
