"""
Heartbeats: the cost of one beat, and the watchdog's cost and detection lag.

    .venv/bin/python benchmarks/bench_heartbeat.py            # everything (about 5 min)
    .venv/bin/python benchmarks/bench_heartbeat.py --beats    # only ns per beat

Part 1, ns per call, inside a supervised child, interleaved repetitions:
``heartbeat()`` next to its floor (a plain function storing ``time.monotonic()``
on an object), ``trio.current_time()`` stored the same way, and moving a cancel
scope's deadline (the "simplest design" of a watchdog).

Part 2, a tree of N children beating every *interval* with *timeout*:
CPU share over a measuring window, garbage collection's share and longest
pause, and the lag between a hung child's expiry (last beat + timeout) and its
cancellation (p50/p99), for

* ``none``: children call heartbeat() but have no timeout: no watchdog at all;
* ``heap``: ``heartbeat_timeout`` set: our watchdog (one timer heap per tree);
* ``deadline``: no timeout; each child pushes its own cancel scope's deadline
  on every beat (trio cancels it when the deadline passes);
* ``heap+gc.freeze``: as heap, with ``gc.freeze()`` once the tree has started
  (a documented option; the library never changes GC settings itself).

A few children (5%) hang at random moments of the window. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import trio

from supervisor import Backoff, Child, Jitter, Supervisor, heartbeat, open_tree

# ---- part 1: ns per beat -------------------------------------------------------


class _Holder:
    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = 0.0


async def _measure_beats(calls: int, reps: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    done = trio.Event()

    async def child() -> None:
        # Every side is a zero-argument function working on values it closes
        # over, called the same way as heartbeat() itself.
        holder = _Holder()
        scope = trio.CancelScope()
        monotonic = time.monotonic
        current_time = trio.current_time

        def floor() -> None:
            holder.at = monotonic()

        def trio_time() -> None:
            holder.at = current_time()

        def deadline_push() -> None:
            scope.deadline = current_time() + 60.0

        sides: dict[str, Callable[[], None]] = {
            "floor: store time.monotonic()": floor,
            "heartbeat()": heartbeat,
            "store trio.current_time()": trio_time,
            "move a cancel scope deadline": deadline_push,
        }
        for _ in range(reps):
            for name, fn in sides.items():
                results.setdefault(name, []).append(_per_call(fn, calls))
        done.set()
        await trio.sleep_forever()

    spec = Supervisor(
        name="bench",
        children=[Child(name="beater", target=child, heartbeat_timeout=3600)],
    )
    async with open_tree(spec, loop_block_threshold=None):
        await done.wait()
    return results


def _per_call(fn: Callable[[], None], calls: int) -> float:
    perf = time.perf_counter_ns
    begin = perf()
    for _ in range(calls):
        fn()
    return (perf() - begin) / calls


def part_beats(calls: int, reps: int) -> None:
    results = trio.run(_measure_beats, calls, reps)
    floor = statistics.median(results["floor: store time.monotonic()"])
    print(
        f"\n## ns per call ({calls:,} calls x {reps} interleaved repetitions; median (min-max))"
    )
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:<32} {median:7.1f} ns ({min(values):.1f}-{max(values):.1f})"
            f"   {median / floor:4.2f}x floor"
        )


# ---- part 2: watchdog cost and lag ------------------------------------------------


class HungError(Exception):
    """The deadline design's way to report a hang: its own scope expired."""


@dataclass
class Run:
    design: str
    cpu_share: float
    gc_share: float
    gc_max_pause_ms: float
    lags_ms: list[float] = field(default_factory=list)
    hung: int = 0
    detected: int = 0


class _GcTimer:
    """Time spent in garbage collection, from gc.callbacks."""

    def __init__(self) -> None:
        self.total = 0.0
        self.max = 0.0
        self._start = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self.on:
            spent = time.perf_counter() - self._start
            self.total += spent
            self.max = max(self.max, spent)


@dataclass(frozen=True)
class Scenario:
    n: int
    interval: float
    timeout: float
    window: float


