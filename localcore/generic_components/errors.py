"""Errors of the generic-component package; each says what, where (component, step) and how to fix."""
from __future__ import annotations


class ComponentError(Exception):
    """Base of everything localcore.generic_components raises."""


class InterpolationError(ComponentError):
    """A recipe variable cannot be resolved (only raised in strict mode; the nucleus leaves it literal)."""

    def __init__(self, component: str, where: str, problems: list[str]) -> None:
        self.component, self.where, self.problems = component, where, list(problems)
        super().__init__(f"{component}: {where}: " + "; ".join(self.problems))


class ConfigurationError(ComponentError):
    """A configurationUpdate is malformed (bad JSON in merge, a reset that is not a JSON pointer...)."""


class TransitionError(ComponentError):
    """An event that the lifecycle state machine does not allow in the current state."""


class ArtifactError(ComponentError):
    """An artifact is missing, unreadable, or a ZIP that cannot be unpacked safely."""
