"""moto's own server, as the local cloud runs it (behind the front, wrapped in the snapshot gate)."""
from __future__ import annotations

from typing import Any

from . import moto_snapshot


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

    class _Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher with its list of service folders read once: moto 5.2.5 lists its package
        folder (``os.listdir`` + an ``isdir`` per entry, ~1 ms) on every request to match the host."""

        _modules = frozenset(list_of_moto_modules())

        def get_backend_for_host(self, host: Any) -> Any:
            if host in self._modules:  # what moto answers for a service folder's name (never None or "moto_api")
                return host
            return super().get_backend_for_host(host)

    class _Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = moto_snapshot.GatedApp(_Dispatcher(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

    return _Server(ip_address="127.0.0.1", port=0, verbose=False)
