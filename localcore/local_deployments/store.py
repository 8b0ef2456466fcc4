"""The core's component store for local deployments (file work, blocking): recipes and artifacts copied in from
the folders a local deployment names, and the rule that finds artifacts already in place.

Follows aws-greengrass/aws-greengrass-nucleus ``DeploymentService.copyRecipesAndArtifacts`` and
``copyRecipeFileToComponentStore``, ``ComponentStore`` and ``ArtifactDownloader.downloadRequired``:

* every file under the recipe folder (recursively) whose extension is ``.yaml``, ``.yml`` or ``.json`` and that is
  not empty is read as a recipe — one that does not parse fails the deployment (``Unable to parse <file> as a
  recipe due to: …``), other files are skipped — and saved under its name and version (a later copy of the same
  name and version replaces it: that is how a recipe is iterated on without a new version);
* the artifact folder is copied over ``packages/artifacts`` (``<name>/<version>/<files>``, existing files
  replaced), so a recipe needs no download for an artifact that is there;
* an artifact is downloaded only when its file is not in ``packages/artifacts/<name>/<version>/`` or the recipe's
  digest does not match it (local recipes have no digest: the file there is used);
* GDK project and build folders are looked through first (:mod:`.gdk`).

Layout under the core's root (the nucleus' ``packages/``): ``packages/recipes/<name>@<version>.recipe.json``,
``packages/artifacts/<name>/<version>/``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from group.v2.recipe import Recipe, RecipeError, parse_recipe
from group.v2.versions import sort_key
from localcore.generic_components.resolve import satisfies_all
from localcore.generic_components.service import ComponentService

from . import gdk
from .errors import StoreError

log = logging.getLogger(__name__)

RECIPE_EXTENSIONS = (".yaml", ".yml", ".json")
PARSE_CODES = ("IO_ERROR", "IO_WRITE_ERROR", "IO_MAPPING_ERROR")
COPY_CODES = ("IO_ERROR", "IO_WRITE_ERROR")


@dataclass(frozen=True)
class Staged:
    """What one local deployment put into the store."""

    components: Tuple[Tuple[str, str], ...]     # (name, version) of each recipe copied
    notes: Tuple[str, ...] = ()


class ComponentStore:
    """Recipes and artifacts under ``root/packages`` (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.recipes_dir = self.root / "packages" / "recipes"
        self.artifacts_dir = self.root / "packages" / "artifacts"
        self._lock = threading.Lock()
        self._index: Optional[Dict[str, Dict[str, Dict[str, Any]]]] = None

    # ------------------------------------------------------------------------------ reading
    def _load(self) -> Dict[str, Dict[str, Dict[str, Any]]]:
        if self._index is None:
            index: Dict[str, Dict[str, Dict[str, Any]]] = {}
            for path in sorted(self.recipes_dir.glob("*.recipe.json")) if self.recipes_dir.is_dir() else ():
                try:
                    doc = json.loads(path.read_text(encoding="utf-8"))
                    index.setdefault(str(doc["ComponentName"]), {})[str(doc["ComponentVersion"])] = doc
                except (OSError, ValueError, KeyError, TypeError) as e:
                    log.warning("component store: %s is not a stored recipe (%s); skipped", path, e)
            self._index = index
        return self._index

    def recipe(self, name: str, version: str) -> Optional[Dict[str, Any]]:
        """The stored recipe of ``name`` ``version`` (a copy), or None."""
        with self._lock:
            doc = self._load().get(name, {}).get(version)
        return json.loads(json.dumps(doc)) if doc is not None else None

    def versions(self, name: str) -> List[str]:
        with self._lock:
            return sorted(self._load().get(name, {}), key=sort_key)

    def best(self, name: str, requirements: Mapping[str, str]) -> Optional[str]:
        """``findBestMatchAvailableComponent``: the newest stored version that meets every requirement."""
        ok = [v for v in self.versions(name) if satisfies_all(v, requirements)]
        return ok[-1] if ok else None

    # ------------------------------------------------------------------------------ writing
    def save(self, recipe: Recipe) -> Tuple[str, str]:
        doc = recipe.canonical
        path = self.recipes_dir / f"{recipe.name}@{recipe.version}.recipe.json"
        with self._lock:
            self.recipes_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            tmp.replace(path)
            self._load().setdefault(recipe.name, {})[recipe.version] = doc
        return recipe.name, recipe.version

    def copy_recipes(self, folder: Path) -> List[Tuple[str, str]]:
        """``copyRecipesToComponentStore``: every recipe file under ``folder`` (see the module doc)."""
        if not folder.is_dir():
            raise StoreError(f"Recipe directory {folder} does not exist or is not a directory", COPY_CODES)
        copied = []
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                continue
            if path.suffix.lower() not in RECIPE_EXTENSIONS or path.stat().st_size == 0:
                log.info("component store: skipping %s (not recognized as a recipe)", path)
                continue
            try:
                text = path.read_text(encoding="utf-8")
                recipe = parse_recipe(text, source=str(path))
            except (OSError, UnicodeDecodeError) as e:
                raise StoreError(f"Unable to parse {path} as a recipe due to: {e}", PARSE_CODES) from None
            except RecipeError as e:
                raise StoreError(f"Unable to parse {path} as a recipe due to: {gdk.recipe_problems(e)}",
                                 PARSE_CODES) from None
            copied.append(self.save(recipe))
        return copied

    def copy_artifacts(self, folder: Path) -> int:
        """``copyFolderRecursively(folder, packages/artifacts, REPLACE_EXISTING)``; returns the files copied."""
        if not folder.is_dir():
            raise StoreError(f"Unable to copy artifacts from {folder}: it does not exist or is not a directory",
                             COPY_CODES)
        if self.artifacts_dir.resolve().is_relative_to(folder.resolve()):
            raise StoreError(f"Unable to copy artifacts from {folder}: it holds the core's artifact store "
                             f"{self.artifacts_dir} (a recursive copy)", COPY_CODES)
        count = 0
        try:
            for path in sorted(folder.rglob("*")):
                if not path.is_file():
                    continue
                target = self.artifacts_dir / path.relative_to(folder)
                self._put(path, target)
                count += 1
        except OSError as e:
            raise StoreError(f"Unable to copy artifacts from {folder} due to: {e}", COPY_CODES) from None
        return count

    def _put(self, src: Path, target: Path) -> None:
        """Copy ``src`` to ``target``, replacing it; the component runner leaves artifact folders read-only."""
        _writable_dirs(self.artifacts_dir, target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        shutil.copy2(src, target)
        target.chmod(target.stat().st_mode | stat.S_IRUSR | stat.S_IWUSR)

    def stage(self, recipe_dir: Optional[str], artifacts_dir: Optional[str]) -> Staged:
        """``copyRecipesAndArtifacts`` for one local deployment, GDK folders looked through first."""
        source = gdk.resolve(Path(recipe_dir) if recipe_dir else None, Path(artifacts_dir) if artifacts_dir else None)
        copied: List[Tuple[str, str]] = []
        if source.project is not None:
            copied.append(self._stage_project(source.project))
        if source.recipe_dir is not None:
            copied += self.copy_recipes(source.recipe_dir)
        if source.artifacts_dir is not None:
            self.copy_artifacts(source.artifacts_dir)
        return Staged(tuple(copied), source.notes)

    def _stage_project(self, project: gdk.GdkProject) -> Tuple[str, str]:
        """An unbuilt GDK project (zip build system): its recipe as the build writes it, and its artifacts — the
        project's zip, or files of the project named by the recipe — into the store."""
        recipe = gdk.project_recipe(project)
        dest = self.artifacts_dir / recipe.name / recipe.version
        for uri, file_name in gdk.artifact_files(recipe).items():
            target = dest / file_name
            if file_name == f"{project.zip_name}.zip":
                _writable_dirs(self.artifacts_dir, dest)
                dest.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    target.unlink()
                gdk.zip_project(project, target)
            elif (project.path / file_name).is_file():
                self._put(project.path / file_name, target)
            else:
                raise StoreError(f"GDK project {project.path}: artifact {uri} is neither the project's zip build "
                                 f"({project.zip_name}.zip) nor a file of the project (fix: run `gdk component "
                                 "build` and deploy the project again)", COPY_CODES)
        return self.save(recipe)


def _writable_dirs(top: Path, leaf: Path) -> None:
    """Make ``leaf`` and its parents up to ``top`` writable by their owner again (where they exist)."""
    chain = [leaf, *leaf.parents]
    for d in reversed(chain):
        if (d == top or top in d.parents) and d.is_dir() and not os.access(d, os.W_OK | os.X_OK):
            d.chmod(d.stat().st_mode | stat.S_IRWXU)


def artifacts_in_place(root: Path, recipe: Recipe, platform: Mapping[str, str]) -> Optional[Dict[str, Path]]:
    """``downloadRequired`` for every artifact of the manifest that matches ``platform``: URI → the file already in
    ``packages/artifacts/<name>/<version>/`` when every one is there with a matching digest (or none given);
    None when one must be downloaded (or no manifest matches)."""
    manifest = recipe.select_manifest(platform)
    if manifest is None:
        return None
    folder = Path(root) / "packages" / "artifacts" / recipe.name / recipe.version
    out: Dict[str, Path] = {}
    for a in manifest.artifacts:
        path = folder / a.file_name
        if not path.is_file():
            return None
        if a.digest:
            algorithm = (a.algorithm or "SHA-256").replace("-", "").lower()
            try:
                h = hashlib.new(algorithm)
            except ValueError:
                return None
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if base64.b64encode(h.digest()).decode() != a.digest:
                log.warning("artifact %s of %s-%s is in place but its digest differs from the recipe's: downloading",
                            a.uri, recipe.name, recipe.version)
                return None
        out[a.uri] = path
    return out


class StoreComponentService(ComponentService):
    """The component service with the store's download rule: artifacts already in place (a local deployment's
    artifact folder, an earlier download with the same digest) are used as they are, the others downloaded."""

    def _download(self, recipe: Recipe) -> Dict[str, Path]:
        found = artifacts_in_place(self.root, recipe, self.platform)
        if found is not None:
            return found
        return super()._download(recipe)
