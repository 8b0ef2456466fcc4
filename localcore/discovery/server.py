"""HTTPS (mutual TLS) discovery endpoint, answered the way AWSIoTPythonSDK parses it.

The SDK's DiscoveryInfoProvider needs the status line ``HTTP/1.1 <code> <reason>`` and a
lower-case ``content-length: N`` header, and reads exactly N bytes (at least one: it reads a
byte before checking the length), so every answer has a non-empty JSON body: 404 for a thing that is not
associated with the core device (not a device of the V1 group), 401 for a certificate that is not one of the
thing's, and the SDK's other codes for a bad request (400) or a failure here (500).

A client certificate that does not chain to the trusted CA is refused in the TLS handshake, as AWS IoT refuses a
certificate it does not know. The server speaks TLS 1.2 at most so that the device sees that refusal *in* its
handshake (``ssl.SSLError`` from ``DiscoveryInfoProvider.discover``): under TLS 1.3 the client's handshake ends
before the server has checked the client certificate, asyncio then closes the connection without an alert, and
the SDK's read loop turns the empty read into ``TypeError: 'bytes' object cannot be interpreted as an integer``.

Wiring::

    auth = CertificateAuthorizer(members)          # localcore.broker.auth
    disc = DiscoveryServer(group, is_member=auth.is_member, authorize=auth,
                           ssl_context=server_ssl_context(cert, key, root_ca_pem), port=8443)
    await disc.start(); disc.port; disc.update_group(new_group); await disc.stop()

``recheck(thing) -> bool`` (optional, async): asked before a 404 or 401 is answered, whether what the cloud knows now
may change the answer (a device associated with the core device, or its certificate attached, since the core last
read it: AWS discovery checks the cloud on every request); True → the thing and its certificate are checked again.
"""
from __future__ import annotations

import logging
import socket
import ssl
from collections import Counter
from typing import Awaitable, Callable, Optional

from aiohttp import web

from localcore.discovery.state import DiscoveryGroup, answer, encode

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}


class DiscoveryServer:
    def __init__(
        self,
        group: DiscoveryGroup,
        *,
        is_member: Callable[[str], bool],
        authorize: Callable[[str, bytes], bool],
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 8443,
        recheck: Optional[Callable[[str], Awaitable[bool]]] = None,
    ) -> None:
        self.group = group
        self.is_member = is_member
        self.authorize = authorize
        self.recheck = recheck
        ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2   # a refused client certificate fails the handshake
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._counts: Counter[int] = Counter()
        self.state = "new"

    def update_group(self, group: DiscoveryGroup) -> None:
        """Serve new group information (a redeploy, new connectivity) from the next request on."""
        self.group = group

    @staticmethod
    def _response(status: int, body: dict) -> web.Response:
        data = encode(body)
        return web.Response(status=status, reason=_REASONS.get(status, "Error"), body=data,
                            headers={"content-length": str(len(data)), "content-type": "application/json"})

    async def _discover(self, request: web.Request) -> web.Response:
        thing = request.match_info["thing"]
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        cert_der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        status, body = self._answer(thing, cert_der)
        if status in (401, 404) and cert_der and self.recheck is not None and await self._rechecked(thing):
            status, body = self._answer(thing, cert_der)
        self._counts[status] += 1
        log.info("discovery for %s from %s: %d", thing, request.remote, status)
        return self._response(status, body)

    def _answer(self, thing: str, cert_der: Optional[bytes]) -> tuple[int, dict]:
        member = self._check(self.is_member, thing)
        cert_ok = bool(cert_der) and member and self._check(self.authorize, thing, cert_der)
        return answer(self.group, thing, member, cert_ok)

    async def _rechecked(self, thing: str) -> bool:
        try:
            return bool(await self.recheck(thing))
        except Exception:  # the cloud could not be asked: the answer stands
            log.exception("discovery recheck failed for %r", thing)
            return False

    async def _not_found(self, request: web.Request) -> web.Response:
        self._counts[404] += 1
        return self._response(404, {"errorMessage": f"no such resource: {request.path}",
                                    "errorCode": "ResourceNotFoundException"})

    @web.middleware
    async def _errors_as_json(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """A failure here is a 500 the SDK can read (its JSON body and lower-case content-length), not aiohttp's
        plain-text page."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("discovery failed on %s", request.path)
            self._counts[500] += 1
            return self._response(500, {"errorMessage": "Discovery failed on the core: see its log",
                                        "errorCode": "InternalFailureException"})

    @staticmethod
    def _check(func: Callable, *args) -> bool:
        try:
            return bool(func(*args))
        except Exception:  # a membership bug must refuse the caller, not answer 500
            log.exception("discovery membership check failed for %r", args[0])
            return False

    async def start(self) -> None:
        self.state = "starting"
        app = web.Application(middlewares=[self._errors_as_json])
        app.router.add_get("/greengrass/discover/thing/{thing}", self._discover)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await self._runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=self.ssl_context)
        await site.start()
        self.state = "started"
        log.info("discovery listening on https://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            self.state = "stopping"
            await self._runner.cleanup()
            self._runner = None
            self.state = "stopped"

    def status(self) -> dict:
        return {"state": self.state, "host": self.host, "port": self.port, "group_id": self.group.group_id,
                "responses": {str(k): v for k, v in self._counts.items()}}
