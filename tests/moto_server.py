"""A real moto server for the tests that need a plain AWS endpoint (not the LocalCloud)."""
import logging
from contextlib import contextmanager


@contextmanager
def moto_server():
    """moto's ``ThreadedMotoServer`` on 127.0.0.1, port 0, as the local cloud starts it
    (``localcore.cloud.moto_server.fast_stopping_moto_server``: the same app and answers, its host lookups
    remembered, a short stop): yields its endpoint URL; stopped on exit."""
    from localcore.cloud.moto_server import fast_stopping_moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = fast_stopping_moto_server()
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield "http://{}:{}".format(host, port)
    finally:
        server.stop()
