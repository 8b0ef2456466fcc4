"""A tiny method + regex router for the adapter's REST handlers."""

from __future__ import annotations

import re
from typing import Callable

from .wire import CloudRequest, CloudResponse

Route = Callable[..., CloudResponse]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []

    def add(self, method: str, pattern: str, func: Route) -> None:
        self._routes.append((method, re.compile(pattern + r"/?$"), func))

    def dispatch(self, req: CloudRequest) -> CloudResponse | None:
        """Call the first route matching method and path (groups as keyword args), else ``None``."""
        for method, rx, func in self._routes:
            if method != req.method:
                continue
            m = rx.match(req.path)
            if m is not None:
                return func(req, **m.groupdict())
        return None
