"""The Lambdas against real services (stream manager, moto server, the local runtime), imported as
their runtime puts them on sys.path (``tests/lambda_code.py``)."""
import pytest

from tests import lambda_code
from tests.moto_server import moto_server

lambda_code.put_on_path()


@pytest.fixture
def handler_of():
    return lambda_code.load_handler


@pytest.fixture(scope="session")
def moto_endpoint():
    with moto_server() as url:
        yield url
