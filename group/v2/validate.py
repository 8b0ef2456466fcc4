"""``validate --platform v2``: everything about a group that Greengrass V2 cannot carry, before any AWS call.

``issues_for_v2(group, file)`` returns ``group.errors.Issue`` objects (errors and warnings, each with the
group.yaml path and a fix): the converter's findings (what V2 cannot reproduce, IoT policy sizes, names)
plus the runtime rules of AWS Lambda as of 2026-12 (a runtime Lambda no longer creates functions on warns;
a non-Python runtime is an error, the bundle's Lambdas are Python).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ..errors import Issue
from ..model import Group, bundle_root
from .convert import convert

# AWS Lambda runtime deprecation (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html, 2026):
# python3.12 is deprecated on 2028-10-31, 3.13 on 2029-06-30, 3.14 on 2029-06-30 (standard support).
CREATABLE_RUNTIMES = ("python3.12", "python3.13", "python3.14")
V2_DEFAULT_RUNTIME = "python3.12"  # oldest runtime Lambda still creates; greengrasssdk stays 3.7-compatible code
DEPRECATED_RUNTIMES = {
    "python3.7": "2023-12-04", "python3.8": "2024-10-14", "python3.9": "2025-12-15",
    "python3.10": "2026-06-30", "python3.11": "2026-06-30",
}
# only to place issues somewhere concrete; the account does not change what V2 can carry
_PLACEHOLDER_ACCOUNT = "123456789012"


def issues_for_v2(group: Group, file: str, *, root: Optional[Path] = None,
                  include_info: bool = False) -> List[Issue]:
    """What V2 cannot carry in ``group`` (read from ``file``), as issues with path and fix."""
    root = Path(root) if root is not None else bundle_root(file)
    issues: List[Issue] = []
    for i, f in enumerate(group.functions):
        p = f"functions[{i}].runtime"
        if f.runtime in DEPRECATED_RUNTIMES:
            issues.append(Issue(file, p, f"AWS Lambda deprecated {f.runtime} on {DEPRECATED_RUNTIMES[f.runtime]} and "
                                "no longer creates functions on it; versions published earlier stay importable",
                                f"set runtime: {V2_DEFAULT_RUNTIME} (Lambda creates it and the V2 Lambda launcher runs "
                                "any Python the core device has on PATH)", "warning"))
        elif f.runtime not in CREATABLE_RUNTIMES:
            issues.append(Issue(file, p, f"runtime '{f.runtime}' is not a Python runtime AWS Lambda creates",
                                f"use one of {', '.join(CREATABLE_RUNTIMES)}"))
        full = f"{group.name}-{f.name}"
        if len(full) > 64:
            issues.append(Issue(file, f"functions[{i}].name", f"Lambda/component name '{full}' is {len(full)} "
                                "characters; it is shortened with a hash suffix to fit Lambda's 64",
                                "use a shorter group or function name for a readable component name", "warning"))
    if ":" in group.core.thing:
        issues.append(Issue(file, "core.thing", f"core thing name '{group.core.thing}' contains ':'; a V2 core "
                            "device's thing name cannot", "use letters, digits, '_' and '-' only"))
    plan = convert(group, root=root, account_id=_PLACEHOLDER_ACCOUNT, region=group.group.region)
    for finding in plan.findings:
        if finding.severity != "info" or include_info:
            issues.append(finding.to_issue(file))
    return issues
