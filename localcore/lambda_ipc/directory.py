"""Who is who for the IPC daemon: function names, ARNs, tokens, encodings. Pure."""
from __future__ import annotations

import hmac
import secrets as _secrets
from dataclasses import dataclass

ROUTER_ARN = "arn:aws:lambda:::function:GGRouter"
SHADOW_ARN = "arn:aws:lambda:::function:GGShadowService"
SECRETS_ARN = "arn:aws:lambda:::function:GGSecretManager:1"
SECRETS_ARN_UNQUALIFIED = "arn:aws:lambda:::function:GGSecretManager"

# Queue names of the core's own functions inside the WorkBroker (cannot clash with group names,
# which group.model restricts to Lambda name characters).
ROUTER = "@GGRouter"
SHADOW = "@GGShadowService"
SECRETS = "@GGSecretManager"
SYSTEM_FUNCTIONS = {
    ROUTER_ARN: ROUTER, SHADOW_ARN: SHADOW, SECRETS_ARN: SECRETS, SECRETS_ARN_UNQUALIFIED: SECRETS,
}


def new_token() -> str:
    return _secrets.token_hex(32)


def unqualified(arn: str) -> str:
    """``arn:...:function:name[:qualifier]`` → ``arn:...:function:name``."""
    head, sep, tail = arn.partition(":function:")
    if not sep:
        return arn
    return head + sep + tail.split(":", 1)[0]


@dataclass(frozen=True)
class Entry:
    name: str
    arn: str
    token: str
    encoding: str


class FunctionDirectory:
    """Functions of the group as the daemon sees them.

    A function is found by its qualified ARN (``MY_FUNCTION_ARN``) or, as on a core that runs one
    version of each function, by its unqualified ARN or any qualifier of it (``$LATEST``, a
    version, another alias name).
    """

    def __init__(self) -> None:
        self._by_name: dict[str, Entry] = {}
        self._by_arn: dict[str, Entry] = {}
        self._by_unqualified: dict[str, Entry] = {}
        self._by_token: dict[str, Entry] = {}

    def add(self, name: str, arn: str, encoding: str = "json", token: str | None = None) -> Entry:
        if name in self._by_name:
            raise ValueError(f"function {name!r} registered twice")
        if arn in self._by_arn:
            raise ValueError(f"functions {self._by_arn[arn].name!r} and {name!r} have the same ARN {arn}")
        entry = Entry(name, arn, token or new_token(), encoding)
        self._by_name[name] = entry
        self._by_arn[arn] = entry
        self._by_unqualified.setdefault(unqualified(arn), entry)
        self._by_token[entry.token] = entry
        return entry

    def __iter__(self):
        return iter(self._by_name.values())

    def get(self, name: str) -> Entry:
        return self._by_name[name]

    def by_arn(self, arn: str) -> Entry | None:
        return self._by_arn.get(arn) or self._by_unqualified.get(unqualified(arn))

    def by_token(self, token: str | None) -> Entry | None:
        if not token:
            return None
        entry = self._by_token.get(token)
        # constant-time confirmation of the match we found
        if entry is not None and hmac.compare_digest(entry.token, token):
            return entry
        return None
