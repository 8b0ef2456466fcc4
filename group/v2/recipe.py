"""Greengrass V2 component recipes (``RecipeFormatVersion: 2020-01-25``): parse once, into one frozen model.

The public surface, in two modules: :mod:`.recipe_model` (the :class:`Recipe` object: ``select_manifest``,
``artifact_uris``, ``with_artifact_uris``, ``text``, ``canonical``; :func:`current_platform`) and
:mod:`.recipe_parser` (:func:`parse_recipe`, :func:`load_recipe`: keys case-insensitive, every problem at
once as a :class:`RecipeError`). Versions and ranges are :mod:`.versions`. Used by the deploy side (validate,
upload, ``CreateComponentVersion``), the local greengrassv2 stand-in and the local core.
"""
from __future__ import annotations

from .recipe_model import (COMPONENT_NAME_RE, DEFAULT_TIMEOUTS, RECIPE_FORMAT_VERSION, SKIPIF_RE, STEP_NAMES,
                           Artifact, Dependency, Lifecycle, Manifest, Permission, Platform, Recipe, RecipeError,
                           Step, canonical_document, current_platform, with_defaults)
from .recipe_parser import load_recipe, parse_recipe
from .versions import VersionRequirement

__all__ = [
    "Artifact", "Dependency", "Lifecycle", "Manifest", "Permission", "Platform", "Recipe", "RecipeError", "Step",
    "VersionRequirement", "COMPONENT_NAME_RE", "DEFAULT_TIMEOUTS", "RECIPE_FORMAT_VERSION", "SKIPIF_RE",
    "STEP_NAMES", "canonical_document", "current_platform", "load_recipe", "parse_recipe", "with_defaults",
]
