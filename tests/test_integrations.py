"""
Real programs from Debian's packages, on 127.0.0.1 with free ports: a Redis
check against a real redis-server that is stopped and started again, and the
dashboard rendered by headless Chromium. Real clock, bounded waits.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from supervisor import (
    Backoff,
    Check,
    Child,
    Jitter,
    State,
    Supervisor,
    checks,
    heartbeat,
    open_tree,
)
from tests._real_servers import free_port
from tests._real_servers import redis_server as redis_server_on

DOCS = Path(__file__).resolve().parent.parent / "docs"


class RedisServer:
    """A real redis-server on one free loopback port, stopped and started at will."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self._running: ExitStack | None = None

    def start(self) -> None:
        self._running = ExitStack()
        self._running.enter_context(redis_server_on(self.tmp, port=self.port))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await trio.sleep(0.01)  # polling a real external process: no event to wait on
    pytest.fail("condition not reached in time")


async def test_redis_check_follows_a_real_server(redis_server: RedisServer) -> None:
    """
    PING passes against a real redis-server; stopping it fails readiness after the
    failure threshold; starting it again makes the tree ready again.
    """
    check = Check(
        name="redis",
        fn=checks.redis("127.0.0.1", redis_server.port),
        interval=0.05,
        timeout=1,
        failure_threshold=2,
    )
    spec = Supervisor(name="app", children=[Child(name="w", target=trio.sleep_forever)])
    async with open_tree(spec, http="127.0.0.1:0", checks=[check]) as tree:
        state = tree.observer.checks()[0]
        async with httpx.AsyncClient(
            base_url=f"http://{tree.http_addresses[0]}"
        ) as client:
            await wait_for(lambda: state.up is True)
            assert 200 == (await client.get("/readyz/redis")).status_code

            redis_server.stop()
            await wait_for(lambda: state.up is False)
            assert 2 <= state.consecutive_failures
            down = await client.get("/readyz?verbose")
            assert 503 == down.status_code
            assert (
                "[-]redis failed: reason withheld (no token is configured)"
                in down.text.splitlines()
            )

            redis_server.start()
            await wait_for(lambda: state.up is True)
            assert 200 == (await client.get("/readyz")).status_code
            assert 0 == state.consecutive_failures


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (./dev test installs it with apt-get)")


async def test_dashboard_renders_the_live_tree(tmp_path: Path) -> None:
    """
    Headless Chromium loads the dashboard, which fetches /status and draws one row
    per node with its state, the tree's own machinery marked as such, and a checks
    panel (status, consecutive failures; no error text without the token); the
    screenshot goes to docs/dashboard.png when asked.
    """

    async def beating() -> None:
        while True:
            heartbeat()
            await trio.sleep(0.2)

    async def flaky() -> None:
        await trio.sleep(0.05)
        raise ConnectionError("broker closed the connection")

    async def payments_api() -> None:
        raise ConnectionError("payments refused the key sk-live-123")

    async def cache() -> checks.Observation:
        return checks.Observation(value=0.004, unit="s")

    spec = Supervisor(
        name="shop",
        intensity=100,
        backoff=Backoff(initial=30, max=30, jitter=Jitter.NONE),
        children=[
            Child(name="db-pool", target=beating, heartbeat_timeout=5),
            Supervisor(
                name="consumers",
                children=[
                    Child(name="orders", target=beating, heartbeat_timeout=5),
                    Child(name="broker", target=flaky),
                ],
            ),
        ],
    )
    screenshot = (
        DOCS / "dashboard.png"
        if os.environ.get("SUPERVISOR_UPDATE_SCREENSHOT")
        else tmp_path / "dashboard.png"
    )
    health = [
        Check(name="cache", fn=cache, interval=0.1),
        Check(name="payments", fn=payments_api, interval=0.1, failure_threshold=2),
    ]
    async with open_tree(spec, http="127.0.0.1:0", checks=health) as tree:
        # What the page must show: the broker crashed once (now in its long
        # backoff), payments failed its threshold, the cache passed.
        by_name = {c.check.name: c for c in tree.observer.checks()}
        await wait_for(
            lambda: (
                tree.child_state("shop/consumers/broker") is State.BACKOFF
                and by_name["payments"].up is False
                and by_name["cache"].up is True
            )
        )
        url = f"http://{tree.http_addresses[0]}/"
        flags = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=3000",
        ]
        dom: Any = await trio.run_process(
            [*flags, "--dump-dom", url], capture_stdout=True, capture_stderr=True
        )
        await trio.run_process(
            [*flags, f"--screenshot={screenshot}", "--window-size=1100,620", url],
            capture_stdout=True,
            capture_stderr=True,
        )
    html = dom.stdout.decode()

    for path, state in (
        ("shop/db-pool", "running"),
        ("shop/consumers/orders", "running"),
        ("shop/consumers/broker", "backoff"),
    ):
        assert f'data-path="{path}" data-state="{state}"' in html
    assert "broker closed the connection" not in html  # no token: no exception text
    for path in ("_system", "_system/http", "_system/check:cache"):
        assert (
            f'data-path="{path}" data-state="running" class="system" data-system="true"'
            in html
        )
    assert '<tr data-check="cache" data-status="pass">' in html
    assert '<tr data-check="payments" data-status="fail">' in html
    assert '<td class="muted">withheld</td>' in html
    assert "sk-live" not in html
    assert "live ok" in html
    assert screenshot.stat().st_size > 5_000
