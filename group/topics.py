"""MQTT topic filter rules as AWS IoT / Greengrass V1 apply them to subscription tables.

Pure and dependency-free: used by the group model's validation (before any AWS call).
"""
from __future__ import annotations

from typing import List

MAX_TOPIC_BYTES = 256
# AWS IoT: at most 7 forward slashes in a topic or filter (8 levels), reserved $aws topics excepted.
MAX_SLASHES = 7


def filter_problems(topic_filter: str) -> List[str]:
    """Every reason ``topic_filter`` is not a valid subscription filter (empty list = valid)."""
    problems: List[str] = []
    if not isinstance(topic_filter, str) or topic_filter == "":
        return ["topic filter is empty"]
    encoded = topic_filter.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_TOPIC_BYTES:
        problems.append(f"topic filter is {len(encoded)} bytes; the limit is {MAX_TOPIC_BYTES}")
    if "\x00" in topic_filter:
        problems.append("topic filter contains a NUL character")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            problems.append("'#' must be the last level and stand alone (e.g. 'a/b/#')")
            break
    for level in levels:
        if "+" in level and level != "+":
            problems.append(f"'+' must fill a whole level (got level '{level}')")
            break
    if not topic_filter.startswith("$aws/") and topic_filter.count("/") > MAX_SLASHES:
        problems.append(
            f"topic filter has {topic_filter.count('/')} '/'; AWS IoT allows at most {MAX_SLASHES}"
        )
    return problems


def filters_overlap(a: str, b: str) -> bool:
    """Could one topic match both filters? (Conservative: used to find routes that can fire.)"""
    a_levels, b_levels = a.split("/"), b.split("/")
    for i in range(max(len(a_levels), len(b_levels))):
        x = a_levels[i] if i < len(a_levels) else None
        y = b_levels[i] if i < len(b_levels) else None
        if x == "#" or y == "#":
            return True
        if x is None or y is None:
            return False
        if x != "+" and y != "+" and x != y:
            return False
    return True
