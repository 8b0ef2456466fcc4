"""Device-group selection rules, parsed and evaluated as the Auth component does.

The grammar is the component's JavaCC grammar (``src/main/javacc/RuleExpression.jjt``)::

    rule   := or
    or     := and [ "OR" or ]
    and    := thing [ "AND" and ]
    thing  := "thingName:" THINGNAME
    THINGNAME := ("*")? ( [A-Za-z0-9] | "-" | "_" | "\\:" )+ ("*")?  |  "*"

Spaces, tabs and carriage returns separate tokens (``thingName:X`` and ``thingName: X`` are the
same); the longest token wins and a keyword wins a tie (a thing called ``OR`` cannot be named).
A name matches as ``WildcardSuffixAttribute`` does: ``*`` alone matches every thing, ``X*`` a
prefix, ``*X`` a suffix, ``*X*`` a substring, anything else exactly. The component compares the
token's raw text, so an escaped colon (``a\\:b``) keeps its backslash and matches no real thing
name; we do the same and warn (see ``SelectionRule.warnings``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, List, Tuple

from localcore.clientauth.errors import AuthConfigError

_SKIP = " \r\t"
_KEYWORDS = ("OR", "AND", "thingName:")
_THINGNAME = re.compile(r"\*?(?:[A-Za-z0-9_-]|\\:)+\*?|\*")

Matcher = Callable[[str], bool]


def name_matcher(expr: str) -> Matcher:
    """``WildcardSuffixAttribute.matches(expr)`` as a predicate over thing names."""
    if len(expr) > 1 and expr.startswith("*") and expr.endswith("*"):
        inner = expr[1:-1]
        return lambda thing: inner in thing
    if expr.startswith("*"):
        suffix = expr[1:]
        return lambda thing: thing.endswith(suffix)
    if expr.endswith("*"):
        prefix = expr[:-1]
        return lambda thing: thing.startswith(prefix)
    return lambda thing: thing == expr


def _tokens(rule: str, path: str) -> List[Tuple[str, str, int]]:
    out: List[Tuple[str, str, int]] = []
    i = 0
    while i < len(rule):
        if rule[i] in _SKIP:
            i += 1
            continue
        keyword = max((k for k in _KEYWORDS if rule.startswith(k, i)), key=len, default="")
        m = _THINGNAME.match(rule, i)
        name = m.group(0) if m else ""
        if not keyword and not name:
            raise AuthConfigError(path, f"unexpected character {rule[i]!r} at column {i + 1} of {rule!r} "
                                        "(thing names take letters, digits, '-', '_', '\\:' and a leading "
                                        "or trailing '*')")
        if len(keyword) >= len(name):
            out.append(("KW", keyword, i))
            i += len(keyword)
        else:
            out.append(("NAME", name, i))
            i += len(name)
    return out


@dataclass(frozen=True)
class SelectionRule:
    """A parsed ``selectionRule``: call ``matches(thing)``."""

    text: str
    # disjunction of conjunctions of thing-name expressions
    terms: Tuple[Tuple[str, ...], ...]
    warnings: Tuple[str, ...] = ()
    _matchers: Tuple[Tuple[Matcher, ...], ...] = field(default=(), repr=False, compare=False)

    def matches(self, thing: str) -> bool:
        return any(all(m(thing) for m in conj) for conj in self._matchers)


def parse_rule(rule: object, path: str = "selectionRule") -> SelectionRule:
    """Parse ``rule`` or raise :class:`AuthConfigError` naming ``path``."""
    if not isinstance(rule, str):
        raise AuthConfigError(path, f"must be a string like 'thingName: MyThing', not {type(rule).__name__}")
    tokens = _tokens(rule, path)
    pos = 0

    def expect_thing() -> str:
        nonlocal pos
        where = tokens[pos][2] + 1 if pos < len(tokens) else len(rule) + 1
        if pos >= len(tokens) or tokens[pos][1] != "thingName:" or tokens[pos][0] != "KW":
            got = repr(tokens[pos][1]) if pos < len(tokens) else "the end"
            raise AuthConfigError(path, f"expected 'thingName:' at column {where} of {rule!r}, found {got}")
        pos += 1
        if pos >= len(tokens) or tokens[pos][0] != "NAME":
            got = repr(tokens[pos][1]) if pos < len(tokens) else "the end"
            raise AuthConfigError(path, f"expected a thing name after 'thingName:' in {rule!r}, found {got}")
        pos += 1
        return tokens[pos - 1][1]

    disjuncts: List[Tuple[str, ...]] = []
    while True:
        conj = [expect_thing()]
        while pos < len(tokens) and tokens[pos][:2] == ("KW", "AND"):
            pos += 1
            conj.append(expect_thing())
        disjuncts.append(tuple(conj))
        if pos < len(tokens) and tokens[pos][:2] == ("KW", "OR"):
            pos += 1
            continue
        break
    if pos < len(tokens):
        raise AuthConfigError(path, f"unexpected {tokens[pos][1]!r} at column {tokens[pos][2] + 1} "
                                    f"of {rule!r} "
                                    "(join terms with OR / AND)")
    warnings = tuple(
        f"{path}: thing name {name!r} has an escaped colon; the Auth component compares it with the "
        "backslash kept, so it selects no thing" for conj in disjuncts for name in conj if "\\:" in name)
    matchers = tuple(tuple(name_matcher(name) for name in conj) for conj in disjuncts)
    return SelectionRule(rule, tuple(disjuncts), warnings, matchers)
