"""GDK project folders as a local deployment's recipe folder (file work, blocking).

The layout is aws-greengrass/aws-greengrass-gdk-cli's (``gdk/common/config/GDKProject.py``,
``commands/component/transformer/BuildRecipeTransformer.py``, ``build_system/Zip.py``):

* a **project** is a folder with ``gdk-config.json`` (``{"component": {<name>: {"author", "version", "build":
  {"build_system", "options"}, "publish": {...}}}, "gdk_version": ...}``) and exactly one of ``recipe.json`` /
  ``recipe.yaml``;
* ``gdk component build`` writes ``greengrass-build/recipes/<recipe file>`` (ComponentName, ComponentVersion and
  ComponentPublisher from the config) and ``greengrass-build/artifacts/<name>/<version>/<files>``, the recipe's
  ``s3://`` artifact URIs rewritten to ``s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/<file>``;
* the ``zip`` build system zips the project folder (without ``gdk-config.json``, ``greengrass-build``, the recipe
  and — unless ``options.excludes`` says otherwise — ``test*``, hidden files and ``node_modules``) into
  ``<folder name>.zip`` (``options.zip_name``: that name; empty: the component name).

What the local core takes (:func:`resolve`): a project's ``greengrass-build`` when it was built; otherwise, for the
``zip`` build system, the project's recipe with the config's name, version and author and its zip made as the
build would make it (into the core's component store, never into the project); a built ``greengrass-build``
folder itself, or its ``recipes`` folder (its ``artifacts`` beside it is used when no artifact folder is given).
A project whose version is ``NEXT_PATCH`` (resolved only by ``gdk component publish``) or that uses another
build system and was not built is refused with the fix.
"""
from __future__ import annotations

import fnmatch
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

from group import yaml_io
from group.v2.recipe import Recipe, RecipeError, parse_recipe

from .errors import StoreError

CONFIG_FILE = "gdk-config.json"
BUILD_DIR = "greengrass-build"
RECIPE_FILES = ("recipe.json", "recipe.yaml")
NEXT_PATCH = "NEXT_PATCH"
DEFAULT_EXCLUDES = ("**/test*", "**/.*", "**/node_modules")


@dataclass(frozen=True)
class GdkProject:
    path: Path
    name: str
    version: str
    author: str
    build_system: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def recipe_file(self) -> Path:
        found = [self.path / f for f in RECIPE_FILES if (self.path / f).is_file()]
        if len(found) != 1:
            what = "both recipe.json and recipe.yaml" if found else "no recipe.json or recipe.yaml"
            raise StoreError(f"GDK project {self.path} has {what} (a project has exactly one)", ("IO_ERROR",))
        return found[0]

    @property
    def zip_name(self) -> str:
        """The zip build's archive name without ``.zip`` (``Zip.build``)."""
        setting = self.options.get("zip_name")
        if setting is None:
            return self.path.name
        return str(setting) if setting else self.name


def is_project(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


def is_build_folder(path: Path) -> bool:
    """A ``greengrass-build`` folder (its ``recipes`` beside its ``artifacts``)."""
    return (path / "recipes").is_dir() and (path.name == BUILD_DIR or (path / "artifacts").is_dir())


def read_project(path: Path) -> GdkProject:
    """The project of ``path/gdk-config.json``; :class:`StoreError` says what is wrong and where."""
    config_file = path / CONFIG_FILE
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StoreError(f"Unable to read the GDK project configuration {config_file}: {e}",
                         ("IO_ERROR", "IO_MAPPING_ERROR")) from None
    component = config.get("component") if isinstance(config, dict) else None
    if not isinstance(component, dict) or len(component) != 1:
        raise StoreError(f"{config_file}: component must be a map with exactly one component name", ("IO_ERROR",))
    name, settings = next(iter(component.items()))
    settings = settings if isinstance(settings, dict) else {}
    version = str(settings.get("version") or NEXT_PATCH)
    if version == NEXT_PATCH:
        raise StoreError(f"{config_file}: component {name} has version NEXT_PATCH, which only `gdk component publish` "
                         "resolves (fix: set an exact version such as 1.0.0 to deploy the project locally)",
                         ("IO_ERROR",))
    build = settings.get("build") if isinstance(settings.get("build"), dict) else {}
    options = build.get("options") if isinstance(build.get("options"), dict) else {}
    return GdkProject(path, str(name), version, str(settings.get("author") or ""),
                      str(build.get("build_system") or ""), dict(options))


def project_recipe(project: GdkProject) -> Recipe:
    """The project's recipe as ``gdk component build`` writes it: ComponentName, ComponentVersion and
    ComponentPublisher from the configuration."""
    path = project.recipe_file
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if path.suffix == ".json" else yaml_io.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise StoreError(f"Unable to parse {path} as a recipe due to: {e}", ("IO_ERROR", "IO_MAPPING_ERROR")) from None
    if not isinstance(doc, dict):
        raise StoreError(f"Unable to parse {path} as a recipe due to: not a map", ("IO_ERROR", "IO_MAPPING_ERROR"))
    for key, value in (("ComponentName", project.name), ("ComponentVersion", project.version),
                       ("ComponentPublisher", project.author)):
        existing = next((k for k in doc if isinstance(k, str) and k.lower() == key.lower()), key)
        doc[existing] = value
    try:
        return parse_recipe(json.dumps(doc), source=str(path))
    except RecipeError as e:
        raise StoreError(f"Unable to parse {path} as a recipe due to: {recipe_problems(e)}",
                         ("IO_ERROR", "IO_MAPPING_ERROR")) from None


def recipe_problems(error: RecipeError) -> str:
    return "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in error.issues)


def _excluded(rel: str, project: GdkProject, patterns: Tuple[str, ...]) -> bool:
    top = rel.split("/", 1)[0]
    if top in (CONFIG_FILE, BUILD_DIR, project.recipe_file.name):
        return True
    parts = rel.split("/")
    for pattern in patterns:
        if fnmatch.fnmatch(rel, pattern):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatch(p, pattern[3:]) for p in parts):
            return True
    return False


