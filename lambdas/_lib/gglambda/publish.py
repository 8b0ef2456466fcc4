"""What publishing through the Greengrass ``iot-data`` client raises."""
from __future__ import annotations


def publish_errors() -> tuple:
    """What ``iot-data`` publish raises; its exception class exists only inside a Greengrass core."""
    try:
        from greengrasssdk.Lambda import InvocationException
    except ImportError:
        return (ValueError,)
    return (InvocationException, ValueError)
