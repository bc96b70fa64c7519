"""The embedded store: one SQLite file (WAL) behind :class:`~digestbot.store.sqlite.Store`."""

from digestbot.store.sqlite import Store, UpsertResult

__all__ = ["Store", "UpsertResult"]
