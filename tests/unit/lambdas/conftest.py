"""Make each Lambda's own modules importable the way its runtime does: its code dir on sys.path,
then the shared library folder ``lambdas/_lib`` (``libraries:`` in group.yaml; the runtime puts it
after the function's own code).

Every Lambda module name except ``handler`` is unique across ``lambdas/`` (checked by
test_compat_and_imports.py), so all code dirs can share one sys.path; handlers load under unique names.
"""
import importlib.util
import logging
import sys
from pathlib import Path

import pytest

LAMBDAS = Path(__file__).resolve().parents[3] / "lambdas"
LIBRARY = LAMBDAS / "_lib"
LAMBDA_NAMES = sorted(p.name for p in LAMBDAS.iterdir() if (p / "handler.py").is_file())

for _dir in [LAMBDAS / _name for _name in LAMBDA_NAMES] + [LIBRARY]:
    if str(_dir) not in sys.path:
        sys.path.append(str(_dir))


def load_handler(name):
    module_name = "lambda_{}_handler".format(name)
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, LAMBDAS / name / "handler.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def handler_of():
    return load_handler


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real moto server on 127.0.0.1, port 0 (imported only by the tests that need it)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield "http://{}:{}".format(host, port)
    finally:
        server.stop()
