"""moto's own server, as the local cloud runs it (behind the front, wrapped in the snapshot gate)."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable

from . import moto_snapshot

_HOST_CACHE_MAX = 4096  # hosts remembered by the dispatcher (one per service and region in practice)
_tuned = False
_tune_lock = threading.Lock()


def tune_moto() -> None:
    """Make moto's per-process and per-request work cheaper, without changing what it answers.

    Applied once per process (moto's modules are process-global; moto is pinned, 5.2.5):

    * moto loads each service's botocore model through a new ``Loader`` per service, and every new
      loader lists botocore's ~400 service folders (``list_available_services``, ~20-30 ms) before
      reading the model; one loader is shared instead (the models were cached per service anyway:
      ``moto.core.utils.get_service_model`` is ``functools.cache``'d).
    * The REST router of a service compiles a werkzeug rule per operation, and werkzeug compiles two
      URL *builder* functions per rule through ``ast`` (``Rule._compile_builder``): ~70 % of the
      ~80-220 ms a router of IoT, Greengrass or Lambda takes. moto only matches with these rules, never
      builds a URL; its ``SmithyRule`` compiles a builder the first time one is asked for instead.
    * Each service's first backend asks a boto3 session of moto's own for the regions the service has
      (``AccountSpecificBackend.get_session``): that session parsed botocore's endpoints file (~0.1 s) and
      the service's model again, both already parsed in this process by the clients of the deploy and
      the core. It is a session on the process' one botocore loader instead (``group.clients``; the same
      files, so the same regions).
    """
    global _tuned
    with _tune_lock:
        if _tuned:
            return
        import moto.core.loaders
        import moto.core.utils
        from moto.core.base_backend import AccountSpecificBackend
        from moto.core.routing import SmithyRule
        from werkzeug.routing import Rule

        from group.clients import shared_session

        shared = moto.core.loaders.create_loader()
        moto.core.utils.create_loader = lambda: shared  # type: ignore[attr-defined]
        AccountSpecificBackend.get_session = classmethod(functools.cache(lambda cls: shared_session()))  # type: ignore
        SmithyRule._compile_builder = _lazy_builder(Rule._compile_builder)  # type: ignore[method-assign]
        _tuned = True


def _lazy_builder(compile_builder: Callable[..., Any]) -> Callable[..., Any]:
    """A ``Rule._compile_builder`` that returns a builder compiling the real one on its first call."""

    def lazy_compile_builder(rule: Any, append_unknown: bool = True) -> Callable[..., Any]:
        real: list[Callable[..., Any]] = []

        def build(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not real:
                real.append(compile_builder(self, append_unknown).__get__(self, None))
            return real[0](*args, **kwargs)

        return build

    return lazy_compile_builder


def fast_stopping_moto_server() -> Any:
    """A ``ThreadedMotoServer`` on 127.0.0.1:0 whose ``stop()`` takes ~50 ms, not 0.5 s.

    moto's ``_server_entry`` runs werkzeug's ``serve_forever()`` with the default 0.5 s poll, and
    ``shutdown()`` waits for that poll; every test fixture and every Ctrl-C paid it. Same server,
    same app, shorter poll (moto is pinned; this mirrors its 5.2.5 ``_server_entry``). The app is
    wrapped in ``moto_snapshot.GatedApp`` so snapshots never see a request half-applied.
    """
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # heavy: only when starting
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from moto.backends import list_of_moto_modules

    tune_moto()

    class _Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher with its host lookups remembered: moto 5.2.5 lists its package folder
        (``os.listdir`` + an ``isdir`` per entry) and then tries every service's URL pattern for
        each request's host (``greengrass.us-east-1.amazonaws.com``, built from the credential
        scope), ~2.5 ms a request. A host maps to the same backend every time; moto's answer for a
        host is kept (the dispatcher calls this under its lock)."""

        _modules = frozenset(list_of_moto_modules())

        def __init__(self, create_app: Any) -> None:
            super().__init__(create_app)
            self._hosts: dict[str, Any] = {}

        def get_backend_for_host(self, host: Any) -> Any:
            if host is None:
                return None
            if host in self._modules:  # what moto answers for a service folder's name
                return host
            backend = self._hosts.get(host)
            if backend is None:
                backend = super().get_backend_for_host(host)
                if backend is not None and len(self._hosts) < _HOST_CACHE_MAX:
                    self._hosts[host] = backend
            return backend

    class _Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = moto_snapshot.GatedApp(_Dispatcher(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

        def stop(self) -> None:
            # moto's stop ends serve_forever but leaves the listening socket open: a client connecting later is
            # taken into its backlog and waits for an answer that never comes (for its read timeout)
            super().stop()
            if self._server is not None:
                self._server.server_close()

    return _Server(ip_address="127.0.0.1", port=0, verbose=False)
