"""Errors of the group package: every one names the file, the place in it and the fix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Issue:
    """One finding of validation. ``severity`` is ``error`` or ``warning``; ``line`` (1-based) is where
    ``path`` (or the nearest key above it that the file has) is in the file, when known."""

    file: str
    path: str
    message: str
    fix: str = ""
    severity: str = "error"
    line: Optional[int] = None

    def __str__(self) -> str:
        # ``file:line:`` as compilers print it: editors and terminals open the file at the line
        file = f"{self.file}:{self.line}" if self.line is not None else self.file
        where = f"{file}: {self.path}" if self.path else file
        text = f"{where}: {self.severity}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class GroupError(Exception):
    """Base of everything the group package raises."""


class GroupValidationError(GroupError):
    """The group file is invalid; ``issues`` holds every error found (all at once)."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in group file:\n" + "\n".join(str(i) for i in errors))


class DeployError(GroupError):
    """A step of deploy/destroy failed. Names the step and the object."""

    def __init__(self, step: str, obj: str, cause: str, fix: str = "") -> None:
        self.step, self.obj, self.cause, self.fix = step, obj, cause, fix
        msg = f"step '{step}' failed for {obj}: {cause}"
        if fix:
            msg += f" (fix: {fix})"
        super().__init__(msg)
