"""
A large tree whose children all beat: start time and the watchdog's CPU share.

*n* children (100,000 by default) each call ``heartbeat()`` at once, then
every *interval* seconds (10), from a random phase. Sides, in one process,
alternating for *r* rounds:

* **floor**: a sequential ``nursery.start`` of *n* tasks doing the same
  (beating into a plain attribute, each in its own cancel scope), so the start
  competes with the wake-ups of the tasks already beating, as the tree's does;
* **tree, no timeout**: children beat, nothing watches (no
  ``heartbeat_timeout``);
* **tree, watched**: ``heartbeat_timeout`` = 3 x *interval*: the watchdog's
  timer heap serves every child.

Each side runs with the garbage collector as CPython sets it (``--gc
default``) and as an application can manage it for a large tree (``--gc
frozen``: ``gc.disable()`` during the start, then ``gc.freeze()`` and
``gc.enable()``; the library never touches GC settings itself). With the
default collector, the wake-ups of the tasks already beating keep allocating
while the heap grows, and full collections over it dominate: the floor itself
is no longer linear at 100,000 (measured: 2.4 ms per task, 103 µs with the
collector off during its start).

Per side: the start time per child (until ``open_tree`` enters), the stop
time per child (``tree.stop()``, reverse order; the floor cancels its tasks
one at a time in reverse order, each waited for) and, over a
*window* once every child has beaten, the process's CPU share of one core,
the garbage collector's share, and (watched) the watchdog task's own share:
the time its steps took, measured by a trio instrument around each step of
that one task. Nothing is asserted.

    .venv/bin/python benchmarks/bench_beating_tree.py --gc frozen   # 100k, 1 round
    .venv/bin/python benchmarks/bench_beating_tree.py -n 40000 -n 100000 -r 3 --window 30
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import trio

from supervisor import Child, Supervisor, heartbeat, open_tree

SIDES = ("floor", "tree, no timeout", "tree, watched")


@dataclass(frozen=True)
class Run:
    start_us: float  # per child
    stop_us: float  # per child, in reverse order
    cpu_share: float
    gc_share: float
    watchdog_share: float | None


class _StepTimer(trio.abc.Instrument):
    """CPU time spent in the steps of the task running `Watchdog.run`."""

    def __init__(self) -> None:
        self.total = 0.0
        self.on = False
        self._began = 0.0

    @staticmethod
    def _is_watchdog(task: trio.lowlevel.Task) -> bool:
        return "Watchdog.run" in task.name

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.on and self._is_watchdog(task):
            self._began = time.process_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.on and self._is_watchdog(task):
            self.total += time.process_time() - self._began


class _GcTimer:
    def __init__(self) -> None:
        self.total = 0.0
        self.on = False
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self.on:
            self.total += time.perf_counter() - self._began


class _Holder:
    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = 0.0


def _beater(interval: float, rng: random.Random) -> Callable[[], Awaitable[None]]:
    phase = rng.uniform(0, interval)

    async def beating() -> None:
        heartbeat()
        await trio.sleep(phase)
        while True:
            heartbeat()
            await trio.sleep(interval)

    return beating


async def _floor_task(
    interval: float,
    phase: float,
    done: trio.Event,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    holder = _Holder()
    try:
        with trio.CancelScope() as scope:
            holder.at = time.monotonic()
            task_status.started(scope)
            await trio.sleep(phase)
            while True:
                holder.at = time.monotonic()
                await trio.sleep(interval)
    finally:
        done.set()


async def _window(
    seconds: float, steps: _StepTimer | None
) -> tuple[float, float, float]:
    gc_timer = _GcTimer()
    gc.callbacks.append(gc_timer)
    try:
        gc_timer.on = True
        if steps is not None:
            steps.on = True
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await trio.sleep(seconds)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        gc_timer.on = False
        if steps is not None:
            steps.on = False
        gc.callbacks.remove(gc_timer)
    watchdog = steps.total / wall if steps is not None else 0.0
    return cpu / wall, gc_timer.total / wall, watchdog


def _before_start(frozen: bool) -> None:
    if frozen:
        gc.disable()


def _after_start(frozen: bool) -> None:
    if frozen:
        gc.freeze()
        gc.enable()


async def _floor(n: int, interval: float, window: float, frozen: bool) -> Run:
    rng = random.Random(1)
    stops: list[tuple[trio.CancelScope, trio.Event]] = []
    async with trio.open_nursery() as nursery:
        _before_start(frozen)
        began = time.perf_counter()
        for _ in range(n):
            done = trio.Event()
            scope = await nursery.start(
                _floor_task, interval, rng.uniform(0, interval), done
            )
            stops.append((scope, done))
        start = (time.perf_counter() - began) / n * 1e6
        _after_start(frozen)
        await trio.sleep(interval)  # every task has beaten once more
        cpu, gcs, _ = await _window(window, None)
        # The floor of an ordered stop: one at a time, in reverse, each waited for.
        began = time.perf_counter()
        for scope, done in reversed(stops):
            scope.cancel()
            await done.wait()
        stop = (time.perf_counter() - began) / n * 1e6
    return Run(start, stop, cpu, gcs, None)


def _tree(watched: bool) -> Callable[[int, float, float, bool], Awaitable[Run]]:
    async def side(n: int, interval: float, window: float, frozen: bool) -> Run:
        rng = random.Random(1)
        timeout = 3 * interval if watched else None
        spec = Supervisor(
            name="root",
            children=[
                Child(
                    name=f"c{i}",
                    target=_beater(interval, rng),
                    heartbeat_timeout=timeout,
                )
                for i in range(n)
            ],
        )
        steps = _StepTimer()
        trio.lowlevel.add_instrument(steps)
        _before_start(frozen)
        began = time.perf_counter()
        async with open_tree(spec, loop_block_threshold=None) as tree:
            start = (time.perf_counter() - began) / n * 1e6
            _after_start(frozen)
            await trio.sleep(interval)
            cpu, gcs, watchdog = await _window(window, steps if watched else None)
            began = time.perf_counter()
            await tree.stop()
            stop = (time.perf_counter() - began) / n * 1e6
        trio.lowlevel.remove_instrument(steps)
        return Run(start, stop, cpu, gcs, watchdog if watched else None)

    return side


RUNS: dict[str, Callable[[int, float, float, bool], Awaitable[Run]]] = {
    "floor": _floor,
    "tree, no timeout": _tree(watched=False),
    "tree, watched": _tree(watched=True),
}


def measure(
    n: int, rounds: int, interval: float, window: float, frozen: bool
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {side: [] for side in SIDES}
    for _ in range(rounds):
        for side in SIDES:
            gc.collect()
            try:
                runs[side].append(trio.run(RUNS[side], n, interval, window, frozen))
            finally:
                gc.enable()
                gc.unfreeze()
    return runs


def _med(values: list[float]) -> float:
    return statistics.median(values)


def report(runs: dict[str, list[Run]]) -> list[tuple[str, ...]]:
    floor = _med([r.start_us for r in runs["floor"]])
    floor_stop = _med([r.stop_us for r in runs["floor"]])
    rows = []
    for side, rs in runs.items():
        start = _med([r.start_us for r in rs])
        stop = _med([r.stop_us for r in rs])
        dog = [r.watchdog_share for r in rs if r.watchdog_share is not None]
        rows.append(
            (
                side,
                f"{start:.1f} µs ({start / floor:.2f}x)",
                f"{stop:.1f} µs ({stop / floor_stop:.2f}x)",
                f"{_med([r.cpu_share for r in rs]) * 100:.1f}%",
                f"{_med([r.gc_share for r in rs]) * 100:.1f}%",
                f"{_med(dog) * 100:.2f}%" if dog else "-",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, action="append", dest="sizes")
    parser.add_argument("-r", "--rounds", type=int, default=1)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument(
        "--gc", action="append", choices=["default", "frozen"], dest="gc_modes"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also write the results as a markdown table to PATH (./dev bench)",
    )
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        cache_logger_on_first_use=False,
    )
    lines = [
        "| N, collector | side | start per child | stop per child | CPU (one core) "
        "| GC | watchdog task |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in args.gc_modes or ["frozen", "default"]:
        for n in args.sizes or [100_000]:
            runs = measure(n, args.rounds, args.interval, args.window, mode == "frozen")
            print(
                f"{n:,} children beating every {args.interval:g} s, collector {mode}, "
                f"{args.window:g} s window, {args.rounds} round(s), medians",
                flush=True,
            )
            for side, start, stop, cpu, gcs, dog in report(runs):
                print(
                    f"  {side:<18} start {start:<20} stop {stop:<20} CPU {cpu:>6}  "
                    f"GC {gcs:>6}  watchdog {dog}",
                    flush=True,
                )
                cells = (f"{n:,}, {mode}", side, start, stop, cpu, gcs, dog)
                lines.append("| " + " | ".join(cells) + " |")
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
