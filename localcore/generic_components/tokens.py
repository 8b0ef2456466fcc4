"""Per-component secrets: the ``SVCUID`` the nucleus gives every component process.

The same value goes into ``SVCUID`` and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``; the stream manager (and a
credentials endpoint) accept a client whose token is one of these. Thread-safe: ``valid`` may be called
from the event loop while runners issue tokens.
"""
from __future__ import annotations

import hmac
import secrets
import threading


class ComponentTokens:
    """Issues one random token per component and recognises them."""

    def __init__(self) -> None:
        self._by_component: dict[str, str] = {}
        self._lock = threading.Lock()

    def issue(self, component: str) -> str:
        """The component's token (created on first use; stable for the life of this object)."""
        with self._lock:
            tok = self._by_component.get(component)
            if tok is None:
                tok = self._by_component[component] = secrets.token_urlsafe(32)
            return tok

    def revoke(self, component: str) -> None:
        with self._lock:
            self._by_component.pop(component, None)

    def component_of(self, token: str | None) -> str | None:
        """Which component a token belongs to (None: no component's)."""
        if not isinstance(token, str) or not token:
            return None
        with self._lock:
            items = list(self._by_component.items())
        found = None
        for name, tok in items:  # compare every entry in constant time
            if hmac.compare_digest(tok.encode(), token.encode()):
                found = name
        return found

    def valid(self, token: str | None) -> bool:
        """For ``StreamManagerServer.add_token_check``: is this the token of a component of this core?"""
        return self.component_of(token) is not None
