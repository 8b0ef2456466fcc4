"""Bootstrap of one Lambda instance (one process): ``python -u -S -B bootstrap.py '<json config>'``.

Runs inside the Lambda process, so it is Python 3.7-compatible and stdlib-only; it must not import
``localcore``. What it does, like the GGC 1.x Python runtime:

1. Builds a fresh ``sys.path``: the core's SDK dir (our ``greengrass_common`` and
   ``greengrass_ipc_python_sdk``), the function's code dir, its vendored dependency dirs, the
   standard library, and last the fallback dirs (site-packages of the core's venv, so
   ``greengrasssdk``/``boto3`` resolve when the package does not vendor them).
2. Imports the handler module in a thread of its own: module code may never return (pinned
   functions that loop at import). Import errors are logged with their traceback and reported on
   ``PUT .../initialized``; every invocation of such an instance is answered ``Unhandled``.
3. Main thread: long-poll ``get work`` → ``handler(event, context)`` → post the result, or the
   handler's error (``Handled``), one invocation at a time.
"""
import base64
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback

LOG_FORMAT = '[%(asctime)s][%(levelname)s]-%(filename)s:%(lineno)d,%(message)s'
log = logging.getLogger('greengrass.runtime')


class ClientContext(object):
    def __init__(self, document):
        self.client = document.get('client')
        self.custom = document.get('custom')
        self.env = document.get('env')

    def __repr__(self):
        return 'ClientContext(custom={!r}, client={!r}, env={!r})'.format(self.custom, self.client, self.env)


class LambdaContext(object):
    """The ``context`` argument of a handler (fields of the AWS Lambda Python context)."""

    def __init__(self, function_arn, function_name, memory_mb, timeout_s, invocation_id, client_context):
        fields = function_arn.split(':')
        self.function_name = fields[6] if len(fields) > 6 else function_name
        self.function_version = fields[7] if len(fields) > 7 else '$LATEST'
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = invocation_id
        self.log_group_name = '/aws/greengrass/Lambda/{}'.format(self.function_name)
        self.log_stream_name = self.function_name
        self.identity = None
        self.client_context = client_context
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def parse_client_context(value):
    if not value:
        return None
    try:
        document = json.loads(base64.b64decode(value).decode('utf-8'))
    except (ValueError, TypeError) as e:
        log.warning('ignoring undecodable client context %r: %s', value, e)
        return None
    if not isinstance(document, dict):
        return None
    return ClientContext(document)


def setup_path(config):
    stdlib = [p for p in sys.path[1:] if p]  # python -S: only the standard library is left
    sys.path[:] = ([config['sdk_dir'], config['code_dir']] + list(config.get('extra_paths', []))
                   + stdlib + list(config.get('fallback_paths', [])))


