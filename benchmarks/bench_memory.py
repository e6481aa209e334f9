"""
Memory per running child, next to a bare trio task, with a breakdown.

Each side runs in a fresh interpreter (RSS only grows within one), *n*
tasks or children parked for good, sides alternating for *r* rounds:

* **bare task**: ``nursery.start_soon`` of a task waiting on an Event;
* **start + scope**: ``nursery.start`` of a task that enters a cancel scope
  and reports started (what a supervisor needs at the least per child);
* **tree**: ``open_tree`` of a one-for-one supervisor with *n* children, each
  ``await trio.sleep_forever()``;
* **tree, heartbeats**: the same, each child with ``heartbeat_timeout=60``
  (its watchdog timer included).

Per child: the RSS delta (``psutil``) and the bytes ``tracemalloc`` traced,
both over the state before the tasks started (the spec built already: it is
the application's, not the running child's). Then a breakdown of one running
child of the tree: the objects it holds, each measured with
``sys.getsizeof``, and the tree's traced allocations grouped by the file that
made them.

    .venv/bin/python benchmarks/bench_memory.py -n 10000 -n 100000 -r 3

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import linecache
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import structlog
import trio

from supervisor import Child, Supervisor, open_tree

_TOP_LINES = 20
SIDES = ("bare task", "start + scope", "tree", "tree, heartbeats")


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


class _Meter:
    """RSS and traced bytes before, and after the tasks are parked."""

    def __init__(self, traced: bool) -> None:
        self.traced = traced
        if traced:
            tracemalloc.start(1)
        self.rss0 = _rss()
        self.traced0 = tracemalloc.get_traced_memory()[0] if traced else 0
        self.snapshot0 = tracemalloc.take_snapshot() if traced else None

    def read(self, n: int) -> dict[str, Any]:
        rss = _rss()
        out: dict[str, Any] = {"rss_per": (rss - self.rss0) / n}
        if self.traced:
            out["traced_per"] = (tracemalloc.get_traced_memory()[0] - self.traced0) / n
            out["by_file"] = _by_file(self.snapshot0, tracemalloc.take_snapshot(), n)
        return out


def _by_file(
    before: tracemalloc.Snapshot | None, after: tracemalloc.Snapshot, n: int
) -> list[tuple[str, float]]:
    """Bytes per child by the line that allocated them, with that line's source."""
    assert before is not None
    out = []
    for diff in after.compare_to(before, "lineno")[:_TOP_LINES]:
        frame = diff.traceback[0]
        source = linecache.getline(frame.filename, frame.lineno).strip()[:60]
        out.append(
            (f"{_short(frame.filename)}:{frame.lineno} {source}", diff.size_diff / n)
        )
    return out


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3", "/supervisor/", "/benchmarks/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return (marker.lstrip("/") + tail) if marker.startswith("/") else tail
    return filename


async def _parked(event: trio.Event) -> None:
    await event.wait()


async def _scoped(
    event: trio.Event, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.CancelScope():
        task_status.started()
        await event.wait()


async def _bare(n: int, traced: bool) -> dict[str, Any]:
    event = trio.Event()
    async with trio.open_nursery() as nursery:
        meter = _Meter(traced)
        for _ in range(n):
            nursery.start_soon(_parked, event)
        await trio.testing.wait_all_tasks_blocked()
        out = meter.read(n)
        event.set()
    return out


async def _start_scope(n: int, traced: bool) -> dict[str, Any]:
    event = trio.Event()
    async with trio.open_nursery() as nursery:
        meter = _Meter(traced)
        for _ in range(n):
            await nursery.start(_scoped, event)
        await trio.testing.wait_all_tasks_blocked()
        out = meter.read(n)
        event.set()
    return out


def _tree_side(heartbeats: bool) -> Callable[[int, bool], Awaitable[dict[str, Any]]]:
    async def side(n: int, traced: bool) -> dict[str, Any]:
        held: list[Any] = []

        async def idle() -> None:
            if not held:
                held.append(trio.lowlevel.current_task())
            await trio.sleep_forever()

        timeout = 60.0 if heartbeats else None
        children = [
            Child(name=f"c{i}", target=idle, heartbeat_timeout=timeout)
            for i in range(n)
        ]
        spec = Supervisor(name="root", children=children)
        meter = _Meter(traced)
        async with open_tree(spec, loop_block_threshold=None) as tree:
            await trio.testing.wait_all_tasks_blocked()
            out = meter.read(n)
            if traced:
                out["holds"] = _holds(tree, held[0])
            await tree.stop()
        return out

    return side


RUNS: dict[str, Callable[[int, bool], Awaitable[dict[str, Any]]]] = {
    "bare task": _bare,
    "start + scope": _start_scope,
    "tree": _tree_side(False),
    "tree, heartbeats": _tree_side(True),
}


# ---- what one child holds ---------------------------------------------------------


def _size(obj: object) -> int:
    return sys.getsizeof(obj)


def _coroutines(coro: Any) -> list[tuple[str, int]]:
    """Each coroutine of a task's await chain (its size includes its frame)."""
    out = []
    while coro is not None:
        name = getattr(coro, "__qualname__", type(coro).__name__)
        # CPython 3.11 keeps a suspended coroutine's frame (locals, value
        # stack) inside the coroutine object: getsizeof counts it. cr_frame is
        # not read: that would allocate a frame object that was not there.
        out.append((f"coroutine and its frame: {name}", _size(coro)))
        coro = getattr(coro, "cr_await", None)
    return out


def _holds(tree: Any, task: Any) -> list[tuple[str, int]]:
    """The objects child c0 of the tree holds, shallow sizes (bytes)."""
    slot = tree._root.slots["c0"]
    inc = slot.current
    rows: list[tuple[str, int]] = [
        ("trio Task", _size(task)),
        ("Task.context (contextvars copy)", _size(task.context)),
        ("Task._child_nurseries list", _size(task._child_nurseries)),
    ]
    rows += _coroutines(task.coro)
    scope = inc.scope
    rows += [
        ("CancelScope", _size(scope)),
        ("CancelStatus", _size(scope._cancel_status)),
        ("Slot", _size(slot)),
        ("Slot.restarts_by_reason dict", _size(slot.restarts_by_reason)),
        ("Slot.waiters list", _size(slot.waiters)),
        ("Slot.schedule (backoff)", _size(slot.schedule)),
        ("Incarnation", _size(inc)),
        # No logger per child: its events go through its node's, with path=.
        ("Traits (shared by every worker of a kind)", 0),
        ("path str", _size(slot.path)),
    ]
    for name in ("start_timer", "beat_timer", "stop_timer"):
        timer = getattr(inc, name)
        if timer is not None:
            rows.append((f"watchdog {name}", _size(timer)))
    return rows


# ---- driver -----------------------------------------------------------------------


def _child_main(side: str, n: int, traced: bool) -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        cache_logger_on_first_use=False,
    )
    result = trio.run(RUNS[side], n, traced)
    print(json.dumps(result))


