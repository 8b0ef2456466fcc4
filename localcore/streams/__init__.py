"""Stream manager of the local core: log store, protocol server, exporters.

Public surface: :class:`StreamManagerServer`, :class:`CloudConfig`, :class:`StreamStore`.
"""

from .exporters import CloudConfig
from .server import StreamManagerServer
from .store import StreamStore

__all__ = ["CloudConfig", "StreamManagerServer", "StreamStore"]