def zip_project(project: GdkProject, dest: Path) -> None:
    """The ``zip`` build system's archive of the project folder, written to ``dest``."""
    if project.options:   # options given: only their excludes (Zip.get_ignored_file_patterns)
        given = project.options.get("excludes")
        patterns = tuple(str(p) for p in given) if isinstance(given, list) else ()
    else:
        patterns = DEFAULT_EXCLUDES
    tmp = dest.with_name(dest.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(project.path.rglob("*")):
                rel = path.relative_to(project.path).as_posix()
                if path.is_file() and not _excluded(rel, project, patterns):
                    zf.write(path, rel)
        tmp.replace(dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"Unable to zip the GDK project {project.path} into {dest.name}: {e}") from None


@dataclass(frozen=True)
class Source:
    """Where a local deployment's recipes and artifacts come from, once GDK folders are looked through."""

    recipe_dir: Optional[Path]
    artifacts_dir: Optional[Path]
    project: Optional[GdkProject] = None           # an unbuilt GDK project: the store builds its recipe and zip
    notes: Tuple[str, ...] = ()


def resolve(recipe_dir: Optional[Path], artifacts_dir: Optional[Path]) -> Source:
    """Look through GDK folders (see the module doc); plain folders come back as they are."""
    if recipe_dir is None:
        return Source(None, artifacts_dir)
    if is_project(recipe_dir):
        project = read_project(recipe_dir)
        built = recipe_dir / BUILD_DIR
        if (built / "recipes").is_dir():
            artifacts = artifacts_dir or ((built / "artifacts") if (built / "artifacts").is_dir() else None)
            return Source(built / "recipes", artifacts, None, (f"GDK project {project.name}: its {BUILD_DIR}",))
        if project.build_system != "zip":
            raise StoreError(f"GDK project {recipe_dir} builds with {project.build_system or 'no build system'} and "
                             f"has no {BUILD_DIR} folder (fix: run `gdk component build` in it first)",
                             ("IO_ERROR",))
        return Source(None, artifacts_dir, project, (f"GDK project {project.name}: recipe and zip build",))
    if is_build_folder(recipe_dir):
        artifacts = artifacts_dir or ((recipe_dir / "artifacts") if (recipe_dir / "artifacts").is_dir() else None)
        return Source(recipe_dir / "recipes", artifacts, None, (f"GDK build folder {recipe_dir}",))
    if (recipe_dir.name == "recipes" and recipe_dir.parent.name == BUILD_DIR and artifacts_dir is None
            and (recipe_dir.parent / "artifacts").is_dir()):
        return Source(recipe_dir, recipe_dir.parent / "artifacts", None, (f"GDK build folder {recipe_dir.parent}",))
    return Source(recipe_dir, artifacts_dir)


def artifact_files(recipe: Recipe) -> Dict[str, str]:
    """Every ``s3://`` artifact of the recipe: URI → file name (what the zip build and the store look for)."""
    out: Dict[str, str] = {}
    for manifest in recipe.manifests:
        for a in manifest.artifacts:
            if a.uri.lower().startswith("s3://"):
                out[a.uri] = a.file_name
    return out
