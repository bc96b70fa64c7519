"""The SQLite store's private connection, for tests that set up states no public method makes.

A stale claim from another host, a trigger that fails writes like a full disk, a look at the FTS
index: tests reach past the store seam here, in one named place, and nowhere in the package.
"""

from __future__ import annotations

import aiosqlite

from digestbot.store import SqliteStore


def raw_connection(store: SqliteStore) -> aiosqlite.Connection:
    """Return ``store``'s own aiosqlite connection (tests only: the app goes through store methods)."""
    return store._db
