"""``ValidateAuthorizationToken``: whether a token is one the core issued (a component's ``SVCUID``, a Greengrass
CLI client's token), for the one caller the nucleus lets ask.

Follows aws-greengrass/aws-greengrass-nucleus ``authorization/AuthorizationIPCAgent`` (registered by
``ipc/modules/AuthorizationService`` on every nucleus, no plugin needed) and ``ipc/AuthenticationHandler``:

* only a caller named ``aws.greengrass.StreamManager`` may call it; any other gets ``UnauthorizedError``
  ``<caller> is not authorized to perform aws.greengrass#ValidateAuthorizationToken`` (no ``accessControl`` policy
  can grant it);
* the token is looked up among the tokens the core issued — every component's ``SVCUID`` and the tokens of external
  clients such as the Greengrass CLI's (the nucleus keeps both in ``services._AUTHENTICATION_TOKENS``);
  found: ``{"isValid": true}``; missing: ``InvalidTokenError`` ``Invalid authentication token``; unknown:
  ``InvalidTokenError`` ``Authentication token not found`` (never ``isValid: false``).

On the local core the stream manager is the core's own service and checks its clients' tokens itself (the same
token table, ``ComponentTokens.valid``); the operation serves a component that takes that name.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from .errors import InvalidTokenError, UnauthorizedError
from .service import Call, IpcService

log = logging.getLogger(__name__)

OPERATION = "ValidateAuthorizationToken"
AUTHORIZED_CALLERS = ("aws.greengrass.StreamManager",)   # AuthorizationIPCAgent.AUTHORIZED_COMPONENTS


class TokenValidation:
    """:param component_of: the core's token table (``ComponentTokens.component_of``: token → name, or None)."""

    def __init__(self, component_of: Callable[[Optional[str]], Optional[str]]) -> None:
        self.component_of = component_of
        self.counts = {"valid": 0, "invalid": 0, "refused": 0}

    def wire(self, service: IpcService) -> None:
        service.wire(OPERATION, self.validate)

    def validate(self, call: Call, body: dict) -> None:
        if call.component not in AUTHORIZED_CALLERS:
            self.counts["refused"] += 1
            raise UnauthorizedError(f"{call.component} is not authorized to perform {call.operation.name}")
        token = body.get("token")
        if token is None:
            self.counts["invalid"] += 1
            raise InvalidTokenError("Invalid authentication token")
        if not isinstance(token, str) or self.component_of(token) is None:
            self.counts["invalid"] += 1
            log.debug("%s asked about a token the core did not issue", call.component)
            raise InvalidTokenError("Authentication token not found")
        self.counts["valid"] += 1
        call.respond({"isValid": True})

    def status(self) -> dict:
        return dict(self.counts)
