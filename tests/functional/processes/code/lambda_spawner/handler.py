"""A pinned Lambda that starts a subprocess of its own at import (a grandchild of the core)."""
import subprocess

HELPER = subprocess.Popen(['sleep', '300'])


def function_handler(event, context):
    return {'helper': HELPER.pid}
