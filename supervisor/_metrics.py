"""
Prometheus metrics, through a prometheus-client custom collector that reads
the tree's snapshot when scraped: nothing is counted or registered per event,
and no global registry is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ._checks import CheckState
from ._snapshot import State, TreeSnapshot

_STATES = [str(s) for s in State]


class TreeCollector(Collector):
    """Collects one tree's metrics from its latest snapshot and check states."""

    def __init__(
        self,
        snapshot: Callable[[], TreeSnapshot],
        checks: Callable[[], Sequence[CheckState]],
    ) -> None:
        self._snapshot = snapshot
        self._checks = checks

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        up = GaugeMetricFamily(
            "supervisor_child_up", "1 if the node is running, else 0.", labels=["path"]
        )
        state = GaugeMetricFamily(
            "supervisor_child_state",
            "1 for the node's current state, 0 for the others.",
            labels=["path", "state"],
        )
        restarts = CounterMetricFamily(
            "supervisor_child_restarts",
            "Restarts of the node, by cause: the exit reason of its own exit, "
            "'sweep' (a sibling's exit swept it) or 'manual' (restart_child).",
            labels=["path", "reason"],
        )
        starts = CounterMetricFamily(
            "supervisor_child_starts",
            "Times the node counted as started.",
            labels=["path"],
        )
        beat_age = GaugeMetricFamily(
            "supervisor_heartbeat_age_seconds",
            "Seconds since the child's last heartbeat (children with a timeout).",
            labels=["path"],
        )
        missed = CounterMetricFamily(
            "supervisor_heartbeat_missed",
            "Incarnations cancelled for a missed heartbeat.",
            labels=["path"],
        )
        gave_up = CounterMetricFamily(
            "supervisor_intensity_exceeded",
            "Times a supervisor gave up after too many restarts.",
            labels=["path"],
        )
        for node in snap.walk():
            path = node.path
            up.add_metric([path], 1.0 if node.state is State.RUNNING else 0.0)
            for name in _STATES:
                state.add_metric([path, name], 1.0 if node.state == name else 0.0)
            for reason, count in node.restarts_by_reason:
                restarts.add_metric([path, reason], count)
            if node.sweep_restarts:
                restarts.add_metric([path, "sweep"], node.sweep_restarts)
            if node.manual_restarts:
                restarts.add_metric([path, "manual"], node.manual_restarts)
            starts.add_metric([path], node.starts)
            if node.heartbeat_timeout is not None:
                missed.add_metric([path], node.missed_heartbeats)
                if node.heartbeat_age is not None:
                    beat_age.add_metric([path], node.heartbeat_age)
            if node.kind != "worker":
                gave_up.add_metric([path], node.intensity_exceeded)
        yield from (up, state, restarts, starts, beat_age, missed, gave_up)
        yield from self._check_metrics()
        loop = CounterMetricFamily(
            "supervisor_event_loop_blocked_seconds",
            "Seconds the trio event loop was found blocked (watched threshold: "
            "a loop stuck longer than it counts from when it was last seen running).",
        )
        loop.add_metric([], snap.event_loop.blocked_seconds_total)
        yield loop
        crashes = CounterMetricFamily(
            "supervisor_crashes",
            "Crashes anywhere in the tree since it started, by reason (never reset).",
            labels=["reason"],
        )
        for reason, count in snap.crashes:
            crashes.add_metric([reason], count)
        yield crashes
        blocks = CounterMetricFamily(
            "supervisor_event_loop_blocks",
            "Times the trio event loop was found blocked.",
        )
        blocks.add_metric([], snap.event_loop.blocked_count)
        yield blocks

    def _check_metrics(self) -> Iterator[Metric]:
        check_up = GaugeMetricFamily(
            "supervisor_check_up",
            "1 if the check passes, else 0.",
            labels=["check", "feeds"],
        )
        failures = GaugeMetricFamily(
            "supervisor_check_consecutive_failures",
            "Consecutive failures of the check.",
            labels=["check"],
        )
        for state in self._checks():
            name = state.check.name
            check_up.add_metric(
                [name, state.check.feeds.value], 1.0 if state.up else 0.0
            )
            failures.add_metric([name], state.consecutive_failures)
        yield check_up
        yield failures


def registry_for(collector: TreeCollector) -> CollectorRegistry:
    """A registry of its own holding only *collector* (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
