"""Component versions and version requirements, as the nucleus and the greengrassv2 service read them.

Follows aws-greengrass/aws-greengrass-nucleus ``DependencyResolver``, which checks versions with
vdurmont/semver4j ``Requirement.buildNPM`` (npm range syntax, plain semantic-version ordering: a pre-release
is not kept out of a range, unlike npm itself) — the one rule for the converter, the recipe model, the
public catalog and the local greengrassv2 stand-in.

* :func:`parse_version` — ``MAJOR.MINOR.PATCH[-pre][+build]``; :func:`sort_key` orders any text (non-semver first).
* :func:`version_problem` — what the service says of a ``ComponentVersion`` (at most 64 characters, each
  number at most 999999: the recipe reference's limit), or None.
* :class:`VersionRequirement` — ``^1.0.0``, ``~2.1``, ``>=1.0.0 <2.0.0``, ``1.x``, ``*``, ``a || b``, ``1 - 2``;
  :func:`satisfies` for a one-off check.

Pure; raises :class:`ValueError` saying what is wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple

MAX_VERSION_LENGTH = 64
MAX_VERSION_PART = 999999
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_PARTIAL_RE = re.compile(
    r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z\-.]+))?(?:\+[0-9A-Za-z\-.]+)?$"
)

Triple = Tuple[int, int, int]
Comparator = Tuple[str, Triple, Tuple[str, ...]]


@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ``key`` orders by semver precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: Tuple[str, ...] = ()
    build: str = ""

    @property
    def triple(self) -> Triple:
        return (self.major, self.minor, self.patch)

    @property
    def key(self) -> Tuple[Any, ...]:
        return (self.triple, _pre_key(self.prerelease))


def parse_version(text: str) -> Version:
    """``text`` as a :class:`Version`; ValueError when it is not ``MAJOR.MINOR.PATCH[-pre][+build]``."""
    m = SEMVER_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. '1.0.0')")
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, m.group(5) or "")


def is_version(text: Any) -> bool:
    return isinstance(text, str) and SEMVER_RE.match(text) is not None


def version_problem(text: Any) -> Optional[str]:
    """Why ``text`` cannot be a component version, or None when it can."""
    if not is_version(text):
        return f"{text!r} is not a semantic version"
    v = parse_version(text)
    if len(text) > MAX_VERSION_LENGTH or max(v.triple) > MAX_VERSION_PART:
        return f"{text!r} is too large: at most {MAX_VERSION_LENGTH} characters and 6 digits per number"
    return None


def sort_key(text: str) -> Tuple[Any, ...]:
    """Sort key of any version text: semantic versions by precedence, anything else before them."""
    if not is_version(text):
        return (0, (), text)
    return (1, parse_version(text).key, "")


def satisfies(version: str, requirement: str) -> bool:
    """Whether ``version`` meets ``requirement`` (False for a non-semver version; ValueError for a bad range)."""
    return VersionRequirement.parse(requirement).satisfied_by(version)


@dataclass(frozen=True)
class VersionRequirement:
    """An npm-style version range (``^1.0.0``, ``~2.1``, ``>=1.0.0 <2.0.0``, ``1.x``, ``*``, ``a || b``, ``1 - 2``)."""

    text: str
    alternatives: Tuple[Tuple[Comparator, ...], ...]

    @classmethod
    def parse(cls, text: str) -> "VersionRequirement":
        """Parse ``text``; raises ValueError saying what is wrong."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("an empty version requirement")
        alts = []
        for part in text.split("||"):
            part = part.strip()
            comparators: list[Comparator] = []
            hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", part)
            if hyphen:
                lo, hi = _partial(hyphen.group(1)), _partial(hyphen.group(2))
                comparators.append((">=", _fill(lo), lo[3]))
                comparators.extend(_upper_for_partial(hi, inclusive=True))
            elif part in ("", "*", "x", "X"):
                comparators.append((">=", (0, 0, 0), ()))
            else:
                pos = 0
                for m in re.finditer(r"(?:[<>]=?|=|\^|~)?\s*[^\s<>=^~]+", part):
                    if part[pos:m.start()].strip():
                        raise ValueError(f"unexpected {part[pos:m.start()].strip()!r} in {part!r}")
                    comparators.extend(_comparator(m.group().replace(" ", "")))
                    pos = m.end()
                if part[pos:].strip():
                    raise ValueError(f"unexpected {part[pos:].strip()!r} at the end of {part!r}")
            alts.append(tuple(comparators))
        return cls(text, tuple(alts))

    def satisfied_by(self, version: str) -> bool:
        if not is_version(version):
            return False
        v = parse_version(version)
        return any(all(_compare(v, op, bound, bpre) for op, bound, bpre in alt) for alt in self.alternatives)


