"""
Chaos soak: a 1,000-worker tree four levels deep, every strategy mixed, while a
fault injector crashes, hangs, blocks the loop and breaks the starts of random
children, and a prober asks /healthz over HTTP. Real clock, bounded: 8 s by
default; set SUPERVISOR_CHAOS_SECONDS for a longer run.

Invariants: no child ever runs twice under one name; every injected crash that
lands appears exactly once in the events; every intensity_exceeded is followed
by its supervisor_escalated; the root never gives up; the probes' view of the
live tree names the same laggards as a snapshot; /healthz answers every
request within 100 ms (with gc.freeze() after start-up, as the docs advise for
large trees); after the stop no task, thread, file descriptor (socket) or
child process is left behind.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import structlog
import trio

from supervisor import (
    Backoff,
    Child,
    HealthApp,
    Jitter,
    Strategy,
    Supervisor,
    SupervisorError,
    heartbeat,
    open_tree,
    testing,
)
from supervisor._policy.health import facts_from_snapshot

SECONDS = float(os.environ.get("SUPERVISOR_CHAOS_SECONDS", "8"))
STRATEGIES = [Strategy.ONE_FOR_ONE, Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE]
BACKOFF = Backoff(initial=0.01, max=0.2, jitter=Jitter.FULL)
# Four beats per 1 s heartbeat timeout (4,000 a second). At ten, the workers'
# own beating plus the faults saturate the one trio thread on a 2-core
# machine, and /healthz then waits behind them: p50 5-9 ms, max 80-130 ms,
# against 5 ms and 30-40 ms at four, measured back to back.
BEAT = float(os.environ.get("SUPERVISOR_CHAOS_BEAT", "0.25"))
# SUPERVISOR_CHAOS_GC_FREEZE=0 runs without it, to measure what it buys (the
# 100 ms bound is then expected to fail; docs/reliability.md has the figures).
GC_FREEZE = os.environ.get("SUPERVISOR_CHAOS_GC_FREEZE", "1") != "0"


class Chaos:
    """Shared state of the workers and the injector."""

    def __init__(self) -> None:
        self.live: collections.Counter[str] = collections.Counter()
        self.double_runs: list[str] = []
        self.fail_next_start: set[str] = set()
        self.injected: dict[str, int] = collections.Counter()
        self.crash_ids: set[int] = set()
        self.logs: list[dict[str, Any]] = []  # the fields of every event

    def worker(self, path: str) -> Any:
        async def work(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            if path in self.fail_next_start:
                self.fail_next_start.discard(path)
                raise ConnectionError("chaos: start refused")
            self.live[path] += 1
            if self.live[path] > 1:
                self.double_runs.append(path)
            try:
                task_status.started()
                while True:
                    heartbeat()
                    await trio.sleep(BEAT)
            finally:
                self.live[path] -= 1

        return work


def build(chaos: Chaos) -> tuple[Supervisor, list[str]]:
    rng = random.Random(1)
    workers: list[str] = []
    groups = []
    for g in range(4):
        subs = []
        for s in range(10):
            names = [f"w{w}" for w in range(25)]
            base = f"root/g{g}/s{s}"
            workers.extend(f"{base}/{n}" for n in names)
            subs.append(
                Supervisor(
                    name=f"s{s}",
                    strategy=rng.choice(STRATEGIES),
                    intensity=5,
                    period=1,
                    backoff=BACKOFF,
                    children=[
                        Child(
                            name=n,
                            target=chaos.worker(f"{base}/{n}"),
                            heartbeat_timeout=1,
                            start_timeout=2,
                            shutdown=1,
                        )
                        for n in names
                    ],
                )
            )
        groups.append(
            Supervisor(
                name=f"g{g}",
                strategy=STRATEGIES[g % 3],
                intensity=20,
                period=1,
                backoff=BACKOFF,
                children=subs,
            )
        )
    root = Supervisor(
        name="root", intensity=10_000, period=1, backoff=BACKOFF, children=groups
    )
    return root, workers


def check_midway(tree: Any, chaos: Chaos) -> None:
    """Invariants that hold at any instant, checked mid-chaos."""
    snap = tree.snapshot()
    # A crash is counted and logged in one step: at no instant do the
    # events and the snapshot disagree.
    logged = collections.Counter(
        e["reason"] for e in chaos.logs if e["event"] == "child_crashed"
    )
    assert dict(logged) == dict(snap.crashes)
    # Probes walk the live tree instead of taking a snapshot: both must see
    # the same children not ready.
    live = tree.observer.facts(fresh=True)
    snapped = facts_from_snapshot(snap)
    assert (list(live.laggards), list(live.unstopped)) == (
        list(snapped.laggards),
        list(snapped.unstopped),
    )
    chaos.injected["midway_checks"] += 1


async def inject(tree: Any, chaos: Chaos, workers: list[str], seconds: float) -> None:
    rng = random.Random(2)
    deadline = trio.current_time() + seconds
    crash_id = 0
    while trio.current_time() < deadline:
        await trio.sleep(0.005)
        if rng.random() < 0.01:
            check_midway(tree, chaos)
        path = rng.choice(workers)
        fault = rng.random()
        try:
            if fault < 0.45:
                crash_id += 1
                testing.crash(tree, path, RuntimeError(f"chaos crash #{crash_id}"))
                chaos.injected["crash"] += 1
                chaos.crash_ids.add(crash_id)
            elif fault < 0.65:
                testing.hang(tree, path)
                chaos.injected["hang"] += 1
            elif fault < 0.9:
                chaos.fail_next_start.add(path)
                testing.crash(
                    tree, path, RuntimeError("chaos: crash before a refused start")
                )
                chaos.injected["start_failure"] += 1
            elif fault < 0.93:
                time.sleep(0.005)  # noqa: ASYNC251 - the fault: a sync call blocking the loop
                chaos.injected["loop_block"] += 1
        except SupervisorError:
            chaos.injected["not_running"] += 1  # its supervisor is restarting it: fine


PROBER = """
import json, sys, time, httpx
url, seconds = sys.argv[1], float(sys.argv[2])
latencies, failures = [], []
deadline = time.monotonic() + seconds
with httpx.Client(timeout=2) as client:
    while time.monotonic() < deadline:
        began = time.perf_counter()
        try:
            status = client.get(url).status_code
        except httpx.HTTPError as exc:
            failures.append(repr(exc))
        else:
            latencies.append(time.perf_counter() - began)
            if status not in (200, 503):
                failures.append(f"status {status}")
        time.sleep(0.05)
