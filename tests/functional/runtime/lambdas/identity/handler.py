"""Reports who it runs as and its address-space limit; allocates event['mb'] MB when asked."""
import os
import resource


def function_handler(event, context):
    if event.get('mb'):
        block = bytearray(event['mb'] * 1024 * 1024)
        return {'allocated': len(block)}
    return {'uid': os.getuid(), 'gid': os.getgid(), 'rlimit_as': resource.getrlimit(resource.RLIMIT_AS)[0]}
