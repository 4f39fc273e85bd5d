"""Entity states a replay put away, on disk: what a replay keeps in memory is the entities
whose clocks may still change, whatever the length of the history behind them."""

from __future__ import annotations

import sqlite3
from typing import Iterator

# A filter of the keys shelved (two bits per key in 2**23, 1 MiB whatever the history): most
# lookups are for entities never put away (every new ticket), and asking SQLite for each was
# 5 % of a replay. A key whose bits are not both set was never shelved; a false "maybe" (under
# 2 % at 600,000 keys) only costs the lookup. Bits are never cleared: a key taken back may
# come again, and a stale bit costs a lookup too.
_BITS = 1 << 23


class Shelf:
    """Serialised states by key in a private temporary SQLite database: SQLite makes the file
    and deletes it when the connection closes; nothing is written until the first `put`."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self.count = 0  # states on the shelf
        self._filter = bytearray()  # made with the database: most replays never put anything away

    def put(self, items: list[tuple[bytes, bytes]]) -> None:
        """Shelve (key, state) pairs whose keys are not on the shelf."""
        if self._db is None:
            # Autocommit, no journal, no syncs: the file lives as long as the replay and is
            # never read by anyone else; a crash loses the replay anyway.
            self._db = sqlite3.connect("", isolation_level=None)
            self._filter = bytearray(_BITS // 8)
            # A rowid table with the key indexed, not WITHOUT ROWID: states of a kilobyte or more
            # in the key's B-tree made a put 3.6 times and a take twice as slow.
            self._db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; "
                                   "CREATE TABLE shelf (key BLOB PRIMARY KEY, state BLOB NOT NULL);")
        for key, _ in items:
            for bit in _bits(key):
                self._filter[bit >> 3] |= 1 << (bit & 7)
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO shelf VALUES (?, ?)", items)
        self._db.execute("COMMIT")
        self.count += len(items)

    def take(self, key: bytes) -> bytes | None:
        """The state shelved under `key`, taken off the shelf (None: not there)."""
        if self._db is None or not self.count:
            return None
        if not all(self._filter[bit >> 3] & (1 << (bit & 7)) for bit in _bits(key)):
            return None  # never shelved
        row = self._db.execute("DELETE FROM shelf WHERE key = ? RETURNING state", (key,)).fetchone()
        if row is None:
            return None
        self.count -= 1
        return bytes(row[0])

    def states(self) -> Iterator[bytes]:
        """Every shelved state, in key order, left on the shelf."""
        if self._db is not None:
            for (state,) in self._db.execute("SELECT state FROM shelf ORDER BY key"):
                yield bytes(state)


def _bits(key: bytes) -> tuple[int, int]:
    """The key's two bits in the filter, from the two halves of its hash."""
    h = hash(key)
    return h & (_BITS - 1), (h >> 32) & (_BITS - 1)