def _one(side: str, n: int, traced: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--side", side, "-n", str(n)]
    if traced:
        cmd.append("--traced")
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def measure(sizes: list[int], rounds: int) -> dict[int, dict[str, list[float]]]:
    """RSS bytes per task/child of each side, per size, sides alternating."""
    out: dict[int, dict[str, list[float]]] = {}
    for n in sizes:
        per = out[n] = {side: [] for side in SIDES}
        for _ in range(rounds):
            for side in SIDES:
                per[side].append(_one(side, n, traced=False)["rss_per"])
    return out


def markdown(rss: dict[int, dict[str, list[float]]], traced: dict[str, Any]) -> str:
    lines = ["| N | " + " | ".join(SIDES) + " | tree / bare |", "|---" * 6 + "|"]
    for n, per in rss.items():
        med = {side: statistics.median(v) for side, v in per.items()}
        cells = " | ".join(f"{med[s] / 1024:.2f} KB" for s in SIDES)
        lines.append(f"| {n:,} | {cells} | {med['tree'] / med['bare task']:.2f}x |")
    lines += ["", "One running child of the tree holds (shallow `sys.getsizeof`):", ""]
    lines += ["| object | bytes |", "|---|---|"]
    lines += [f"| {name} | {size} |" for name, size in traced["holds"]]
    lines.append(f"| **sum** | **{sum(s for _, s in traced['holds'])}** |")
    lines += [
        "",
        "Traced allocations per child of the tree, by the line making them:",
        "",
    ]
    lines += ["| line | bytes per child |", "|---|---|"]
    lines += [
        f"| `{name.replace('|', '/')}` | {per:.0f} |" for name, per in traced["by_file"]
    ]
    lines.append(f"| **traced in all** | **{traced['traced_per']:.0f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, action="append", dest="sizes")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also write the results as a markdown table to PATH (./dev bench)",
    )
    args = parser.parse_args()
    sizes = args.sizes or [10_000, 100_000]
    if args.side:
        _child_main(args.side, sizes[0], args.traced)
        return
    rss = measure(sizes, args.rounds)
    print(f"memory per task/child (RSS delta), {args.rounds} rounds, medians (min-max)")
    for n, per in rss.items():
        bare = statistics.median(per["bare task"])
        for side, values in per.items():
            med = statistics.median(values)
            print(
                f"N={n:>7}  {side:<18} {med / 1024:6.2f} KB "
                f"({min(values) / 1024:.2f}-{max(values) / 1024:.2f})  "
                f"{med / bare:.2f}x bare"
            )
    traced = _one("tree", sizes[0], traced=True)
    print(f"tree, traced by tracemalloc: {traced['traced_per']:.0f} B per child")
    for name, per in traced["by_file"]:
        print(f"  {per:8.0f} B  {name}")
    print("one running child holds (shallow sizes):")
    for name, size in traced["holds"]:
        print(f"  {size:6d} B  {name}")
    print(f"  {sum(s for _, s in traced['holds']):6d} B  in all")
    if args.markdown:
        args.markdown.write_text(markdown(rss, traced) + "\n")


if __name__ == "__main__":
    main()
