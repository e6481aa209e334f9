"""
Health verdicts: livez, readyz and healthz from a snapshot and the cached
check results. Pure: data in, verdicts out; the HTTP layer only renders them.

* liveness: the root is running and has not given up, the event loop is not
  blocked, and every LIVENESS check passes. Never dependencies by default: a
  dead database is no reason to restart this process.
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

from ._checks import CheckState, Feeds
from ._snapshot import NodeSnapshot, Reason, State, TreeSnapshot

_NOT_READY = {
    State.STARTING,
    State.BACKOFF,
    State.STOPPING,
    State.FAILED,
    State.UNSTOPPED,
}


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
    affects_verdict: bool = True

    @property
    def ok(self) -> bool:
        return self.status != "fail" or not self.affects_verdict


def liveness(snap: TreeSnapshot, checks: Sequence[CheckState]) -> list[Item]:
    root = snap.root
    alive = root.state in (State.RUNNING, State.STARTING, State.STOPPING)
    loop = snap.event_loop
    items = [
        Item(
            name="root",
            status="pass" if alive else "fail",
            reason="" if alive else f"root is {root.state}",
            component=root.path,
            observed_value=str(root.state),
            time=snap.time,
        ),
        Item(
            name="event-loop",
            status="fail" if loop.blocked else "pass",
            reason="the event loop is blocked" if loop.blocked else "",
            component="event-loop",
            measurement="blocked",
            observed_value=loop.blocked_seconds_total,
            observed_unit="s",
            time=snap.time,
        ),
    ]
    items.extend(_check_items(checks, Feeds.LIVENESS))
    return items


def readiness(
    snap: TreeSnapshot, checks: Sequence[CheckState], *, shutting_down: bool
) -> list[Item]:
    root = snap.root
    started = root.state is State.RUNNING and not shutting_down
    reason = "shutting down" if shutting_down else f"root is {root.state}"
    laggards = [n.path for n in _required(root) if _not_ready(n)]
    items = [
        Item(
            name="started",
            status="pass" if started else "fail",
            reason="" if started else reason,
            component=root.path,
            observed_value=str(root.state),
            time=snap.time,
        ),
        Item(
            name="children",
            status="fail" if laggards else "pass",
            reason="not running: " + ", ".join(laggards[:10]) if laggards else "",
            component=root.path,
            measurement="not-running",
            observed_value=len(laggards),
            observed_unit="children",
            time=snap.time,
        ),
    ]
    items.extend(_check_items(checks, Feeds.READINESS))
    items.extend(_check_items(checks, Feeds.INFO))
    return items


def health(
    snap: TreeSnapshot, checks: Sequence[CheckState], *, shutting_down: bool
) -> list[Item]:
    """Liveness and readiness together: the classic health check."""
    return [
        *liveness(snap, checks),
        *readiness(snap, checks, shutting_down=shutting_down),
    ]


def _required(node: NodeSnapshot) -> Iterable[NodeSnapshot]:
    for child in node.children:
        if child.restart != "temporary":
            yield child
            yield from _required(child)


def _not_ready(node: NodeSnapshot) -> bool:
    if node.state in _NOT_READY:
        return True
    if node.state is State.STOPPED:
        # Ended normally or stopped on purpose: fine. Never started: not ready.
        last = node.last_exit
        return last is None or last.reason not in (Reason.NORMAL, Reason.SHUTDOWN)
    return False


def _check_items(checks: Sequence[CheckState], feeds: Feeds) -> list[Item]:
    items = []
    for state in checks:
        check = state.check
        if check.feeds is not feeds:
            continue
        status = state.status
        items.append(
            Item(
                name=check.name,
                status=status,
                reason=state.last_error or ("not run yet" if state.up is None else ""),
                component=check.component or check.name,
                measurement=check.measurement,
                component_type=check.component_type,
                observed_value=state.observed_value,
                observed_unit=state.observed_unit,
                time=state.last_run,
                affects_verdict=feeds is not Feeds.INFO,
            )
        )
    return items
