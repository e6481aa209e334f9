"""
Prometheus metrics, through a prometheus-client custom collector that reads
the tree's snapshot when scraped: nothing is counted or registered per event,
and no global registry is touched.

Every metric is named once, in `METRICS`: the collector builds its families
from it, and the reference in docs/http.md is checked against it by a test
(as alert rules will be: a rule may only name a metric of this table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import attrs
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ._checks import CheckState
from ._policy.states import Reason
from ._snapshot import NodeSnapshot, State, TreeSnapshot

_STATES = [str(s) for s in State]

#: Every cause a node's restart is counted under: the exit reasons that can
#: restart a child (all but SHUTDOWN, a stop on purpose: a PERMANENT child's
#: NORMAL return is restarted), then the two causes outside its own exit. Each
#: node exports all of them from its first scrape, at 0: Prometheus'
#: increase() takes a series' first sample as its start, so a series that
#: appeared at 6 would count 0, and a burst of restarts between two scrapes
#: would never fire SupervisorChildRestartingOften (examples/prometheus/rules.yml).
RESTART_CAUSES: tuple[str, ...] = (
    *(str(r) for r in Reason if r is not Reason.SHUTDOWN),
    "sweep",
    "manual",
)


@attrs.frozen
class MetricSpec:
    """One metric: its name (counters without ``_total``), kind, help and labels."""

    name: str
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...] = ()

    @property
    def exposed(self) -> str:
        """The sample name a scrape shows (``_total`` added to counters)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        make = GaugeMetricFamily if self.kind == "gauge" else CounterMetricFamily
        return make(self.name, self.help, labels=list(self.labels))


# Process children (kind "process"), from NodeSnapshot.process.
_PROCESS_METRICS = (
    MetricSpec(
        "supervisor_process_exits",
        "counter",
        "How a Process child's OS processes ended: exit_code=N or signal=NAME.",
        ("path", "exit"),
    ),
    MetricSpec(
        "supervisor_process_kills",
        "counter",
        "Stops of a Process child that came to SIGKILL (its stop signal was not enough).",
        ("path",),
    ),
    MetricSpec(
        "supervisor_process_output_dropped_lines",
        "counter",
        "Output lines of a Process child over its max_lines_per_second, not logged.",
        ("path",),
    ),
    MetricSpec(
        "supervisor_process_resident_bytes",
        "gauge",
        "Resident memory of a Process child's process and its descendants (last sample).",
        ("path",),
    ),
    MetricSpec(
        "supervisor_process_cpu_seconds",
        "counter",
        "CPU time (user + system) of a Process child's running processes (last sample).",
        ("path",),
    ),
    MetricSpec(
        "supervisor_process_open_files",
        "gauge",
        "Open descriptors of a Process child's process and its descendants (last sample).",
        ("path",),
    ),
)

METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec(
            "supervisor_child_up",
            "gauge",
            "1 if the node is running, else 0.",
            ("path",),
        ),
        MetricSpec(
            "supervisor_child_state",
            "gauge",
            "1 for the node's current state, 0 for the others.",
            ("path", "state"),
        ),
        MetricSpec(
            "supervisor_child_restarts",
            "counter",
            "Restarts of the node, by cause: the exit reason of its own exit, "
            "'sweep' (a sibling's exit swept it) or 'manual' (restart_child).",
            ("path", "reason"),
        ),
        MetricSpec(
            "supervisor_child_starts",
            "counter",
            "Times the node counted as started.",
            ("path",),
        ),
        MetricSpec(
            "supervisor_heartbeat_age_seconds",
            "gauge",
            "Seconds since the child's last heartbeat (children with a timeout).",
            ("path",),
        ),
        MetricSpec(
            "supervisor_heartbeat_missed",
            "counter",
            "Incarnations cancelled for a missed heartbeat.",
            ("path",),
        ),
        MetricSpec(
            "supervisor_intensity_exceeded",
            "counter",
            "Times a supervisor gave up after too many restarts.",
            ("path",),
        ),
        MetricSpec(
            "supervisor_check_up",
            "gauge",
            "1 if the check passes, else 0.",
            ("check", "feeds"),
        ),
        MetricSpec(
            "supervisor_check_consecutive_failures",
            "gauge",
            "Consecutive failures of the check.",
            ("check",),
        ),
        MetricSpec(
            "supervisor_event_loop_blocked_seconds",
            "counter",
            "Seconds the trio event loop was found blocked (watched threshold: "
            "a loop stuck longer than it counts from when it was last seen running).",
        ),
        MetricSpec(
            "supervisor_crashes",
            "counter",
            "Crashes anywhere in the tree since it started, by reason (never reset).",
            ("reason",),
        ),
        MetricSpec(
            "supervisor_event_loop_blocks",
            "counter",
            "Times the trio event loop was found blocked.",
        ),
        *_PROCESS_METRICS,
        MetricSpec(
            "supervisor_etcd_registered",
            "gauge",
            "1 while the instance holds its registration key in etcd, else 0.",
            ("service",),
        ),
        MetricSpec(
            "supervisor_singleton_holder",
            "gauge",
            "1 if this instance runs the fleet singleton, 0 while it is standby.",
            ("path",),
        ),
    )
}
# Metrics a service fills through its check state's ``metric_samples()``
# (the etcd integration): (metric, label values, value) rows.
_SERVICE_METRICS = ("supervisor_etcd_registered", "supervisor_singleton_holder")


