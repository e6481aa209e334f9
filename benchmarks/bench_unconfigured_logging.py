"""
What one crash costs an application that never configured logging.

structlog's built-in default renders exceptions with rich when it is installed, frame locals
included. While structlog is unconfigured, the library's own events use that
default layout with a plain traceback instead (`supervisor/_log.py`); rich is
no longer installed with the library (only with its ``cli`` extra), and the
third side shows structlog's default without it. Each side
runs in a fresh interpreter (structlog's configuration is process-wide):
*crashes* zero-backoff crashes of a child holding a secret argument, output to
/dev/null, alternating sides for *r* rounds.

    .venv/bin/python benchmarks/bench_unconfigured_logging.py
    .venv/bin/python benchmarks/bench_unconfigured_logging.py -n 500 -r 5

Prints the median milliseconds per crash of each side and whether the secret
reached the output. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap

_CHILD = textwrap.dedent(
    """
    import sys
    if sys.argv[2] == "structlog-default-no-rich":  # without the cli extra
        sys.modules["rich"] = None  # structlog then formats tracebacks plainly
    import time, structlog, trio
    from supervisor import Backoff, Child, Supervisor, run
    import supervisor._log

    if sys.argv[2].startswith("structlog-default"):  # what the library did before
        supervisor._log._resolve = lambda name: structlog.get_logger(name)

    async def call_api(api_key):
        token = api_key.upper()
        raise ConnectionError("the API is down")

    async def main():
        crashes = int(sys.argv[1])
        spec = Supervisor(
            name="r", intensity=crashes, period=1e9, backoff=Backoff(initial=0),
            children=[Child(name="c", target=call_api, args=("sk-live-SECRET",))],
        )
        began = time.perf_counter()
        try:
            await run(spec, loop_block_threshold=None)
        except Exception:
            pass
        print((time.perf_counter() - began) / (crashes + 1) * 1e3, file=sys.stderr)

    trio.run(main)
    """
)

SIDES = ("library-fallback", "structlog-default", "structlog-default-no-rich")


def _one(side: str, crashes: int) -> tuple[float, bool]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(crashes), side],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    leaked = "sk-live" in done.stdout.lower()
    return float(done.stderr.strip().splitlines()[-1]), leaked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", "--crashes", type=int, default=200)
    parser.add_argument("-r", "--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    leaks: dict[str, bool] = dict.fromkeys(SIDES, False)
    for _ in range(args.rounds):
        for side in SIDES:
            ms, leaked = _one(side, args.crashes)
            times[side].append(ms)
            leaks[side] |= leaked
    print(f"unconfigured structlog, {args.crashes} crashes x {args.rounds} rounds")
    for side in SIDES:
        t = times[side]
        print(
            f"  {side:26} {statistics.median(t):8.3f} ms/crash "
            f"(min {min(t):.3f}, max {max(t):.3f})  secret in output: {leaks[side]}"
        )
    ratio = statistics.median(times["structlog-default"]) / statistics.median(
        times["library-fallback"]
    )
    print(f"  structlog's default costs {ratio:.0f}x the fallback per crash")


if __name__ == "__main__":
    main()
