"""Greengrass V2 component recipes (``RecipeFormatVersion: 2020-01-25``): parse once, into one frozen model.

Pure (no I/O but :func:`load_recipe`); used by the deploy side (validate, upload, ``CreateComponentVersion``)
and by the local core (which manifest runs here, which lifecycle steps, which artifacts).

Keys are matched case-insensitively, as the nucleus does (its recipe mapper enables Jackson's
``ACCEPT_CASE_INSENSITIVE_PROPERTIES``) and as the GDK CLI does (it lower-cases every key before checking
its schema): ``componentName`` and ``ComponentName`` are the same key. Errors name the key as the recipe
reference spells it. Free-form maps (``DefaultConfiguration``, ``Setenv``, ``Platform``, dependency names)
keep their keys exactly.

YAML is read with the YAML 1.2 core scalars the nucleus' parser uses: ``2020-01-25`` stays a string (YAML
1.1 would make it a date) and only ``true``/``false`` are booleans (not ``yes``/``on``).

Public surface: :func:`parse_recipe`, :func:`load_recipe`, :class:`Recipe` (``select_manifest``,
``with_artifact_uris``, ``text``), :func:`current_platform`, :class:`VersionRequirement`, :class:`RecipeError`.
"""
from __future__ import annotations

import difflib
import json
import platform as _platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import yaml

from group.errors import GroupError, Issue

from .versions import VersionRequirement, version_problem

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
_COMPONENT_TYPES = ("aws.greengrass.generic", "aws.greengrass.lambda", "aws.greengrass.plugin", "aws.greengrass.nucleus")
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
        unknown = sorted(set(uris) - set(self.artifact_uris()))
        if unknown:
            raise RecipeError([Issue(self.source, "Manifests[].Artifacts[].URI",
                                     f"no artifact has the URI {u!r}", "pass only URIs of this recipe's artifacts")
                               for u in unknown])
        raw = self.raw
        for m in _get_ci(raw, "Manifests") or []:
            for a in (_get_ci(m, "Artifacts") or []) if isinstance(m, dict) else []:
                key = _key_ci(a, "URI")
                if key is not None and a[key] in uris:
                    a[key] = uris[a[key]]
        text = _replace_uris_in_text(self.source_text, self.source_format, uris, raw)
        return parse_recipe(text, source=self.source)