print(json.dumps({"latencies": latencies, "failures": failures}))
"""


async def probe(
    address: str, seconds: float, latencies: list[float], failures: list[str]
) -> None:
    # A separate process, like the kubelet: it measures the server, and does
    # not compete with it for the tree's one trio thread.
    done = await trio.run_process(
        [sys.executable, "-c", PROBER, f"http://{address}/healthz", str(seconds)],
        capture_stdout=True,
    )
    result = json.loads(done.stdout)
    latencies.extend(result["latencies"])
    failures.extend(result["failures"])


def threads() -> int:
    # trio keeps idle worker threads cached for a while (run_process used one):
    # they are trio's, not ours.
    return sum(1 for t in threading.enumerate() if not t.name.startswith("Trio thread"))


@contextlib.contextmanager
def keep_fields(into: list[dict[str, Any]], *fields: str) -> Iterator[None]:
    """
    Collect these fields of every event, and drop the event.

    Unlike structlog.testing.capture_logs, which keeps whole events (with
    each crash's exception, traceback and frames), this keeps the heap as
    small as a process that renders and forgets its logs: otherwise the
    collector's full passes over thousands of kept tracebacks, not the tree,
    set the probes' worst latency.
    """

    def keep(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        into.append({k: event[k] for k in fields if k in event})
        raise structlog.DropEvent

    before = structlog.get_config()
    structlog.configure(processors=[keep], cache_logger_on_first_use=False)
    try:
        yield
    finally:
        structlog.configure(**before)


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> int:
    me = str(os.getpid())
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # pid (comm) state ppid ...: comm may hold spaces.
                    ppid = stat.read().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue  # it ended while we looked
            count += ppid == me
    return count


async def test_chaos_soak() -> None:
    """
    The tree rides out thousands of faults with its invariants intact.
    """
    chaos = Chaos()
    spec, workers = build(chaos)
    threads_before, fds_before, procs_before = threads(), fds(), child_processes()
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    latencies: list[float] = []
    failures: list[str] = []
    logs = chaos.logs
    with keep_fields(logs, "event", "path", "reason", "exc_message"):
        async with open_tree(
            spec, http="127.0.0.1:0", loop_block_threshold=0.5
        ) as tree:
            # The configuration docs/heartbeats.md recommends for large trees:
            # without it, collector pauses alone push /healthz past 100 ms.
            if GC_FREEZE:
                gc.freeze()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(inject, tree, chaos, workers, SECONDS)
                nursery.start_soon(
                    probe, tree.http_addresses[0], SECONDS, latencies, failures
                )
        gc.unfreeze()
        # After the stop: children crashing while being stopped count too.
        snap = tree.snapshot()
        metrics = HealthApp(tree)._registry
        crash_metric = {
            sample.labels["reason"]: sample.value
            for family in metrics.collect()
            if family.name == "supervisor_crashes"
            for sample in family.samples
            if sample.name == "supervisor_crashes_total"
        }
    after = (
        threads(),
        fds(),
        child_processes(),
        trio.lowlevel.current_statistics().tasks_living,
    )

    events = collections.Counter(e["event"] for e in logs)
    landed = [
        int(e["exc_message"].rsplit("#", 1)[1])
        for e in logs
        if e["event"] == "child_crashed"
        and str(e.get("exc_message", "")).startswith("chaos crash #")
    ]
    exceeded = collections.Counter(
        e["path"] for e in logs if e["event"] == "intensity_exceeded"
    )
    escalated = collections.Counter(
        e["path"] for e in logs if e["event"] == "supervisor_escalated"
    )
    ordered = sorted(latencies)
    print(
        f"\nchaos {SECONDS:g} s: injected {dict(chaos.injected)}; restarts "
        f"{sum(n.restarts for n in snap.walk())} (live counters); crash events {events['child_crashed']}, "
        f"hung {events['child_hung']}, escalations {sum(escalated.values())}, loop blocks "
        f"{events['event_loop_blocked']}; /healthz answers {len(latencies)}, p50 "
        f"{statistics.median(ordered) * 1000:.1f} ms, p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )

    crash_events = collections.Counter(
        e["reason"] for e in logs if e["event"] == "child_crashed"
    )
    assert dict(crash_events) == dict(snap.crashes), "events and snapshot disagree"
    assert {k: float(v) for k, v in crash_events.items()} == crash_metric, (
        "events and metrics disagree"
    )
    assert [] == chaos.double_runs
    assert len(landed) == len(set(landed)), "a crash was reported twice"
    assert set(landed) <= chaos.crash_ids
    assert len(landed) > chaos.injected["crash"] // 2, "most injected crashes must land"
    assert exceeded == escalated
    assert "root" not in exceeded
    assert [] == failures
    assert len(latencies) > SECONDS * 5
    assert ordered[-1] < 0.1, "a /healthz answer took over 100 ms"
    assert chaos.injected["midway_checks"] > 0
    assert (threads_before, fds_before, procs_before, tasks_before) == after
