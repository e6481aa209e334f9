"""
Strategy planning: which children a restart touches, and in which order.

Pure: names and enums in, a plan out; nothing here may import trio.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .._spec import Restart, Strategy


@attrs.frozen
class PlanEntry:
    """What the planner needs to know about one sibling."""

    name: str
    restart: Restart
    # Running, starting or waiting in backoff: something a sweep must stop.
    active: bool


@attrs.frozen
class Plan:
    """Stop *stop* (already in reverse start order), then start *start* in order."""

    stop: tuple[str, ...]
    start: tuple[str, ...]


def plan_restart(
    strategy: Strategy, children: Sequence[PlanEntry], exited: str
) -> Plan:
    """
    Plan the restart of *exited*, which ended and is to be restarted.

    *children* are the siblings in start order, *exited* among them. Siblings
    swept along are stopped in reverse start order and, unless TEMPORARY,
    started again in start order after *exited*'s own place. Siblings that were
    not active (stopped on purpose, or finished) are left alone.
    """
    if strategy is Strategy.ONE_FOR_ONE:
        return Plan(stop=(), start=(exited,))
    names = [c.name for c in children]
    first = 0 if strategy is Strategy.ONE_FOR_ALL else names.index(exited)
    swept = [c for c in children[first:] if c.name == exited or c.active]
    stop = tuple(c.name for c in reversed(swept) if c.name != exited)
    start = tuple(
        c.name for c in swept if c.name == exited or c.restart is not Restart.TEMPORARY
    )
    return Plan(stop=stop, start=start)
