"""
Start of N children in order: the tree's initial start next to its floor, a
sequential `nursery.start` of N tasks (each reporting started at once, as a
child that takes task_status does), sides interleaved; and the tree's stop
next to its floor, an ordered cancel: each task in its own cancel scope,
cancelled one at a time in reverse order, each waited for before the next.

    .venv/bin/python benchmarks/bench_start.py              # 10,000 and 40,000
    .venv/bin/python benchmarks/bench_start.py -n 100000 -r 3

Per size: the median microseconds per child of *r* rounds, for the floors'
start and stop, the tree's start (until `open_tree` enters: every child counted
as started) and the tree's stop (reverse order, until `open_tree` exits).
Linear means the per-child figures stay flat as N grows. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

import structlog
import trio

from supervisor import Child, Supervisor, open_tree


async def _idle(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


async def _scoped(
    done: trio.Event,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await trio.sleep_forever()
    finally:
        done.set()


async def _floor_start(n: int) -> float:
    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            await nursery.start(_idle)
        took = time.perf_counter() - began
        nursery.cancel_scope.cancel()
    return took


async def _floor_stop(n: int) -> float:
    stops: list[tuple[trio.CancelScope, trio.Event]] = []
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            done = trio.Event()
            stops.append((await nursery.start(_scoped, done), done))
        began = time.perf_counter()
        for scope, done in reversed(stops):
            scope.cancel()
            await done.wait()
    return time.perf_counter() - began


async def _tree(n: int) -> tuple[float, float]:
    spec = Supervisor(
        name="root", children=[Child(name=f"c{i}", target=_idle) for i in range(n)]
    )
    began = time.perf_counter()
    async with open_tree(spec, loop_block_threshold=None):
        started = time.perf_counter()
    return started - began, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, action="append", dest="sizes")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also write the results as a markdown table to PATH (./dev bench)",
    )
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        cache_logger_on_first_use=False,
    )
    rows = []
    for n in args.sizes or [10_000, 40_000]:
        sides: dict[str, list[float]] = {
            k: [] for k in ("floor start", "floor stop", "start", "stop")
        }
        for _ in range(args.rounds):
            gc.collect()
            sides["floor start"].append(trio.run(_floor_start, n) / n * 1e6)
            gc.collect()
            sides["floor stop"].append(trio.run(_floor_stop, n) / n * 1e6)
            gc.collect()
            a, b = trio.run(_tree, n)
            sides["start"].append(a / n * 1e6)
            sides["stop"].append(b / n * 1e6)
        f, fs, s, t = (statistics.median(x) for x in sides.values())
        rows.append((n, f, s, fs, t))
        print(
            f"N={n:>7}  start: floor {f:6.1f} us/child, tree {s:6.1f} ({s / f:.2f}x)"
            f"   stop: floor {fs:6.1f} us/child, tree {t:6.1f} ({t / fs:.2f}x)"
        )
    if args.markdown:
        lines = [
            "| N | start: floor | start: tree | stop: floor | stop: tree |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {n:,} | {f:.1f} µs | {s:.1f} µs ({s / f:.2f}x) "
            f"| {fs:.1f} µs | {t:.1f} µs ({t / fs:.2f}x) |"
            for n, f, s, fs, t in rows
        ]
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