def _family(name: str) -> GaugeMetricFamily | CounterMetricFamily:
    return METRICS[name].family()


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
        yield from self._node_metrics(snap)
        yield from self._check_metrics()
        loop = _family("supervisor_event_loop_blocked_seconds")
        loop.add_metric([], snap.event_loop.blocked_seconds_total)
        yield loop
        crashes = _family("supervisor_crashes")
        for reason, count in snap.crashes:
            crashes.add_metric([reason], count)
        yield crashes
        blocks = _family("supervisor_event_loop_blocks")
        blocks.add_metric([], snap.event_loop.blocked_count)
        yield blocks

    def _node_metrics(self, snap: TreeSnapshot) -> Iterator[Metric]:
        up = _family("supervisor_child_up")
        state = _family("supervisor_child_state")
        restarts = _family("supervisor_child_restarts")
        starts = _family("supervisor_child_starts")
        beat_age = _family("supervisor_heartbeat_age_seconds")
        missed = _family("supervisor_heartbeat_missed")
        gave_up = _family("supervisor_intensity_exceeded")
        for node in snap.walk():
            path = node.path
            up.add_metric([path], 1.0 if node.state is State.RUNNING else 0.0)
            for name in _STATES:
                state.add_metric([path, name], 1.0 if node.state == name else 0.0)
            if node is not snap.root:  # the root is never restarted
                for cause, count in _restarts(node).items():
                    restarts.add_metric([path, cause], count)
            starts.add_metric([path], node.starts)
            if node.heartbeat_timeout is not None:
                missed.add_metric([path], node.missed_heartbeats)
                if node.heartbeat_age is not None:
                    beat_age.add_metric([path], node.heartbeat_age)
            if node.strategy is not None:  # supervisors only
                gave_up.add_metric([path], node.intensity_exceeded)
        yield from (up, state, restarts, starts, beat_age, missed, gave_up)
        yield from _process_metrics(snap)

    def _check_metrics(self) -> Iterator[Metric]:
        check_up = _family("supervisor_check_up")
        failures = _family("supervisor_check_consecutive_failures")
        extra = {name: _family(name) for name in _SERVICE_METRICS}
        for state in self._checks():
            samples = getattr(state, "metric_samples", None)
            for metric, labels, value in samples() if samples is not None else ():
                if metric in extra:
                    extra[metric].add_metric(list(labels), value)
            name = state.check.name
            check_up.add_metric(
                [name, state.check.feeds.value], 1.0 if state.up else 0.0
            )
            failures.add_metric([name], state.consecutive_failures)
        yield check_up
        yield failures
        yield from extra.values()


def _restarts(node: NodeSnapshot) -> dict[str, int]:
    """A node's restarts by cause: every one of `RESTART_CAUSES`, 0 or more."""
    counts = dict.fromkeys(RESTART_CAUSES, 0)
    counts.update(node.restarts_by_reason)
    counts["sweep"] = node.sweep_restarts
    counts["manual"] = node.manual_restarts
    return counts


def _process_metrics(snap: TreeSnapshot) -> Iterator[Metric]:
    exits = _family("supervisor_process_exits")
    kills = _family("supervisor_process_kills")
    dropped = _family("supervisor_process_output_dropped_lines")
    rss = _family("supervisor_process_resident_bytes")
    cpu = _family("supervisor_process_cpu_seconds")
    fds = _family("supervisor_process_open_files")
    for node in snap.walk():
        process = node.process
        if process is None:
            continue
        path = node.path
        for exit, count in process.exits:
            exits.add_metric([path, exit], count)
        kills.add_metric([path], process.kills)
        dropped.add_metric([path], process.dropped_lines)
        if process.rss is not None:
            rss.add_metric([path], process.rss)
        if process.cpu_seconds is not None:
            cpu.add_metric([path], process.cpu_seconds)
        if process.open_files is not None:
            fds.add_metric([path], process.open_files)
    yield from (exits, kills, dropped, rss, cpu, fds)


def registry_for(collector: TreeCollector) -> CollectorRegistry:
    """A registry of its own holding only *collector* (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
