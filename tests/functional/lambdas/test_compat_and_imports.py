"""Python 3.7 syntax for everything that ships, and imports without side effects."""
import ast
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(p for d in ("lambdas", "devices") for p in (ROOT / d).rglob("*.py"))
LIBRARY = ROOT / "lambdas" / "_lib"  # shared code: ``libraries: [lambdas/_lib]`` in group.yaml
LIBRARY_FILES = sorted(LIBRARY.rglob("*.py"))
LIBRARY_PACKAGES = sorted(p.name for p in LIBRARY.iterdir() if (p / "__init__.py").is_file())
LIBRARY_MODULES = sorted(".".join(p.relative_to(LIBRARY).with_suffix("").parts).replace(".__init__", "")
                         for p in LIBRARY_FILES)

# Runs in a fresh interpreter: audit hooks cannot be removed once installed.
PROBE = r"""
import importlib.util, json, os, sys, threading, time
events = []
WRITE = set("wax+")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def hook(event, args):
    if event == "open" and ((isinstance(args[1], str) and WRITE & set(args[1]))
                            or (args[1] is None and isinstance(args[2], int) and args[2] & WRITE_FLAGS)):
        events.append([event, str(args[0])])
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.unlink", "socket.connect", "socket.bind",
                   "_thread.start_new_thread", "subprocess.Popen"):
        events.append([event, repr(args)[:120]])

lambdas, devices, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.addaudithook(hook)
sys.path.append(devices)
sys.path.append(lambdas + "/_lib")  # as the runtime does: after each function's own code
for target in targets:
    kind, name, *wait = target.split(":")
    if kind == "lambda":
        sys.path.insert(0, lambdas + "/" + name)
        spec = importlib.util.spec_from_file_location("h_" + name, lambdas + "/" + name + "/handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(module.function_handler), name
        deadline = time.monotonic() + 10
        while wait and module.function_handler({}, None)[wait[0]] < 1 and time.monotonic() < deadline:
            threading.Event().wait(0.02)
    else:
        __import__(name)
print(json.dumps({"events": events, "threads": [t.name for t in threading.enumerate()]}))
"""

LAMBDAS = sorted(p.parent.name for p in (ROOT / "lambdas").glob("*/handler.py"))
DEVICE_MODULES = sorted(p.stem for p in (ROOT / "devices").glob("*.py"))


def probe(targets, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if k != "MY_FUNCTION_ARN"}
    env.update(env_extra)
    env["PYTHONDONTWRITEBYTECODE"] = "1"   # the interpreter's own .pyc caches are not the modules' doing
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "lambdas"), str(ROOT / "devices")] + targets,
                            cwd=str(cwd), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_all_shipped_code_is_python_37_syntax():
    assert len(SHIPPED) >= 20
    assert LIBRARY_PACKAGES == ["gglambda"] and len(LIBRARY_FILES) >= 5
    assert set(LIBRARY_FILES) <= set(SHIPPED)  # the shared library ships inside every function using it
    for path in SHIPPED:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 7))


def test_the_37_check_can_fail():
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 1):\n    pass\n", feature_version=(3, 7))


def test_lambda_module_names_are_unique_across_lambdas():
    # Each Lambda ships alone; the unit tests put every code dir on one sys.path.
    names = Counter(p.name for p in (ROOT / "lambdas").glob("*/*.py") if p.name != "handler.py")
    assert [n for n, c in names.items() if c > 1] == []
    # a function's own module of a library package's name would hide the library (own code comes first)
    assert [p for n in LAMBDAS for p in (ROOT / "lambdas" / n).iterdir() if p.stem in LIBRARY_PACKAGES] == []
    assert set(LAMBDAS) == {"producer", "aggregator", "reader", "stream_reader", "hello_world",
                            "car_aggregator", "webcam", "s3_uploader"}


def test_shipped_code_imports_only_sdks_and_its_own_modules():
    allowed_third_party = {"greengrasssdk", "AWSIoTPythonSDK", "boto3", "botocore", "cv2", "numpy"}
    stdlib = set(sys.stdlib_module_names)
    for path in SHIPPED:
        own = {p.stem for p in path.parent.glob("*.py")}
        allowed = allowed_third_party
        if LIBRARY in path.parents:  # the library imports only its own package, the SDK and boto3
            own, allowed = set(LIBRARY_PACKAGES), {"greengrasssdk", "boto3", "botocore"}
        elif (ROOT / "lambdas") in path.parents:  # a function may import the shared library
            own |= set(LIBRARY_PACKAGES)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in stdlib or root in own or root in allowed or root == "__future__", (
                    "{} imports {}".format(path.relative_to(ROOT), root))


def test_importing_every_handler_and_device_module_has_no_side_effects(tmp_path):
    targets = (["lambda:" + n for n in LAMBDAS] + ["device:" + n for n in DEVICE_MODULES]
               + ["library:" + n for n in LIBRARY_MODULES])
    assert "library:gglambda.streams" in targets
    report = probe(targets, {"BUCKET_NAME": "b"}, tmp_path)
    assert report["events"] == []
    assert report["threads"] == ["MainThread"]
    assert list(tmp_path.iterdir()) == []


def test_the_core_starts_a_pinned_worker_when_it_loads_the_module(tmp_path):
    """Positive control for the probe: with MY_FUNCTION_ARN set (as on a core) the worker starts."""
    out = tmp_path / "frames"
    report = probe(["lambda:webcam:saved"], {"MY_FUNCTION_ARN": "arn:aws:lambda:r:1:function:webcam:1",
                                       "CAMERA_MODE": "synthetic", "OUTPUT_DIR": str(out), "FPS": "50"}, tmp_path)
    assert "webcam" in report["threads"]
    assert ["os.mkdir", repr((str(out), 0o777, -1))] in report["events"]
    assert any(event == "open" and path.startswith(str(out)) for event, path in report["events"])
    assert len([p for p in out.iterdir() if p.suffix == ".jpg"]) >= 1
