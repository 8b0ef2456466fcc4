"""Parse Lambda function ARNs the way greengrasssdk's ``Lambda.Client.invoke`` needs.

``arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]``. The system functions
of the core (``arn:aws:lambda:::function:GGRouter``) have empty region and account fields.
"""
import re

_ARN_RE = re.compile(
    r'^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]*):(?P<account_id>[0-9]*):'
    r'function:(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$'
)


class FunctionArnFields(object):
    """The fields of a function ARN. Raises ``ValueError`` for anything that is not one."""

    def __init__(self, function_arn):
        if not isinstance(function_arn, str):
            raise ValueError('Function ARN must be a string, got {!r}'.format(function_arn))
        match = _ARN_RE.match(function_arn)
        if match is None:
            raise ValueError(
                'Cannot parse given string as a function ARN: {!r} (expected '
                'arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>])'.format(function_arn))
        self.arn = function_arn
        self.partition = match.group('partition')
        self.region = match.group('region')
        self.account_id = match.group('account_id')
        self.name = match.group('name')
        self.qualifier = match.group('qualifier') or ''
        self.unqualified_arn = 'arn:{}:lambda:{}:{}:function:{}'.format(
            self.partition, self.region, self.account_id, self.name)

    @staticmethod
    def build_arn_string(partition, region, account_id, name, qualifier=''):
        arn = 'arn:{}:lambda:{}:{}:function:{}'.format(partition, region, account_id, name)
        return arn + ':' + qualifier if qualifier else arn

    @staticmethod
    def build_function_arn(unqualified_arn, qualifier=None):
        """``unqualified_arn`` plus ``:qualifier`` when a qualifier is given (GGC >= 1.9 API)."""
        if qualifier:
            return '{}:{}'.format(unqualified_arn, qualifier)
        return unqualified_arn

    def __repr__(self):
        return 'FunctionArnFields({!r})'.format(self.arn)
