"""
Fleet singletons through the CLI, two real processes against a real etcd: one
holder at a time, an unready holder hands over at once, a kill -9 of the
holder moves the singleton within TTL + 2 s, and no moment with two holders
(each instance writes to one log when its singleton starts and stops, which
the test reads). Real clock and real processes: that is the point.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integrations.conftest import EtcdServer, free_port

TTL = 3
HERE = Path(__file__).resolve().parent


class Instance:
    """One ``supervisor run`` process of the fleet."""

    def __init__(self, name: str, etcd: EtcdServer, tmp: Path) -> None:
        self.name = name
        self.port = free_port()
        self.unready = tmp / f"unready-{name}"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "FLEET_INSTANCE": name,
            "FLEET_LOG": str(tmp / "fleet.log"),
            "FLEET_UNREADY": str(self.unready),
        }
        self.stderr = (tmp / f"{name}.err").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervisor.cli",
                "run",
                f"{HERE / 'fleet_app.py'}:tree",
                "--checks",
                f"{HERE / 'fleet_app.py'}:checks",
                "--log-format",
                "json",
                "--http",
                f"127.0.0.1:{self.port}",
                "--etcd",
                etcd.url,
                "--service",
                "jobs",
                "--instance",
                name,
                "--etcd-ttl",
                str(TTL),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            env=env,
        )
        self.killed_at: float | None = None

    def status(self) -> dict[str, object]:
        answer = httpx.get(f"http://127.0.0.1:{self.port}/status", timeout=2)
        data: dict[str, object] = answer.json()
        return data

    def cron_state(self) -> str | None:
        try:
            root = self.status()["tree"]["root"]  # type: ignore[index]
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        for child in root["children"]:  # type: ignore[index]
            if child["name"] == "cron":
                return str(child["state"])
        return None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.killed_at = time.time()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.stderr.close()


@pytest.fixture
def fleet(etcd: EtcdServer, tmp_path: Path) -> Iterator[Callable[[str], Instance]]:
    started: list[Instance] = []

    def start(name: str) -> Instance:
        instance = Instance(name, etcd, tmp_path)
        started.append(instance)
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()


def wait_for(check: Callable[[], bool], limit: float, what: str) -> float:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > limit:
            raise AssertionError(f"not within {limit} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - began


def events(log: Path) -> list[tuple[str, str, int, float]]:
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        event, name, token, at = line.split()
        found.append((event, name, int(token), float(at)))
    return found


def starts(log: Path, name: str) -> list[float]:
    return [at for event, who, _, at in events(log) if event == "start" and who == name]


def assert_one_holder_at_a_time(log: Path, ends: dict[str, float | None]) -> None:
    """The terms read from the log never overlap (a killed one ends at its kill)."""
    terms: list[tuple[float, float, str, int]] = []
    open_terms: dict[str, tuple[float, int]] = {}
    for event, name, token, at in events(log):
        if event == "start":
            assert name not in open_terms, f"{name} started twice"
            open_terms[name] = (at, token)
        else:
            began, began_token = open_terms.pop(name)
            assert token == began_token
            terms.append((began, at, name, token))
    for name, (began, token) in open_terms.items():
        end = ends.get(name)
        terms.append((began, end if end is not None else time.time(), name, token))
    terms.sort()
    for (_, end, name, token), (began, _, other, next_token) in itertools.pairwise(
        terms
    ):
        assert end <= began, f"{name} held until {end}, {other} from {began}"
        assert next_token > token  # fencing tokens only grow


def test_one_holder_handover_and_failover(
    fleet: Callable[[str], Instance], etcd: EtcdServer, tmp_path: Path
) -> None:
    log = tmp_path / "fleet.log"
    a = fleet("a")
    wait_for(lambda: bool(starts(log, "a")), 20, "a runs the singleton")
    b = fleet("b")
    wait_for(lambda: b.cron_state() == "standby", 20, "b lists it as standby")
    time.sleep(1.0)
    assert not starts(log, "b")  # exactly one runs it
    assert a.cron_state() == "running"
    registered = etcd.post(
        "kv/range", {"key": "L3NlcnZpY2VzL2pvYnMv", "range_end": "L3NlcnZpY2VzL2pvYnMw"}
    )
    assert json.dumps(registered).count('"key"') == 2  # both registered

    # An unready holder hands over at once (after its N failed observations),
    # not after the TTL: its child stops first, then the lease is revoked.
    a.unready.touch()
    told = time.time()
    wait_for(lambda: bool(starts(log, "b")), 15, "b takes over from the unready a")
    [(stop_a)] = [at for e, who, _, at in events(log) if e == "stop" and who == "a"]
    handover = starts(log, "b")[0] - stop_a
    assert 0 <= handover < 1.0
    unready_to_moved = starts(log, "b")[0] - told  # N observations, one a second
    a.unready.unlink()
    wait_for(lambda: a.cron_state() == "standby", 15, "a is ready again, standby")

    # kill -9 of the holder: its lease expires, the other starts it within TTL + 2 s.
    b.kill()
    wait_for(lambda: len(starts(log, "a")) == 2, TTL + 2 + 1, "a takes over from b")
    failover = starts(log, "a")[1] - (b.killed_at or 0)
    assert failover < TTL + 2
    assert_one_holder_at_a_time(log, {"b": b.killed_at})
    print(
        f"unready -> moved {unready_to_moved:.3f} s (stop -> start {handover:.3f} s), "
        f"failover (kill -9) {failover:.3f} s"
    )
