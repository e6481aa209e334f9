"""
HTTP: /healthz throughput with wrk, next to a bare hypercorn-on-trio app that
returns "ok" (the floor), and /status latency for a 10,000-child tree.

    ./dev bench     # or: .venv/bin/python benchmarks/bench_http.py [-r 3] [-d 5]

Each server runs in its own process; its CPU time per request is read from
/proc/PID/stat around the load, because requests share the trio thread with
the workers. Sides are interleaved; medians with min-max. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_http_server.py"), *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()

    def cpu_seconds(self) -> float:
        fields = (
            Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        )
        return (int(fields[11]) + int(fields[12])) / TICKS

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _ms(text: str) -> float:
    """A wrk latency ("812.00us", "3.10ms", "1.02s", "1.50m") in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"cannot read wrk's latency {text!r}")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(server: Server, path: str, connections: int, seconds: int) -> Load:
    cpu0 = server.cpu_seconds()
    out = subprocess.run(
        [
            "wrk",
            f"-c{connections}",
            "-t1",
            f"-d{seconds}s",
            "--latency",
            f"http://{server.address}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = server.cpu_seconds() - cpu0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    # Anchored to the "Latency Distribution" lines: a Stdev column reading
    # "98.99%" would otherwise match "99%".
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return Load(
        rps=rps, p50_ms=p50, p99_ms=p99, cpu_us_per_request=cpu / max(total, 1) * 1e6
    )


def summary(name: str, loads: list[Load]) -> str:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"

    return (
        f"{name:<30} req/s {med([x.rps for x in loads])}  p50 {statistics.median(x.p50_ms for x in loads):6.2f} ms"
        f"  p99 {statistics.median(x.p99_ms for x in loads):6.2f} ms"
        f"  CPU/request {med([x.cpu_us_per_request for x in loads])} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-r", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("-d", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (./dev bench does)")
    print(
        f"HTTP benchmark: wrk -c16 -t1 -d{args.d}s on loopback, {args.r} interleaved repetitions"
    )
    bare, tree = Server("bare"), Server("tree", "--children", "10")
    results: dict[str, list[Load]] = {
        "bare hypercorn app: /": [],
        "tree (10 children): /healthz": [],
    }
    try:
        for _ in range(args.r):
            results["bare hypercorn app: /"].append(wrk(bare, "/", 16, args.d))
            results["tree (10 children): /healthz"].append(
                wrk(tree, "/healthz", 16, args.d)
            )
    finally:
        bare.close()
        tree.close()
    for name, loads in results.items():
        print(summary(name, loads))
    ratio = statistics.median(
        x.rps for x in results["tree (10 children): /healthz"]
    ) / statistics.median(x.rps for x in results["bare hypercorn app: /"])
    print(f"/healthz throughput: {ratio:.2f}x the bare hypercorn app")

    big = Server("tree", "--children", "10000")
    try:
        loads = [wrk(big, "/status", 1, args.d) for _ in range(args.r)]
        size = len(
            subprocess.run(
                ["curl", "-s", f"http://{big.address}/status"],
                capture_output=True,
                check=False,
            ).stdout
        )
    finally:
        big.close()
    print(
        summary("tree (10,000 children): /status", loads)
        + f"  ({size / 1e6:.1f} MB per answer)"
    )


if __name__ == "__main__":
    main()
