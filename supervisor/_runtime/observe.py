"""
The tree observer: the one place every surface reads the tree from.

HTTP (probes, /status, /metrics), the CLI and future integrations (etcd,
systemd) ask it and get the same answer from the same code:

* `snapshot` (and `cached`): the tree's snapshot, rebuilt when the tree
  changed (or after a second, for ages and uptimes), and never sooner than ten
  times what the last one cost: a 10,000-child snapshot takes about 50 ms, and
  a poller must not make the tree spend more than a tenth of its time
  describing itself;
* `facts`: what the verdicts decide from, read from the live tree (one walk
  over the children, no snapshot), the walk redone when the tree changed but
  no sooner than ten times its cost; the root's state, the event loop and
  the check results are read on every call;
* `verdict` (the items of one probe) and `verdicts` (pass or not, each):
  the verdicts (`_health`) of those facts and the check results;
* `changed`: wait until the tree's version moves.

It reads the tree through the few callables the `Tree` hands it, so that it
imports no runtime module.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import attrs

from .._checks import CheckState
from .._policy import health as _health
from .._snapshot import TreeSnapshot

SNAPSHOT_TTL = 1.0  # seconds a snapshot is reused while the tree's version holds


@attrs.define
class CachedSnapshot:
    """
    A snapshot and what surfaces rendered from it (``renderings``, by a key of
    their own). A surface that renders charges the cost (`charge`): it counts
    against the rebuild rate limit as the build does.
    """

    built_at: float  # time.perf_counter()
    min_age: float  # ten times what it cost to build (and render): the rate limit
    snapshot: TreeSnapshot
    renderings: dict[object, bytes] = attrs.Factory(dict)

    def charge(self, seconds: float) -> None:
        self.min_age += 10 * seconds


@attrs.frozen
class _Walk:
    version: int
    at: float  # time.perf_counter()
    min_age: float  # ten times what it cost
    children: _health.ChildWalk


class TreeObserver:
    """The rate-limited reads of one tree (`Tree.observer`); see the module docstring."""

    def __init__(
        self,
        *,
        version: Callable[[], int],
        snapshot: Callable[[], TreeSnapshot],
        walk: Callable[[], _health.ChildWalk],
        facts: Callable[[_health.ChildWalk], _health.TreeFacts],
        shutting_down: Callable[[], bool],
        wait_change: Callable[[], Awaitable[None]],
        bump: Callable[[], None] = lambda: None,
        checks: Sequence[CheckState] = (),
    ) -> None:
        self._version = version
        self._snapshot = snapshot
        self._walk_tree = walk
        self._facts = facts
        self._shutting_down = shutting_down
        self._wait_change = wait_change
        self._bump = bump
        self._checks = list(checks)
        self._cache: CachedSnapshot | None = None
        self._walk: _Walk | None = None

    @property
    def version(self) -> int:
        """Changes whenever anything in the tree changes (`Tree.version`)."""
        return self._version()

    @property
    def shutting_down(self) -> bool:
        """The tree is stopping (readiness fails from the first moment)."""
        return self._shutting_down()

    def invalidate(self) -> None:
        """
        Something the verdicts or documents read changed outside the children
        (a check's result, a service's status): the tree's version moves, so
        cached documents are rebuilt and `changed` waiters wake.
        """
        self._bump()

    def checks(self) -> Sequence[CheckState]:
        """The cached results of the tree's checks, updated by their runners."""
        return self._checks

    # ---- snapshot ----------------------------------------------------------------

    def snapshot(self) -> TreeSnapshot:
        """The tree's snapshot, rate-limited (see `cached`)."""
        return self.cached().snapshot

    def cached(self) -> CachedSnapshot:
        """The current cache entry: rebuilt when the tree changed, see the module."""
        cache = self._cache
        now = time.perf_counter()
        if cache is not None:
            age = now - cache.built_at
            unchanged = cache.snapshot.version == self._version()
            # Unchanged: only time-derived fields (uptime, beat ages) drift, so a
            # second is fine. Changed: rebuild, but a large tree no more often
            # than ten times its build cost.
            if (unchanged and age < SNAPSHOT_TTL) or age < cache.min_age:
                return cache
        snap = self._snapshot()
        cost = time.perf_counter() - now
        self._cache = cache = CachedSnapshot(now, 10 * cost, snap)
        return cache

    # ---- facts and verdicts ------------------------------------------------------

    def facts(self, *, fresh: bool = False) -> _health.TreeFacts:
        """
        What the verdicts decide from, read from the live tree rather than a
        snapshot: a probe must neither wait for (or pay) a snapshot of a large
        tree nor answer from a stale one. The walk over the children is redone
        when the tree changed, but no sooner than ten times what the last one
        cost (*fresh*: now), so that a probe storm cannot make a large,
        churning tree spend more than a tenth of its time describing itself.
        """
        walk = self._walk
        began = time.perf_counter()
        version = self._version()
        if (
            fresh
            or walk is None
            or (walk.version != version and began - walk.at >= walk.min_age)
        ):
            children = self._walk_tree()
            cost = time.perf_counter() - began
            walk = self._walk = _Walk(version, began, 10 * cost, children)
        return self._facts(walk.children)

    def verdict(
        self,
        endpoint: str,
        facts: _health.TreeFacts | None = None,
        checks: Sequence[CheckState] | None = None,
    ) -> list[_health.Item]:
        """
        The items of ``livez``, ``readyz`` or ``healthz`` (liveness and
        readiness together), from *facts* (default: `facts`) and *checks*
        (default: the tree's).
        """
        facts = facts or self.facts()
        checks = self._checks if checks is None else checks
        if endpoint == "livez":
            return _health.liveness(facts, checks)
        closing = self.shutting_down
        if endpoint == "readyz":
            return _health.readiness(facts, checks, shutting_down=closing)
        return _health.health(facts, checks, shutting_down=closing)

    def verdicts(
        self,
        facts: _health.TreeFacts | None = None,
        checks: Sequence[CheckState] | None = None,
    ) -> dict[str, bool]:
        """``{"livez": ..., "readyz": ..., "healthz": ...}``: does each pass?"""
        facts = facts or self.facts()
        livez = all(i.ok for i in self.verdict("livez", facts, checks))
        readyz = all(i.ok for i in self.verdict("readyz", facts, checks))
        return {"livez": livez, "readyz": readyz, "healthz": livez and readyz}

    # ---- changes -----------------------------------------------------------------

    async def changed(self, since: int) -> int:
        """Wait until the tree's version is not *since*; return the new one."""
        while (version := self._version()) == since:
            await self._wait_change()
        return version