# --------------------------------------------------------------------------------------------- parsing
class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core booleans and no timestamps (what the nucleus' YAML parser reads)."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in rs if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_recipe(path: str | Path) -> Recipe:
    """Read and parse a recipe file (``.yaml``/``.yml``/``.json``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RecipeError([Issue(str(p), "", f"cannot read the recipe: {e.strerror}", "check the path")]) from None
    return parse_recipe(text, source=str(p))


def parse_recipe(text: str, *, source: str = "<recipe>") -> Recipe:
    """Parse recipe text (JSON or YAML) into a :class:`Recipe`; raises :class:`RecipeError` with every problem."""
    stripped = text.lstrip()
    fmt = "json" if stripped.startswith("{") else "yaml"
    try:
        doc = json.loads(text) if fmt == "json" else yaml.load(text, Loader=_Loader)  # noqa: S506 - safe subclass
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise RecipeError([Issue(source, "", f"not valid {fmt.upper()}: {e}", f"fix the {fmt.upper()} syntax")]) \
            from None
    p = _Parser(source)
    recipe = p.recipe(doc, fmt, text)
    if p.issues:
        raise RecipeError(p.issues)
    assert recipe is not None
    return recipe


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[Issue] = []

    def err(self, path: str, message: str, fix: str = "") -> None:
        self.issues.append(Issue(self.source, path, message, fix))

    def obj(self, value: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """Check ``value`` is a map with only ``keys`` (any case); return it keyed by canonical names."""
        if not isinstance(value, dict):
            self.err(path, f"must be a map, not {_type_name(value)}", f"write {path} as key: value pairs")
            return None
        canon = {k.lower(): k for k in keys}
        out: dict[str, Any] = {}
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            c = canon.get(str(k).lower())
            if c is None:
                close = difflib.get_close_matches(str(k), keys, n=1, cutoff=0.6)
                fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(keys)}"
                self.err(where, f"unknown key {k!r}", fix)
            elif c in out:
                self.err(where, f"{c} is given twice (keys are case-insensitive)", "keep one of them")
            else:
                out[c] = v
        return out

    def string(self, value: Any, path: str, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.err(path, "is required", f"add {path.rsplit('.', 1)[-1]}")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.err(path, f"must be a string, not {_type_name(value)}", "quote the value")
            return None
        return str(value)

    def str_map(self, value: Any, path: str) -> Mapping[str, str]:
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, dict):
            self.err(path, f"must be a map of names to values, not {_type_name(value)}", "write NAME: value pairs")
            return MappingProxyType({})
        out = {}
        for k, v in value.items():
            if isinstance(v, (dict, list)) or v is None:
                self.err(f"{path}.{k}", f"must be a string, number or boolean, not {_type_name(v)}", "quote it")
                continue
            out[str(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
        return MappingProxyType(out)

    def recipe(self, doc: Any, fmt: str, text: str) -> Recipe | None:
        top = self.obj(doc, "", _TOP_KEYS)
        if top is None:
            return None
        rfv = top.get("RecipeFormatVersion")
        if rfv is None:
            self.err("RecipeFormatVersion", "is required", f"add RecipeFormatVersion: '{RECIPE_FORMAT_VERSION}'")
        elif str(rfv) != RECIPE_FORMAT_VERSION:
            self.err("RecipeFormatVersion", f"{rfv!r} is not a supported recipe format",
                     f"use '{RECIPE_FORMAT_VERSION}' (quoted)")
        name = self.string(top.get("ComponentName"), "ComponentName", required=True)
        if name is not None and (not COMPONENT_NAME_RE.match(name) or len(name) > 128):
            self.err("ComponentName", f"{name!r} is not a valid component name",
                     "use 1-128 letters, digits, '-', '_' and '.'")
        version = self.string(top.get("ComponentVersion"), "ComponentVersion", required=True)
        if version is not None:
            self.check_version(version, "ComponentVersion")
        ctype = self.string(top.get("ComponentType"), "ComponentType")
        if ctype is not None and ctype.lower() not in _COMPONENT_TYPES:
            self.err("ComponentType", f"{ctype!r} is not a component type", f"use one of {', '.join(_COMPONENT_TYPES)}")
        default_config: Any = {}
        if top.get("ComponentConfiguration") is not None:
            cc = self.obj(top["ComponentConfiguration"], "ComponentConfiguration", _CONFIG_KEYS)
            if cc is not None and cc.get("DefaultConfiguration") is not None:
                default_config = cc["DefaultConfiguration"]
                if not isinstance(default_config, dict):
                    self.err("ComponentConfiguration.DefaultConfiguration",
                             f"must be a map, not {_type_name(default_config)}", "write it as key: value pairs")
                    default_config = {}
        deps = self.dependencies(top.get("ComponentDependencies"))
        global_lc = top.get("Lifecycle")
        manifests_raw = top.get("Manifests")
        manifests: list[Manifest] = []
        if manifests_raw is None:
            manifests_raw = []
        if not isinstance(manifests_raw, list):
            self.err("Manifests", f"must be a list, not {_type_name(manifests_raw)}", "write Manifests as a list")
            manifests_raw = []
        for i, m in enumerate(manifests_raw):
            parsed = self.manifest(m, i, global_lc)
            if parsed is not None:
                manifests.append(parsed)
        if not manifests_raw and global_lc is not None:
            # A recipe with only a global lifecycle behaves like one manifest for every platform.
            lc = self.global_lifecycle(global_lc, ("all",), "Lifecycle")
            manifests.append(Manifest(0, None, Platform(), lc, (), ()))
        elif global_lc is not None and all(_key_ci(m, "Lifecycle") is not None for m in manifests_raw
                                           if isinstance(m, dict)):
            self.global_lifecycle(global_lc, ("all",), "Lifecycle", check_only=True)
        if self.issues:
            return None
        return Recipe(
            format_version=str(rfv), name=name or "", version=version or "",
            description=self.string(top.get("ComponentDescription"), "ComponentDescription"),
            publisher=self.string(top.get("ComponentPublisher"), "ComponentPublisher"),
            component_type=ctype, component_source=self.string(top.get("ComponentSource"), "ComponentSource"),
            dependencies=tuple(deps), manifests=tuple(manifests), source=self.source, source_format=fmt,
            source_text=text, _default_configuration=json.dumps(default_config, sort_keys=True),
            _raw=json.dumps(doc),
        )

    def check_version(self, version: str, path: str) -> None:
        problem = version_problem(version)
        if problem is not None:
            self.err(path, problem, "use MAJOR.MINOR.PATCH, e.g. '1.0.0' (quoted), at most 6 digits per number")

    def dependencies(self, value: Any) -> list[Dependency]:
        if value is None:
            return []
        if not isinstance(value, dict):
            self.err("ComponentDependencies", f"must be a map of component names, not {_type_name(value)}",
                     "write <ComponentName>: {VersionRequirement: ...}")
            return []
        out = []
        for dep_name, spec in value.items():
            path = f"ComponentDependencies.{dep_name}"
            if not COMPONENT_NAME_RE.match(str(dep_name)):
                self.err(path, f"{dep_name!r} is not a valid component name",
                         "use letters, digits, '-', '_' and '.'")
            d = self.obj(spec, path, _DEP_KEYS)
            if d is None:
                continue
            vr_text = self.string(d.get("VersionRequirement"), f"{path}.VersionRequirement", required=True)
            dtype = (self.string(d.get("DependencyType"), f"{path}.DependencyType") or "HARD").upper()
            if dtype not in ("HARD", "SOFT"):
                self.err(f"{path}.DependencyType", f"{d.get('DependencyType')!r} is not a dependency type",
                         "use HARD or SOFT")
            if vr_text is None:
                continue
            try:
                vr = VersionRequirement.parse(vr_text)
            except ValueError as e:
                self.err(f"{path}.VersionRequirement", f"{vr_text!r} is not a version requirement: {e}",
                         "use npm semver syntax, e.g. '^2.0.0' or '>=1.0.0 <2.0.0'")
                continue
            out.append(Dependency(str(dep_name), vr, dtype))
        return out

    def manifest(self, value: Any, i: int, global_lc: Any) -> Manifest | None:
        path = f"Manifests[{i}]"
        m = self.obj(value, path, _MANIFEST_KEYS)
        if m is None:
            return None
        plat = m.get("Platform")
        if plat is None:
            platform = Platform()
        elif not isinstance(plat, dict):
            self.err(f"{path}.Platform", f"must be a map, not {_type_name(plat)}", "write e.g. {os: linux}")
            platform = Platform()
        else:
            for k, v in plat.items():
                ok = isinstance(v, str) or v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v))
                if not ok:
                    self.err(f"{path}.Platform.{k}", f"must be a string (or a list of strings), not {_type_name(v)}",
                             "use an exact label, '*' or '/regex/'")
                elif isinstance(v, str) and len(v) > 2 and v.startswith("/") and v.endswith("/"):
                    try:
                        re.compile(v[1:-1])
                    except re.error as e:
                        self.err(f"{path}.Platform.{k}", f"bad regular expression {v!r}: {e}", "fix the regex")
            platform = Platform(MappingProxyType(dict(plat)))
        sel_raw = m.get("Selections")
        selections: tuple[str, ...] = ()
        if sel_raw is not None:
            if isinstance(sel_raw, str):
                sel_raw = [sel_raw]
            if not isinstance(sel_raw, list) or not all(isinstance(s, str) for s in sel_raw):
                self.err(f"{path}.Selections", "must be a list of selection keys", "write e.g. [all]")
            else:
                selections = tuple(sel_raw)
        if m.get("Lifecycle") is not None:
            lifecycle = self.lifecycle(m["Lifecycle"], f"{path}.Lifecycle")
        elif global_lc is not None:
            lifecycle = self.global_lifecycle(global_lc, selections or ("all",), "Lifecycle")
        else:
            lifecycle = Lifecycle()
        artifacts = []
        arts = m.get("Artifacts")
        if arts is not None:
            if not isinstance(arts, list):
                self.err(f"{path}.Artifacts", f"must be a list, not {_type_name(arts)}", "write Artifacts as a list")
            else:
                for j, a in enumerate(arts):
                    art = self.artifact(a, f"{path}.Artifacts[{j}]")
                    if art is not None:
                        artifacts.append(art)
        name = self.string(m.get("Name"), f"{path}.Name")
        return Manifest(i, name, platform, lifecycle, tuple(artifacts), selections)

    def artifact(self, value: Any, path: str) -> Artifact | None:
        a = self.obj(value, path, _ARTIFACT_KEYS)
        if a is None:
            return None
        uri = self.string(a.get("URI"), f"{path}.URI", required=True)
        if uri is not None and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:.+", uri):
            self.err(f"{path}.URI", f"{uri!r} is not a URI", "use s3://bucket/key (or docker:, greengrass:)")
        unarchive = (self.string(a.get("Unarchive"), f"{path}.Unarchive") or "NONE").upper()
        if unarchive not in ("NONE", "ZIP"):
            self.err(f"{path}.Unarchive", f"{a.get('Unarchive')!r} is not an unarchive mode", "use NONE or ZIP")
        perm = Permission()
        if a.get("Permission") is not None:
            p = self.obj(a["Permission"], f"{path}.Permission", _PERMISSION_KEYS)
            if p is not None:
                vals = {}
                for k, default in (("Read", "OWNER"), ("Execute", "NONE")):
                    v = (self.string(p.get(k), f"{path}.Permission.{k}") or default).upper()
                    if v not in ("NONE", "OWNER", "ALL"):
                        self.err(f"{path}.Permission.{k}", f"{p.get(k)!r} is not a permission", "use NONE, OWNER or ALL")
                    vals[k] = v
                perm = Permission(vals["Read"], vals["Execute"])
        if uri is None:
            return None
        return Artifact(uri, unarchive, perm, self.string(a.get("Digest"), f"{path}.Digest"),
                        self.string(a.get("Algorithm"), f"{path}.Algorithm"))

    def lifecycle(self, value: Any, path: str) -> Lifecycle:
        lc = self.obj(value, path, _LIFECYCLE_KEYS)
        if lc is None:
            return Lifecycle()
        return self._lifecycle_from(lc, path)

    def _lifecycle_from(self, lc: Mapping[str, Any], path: str) -> Lifecycle:
        steps = {n.lower(): self.step(lc[n], f"{path}.{n}", n) for n in STEP_NAMES if lc.get(n) is not None}
        if steps.get("startup") is not None and steps.get("run") is not None:
            self.err(f"{path}.Run", "a lifecycle has either Startup or Run, not both",
                     "keep Startup for a background service (RUNNING when it exits 0) or Run for the main process")
        return Lifecycle(setenv=self.str_map(lc.get("Setenv"), f"{path}.Setenv"), **steps)

    def global_lifecycle(self, value: Any, selections: tuple[str, ...], path: str,
                         check_only: bool = False) -> Lifecycle:
        """The global ``Lifecycle``: plain steps, or selection keys (``all``, ...) that hold steps."""
        if not isinstance(value, dict):
            self.err(path, f"must be a map, not {_type_name(value)}", "write the lifecycle steps as a map")
            return Lifecycle()
        step_keys = {k.lower() for k in _LIFECYCLE_KEYS}
        if all(str(k).lower() in step_keys for k in value):
            return self.lifecycle(value, path)
        sections: dict[str, dict[str, Any]] = {}
        for sel_key, section in value.items():
            sub = f"{path}.{sel_key}"
            if str(sel_key).lower() in step_keys:
                self.err(sub, "a global lifecycle mixes steps and selection keys",
                         "put every step under a selection key (e.g. all:)")
                continue
            sec = self.obj(section, sub, _LIFECYCLE_KEYS)
            if sec is not None:
                sections[str(sel_key)] = sec
        merged: dict[str, Any] = {}
        for sel_key in selections:  # the manifest's first selection that defines a step wins
            for k, v in sections.get(sel_key, {}).items():
                merged.setdefault(k, v)
        if check_only:
            return Lifecycle()
        return self._lifecycle_from(merged, path)

    def step(self, value: Any, path: str, step_name: str) -> Step | None:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return Step(script=str(value))
        s = self.obj(value, path, _STEP_KEYS)
        if s is None:
            return None
        script = self.string(s.get("Script"), f"{path}.Script", required=True)
        priv = s.get("RequiresPrivilege", False)
        if isinstance(priv, str) and priv.lower() in ("true", "false"):
            priv = priv.lower() == "true"
        if not isinstance(priv, bool):
            self.err(f"{path}.RequiresPrivilege", f"must be true or false, not {priv!r}", "use true or false")
            priv = False
        skipif = self.string(s.get("Skipif"), f"{path}.Skipif")
        if skipif is not None and not SKIPIF_RE.match(skipif.strip()):
            self.err(f"{path}.Skipif", f"{skipif!r} is not a skip check",
                     "use 'onpath <executable>' or 'exists <file>' (optionally prefixed by '!')")
        timeout = s.get("Timeout")
        if timeout is not None:
            try:
                timeout = int(str(timeout))
                if timeout <= 0:
                    raise ValueError
            except ValueError:
                self.err(f"{path}.Timeout", f"{s.get('Timeout')!r} is not a positive number of seconds",
                         "use a whole number of seconds, e.g. 120")
                timeout = None
        bor = s.get("BootstrapOnRollback")
        if bor is not None and step_name != "Bootstrap":
            self.err(f"{path}.BootstrapOnRollback", "only the Bootstrap step has BootstrapOnRollback", "remove it")
        if script is None:
            return None
        return Step(script, priv, skipif.strip() if skipif else None, timeout,
                    self.str_map(s.get("Setenv"), f"{path}.Setenv"), bool(bor) if bor is not None else None)


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


def _key_ci(d: Any, key: str) -> str | None:
    if not isinstance(d, dict):
        return None
    return next((k for k in d if str(k).lower() == key.lower()), None)


def _get_ci(d: Any, key: str) -> Any:
    k = _key_ci(d, key)
    return d[k] if k is not None else None


def _type_name(v: Any) -> str:
    return {dict: "a map", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(v), type(v).__name__)


def _replace_uris_in_text(text: str, fmt: str, uris: Mapping[str, str], new_raw: dict[str, Any]) -> str:
    """Replace each artifact URI on its own ``URI:`` line; fall back to re-serialising if that is not exact."""
    out = text
    for old, new in uris.items():
        if fmt == "json":
            pattern = re.compile(r'("(?i:uri)"\s*:\s*)' + re.escape(json.dumps(old)))
            out = pattern.sub(lambda m: m.group(1) + json.dumps(new), out)
        else:
            pattern = re.compile(
                r"^(\s*(?:-\s+)?(?i:uri)\s*:\s*)(['\"]?)" + re.escape(old) + r"\2(\s*(?:#.*)?)$", re.MULTILINE
            )
            out = pattern.sub(lambda m: m.group(1) + m.group(2) + new + m.group(2) + m.group(3), out)
    try:
        again = json.loads(out) if fmt == "json" else yaml.load(out, Loader=_Loader)  # noqa: S506
    except (json.JSONDecodeError, yaml.YAMLError):
        again = None
    if again == new_raw:
        return out
    if fmt == "json":
        return json.dumps(new_raw, indent=2) + "\n"
    return yaml.safe_dump(new_raw, sort_keys=False, default_flow_style=False)


def with_defaults(step_name: str, step: Step | None) -> int | None:
    """The timeout that applies to ``step`` (its own, else the nucleus default for ``step_name``)."""
    if step is not None and step.timeout is not None:
        return step.timeout
    return DEFAULT_TIMEOUTS.get(step_name)


__all__ = [
    "Artifact", "Dependency", "Lifecycle", "Manifest", "Permission", "Platform", "Recipe", "RecipeError", "Step",
    "VersionRequirement", "DEFAULT_TIMEOUTS", "RECIPE_FORMAT_VERSION", "STEP_NAMES", "current_platform",
    "load_recipe", "parse_recipe", "with_defaults",
]
