"""Request checks of the dashboard (pure): Host allow-list, same-origin, per-run token.

* ``Host`` must name an allowed host (defeats DNS rebinding: a foreign name resolving to
  127.0.0.1 still carries its own name in ``Host``).
* ``Origin``, when sent, must be the dashboard's own origin ``http://<Host>``; a browser's
  ``Sec-Fetch-Site`` of ``cross-site``/``same-site`` is refused on the API too.
* Every ``/api/`` call needs the per-run token (header ``X-Dashboard-Token`` or query ``token``).
"""
from __future__ import annotations

import hmac
from typing import Iterable, Mapping, Optional

TOKEN_HEADER = "X-Dashboard-Token"
TOKEN_QUERY = "token"


def split_host(host_header: str) -> tuple[str, Optional[int]]:
    """``'Example.com:8080'`` → ``('example.com', 8080)``; ``'[::1]:80'`` → ``('::1', 80)``.

    Raises ``ValueError`` for a malformed value.
    """
    text = host_header.strip().lower()
    if not text:
        raise ValueError("empty Host")
    port_text = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"malformed IPv6 Host {host_header!r}")
        name, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"malformed Host {host_header!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        name, port_text = text.split(":")
    elif ":" in text:
        raise ValueError(f"malformed Host {host_header!r} (an IPv6 address needs brackets)")
    else:
        name = text
    name = name.rstrip(".")
    if not name:
        raise ValueError(f"malformed Host {host_header!r}")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"malformed port in Host {host_header!r}")
        return name, int(port_text)
    return name, None


def normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """Host names (ports, brackets and case dropped) from an allow-list."""
    names = set()
    for host in hosts:
        if host.startswith("[") or host.count(":") <= 1:
            names.add(split_host(host)[0])
        else:  # a bare IPv6 address
            names.add(host.lower())
    return frozenset(names)


def host_refusal(host_header: Optional[str], allowed: frozenset[str]) -> Optional[str]:
    """Why the ``Host`` header is refused, or None."""
    if not host_header:
        return "missing Host header"
    try:
        name, _port = split_host(host_header)
    except ValueError as exc:
        return str(exc)
    if name not in allowed:
        return f"Host {host_header!r} is not one of the dashboard's hosts ({', '.join(sorted(allowed))})"
    return None


def origin_refusal(headers: Mapping[str, str], host_header: str, api: bool) -> Optional[str]:
    """Why the request is cross-origin, or None. ``host_header`` has passed :func:`host_refusal`."""
    origin = headers.get("Origin")
    if origin is not None:
        own = f"http://{host_header.strip().lower()}"
        if origin.strip().lower() != own:
            return f"cross-origin request from Origin {origin!r}; only {own} may call the dashboard"
    if api:
        site = headers.get("Sec-Fetch-Site", "").lower()
        if site in ("cross-site", "same-site"):
            return f"cross-site request (Sec-Fetch-Site: {site}) refused"
    return None


def token_refusal(headers: Mapping[str, str], query: Mapping[str, str], token: str) -> Optional[str]:
    """Why the per-run token is missing or wrong, or None."""
    given = headers.get(TOKEN_HEADER)
    if given is None:
        given = query.get(TOKEN_QUERY)
    if not given:
        return f"missing dashboard token ({TOKEN_HEADER} header or ?{TOKEN_QUERY}=); open the URL printed at start"
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8")):
        return "wrong dashboard token; open the URL printed at start"
    return None
