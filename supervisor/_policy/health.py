"""
Health verdicts: livez, readyz and healthz from a few facts about the tree
(`TreeFacts`) and the cached check results. Pure: data in, verdicts out; the
HTTP layer only renders them.

The facts come from the live tree (`TreeObserver.facts`: one walk of the
children, no snapshot, so a probe stays cheap however busy the tree is), for the
probes and /status alike; `facts_from_snapshot` reads the same from a snapshot
(tests hold the two equal); both apply `not_ready`.

* liveness: the root is running and has not given up, the event loop is not
  blocked, no child is ``unstopped`` (it outlived its cancellation past its
  shutdown bound: trio cannot abandon it, only a restart of the process ends
  it, as systemd's SIGKILL would), and every LIVENESS check passes. Never
  dependencies by default: a dead database is no reason to restart this process.
* readiness: the initial start is complete and the tree is not shutting down,
  every required child is running (one in backoff is not), and every
  READINESS check passes.
* INFO checks never fail a verdict; they show as ``warn`` in health+json.

Required children: every node except TEMPORARY ones (one-shot jobs); a
required child that ended normally, or was stopped on purpose, is fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from .._checks import CheckState, Feeds
from .._snapshot import (
    EventLoopHealth,
    ExitInfo,
    NodeSnapshot,
    Reason,
    State,
    TreeSnapshot,
)
from .._spec import Restart

_NOT_READY = {
    State.STARTING,
    State.BACKOFF,
    State.STOPPING,
    State.FAILED,
    State.UNSTOPPED,
}


@attrs.define
class ChildWalk:
    """What one walk over the live tree found for the verdicts, as in a snapshot."""

    # Required children that are not running (see `not_ready`).
    laggards: list[str] = attrs.Factory(list)
    # Children of any restart type in state ``unstopped``.
    unstopped: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class TreeFacts:
    """What the verdicts need to know about the tree at one moment."""

    time: float  # trio clock
    root_path: str
    root_state: State
    event_loop: EventLoopHealth
    # Required children that are not running, in start order (depth first).
    laggards: Sequence[str]
    # Children of any restart type that outlived their shutdown bound.
    unstopped: Sequence[str] = ()


def not_ready(state: State, last_exit: ExitInfo | None) -> bool:
    """Does a required child in *state* keep the tree from being ready?"""
    if state in _NOT_READY:
        return True
    if state is State.STOPPED:
        # Ended normally or stopped on purpose: fine. Never started: not ready.
        return last_exit is None or last_exit.reason not in (
            Reason.NORMAL,
            Reason.SHUTDOWN,
        )
    return False


def facts_from_snapshot(snap: TreeSnapshot) -> TreeFacts:
    root = snap.root
    return TreeFacts(
        time=snap.time,
        root_path=root.path,
        root_state=root.state,
        event_loop=snap.event_loop,
        laggards=[n.path for n in _required(root) if not_ready(n.state, n.last_exit)],
        unstopped=[
            n.path for n in root.walk() if n is not root and n.state is State.UNSTOPPED
        ],
    )


@attrs.frozen(kw_only=True)
class Item:
    """One named part of a verdict (a Kubernetes "check", a health+json entry)."""

    name: str
    status: str  # "pass", "warn" or "fail"
    reason: str = ""  # why it fails; withheld from unauthorised callers
    component: str = ""
    measurement: str = "status"
    component_type: str = "system"
    observed_value: float | str | None = None
    observed_unit: str | None = None
    time: float | None = None

    @property
    def ok(self) -> bool:
        return self.status != "fail"


def liveness(facts: TreeFacts, checks: Sequence[CheckState]) -> list[Item]:
    state = facts.root_state
    alive = state in (State.RUNNING, State.STARTING, State.STOPPING)
    loop = facts.event_loop
    unstopped = facts.unstopped
    items = [
        Item(
            name="root",
            status="pass" if alive else "fail",
            reason="" if alive else f"root is {state}",
            component=facts.root_path,
            observed_value=str(state),
            time=facts.time,
        ),
        Item(
            name="event-loop",
            status="fail" if loop.blocked else "pass",
            reason="the event loop is blocked" if loop.blocked else "",
            component="event-loop",
            measurement="blocked",
            observed_value=loop.blocked_seconds_total,
            observed_unit="s",
            time=facts.time,
        ),
        Item(
            name="unstopped",
            status="fail" if unstopped else "pass",
            reason="outlived its shutdown bound: " + ", ".join(unstopped[:10])
            if unstopped
            else "",
            component=facts.root_path,
            measurement="children",
            observed_value=len(unstopped),
            observed_unit="children",
            time=facts.time,
        ),
    ]
    items.extend(_check_items(checks, Feeds.LIVENESS))
    return items


def readiness(
    facts: TreeFacts, checks: Sequence[CheckState], *, shutting_down: bool
) -> list[Item]:
    state = facts.root_state
    started = state is State.RUNNING and not shutting_down
    reason = "shutting down" if shutting_down else f"root is {state}"
    laggards = facts.laggards
    items = [
        Item(
            name="started",
            status="pass" if started else "fail",
            reason="" if started else reason,
            component=facts.root_path,
            observed_value=str(state),
            time=facts.time,
        ),
        Item(
            name="children",
            status="fail" if laggards else "pass",
            reason="not running: " + ", ".join(laggards[:10]) if laggards else "",
            component=facts.root_path,
            measurement="not-running",
            observed_value=len(laggards),
            observed_unit="children",
            time=facts.time,
        ),
    ]
    items.extend(_check_items(checks, Feeds.READINESS))
    items.extend(_check_items(checks, Feeds.INFO))
    return items


def health(
    facts: TreeFacts, checks: Sequence[CheckState], *, shutting_down: bool
) -> list[Item]:
    """Liveness and readiness together: the classic health check."""
    return [
        *liveness(facts, checks),
        *readiness(facts, checks, shutting_down=shutting_down),
    ]


def _required(node: NodeSnapshot) -> Iterable[NodeSnapshot]:
    for child in node.children:
        if child.restart != Restart.TEMPORARY.value:
            yield child
            yield from _required(child)


def _check_items(checks: Sequence[CheckState], feeds: Feeds) -> list[Item]:
    items = []
    for state in checks:
        check = state.check
        if check.feeds is not feeds:
            continue
        status = state.status
        if feeds is Feeds.INFO and status == "fail":
            status = "warn"  # an INFO check never fails a verdict
        items.append(
            Item(
                name=check.name,
                status=status,
                reason=state.last_error
                or state.note
                or ("not run yet" if state.up is None else ""),
                component=check.component or check.name,
                measurement=check.measurement,
                component_type=check.component_type,
                observed_value=state.observed_value,
                observed_unit=state.observed_unit,
                time=state.last_run,
            )
        )
    return items
