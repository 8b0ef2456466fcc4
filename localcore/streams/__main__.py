"""Run the stream manager alone: ``python -m localcore.streams --store-root DIR [--port N]``.

Prints ``listening on <host>:<port>`` on stdout once it accepts connections; stops cleanly on
SIGINT/SIGTERM. Client authentication is off here (there is no group to check tokens against).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from .exporters import CloudConfig
from .server import StreamManagerServer


async def _main(args: argparse.Namespace) -> None:
    server = StreamManagerServer(
        args.store_root,
        host=args.host,
        port=args.port,
        authenticate_client=False,
        cloud=CloudConfig(endpoint_url=args.endpoint_url, region=args.region),
        exporters_enabled=not args.no_exporters,
    )
    await server.start()
    print(f"listening on {server.host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m localcore.streams", description=__doc__)
    env_root = os.environ.get("STREAM_MANAGER_STORE_ROOT_DIR")
    p.add_argument(
        "--store-root",
        default=env_root,
        required=env_root is None,
        help="default: $STREAM_MANAGER_STORE_ROOT_DIR",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("STREAM_MANAGER_SERVER_PORT", "8088")),
        help="default: $STREAM_MANAGER_SERVER_PORT or 8088",
    )
    p.add_argument("--endpoint-url", default=None, help="cloud endpoint for exporters (default: real AWS)")
    p.add_argument("--region", default=None)
    p.add_argument("--no-exporters", action="store_true")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args()
    logging.basicConfig(level=args.log_level)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
