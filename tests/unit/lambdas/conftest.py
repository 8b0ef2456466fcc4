"""The Lambdas' pure logic, imported as their runtime puts them on sys.path (``tests/lambda_code.py``)."""
import pytest

from tests import lambda_code

lambda_code.put_on_path()


@pytest.fixture
def handler_of():
    return lambda_code.load_handler
