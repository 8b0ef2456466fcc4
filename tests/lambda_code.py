"""The Lambdas' code as their runtime sees it, for the tests of ``lambdas/`` (unit and functional).

Each Lambda's code dir goes on sys.path, then the shared library folder ``lambdas/_lib``
(``libraries:`` in group.yaml; the runtime puts it after the function's own code). Every Lambda module
name except ``handler`` is unique across ``lambdas/`` (checked by
tests/functional/lambdas/test_compat_and_imports.py), so all code dirs can share one sys.path;
handlers load under unique names.
"""
import importlib.util
import sys
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[1] / "lambdas"
LIBRARY = LAMBDAS / "_lib"
LAMBDA_NAMES = sorted(p.name for p in LAMBDAS.iterdir() if (p / "handler.py").is_file())


def put_on_path():
    for folder in [LAMBDAS / name for name in LAMBDA_NAMES] + [LIBRARY]:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))


def load_handler(name):
    module_name = "lambda_{}_handler".format(name)
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, LAMBDAS / name / "handler.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

