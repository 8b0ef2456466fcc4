"""Worker process of a cloud Lambda run locally: ``python -I -u -B worker.py '<json config>'``.

Stdlib only and never imports ``localcore`` (it runs beside the function's code, as the Lambda
runtime's bootstrap does). Protocol, one JSON object per line:

* worker → parent, first line: ``{"type": "ready", "pid", "init_ms"}`` once the handler module
  is imported, or ``{"type": "init_error", "errorType", "errorMessage"}`` (then it exits 2).
* parent → worker: ``{"type": "invoke", "id", "request_id", "remaining_ms", "event"}``.
* worker → parent: ``{"type": "result", "id", "ok": true, "payload", "max_rss_kb", "duration_ms"}``
  or ``{... "ok": false, "errorType", "errorMessage", ...}``; the traceback goes to the log only.

The protocol uses a private duplicate of the original stdout; fd 1 is pointed at stderr, so
whatever the function prints lands in its log, as on Lambda, and cannot corrupt the protocol.
EOF on stdin ends the worker.
"""
import importlib
import json
import logging
import os
import resource
import sys
import time

MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation response limit
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"
log = logging.getLogger("cloud_lambdas.worker")


class LambdaContext(object):
    """The ``context`` argument (the fields of the AWS Lambda Python context object)."""

    def __init__(self, config, request_id, remaining_ms):
        self.function_name = config["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = config["arn"]
        self.memory_limit_in_mb = str(config["memory_mb"])
        self.aws_request_id = request_id
        self.log_group_name = "/aws/lambda/" + config["name"]
        self.log_stream_name = "local/[$LATEST]" + str(os.getpid())
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + remaining_ms / 1000.0

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _send(out, message):
    out.write(json.dumps(message, separators=(",", ":")) + "\n")
    out.flush()


def _max_rss_kb():
    """Peak resident memory of this process. VmHWM belongs to the address space made at exec;
    ru_maxrss (the fallback off Linux) can carry the forking parent's peak over."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _load(handler_name):
    module_name, _, func_name = handler_name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # reported like Lambda's Runtime.ImportModuleError
        log.exception("cannot import %s", module_name)
        return None, ("Runtime.ImportModuleError",
                      "Unable to import module '%s': %s: %s" % (module_name, type(exc).__name__, exc))
    func = getattr(module, func_name, None)
    if not callable(func):
        return None, ("Runtime.HandlerNotFound",
                      "Handler '%s' missing on module '%s'" % (func_name, module_name))
    return func, None


def _invoke(func, config, message):
    context = LambdaContext(config, message.get("request_id", ""), message.get("remaining_ms", 0))
    t0 = time.monotonic()
    reply = {"type": "result", "id": message.get("id")}
    try:
        payload = func(message.get("event"), context)
    except Exception as exc:  # the function's error: type and message to the caller, trace to the log
        log.exception("invocation %s failed", context.aws_request_id)
        reply.update(ok=False, errorType=type(exc).__name__, errorMessage=str(exc))
    else:
        reply.update(ok=True, payload=payload)
        try:
            size = len(json.dumps(payload))
        except (TypeError, ValueError) as exc:
            reply = {"type": "result", "id": message.get("id"), "ok": False,
                     "errorType": "Runtime.MarshalError",
                     "errorMessage": "Unable to marshal response: %s" % (exc,)}
        else:
            if size > MAX_RESPONSE_BYTES:
                reply = {"type": "result", "id": message.get("id"), "ok": False,
                         "errorType": "Function.ResponseSizeTooLarge",
                         "errorMessage": "Response payload size (%d bytes) exceeded maximum allowed "
                                         "payload size (%d bytes)." % (size, MAX_RESPONSE_BYTES)}
    reply["duration_ms"] = round((time.monotonic() - t0) * 1000, 3)
    reply["max_rss_kb"] = _max_rss_kb()
    return reply


def main(argv):
    config = json.loads(argv[1])
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the function's print() goes to the log
    proto_in = sys.stdin
    logging.basicConfig(level=os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper(),
                        format=LOG_FORMAT, stream=sys.stderr)
    sys.path.insert(0, config["code_dir"])
    t0 = time.monotonic()
    func, error = _load(config["handler"])
    if error is not None:
        _send(proto_out, {"type": "init_error", "errorType": error[0], "errorMessage": error[1]})
        return 2
    _send(proto_out, {"type": "ready", "pid": os.getpid(),
                      "init_ms": round((time.monotonic() - t0) * 1000, 3), "max_rss_kb": _max_rss_kb()})
    while True:
        line = proto_in.readline()
        if not line:
            return 0
        try:
            message = json.loads(line)
        except ValueError as exc:
            log.error("protocol: unreadable line from the runner: %s", exc)
            return 3
        if message.get("type") != "invoke":
            log.error("protocol: unexpected message type %r", message.get("type"))
            return 3
        _send(proto_out, _invoke(func, config, message))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
