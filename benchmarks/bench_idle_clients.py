"""
Probes under anonymous load: /livez latency while N idle clients hold
connections open to the tree's HTTP server (loopback only).

    .venv/bin/python benchmarks/bench_idle_clients.py [-n 500] [--probes 200]

The idle clients come in two kinds, half each: *silent* ones connect and send
nothing, *keep-alive* ones send one GET /livez, read the answer and keep the
connection open. The probes then come one at a time, each on a new connection
as the kubelet's do, with a 5 s timeout (a probe that times out counts as 5 s).
The server runs in its own process (benchmarks/_http_server.py tree). Bounded:
at most -n connections and --probes probes; then it waits 11 s and counts the
idle connections the server has shed. The server imports `supervisor` as
installed; set PYTHONPATH to compare a checkout. Asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBE_TIMEOUT = 5.0
SHED_AFTER = 11.0  # past the server's read timeout (10 s) and keep-alive timeout (5 s)
REQUEST = b"GET /livez HTTP/1.1\r\nhost: bench\r\n\r\n"


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def probe(host: str, port: int) -> float:
    began = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(
                b"GET /livez HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n"
            )
            answer = _read_answer(sock)
    except OSError:
        return PROBE_TIMEOUT
    if not answer.startswith(b"HTTP/1.1 200"):
        return PROBE_TIMEOUT
    return time.perf_counter() - began


def idle_clients(host: str, port: int, count: int) -> list[socket.socket]:
    held = []
    for i in range(count):
        try:
            sock = socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
        except OSError:
            continue
        if i % 2:  # keep-alive: one request, then idle
            try:
                sock.sendall(REQUEST)
                _read_answer(sock)
            except OSError:
                pass
        held.append(sock)
    return held


def report(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return (
        f"{name:<28} p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms"
        f"  max {ms[-1]:7.2f} ms  ({len(ms)} probes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, default=500, help="idle clients (max 2000)")
    parser.add_argument("--probes", type=int, default=200, help="probes (max 2000)")
    args = parser.parse_args()
    count, probes = min(args.n, 2000), min(args.probes, 2000)
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_http_server.py"), "tree"],
        stdout=subprocess.PIPE,
        text=True,
    )
    held: list[socket.socket] = []
    try:
        assert server.stdout is not None
        host, _, port_text = server.stdout.readline().strip().rpartition(":")
        port = int(port_text)
        quiet = [probe(host, port) for _ in range(probes)]
        held = idle_clients(host, port, count)
        loaded = [probe(host, port) for _ in range(probes)]
        kept = sum(1 for s in held if _still_open(s))
        time.sleep(SHED_AFTER)
        shed = sum(1 for s in held if _still_open(s))
    finally:
        for sock in held:
            sock.close()
        server.terminate()
        server.wait(timeout=30)
    print(f"/livez on a new connection, one at a time, {probes} probes each")
    print(report("no idle clients", quiet))
    print(report(f"{len(held)} idle clients", loaded))
    print(f"idle connections still open after the probes: {kept}/{len(held)}")
    print(f"idle connections still open {SHED_AFTER:g} s later: {shed}/{len(held)}")


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
