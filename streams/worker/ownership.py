"""Whether a tracker still owns its partitions after waiting for the broker."""

from __future__ import annotations

from typing import Awaitable, Callable


class Ownership:
    """Counts revocations, so that a tick whose wait for the broker outlived its partitions
    writes nothing: a late write would land in a table's changelog after the new owner's."""

    def __init__(self) -> None:
        self._revokes = 0

    def revoked(self) -> None:
        """Partitions were revoked (called by the tracker's `forget`)."""
        self._revokes += 1

    def mark(self) -> int:
        """Where the revocations stand now (for `kept_since`)."""
        return self._revokes

    def kept_since(self, mark: int) -> bool:
        """True when no partition was revoked since `mark()` returned `mark`."""
        return mark == self._revokes

    async def kept_through(self, wait: Callable[[], Awaitable[None]]) -> bool:
        """Await `wait()`; True when no partition was revoked meanwhile."""
        before = self.mark()
        await wait()
        return self.kept_since(before)
