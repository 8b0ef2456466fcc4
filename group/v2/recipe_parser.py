"""Reading Greengrass V2 recipes: text (YAML or JSON) or a file → one :class:`~.recipe_model.Recipe`, every
problem at once as a :class:`~.recipe_model.RecipeError` naming the path and the fix.

Keys are matched case-insensitively, as the nucleus does (aws-greengrass/aws-greengrass-component-common
``SerializerFactory.getRecipeSerializer``: Jackson's ``ACCEPT_CASE_INSENSITIVE_PROPERTIES``) and as the GDK CLI does (it
lower-cases every key before checking its schema): ``componentName`` and ``ComponentName`` are the same key.
Errors name the key as the recipe reference spells it. Free-form maps (``DefaultConfiguration``, ``Setenv``,
``Platform``, dependency names) keep their keys exactly.

YAML is read with the YAML 1.2 core scalars the nucleus' parser uses: ``2020-01-25`` stays a string (YAML
1.1 would make it a date) and only ``true``/``false`` are booleans (not ``yes``/``on``).
"""
from __future__ import annotations

import difflib
import json
import logging
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from group import yaml_io
from group.errors import Issue

from .recipe_model import (_ARTIFACT_KEYS, _COMPONENT_TYPES, _CONFIG_KEYS, _DEP_KEYS, _LIFECYCLE_KEYS,
                           _MANIFEST_KEYS, _PERMISSION_KEYS, _STEP_KEYS, _TOP_KEYS, COMPONENT_NAME_RE,
                           RECIPE_FORMAT_VERSION, SKIPIF_RE, STEP_NAMES, Artifact, Dependency, Lifecycle,
                           Manifest, Permission, Platform, Recipe, RecipeError, Step)
from .versions import VersionRequirement, version_problem

log = logging.getLogger(__name__)

# Step options the nucleus reads only inside a step (aws-greengrass/aws-greengrass-nucleus GenericExternalService:
# lifecycle/<step>/requiresPrivilege, timeout, skipif, script; bootstrapOnRollback of Bootstrap). Written beside the
# steps they are left unread: the recipe deploys and the key does nothing. Lifecycle-level Setenv is not one of them:
# the nucleus gives it to every step (GenericExternalService.addEnv walks from the step up), under the step's own.
_STEP_OPTIONS_IGNORED_AT_LIFECYCLE = MappingProxyType({
    "requiresprivilege": "the steps run as the component's default user (runWith posixUser), not as root; to run "
                         "a step as root write it inside the step, e.g. Run: {Script: ..., RequiresPrivilege: true}",
    "timeout": "each step keeps its own timeout (Run none; Install, Startup, Bootstrap, Uninstall 120 s; Shutdown "
               "15 s; Recover 60 s); write it inside a step, e.g. Install: {Script: ..., Timeout: 300}",
    "skipif": "no step is skipped; write it inside a step, e.g. Install: {Script: ..., Skipif: onpath git}",
    "script": "it runs only the steps' scripts; write the command as a step, e.g. Run: <command>",
    "bootstraponrollback": "it is read only inside Bootstrap: Bootstrap: {Script: ..., BootstrapOnRollback: true}",
})

class _Loader(yaml_io.SafeLoader):
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
        self._warned: set[str] = set()

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
                close = difflib.get_close_matches(str(k).lower(), list(canon), n=1, cutoff=0.6)  # any case
                fix = f"did you mean {canon[close[0]]!r}?" if close else f"use one of {', '.join(keys)}"
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
                        self.err(f"{path}.Permission.{k}", f"{p.get(k)!r} is not a permission",
                                 "use NONE, OWNER or ALL")
                    vals[k] = v
                perm = Permission(vals["Read"], vals["Execute"])
        if uri is None:
            return None
        return Artifact(uri, unarchive, perm, self.string(a.get("Digest"), f"{path}.Digest"),
                        self.string(a.get("Algorithm"), f"{path}.Algorithm"))

    def lifecycle(self, value: Any, path: str) -> Lifecycle:
        lc = self.lifecycle_keys(value, path)
        if lc is None:
            return Lifecycle()
        return self._lifecycle_from(lc, path)

    def lifecycle_keys(self, value: Any, path: str) -> dict[str, Any] | None:
        """:meth:`obj` of a lifecycle map (steps and ``Setenv``), a step option beside the steps left out with a
        warning saying what the nucleus does with it (it ignores it)."""
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not self.ignored_step_option(k, f"{path}.{k}")}
        return self.obj(value, path, _LIFECYCLE_KEYS)

    def ignored_step_option(self, key: Any, path: str) -> bool:
        consequence = _STEP_OPTIONS_IGNORED_AT_LIFECYCLE.get(str(key).lower())
        if consequence is None:
            return False
        if path not in self._warned:
            self._warned.add(path)
            log.warning("%s: %s: %s is a step option; the nucleus reads it only inside a step and ignores it here: %s",
                        self.source, path, key, consequence)
        return True

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
        if all(str(k).lower() in step_keys or str(k).lower() in _STEP_OPTIONS_IGNORED_AT_LIFECYCLE for k in value):
            return self.lifecycle(value, path)
        sections: dict[str, dict[str, Any]] = {}
        for sel_key, section in value.items():
            sub = f"{path}.{sel_key}"
            if str(sel_key).lower() in step_keys:
                self.err(sub, "a global lifecycle mixes steps and selection keys",
                         "put every step under a selection key (e.g. all:)")
                continue
            if self.ignored_step_option(sel_key, sub):
                continue
            sec = self.lifecycle_keys(section, sub)
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


def replace_artifact_uris(recipe: Recipe, uris: Mapping[str, str]) -> Recipe:
    """:meth:`Recipe.with_artifact_uris`: the recipe with artifact URIs replaced, its text kept where it can."""
    unknown = sorted(set(uris) - set(recipe.artifact_uris()))
    if unknown:
        raise RecipeError([Issue(recipe.source, "Manifests[].Artifacts[].URI",
                                 f"no artifact has the URI {u!r}", "pass only URIs of this recipe's artifacts")
                           for u in unknown])
    raw = recipe.raw
    for m in _get_ci(raw, "Manifests") or []:
        for a in (_get_ci(m, "Artifacts") or []) if isinstance(m, dict) else []:
            key = _key_ci(a, "URI")
            if key is not None and a[key] in uris:
                a[key] = uris[a[key]]
    text = _replace_uris_in_text(recipe.source_text, recipe.source_format, uris, raw)
    return parse_recipe(text, source=recipe.source)


__all__ = ["load_recipe", "parse_recipe", "replace_artifact_uris"]