class Runtime(object):
    def __init__(self, config):
        from greengrass_ipc_python_sdk.ipc_client import IPCClient, IPCException
        self.IPCException = IPCException
        self.config = config
        self.arn = os.environ['MY_FUNCTION_ARN']
        self.encoding = os.environ.get('ENCODING_TYPE', 'json')
        # Bounded socket waits: the daemon ends each "get work" long-poll well before this.
        self.ipc = IPCClient(instance_id=config['instance'], timeout=config.get('ipc_timeout_s', 120))
        self.handler = None
        self.import_error = None
        self.imported = threading.Event()
        self.parent = os.getppid()

    def import_handler(self):
        handler_path = self.config['handler']
        module_name, _, function_name = handler_path.rpartition('.')
        try:
            module = importlib.import_module(module_name)
            handler = getattr(module, function_name, None)
            if not callable(handler):
                raise AttributeError('module {!r} ({}) has no callable {!r}'.format(
                    module_name, getattr(module, '__file__', '?'), function_name))
            self.handler = handler
            self._report_initialized(True, '')
        except BaseException as e:  # SystemExit at import too: the instance stays, answers errors
            self.import_error = 'importing handler {} of function {} failed: {}: {}'.format(
                handler_path, self.config['function'], type(e).__name__, e)
            log.error('%s\n%s', self.import_error, traceback.format_exc())
            self._report_initialized(False, self.import_error)
        finally:
            self.imported.set()

    def _report_initialized(self, success, response):
        try:
            self.ipc.put_initialized(self.arn, success, response)
        except self.IPCException as e:
            log.warning('could not report start-up to the core: %s', e)

    def run(self):
        threading.Thread(target=self.import_handler, name='handler-import', daemon=True).start()
        while not self.imported.wait(1.0):  # the import may never return (pinned loop at module level)
            self._exit_if_orphaned()
        failures = 0
        while True:
            self._exit_if_orphaned()
            try:
                work = self.ipc.get_work(self.arn)
                failures = 0
            except self.IPCException as e:
                failures += 1
                if failures > 30:
                    log.error('IPC daemon unreachable, giving up: %s', e)
                    return 1
                time.sleep(min(2.0, 0.1 * failures))
                continue
            if work is not None:
                self.handle(work)

    def _exit_if_orphaned(self):
        if os.getppid() != self.parent:
            # The core died (kill -9): do not outlive it. os._exit, because user code may hold
            # non-daemon threads (timers) that would keep a normal exit waiting forever.
            log.info('core process went away; instance exits')
            logging.shutdown()
            os._exit(0)

    def handle(self, work):
        if self.import_error is not None:
            self._post_error(work.invocation_id, {'errorMessage': self.import_error}, 'Unhandled')
            return
        try:
            if self.encoding == 'binary':
                event = work.payload
            else:
                event = json.loads(work.payload.decode('utf-8')) if work.payload else {}
        except ValueError as e:
            self._post_error(work.invocation_id, {'errorMessage': 'event is not JSON: {}'.format(e)},
                             'Handled')
            return
        context = LambdaContext(self.arn, self.config['function'], self.config.get('memory_mb'),
                                self.config['timeout_s'], work.invocation_id,
                                parse_client_context(work.client_context))
        try:
            result = self.handler(event, context)
            if isinstance(result, (bytes, bytearray)):
                body = bytes(result)
            else:
                body = json.dumps(result).encode('utf-8')
        except Exception as e:
            log.exception('handler %s raised', self.config['handler'])
            self._post_error(work.invocation_id, {
                'errorMessage': str(e),
                'errorType': type(e).__name__,
                'stackTrace': traceback.format_exc().splitlines(),
            }, 'Handled')
            return
        work.payload = body
        try:
            self.ipc.post_work_result(self.arn, work)
        except self.IPCException as e:
            log.warning('could not post the result of %s: %s', work.invocation_id, e)

    def _post_error(self, invocation_id, document, kind):
        try:
            if kind == 'Handled':
                self.ipc.post_handler_err(self.arn, invocation_id, document)
            else:
                body = json.dumps(document).encode('utf-8')
                self.ipc._request('POST', self.ipc._url(self.arn) + '/work', body, {
                    'X-Amz-InvocationId': invocation_id,
                    'X-Amz-Function-Error': kind,
                    'X-GG-Instance': self.config['instance'],
                })
        except self.IPCException as e:
            log.warning('could not post the error of %s: %s', invocation_id, e)


def limit_memory(limit):
    """RLIMIT_AS (soft and hard) in bytes, set before the function's code is imported: an allocation beyond it
    is a MemoryError in the function."""
    if limit:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv):
    # On Linux the runtime starts this process with PR_SET_PDEATHSIG (localcore.processes): it dies with
    # the core at once; the orphan check of Runtime.run is the fallback elsewhere.
    config = json.loads(argv[1])
    limit_memory(config.get('rlimit_as'))
    setup_path(config)
    sys.argv = [config['handler']]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    os.chdir(config['code_dir'])
    return Runtime(config).run()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