def _partial(s: str) -> Tuple[Optional[int], Optional[int], Optional[int], Tuple[str, ...]]:
    m = _PARTIAL_RE.match(s)
    if not m:
        raise ValueError(f"{s!r} is not a version")
    parts = [None if g is None or g in "xX*" else int(g) for g in m.group(1, 2, 3)]
    for i in range(1, 3):  # a wildcard makes everything after it a wildcard
        if parts[i - 1] is None:
            parts[i] = None
    return parts[0], parts[1], parts[2], tuple(m.group(4).split(".")) if m.group(4) else ()


def _fill(p) -> Triple:
    return (p[0] or 0, p[1] or 0, p[2] or 0)


def _upper_for_partial(p, inclusive: bool) -> list[Comparator]:
    major, minor, patch, pre = p
    if major is None:
        return []
    if minor is None:
        return [("<", (major + 1, 0, 0), ())]
    if patch is None:
        return [("<", (major, minor + 1, 0), ())]
    return [("<=" if inclusive else "<", (major, minor, patch), pre)]


def _comparator(tok: str) -> list[Comparator]:
    m = re.match(r"^(<=|>=|<|>|=|\^|~)?(.*)$", tok)
    op, rest = m.group(1) or "", m.group(2)
    p = _partial(rest)
    major, minor, patch, pre = p
    if op == "^":
        lo = (">=", _fill(p), pre)
        if major is None:
            return [(">=", (0, 0, 0), ())]
        if major > 0 or minor is None:
            return [lo, ("<", (major + 1, 0, 0), ())]
        if minor > 0 or patch is None:
            return [lo, ("<", (0, minor + 1, 0), ())]
        return [lo, ("<", (0, 0, patch + 1), ())]
    if op == "~":
        if major is None:
            return [(">=", (0, 0, 0), ())]
        if minor is None:
            return [(">=", _fill(p), pre), ("<", (major + 1, 0, 0), ())]
        return [(">=", _fill(p), pre), ("<", (major, minor + 1, 0), ())]
    if op in ("", "="):
        if major is None:
            return [(">=", (0, 0, 0), ())]
        if patch is None:
            return [(">=", _fill(p), ())] + _upper_for_partial(p, inclusive=False)
        return [("=", _fill(p), pre)]
    if op == ">" and patch is None and major is not None:
        return [(">=", (major + 1, 0, 0) if minor is None else (major, minor + 1, 0), ())]
    if op == "<=" and patch is None and major is not None:
        return _upper_for_partial(p, inclusive=False)
    return [(op, _fill(p), pre)]


def _pre_key(pre: Tuple[str, ...]) -> Tuple[Any, ...]:
    """Semver precedence of a pre-release: a release sorts after all its pre-releases; numeric identifiers
    compare as numbers and before alphanumeric ones."""
    if not pre:
        return (1,)
    return (0, tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in pre))


def _compare(v: Version, op: str, bound: Triple, bpre: Tuple[str, ...]) -> bool:
    a, b = v.key, (bound, _pre_key(bpre))
    return {"=": a == b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


__all__ = [
    "MAX_VERSION_LENGTH", "MAX_VERSION_PART", "SEMVER_RE", "Version", "VersionRequirement", "is_version",
    "parse_version", "satisfies", "sort_key", "version_problem",
]