class _Children:
    """The children of one run: who hangs when, their last beats, when caught."""

    def __init__(self, sc: Scenario, seed: int, begin: float) -> None:
        self.sc = sc
        self.rng = random.Random(seed)
        self.settle = 2 * sc.interval + 1.0
        self.last_beat: dict[int, float] = {}
        self.caught: dict[int, float] = {}
        # Hangs fall in the window, early enough to be detected inside it.
        span = sc.window - sc.timeout - 0.5
        self.hang_at = {
            i: begin + self.settle + self.rng.uniform(0, span)
            for i in self.rng.sample(range(sc.n), max(1, sc.n // 20))
        }

    def target(self, design: str, i: int) -> Callable[[], Any]:
        hang = self.hang_at.get(i, float("inf"))
        phase = self.rng.uniform(0, self.sc.interval)
        interval, timeout = self.sc.interval, self.sc.timeout
        last_beat, caught = self.last_beat, self.caught

        async def beating() -> None:
            await trio.sleep(phase)
            try:
                while trio.current_time() < hang:
                    heartbeat()
                    last_beat[i] = trio.current_time()
                    await trio.sleep(interval)
                await trio.sleep_forever()
            except trio.Cancelled:
                caught.setdefault(i, trio.current_time())
                raise

        async def deadline() -> None:
            await trio.sleep(phase)
            with trio.CancelScope() as scope:
                while trio.current_time() < hang:
                    scope.deadline = trio.current_time() + timeout
                    last_beat[i] = trio.current_time()
                    await trio.sleep(interval)
                await trio.sleep_forever()
            if scope.cancelled_caught:
                caught.setdefault(i, trio.current_time())
                raise HungError

        return deadline if design == "deadline" else beating

    def lags_ms(self) -> list[float]:
        timeout = self.sc.timeout
        return [
            (self.caught[i] - (self.last_beat[i] + timeout)) * 1000
            for i in self.hang_at
            if i in self.caught and i in self.last_beat
        ]


async def _watchdog_run(design: str, sc: Scenario, seed: int) -> Run:
    children = _Children(sc, seed, trio.current_time())
    watched = design.startswith("heap")
    spec = Supervisor(
        name="bench",
        intensity=sc.n,
        backoff=Backoff(initial=3600, max=3600, jitter=Jitter.NONE),  # hung stay down
        children=[
            Child(
                name=f"w{i}",
                target=children.target(design, i),
                heartbeat_timeout=sc.timeout if watched else None,
            )
            for i in range(sc.n)
        ],
    )
    gc_timer = _GcTimer()
    gc.callbacks.append(gc_timer)
    try:
        async with open_tree(spec, loop_block_threshold=None):
            await trio.sleep(children.settle)
            if design.endswith("gc.freeze"):
                gc.freeze()
            gc_timer.on = True
            wall0, cpu0 = time.perf_counter(), time.process_time()
            await trio.sleep(sc.window)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            gc_timer.on = False
    finally:
        gc.callbacks.remove(gc_timer)
        gc.unfreeze()
    lags = children.lags_ms()
    return Run(
        design=design,
        cpu_share=cpu / wall,
        gc_share=gc_timer.total / wall,
        gc_max_pause_ms=gc_timer.max * 1000,
        lags_ms=lags,
        hung=len(children.hang_at),
        detected=len(lags),
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def part_watchdog(sc: Scenario, reps: int, designs: list[str]) -> None:
    runs: dict[str, list[Run]] = {d: [] for d in designs}
    for rep in range(reps):
        for design in designs:
            gc.collect()
            runs[design].append(trio.run(_watchdog_run, design, sc, rep))
    print(
        f"\n## {sc.n:,} children, beat every {sc.interval * 1000:g} ms, "
        f"timeout {sc.timeout * 1000:g} ms ({sc.window:g} s window x {reps} "
        "interleaved repetitions; medians (min-max))"
    )
    base = (
        statistics.median(r.cpu_share for r in runs["none"]) if "none" in runs else None
    )
    for design, rs in runs.items():
        cpu = [r.cpu_share * 100 for r in rs]
        gcs = [r.gc_share * 100 for r in rs]
        pauses = [r.gc_max_pause_ms for r in rs]
        lags = [lag for r in rs for lag in r.lags_ms]
        over = (
            f"  (+{statistics.median(cpu) - base * 100:4.1f} pts vs none)"
            if base is not None
            else ""
        )
        lag_text = (
            "lag - (nothing detects a hang)"
            if design == "none"
            else f"lag p50 {_pct(lags, 0.5):6.2f} ms p99 {_pct(lags, 0.99):7.2f} ms "
            f"({sum(r.detected for r in rs)}/{sum(r.hung for r in rs)} detected)"
        )
        print(
            f"{design:<16} CPU {statistics.median(cpu):5.1f}% ({min(cpu):.1f}-{max(cpu):.1f}){over}"
            f"  GC {statistics.median(gcs):4.1f}% max pause {max(pauses):6.1f} ms  {lag_text}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument(
        "--beats", action="store_true", help="only part 1 (ns per beat)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short windows, one repetition"
    )
    args = parser.parse_args()
    sink = Path(os.devnull).open("w")  # noqa: SIM115 - lives for the process
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.WriteLoggerFactory(sink),
    )
    print(
        f"heartbeat benchmark: python {platform.python_version()}, trio {trio.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    part_beats(calls=200_000 if args.quick else 1_000_000, reps=3 if args.quick else 7)
    if args.beats:
        return
    reps = 1 if args.quick else 3
    designs = ["none", "heap", "deadline"]
    small = Scenario(n=1_000, interval=0.1, timeout=0.5, window=3 if args.quick else 8)
    large = Scenario(
        n=10_000, interval=1.0, timeout=5.0, window=8 if args.quick else 15
    )
    part_watchdog(small, reps, designs)
    part_watchdog(large, reps, [*designs, "heap+gc.freeze"])


if __name__ == "__main__":
    main()
