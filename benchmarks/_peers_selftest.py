"""Run both sides of the restart baseline, interleaved, and print a table.

Usage, from the repo root::

    python benchmarks/_peers_selftest.py [-n N] [--reps R] [--full-checkpoint] [--log]

Floor and triotp alternate (floor, triotp, floor, triotp, ...) so drift on a
shared machine hits both sides alike; the ratio is taken per pair, then its median.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import statistics
import sys

import trio
from _peers import (
    Result,
    Summary,
    ensure_triotp_venv,
    floor_restarts,
    summarise,
    triotp_restarts,
)

_HEADER = f"{'side':<24} {'p50 µs':>20} {'p99 µs':>22} {'restarts/s':>26}"


def _cell(median: float, spread: tuple[float, float], fmt: str) -> str:
    low, high = spread
    return f"{median:{fmt}} ({low:{fmt}}-{high:{fmt}})"


def _print_table(summaries: list[Summary]) -> None:
    print(_HEADER)
    for s in summaries:
        p50 = _cell(s["p50_us"], s["p50_us_min_max"], ".1f")
        p99 = _cell(s["p99_us"], s["p99_us_min_max"], ".1f")
        rate = _cell(s["restarts_per_s"], s["restarts_per_s_min_max"], ",.0f")
        print(f"{s['name']:<24} {p50:>20} {p99:>22} {rate:>26}")
    for s in summaries:
        print(f"  {s['name']}: {s['versions']}")


def _print_ratio(floor: list[Result], peer: list[Result]) -> None:
    pairs = zip(floor, peer, strict=True)
    ratios = [f.per_second / p.per_second for f, p in pairs]
    median = statistics.median(ratios)
    print(
        f"floor/triotp restarts/s per interleaved pair: {median:.1f}x"
        f" ({min(ratios):.1f}-{max(ratios):.1f})"
    )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="restarts per rep")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per side")
    parser.add_argument(
        "--full-checkpoint", action="store_true", help="floor: full checkpoint"
    )
    parser.add_argument("--log", action="store_true", help="triotp logs restarts")
    return parser.parse_args()


def main() -> None:
    """Interleave floor and triotp, then print the table and the ratio."""
    args = _parse()
    have_triotp = ensure_triotp_venv() is not None
    run_floor = functools.partial(
        floor_restarts, args.n, full_checkpoint=args.full_checkpoint
    )
    floor: list[Result] = []
    peer: list[Result] = []
    for _ in range(args.reps):
        floor.append(trio.run(run_floor))
        result = triotp_restarts(args.n, log=args.log) if have_triotp else None
        if result is not None:
            peer.append(result)

    print("command:", shlex.join([sys.executable, *sys.argv]))
    floor_name = "floor" + (" full-checkpoint" if args.full_checkpoint else "")
    summaries = [summarise(floor_name, floor)]
    if peer:
        peer_name = "triotp" + (" logging" if args.log else "")
        summaries.append(summarise(peer_name, peer))
    _print_table(summaries)
    if len(peer) == len(floor):
        _print_ratio(floor, peer)


if __name__ == "__main__":
    main()
