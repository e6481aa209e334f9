"""The start queue: start order by index, each slot once, removals anywhere (no trio)."""

from __future__ import annotations

import random

import attrs

from supervisor._runtime.start_queue import StartQueue


@attrs.define(eq=False)
class Queued:
    index: int


def test_head_is_the_lowest_index_whatever_the_order_of_adding() -> None:
    slots = [Queued(i) for i in range(10)]
    queue: StartQueue[Queued] = StartQueue()
    for slot in random.Random(1).sample(slots, len(slots)):
        queue.add(slot)
    queue.add(slots[3])  # already queued: still once

    order = []
    while queue:
        head = queue.head()
        assert head is not None
        order.append(head.index)
        queue.pop_head()

    assert list(range(10)) == order
    assert queue.head() is None


def test_removed_slots_leave_and_can_come_back() -> None:
    a, b, c = Queued(0), Queued(1), Queued(2)
    queue: StartQueue[Queued] = StartQueue()
    for slot in (a, b, c):
        queue.add(slot)

    queue.remove(a)
    queue.remove(a)  # not queued: no error
    assert (b, 2, False) == (queue.head(), len(queue), a in queue)
    queue.add(a)
    assert (a, [a, b, c]) == (queue.head(), list(queue))
    queue.pop_head()
    assert (b, [b, c]) == (queue.head(), list(queue))


def test_a_model_of_random_operations() -> None:
    """Against a sorted list (the structure it replaced), over many removals and re-adds."""
    rng = random.Random(7)
    slots = [Queued(i) for i in range(200)]
    queue: StartQueue[Queued] = StartQueue()
    model: list[Queued] = []
    for _ in range(20_000):
        slot = rng.choice(slots)
        op = rng.random()
        if op < 0.5:
            queue.add(slot)
            if slot not in model:
                model.append(slot)
                model.sort(key=lambda s: s.index)
        elif op < 0.8:
            queue.remove(slot)
            if slot in model:
                model.remove(slot)
        elif model:
            assert model[0] is queue.head()
            queue.pop_head()
            model.pop(0)
        assert (model[0] if model else None) is queue.head()
        assert len(model) == len(queue)
        assert (slot in model) == (slot in queue)

    assert model == list(queue)
    assert len(queue._heap) <= max(64, 2 * len(model)) + 1  # stale entries are pruned
