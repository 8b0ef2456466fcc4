"""Stream manager of the local core: log store, protocol server, exporters.

Wiring (everything runs on the caller's event loop)::

    server = StreamManagerServer(
        store_root,                     # dir: streams/, exports/ (checkpoints) live here
        host="127.0.0.1", port=8088,    # port=0 picks one; read server.port after start()
        authenticate_client=True,       # refuse clients whose authToken token_check rejects
        token_check=runtime.token_valid,  # callable(str) -> bool, called on the loop, must not block
        cloud=CloudConfig(endpoint_url=cloud_url, region=region),  # None url = real AWS (boto3 chain)
    )
    await server.start(); ...; await server.stop()
    server.status()  # JSON-able dict for the dashboard

Lambdas need ``STREAM_MANAGER_SERVER_PORT=<server.port>`` (when not 8088) and their
``AWS_CONTAINER_AUTHORIZATION_TOKEN``; the unmodified ``greengrasssdk`` client reads both.
"""

from .exporters import CloudConfig
from .server import StreamManagerServer
from .store import StreamStore

__all__ = ["CloudConfig", "StreamManagerServer", "StreamStore"]
