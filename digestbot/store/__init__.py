"""The store seam (:class:`~digestbot.store.protocol.StoreProtocol`) and its embedded implementation.

:class:`Store` is the SQLite store (one file, WAL), under the name tools and tests open it by:
``Store.open(path)``. Code that only uses a store types against ``StoreProtocol``.
"""

from digestbot.store.protocol import OutboxStorage, StoreProtocol
from digestbot.store.records import UpsertResult
from digestbot.store.sqlite import SqliteStore, Store

__all__ = ["OutboxStorage", "SqliteStore", "Store", "StoreProtocol", "UpsertResult"]
