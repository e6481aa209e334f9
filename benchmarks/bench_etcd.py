"""
What the etcd integration costs and how fast it moves, against a real etcd
(Debian's etcd-server, started here on free loopback ports with a temp dir):

* registration: grant + create-if-absent txn (the two requests a registration
  makes), and a tree's time from ``open_tree`` until its key is visible;
* keepalive: the round trip and this process's CPU per renewal (one every
  TTL/3), and the share of a core that is at the default TTL of 10 s;
* singleton failover: a holder that dies (its keepalives stop, as after a
  kill -9) -> the tree's standby singleton runs; and the handover when the
  holder stops (it revokes its lease at once).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_etcd.py [-r 200] [--ttl 3]

Loopback, one etcd member: what the integration adds, not a network's latency.
Nothing is asserted. The waits poll (what they wait for is in etcd, another
process, or in another tree): hence ASYNC110 is off here.
"""

# ruff: noqa: ASYNC110

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import structlog
import trio

import supervisor
from supervisor import Child, EtcdOptions, State, Supervisor
from supervisor.integrations.etcd._client import EtcdClient


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def etcd_server() -> Iterator[str]:
    data = Path(tempfile.mkdtemp(prefix="bench-etcd-"))
    client, peer = f"http://127.0.0.1:{_port()}", f"http://127.0.0.1:{_port()}"
    process = subprocess.Popen(
        [
            "etcd",
            "--name=bench",
            f"--data-dir={data / 'd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=bench={peer}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        began = time.monotonic()
        while True:
            try:
                if httpx.get(f"{client}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - began > 15:
                raise RuntimeError("etcd did not start")
            time.sleep(0.02)
        print(f"etcd up in {time.monotonic() - began:.2f} s")
        yield client
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(data, ignore_errors=True)


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(values) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"


async def requests(url: str, rounds: int) -> None:
    async with EtcdClient([url]) as client:
        registrations = []
        for i in range(rounds):
            began = time.perf_counter()
            lease = await client.grant(10)
            await client.put_if_absent(f"/services/bench/i{i}", "{}", lease.id)
            registrations.append(time.perf_counter() - began)
        print(f"registration (grant + txn), {rounds} rounds: {_ms(registrations)}")
        lease = await client.grant(10)
        trips = []
        cpu = time.process_time()
        for _ in range(rounds):
            began = time.perf_counter()
            await client.keepalive(lease.id)
            trips.append(time.perf_counter() - began)
        per = (time.process_time() - cpu) / rounds
        print(f"keepalive round trip, {rounds} rounds: {_ms(trips)}")
        print(
            f"keepalive CPU in this process: {per * 1e3:.2f} ms each; at TTL 10 s "
            f"(one per 3.3 s): {per / (10 / 3) * 100:.3f} % of a core"
        )


async def tree_registration(url: str, rounds: int) -> None:
    took = []
    async with EtcdClient([url]) as client:
        for i in range(rounds):
            options = EtcdOptions(
                endpoints=[url], service="bench-tree", instance=f"t{i}", interval=0.05
            )
            spec = Supervisor(
                name="root", children=[Child(name="w", target=trio.sleep_forever)]
            )
            began = time.perf_counter()
            async with supervisor.open_tree(spec, etcd=options):
                while not await client.get(f"/services/bench-tree/t{i}"):
                    await trio.sleep(0.002)
                took.append(time.perf_counter() - began)
    print(
        f"tree start -> key visible, {rounds} trees (readiness observed every 50 ms): "
        f"{_ms(took)}"
    )


def _spec(log: list[float]) -> Supervisor:
    async def job() -> None:
        log.append(time.perf_counter())
        await trio.sleep_forever()

    return Supervisor(
        name="root", children=[Child(name="cron", target=job, singleton=True)]
    )


async def failover(url: str, ttl: int) -> None:
    name = "/supervisor/bench-fo/singletons/root/cron"
    async with EtcdClient([url]) as client:
        # A holder that then dies: it campaigns first, and its keepalives stop.
        dead = await client.grant(ttl)
        await client.campaign(name, dead.id, "dead")
        died = time.perf_counter()
        log: list[float] = []
        options = EtcdOptions(
            endpoints=[url], service="bench-fo", instance="live", ttl=ttl, interval=0.05
        )
        async with supervisor.open_tree(_spec(log), etcd=options):
            while not log:
                await trio.sleep(0.005)
        print(
            f"failover, holder dead (no keepalive) -> singleton runs elsewhere, TTL "
            f"{ttl} s: {log[0] - died:.2f} s"
        )
    logs: dict[str, list[float]] = {"a": [], "b": []}
    opts = {
        k: EtcdOptions(
            endpoints=[url], service="bench-ho", instance=k, ttl=ttl, interval=0.05
        )
        for k in logs
    }
    async with (
        supervisor.open_tree(_spec(logs["b"]), etcd=opts["b"]) as b,
        supervisor.open_tree(_spec(logs["a"]), etcd=opts["a"]) as a,
    ):
        while not (logs["a"] or logs["b"]):
            await trio.sleep(0.005)
        holder, other = (a, b) if logs["a"] else (b, a)
        other_log = logs["b"] if holder is a else logs["a"]
        while other.child_state("root/cron") is not State.STANDBY:
            await trio.sleep(0.005)
        began = time.perf_counter()
        await holder.stop()
        while not other_log:
            await trio.sleep(0.005)
        print(
            f"handover, holder stops -> the other runs it: {(other_log[0] - began) * 1e3:.1f} ms"
        )


async def main(url: str, rounds: int, ttl: int) -> None:
    await requests(url, rounds)
    await tree_registration(url, 20)
    await failover(url, ttl)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-r", "--rounds", type=int, default=200)
    parser.add_argument("--ttl", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    with etcd_server() as endpoint:
        trio.run(main, endpoint, args.rounds, args.ttl)
