"""A real moto server for the tests that need a plain AWS endpoint (not the LocalCloud)."""
import logging
from contextlib import contextmanager


@contextmanager
def moto_server():
    """A ``ThreadedMotoServer`` on 127.0.0.1, port 0: yields its endpoint URL; stopped on exit."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield "http://{}:{}".format(host, port)
    finally:
        server.stop()
