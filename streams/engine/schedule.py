"""When each entity is next due, and which are due by an instant: the deadlines of replay
and of the worker's ticks (streams/worker/due_index.py).

A heap of the instants something is due at, each instant once, and beside it the keys
scheduled for each instant. A heap of (instant, key) tuples is compared element by element
on every step of every push and pop; instants alone compare as integers (2 % fewer
instructions per replayed event). A key scheduled again stays in its old instant's list and is passed over
there (its `due` says where it stands), as a heap entry would be.
"""

from __future__ import annotations

import heapq
from typing import Any, Generic, Protocol, TypeVar


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Ordered)


class Schedule(Generic[K]):
    """Keys with the instant (integer microseconds) each is next due."""

    def __init__(self) -> None:
        self._instants: list[int] = []  # heap; each instant once
        self._keys: dict[int, list[K]] = {}  # keys scheduled for an instant, some perhaps since moved
        self._due: dict[K, int] = {}

    def set(self, key: K, due: int | None) -> None:
        """Schedule `key` for `due`, in place of any earlier schedule; None unschedules it."""
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == due:
            return
        self._due[key] = due
        keys = self._keys.get(due)
        if keys is None:
            self._keys[due] = [key]
            heapq.heappush(self._instants, due)
        else:
            keys.append(key)

    def pop_due(self, now: int, most: int | None = None) -> list[K]:
        """The keys due at or before `now`, unscheduled: earliest first, those due at the same
        instant in key order; at most `most` (the rest stay scheduled)."""
        out: list[K] = []
        instants, due = self._instants, self._due
        while instants and instants[0] <= now and (most is None or len(out) < most):
            at = heapq.heappop(instants)
            current = [key for key in self._keys.pop(at) if due.get(key) == at]
            if len(current) > 1:
                current = sorted(set(current))  # a key moved away and back is listed twice
            if most is not None and len(out) + len(current) > most:
                left = most - len(out)
                self._keys[at] = current[left:]
                heapq.heappush(instants, at)
                current = current[:left]
            for key in current:
                del due[key]
            out += current
        return out

    def first(self) -> int | None:
        """The earliest instant a key is due at (None: none is)."""
        instants, due = self._instants, self._due
        while instants:
            at = instants[0]
            if any(due.get(key) == at for key in self._keys[at]):
                return at
            heapq.heappop(instants)  # every key listed there moved since
            del self._keys[at]
        return None

    def __len__(self) -> int:
        return len(self._due)
