"""
The start queue of a static supervisor: children waiting to start, in start order.

A list kept sorted made the initial start quadratic (a membership test per
child queued, a pop from the front per child started: 746 µs per child at
100,000 children). Here membership is a dict and order a heap on the start
index; a removal only forgets the member, and the heap drops such stale
entries when they reach its top (rebuilt when they outnumber the live ones).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterator
from typing import Generic, Protocol, TypeVar


class _Queued(Hashable, Protocol):
    @property
    def index(self) -> int: ...  # position in start order


Slot = TypeVar("Slot", bound=_Queued)  # a Slot; not imported (no import cycle)

_REBUILD_MIN = 64  # below this many entries stale ones cost less than a rebuild


class StartQueue(Generic[Slot]):
    """Slots waiting to start, ordered by their start index; each at most once."""

    __slots__ = ("_heap", "_members", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Slot]] = []
        self._members: dict[Slot, None] = {}
        self._seq = 0

    def __contains__(self, slot: object) -> bool:
        return slot in self._members

    def __bool__(self) -> bool:
        return bool(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[Slot]:
        """The queued slots in start order (a copy: the queue may change meanwhile)."""
        return iter(sorted(self._members, key=_index))

    def add(self, slot: Slot) -> None:
        """Queue *slot* in its place by start index, unless it is queued already."""
        if slot in self._members:
            return
        self._members[slot] = None
        self._seq += 1
        heapq.heappush(self._heap, (slot.index, self._seq, slot))
        if len(self._heap) > _REBUILD_MIN and len(self._heap) > 2 * len(self._members):
            self._rebuild()

    def head(self) -> Slot | None:
        """The first queued slot in start order, or None."""
        heap, members = self._heap, self._members
        while heap and heap[0][2] not in members:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def pop_head(self) -> None:
        """Take the head out (call after `head` returned it)."""
        slot = self.head()
        if slot is not None:
            del self._members[slot]
            heapq.heappop(self._heap)

    def remove(self, slot: Slot) -> None:
        """Take *slot* out, wherever it is (no error if it is not queued)."""
        self._members.pop(slot, None)

    def clear(self) -> None:
        self._heap.clear()
        self._members.clear()

    def _rebuild(self) -> None:
        members = self._members
        live = {}
        for entry in self._heap:  # one entry per member: the newest seq wins
            if entry[2] in members:
                live[entry[2]] = entry
        self._heap = list(live.values())
        heapq.heapify(self._heap)


def _index(slot: _Queued) -> int:
    return slot.index
