"""HTTP client of the core's IPC daemon (the Lambda side of ``localcore.lambda_ipc``).

Wire format (``docs/protocols/lambda-ipc.md`` §3): every call goes to
``http://<endpoint>:<GG_DAEMON_PORT>/2016-11-01/functions/<functionArn>[/work|/initialized]`` with
``Authorization: <AWS_CONTAINER_AUTHORIZATION_TOKEN>``. Any HTTP status >= 400 or a refused
connection raises ``IPCException``.

``post_work`` / ``get_work_result`` are what greengrasssdk calls; ``get_work``,
``post_work_result``, ``post_handler_err`` and ``put_initialized`` are for the function runtime
(the bootstrap of each Lambda process).

Python 3.7-compatible and stdlib-only: this module runs inside Lambda processes.
"""
import json
import logging
import os
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from greengrass_common.env_vars import ROUTER_FUNCTION_ARN

HEADER_INVOCATION_ID = 'X-Amz-InvocationId'
HEADER_CLIENT_CONTEXT = 'X-Amz-Client-Context'
HEADER_AUTH_TOKEN = 'Authorization'
HEADER_INVOCATION_TYPE = 'X-Amz-Invocation-Type'
HEADER_FUNCTION_ERR_TYPE = 'X-Amz-Function-Error'
# Not part of AWS's wire format: lets the local core tell the instances of one function apart
# (needed to kill exactly the instance whose invocation timed out). Clients that omit it still work.
HEADER_INSTANCE_ID = 'X-GG-Instance'

IPC_API_VERSION = '2016-11-01'

runtime_logger = logging.getLogger(__name__)


class IPCException(Exception):
    pass


class WorkItem(object):
    def __init__(self, invocation_id, payload, client_context):
        self.invocation_id = invocation_id
        self.payload = payload
        self.client_context = client_context


class GetWorkResultOutput(object):
    def __init__(self, payload, func_err):
        self.payload = payload
        self.func_err = func_err


def _text(value):
    if value is None:
        return ''
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode('utf-8')
    return str(value)


def _body(payload):
    if payload is None:
        return b''
    if isinstance(payload, str):
        return payload.encode('utf-8')
    if hasattr(payload, 'read'):
        return _body(payload.read())
    return bytes(payload)


class IPCClient(object):
    """Client of the IPC daemon. ``endpoint`` is the daemon host; the port is ``GG_DAEMON_PORT``."""

    def __init__(self, endpoint='localhost', port=None, instance_id=None, timeout=None):
        # The daemon listens on IPv4 loopback only; resolving "localhost" to ::1 first would cost
        # a refused connection on every call.
        self.endpoint = '127.0.0.1' if endpoint == 'localhost' else endpoint
        if port is None:
            port = os.environ.get('GG_DAEMON_PORT', '8000')
        self.port = int(port)
        self.auth_token = os.environ.get('AWS_CONTAINER_AUTHORIZATION_TOKEN', '')
        self.instance_id = instance_id
        self.timeout = timeout

    # -- calls made by greengrasssdk ------------------------------------------------------------

    def post_work(self, function_arn, input_bytes, client_context, invocation_type='RequestResponse'):
        """Invoke ``function_arn``; returns the invocation id."""
        headers = {
            HEADER_CLIENT_CONTEXT: _text(client_context),
            HEADER_INVOCATION_TYPE: _text(invocation_type),
        }
        response = self._request('POST', self._url(function_arn), _body(input_bytes), headers)
        invocation_id = response.headers.get(HEADER_INVOCATION_ID)
        if not invocation_id:
            raise IPCException('IPC daemon answered without an {} header'.format(HEADER_INVOCATION_ID))
        return invocation_id

    def get_work_result(self, function_arn, invocation_id):
        """Wait for the result of ``invocation_id``; ``.payload`` bytes, ``.func_err`` header or None."""
        if function_arn == ROUTER_FUNCTION_ARN:
            # The router never produces a result; a real core's client does not even ask.
            return GetWorkResultOutput(b'', '')
        response = self._request('GET', self._url(function_arn), None, {HEADER_INVOCATION_ID: invocation_id})
        return GetWorkResultOutput(response.body, response.headers.get(HEADER_FUNCTION_ERR_TYPE))

    # -- calls made by the function runtime -----------------------------------------------------

    def get_work(self, function_arn):
        """Long-poll for the next invocation of this function; None when the poll ran out empty."""
        response = self._request('GET', self._url(function_arn) + '/work', None, self._instance_headers())
        if response.status == 204:
            return None
        return WorkItem(
            invocation_id=response.headers.get(HEADER_INVOCATION_ID),
            payload=response.body,
            client_context=response.headers.get(HEADER_CLIENT_CONTEXT, ''),
        )

    def post_work_result(self, function_arn, work):
        """Post the handler's result; ``work`` is a WorkItem whose ``payload`` is the result bytes."""
        headers = self._instance_headers()
        headers[HEADER_INVOCATION_ID] = work.invocation_id
        self._request('POST', self._url(function_arn) + '/work', _body(work.payload), headers)

    def post_handler_err(self, function_arn, invocation_id, handler_err):
        """Report that the handler raised; ``handler_err`` is a message or a dict (JSON body)."""
        if isinstance(handler_err, dict):
            body = json.dumps(handler_err)
        else:
            body = json.dumps({'errorMessage': _text(handler_err)})
        headers = self._instance_headers()
        headers[HEADER_INVOCATION_ID] = invocation_id
        headers[HEADER_FUNCTION_ERR_TYPE] = 'Handled'
        self._request('POST', self._url(function_arn) + '/work', body.encode('utf-8'), headers)

    post_handler_error = post_handler_err

    def put_initialized(self, function_arn, success=True, response=''):
        body = json.dumps({'Success': bool(success), 'Response': _text(response)}).encode('utf-8')
        self._request('PUT', self._url(function_arn) + '/initialized', body, self._instance_headers())

    # -- plumbing -------------------------------------------------------------------------------

    def _instance_headers(self):
        return {HEADER_INSTANCE_ID: self.instance_id} if self.instance_id else {}

    def _url(self, function_arn):
        return 'http://{}:{}/{}/functions/{}'.format(self.endpoint, self.port, IPC_API_VERSION, function_arn)

    def _request(self, method, url, data, headers):
        headers = dict(headers)
        headers[HEADER_AUTH_TOKEN] = self.auth_token
        request = Request(url, data=data, headers=headers, method=method)
        try:
            if self.timeout is None:
                response = urlopen(request)
            else:
                response = urlopen(request, timeout=self.timeout)
            with response:
                return _Response(response.status, response.headers, response.read())
        except HTTPError as e:
            try:
                detail = e.read().decode('utf-8', 'replace')
            finally:
                e.close()
            raise IPCException('{} {} returned HTTP {}: {}'.format(method, url, e.code, detail))
        except (URLError, OSError) as e:
            raise IPCException('{} {} failed: {}'.format(method, url, e))


class _Response(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
