"""
checks.redis (hiredis over trio streams) and checks.postgres (psycopg in a
worker thread) against real servers: a redis-server with a password and an ACL
user, and a PostgreSQL cluster of its own. A refused password never shows in
what the check reports, in /status or in the logs. Real clock, bounded waits.
"""

from __future__ import annotations

import functools
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import psycopg.conninfo
import pytest
import structlog
import trio

from supervisor import (
    Check,
    Child,
    HttpOptions,
    SpecError,
    Supervisor,
    checks,
    open_tree,
)
from tests._real_servers import Postgres, eventually, postgres_server, redis_server

SECRET = "s3cret-redis-pw"
ALICE = "alice-pw-91c2"


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """requirepass SECRET, and a user alice with her own password."""
    with redis_server(
        tmp_path_factory.mktemp("redis"),
        "--requirepass",
        SECRET,
        # redis-server joins the words after an option into its value.
        *("--user", "alice", "on", f">{ALICE}", "~*", "&*", "+@all"),
        auth=f"AUTH {SECRET}\r\n".encode(),
    ) as port:
        yield port


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


async def failure(fn: checks.CheckFn) -> str:
    with pytest.raises(checks.CheckFailed) as caught:
        await fn()
    return str(caught.value)


class TestRedis:
    async def test_password_username_and_db(self, redis_port: int) -> None:
        """AUTH with the password, AUTH as an ACL user, SELECT of a db: all pass."""
        for fn in (
            checks.redis("127.0.0.1", redis_port, password=SECRET),
            checks.redis("127.0.0.1", redis_port, username="alice", password=ALICE),
            checks.redis("127.0.0.1", redis_port, password=SECRET, db=3),
        ):
            assert None is await fn()

    async def test_refusals_name_the_cause_and_never_the_secret(
        self, redis_port: int
    ) -> None:
        """
        A wrong password or user is reported by the server's code only; no
        password is a NOAUTH refusal of PING; a db out of range is SELECT's.
        """
        wrong = await failure(checks.redis("127.0.0.1", redis_port, password="nope-x1"))
        user = await failure(
            checks.redis("127.0.0.1", redis_port, username="bob", password=ALICE)
        )
        none = await failure(checks.redis("127.0.0.1", redis_port))
        db = await failure(
            checks.redis("127.0.0.1", redis_port, password=SECRET, db=100_000)
        )

        assert "AUTH refused (WRONGPASS): check the username and password" == wrong
        assert "AUTH refused (WRONGPASS): check the username and password" == user
        assert none.startswith("PING refused: NOAUTH")
        assert db.startswith("SELECT refused: ERR")
        assert "nope-x1" not in wrong
        assert ALICE not in user

    async def test_a_refused_password_stays_out_of_status_and_logs(
        self, redis_port: int
    ) -> None:
        """
        In a tree: the failing check's error, shown to the token holder, names
        WRONGPASS; neither it nor any event carries the password sent.
        """
        sent = "wrong-but-real-looking-pw"
        check = Check(
            name="redis",
            fn=checks.redis("127.0.0.1", redis_port, password=sent),
            interval=0.05,
            failure_threshold=1,
        )
        spec = Supervisor(
            name="app", children=[Child(name="w", target=trio.sleep_forever)]
        )
        http = HttpOptions(bind="127.0.0.1:0", token="tok")
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec, http=http, checks=[check]) as tree:
                state = tree.observer.checks()[0]
                await eventually(lambda: state.consecutive_failures >= 2)
                async with httpx.AsyncClient(
                    base_url=f"http://{tree.http_addresses[0]}",
                    headers={"authorization": "Bearer tok"},
                ) as client:
                    status = (await client.get("/status")).text
                    verbose = (await client.get("/readyz?verbose")).text

        assert "WRONGPASS" in (state.last_error or "")
        assert "WRONGPASS" in status
        assert "check_failed" in {e["event"] for e in logs}
        for text in (status, verbose, repr(logs), state.last_error):
            assert sent not in (text or "")

    async def test_a_server_that_is_not_redis(self) -> None:
        """A peer that answers HTTP is not Redis: the check says so."""

        async def http_peer(stream: trio.SocketStream) -> None:
            await stream.receive_some(1024)
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await stream.aclose()

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, host="127.0.0.1"), http_peer, 0
            )
            port = listeners[0].socket.getsockname()[1]
            said = await failure(checks.redis("127.0.0.1", port))
            nursery.cancel_scope.cancel()

        assert "does not speak RESP" in said

    def test_bad_options_are_spec_errors(self) -> None:
        """A username without a password, or a negative db, fails at construction."""
        with pytest.raises(SpecError, match="username needs a password"):
            checks.redis(username="alice")
        with pytest.raises(SpecError, match="db must be an int >= 0"):
            checks.redis(db=-1)


class TestPostgres:
    async def test_passes_and_measures(self, pg: Postgres) -> None:
        """SELECT 1 through psycopg: passes, reporting how long it took."""
        obs = await checks.postgres(pg.dsn())()

        assert obs is not None
        assert ("s", True) == (obs.unit, 0 < (obs.value or 0) < 5)

    async def test_a_wrong_password_is_reported_without_it(self, pg: Postgres) -> None:
        """libpq's refusal is the message; the password in the DSN is not in it."""
        said = await failure(checks.postgres(pg.dsn("not-the-pw-5521")))

        assert "password authentication failed" in said
        assert "not-the-pw-5521" not in said

    async def test_in_a_tree_the_password_reaches_no_output(self, pg: Postgres) -> None:
        """The failing check's error, /status (with the token) and the events: no secret."""
        sent = "wrong-pg-pw-83d1"
        check = Check(
            name="db",
            fn=checks.postgres(pg.dsn(sent), timeout=1),
            interval=0.05,
            timeout=3,
            failure_threshold=1,
        )
        spec = Supervisor(
            name="app", children=[Child(name="w", target=trio.sleep_forever)]
        )
        http = HttpOptions(bind="127.0.0.1:0", token="tok")
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec, http=http, checks=[check]) as tree:
                state = tree.observer.checks()[0]
                await eventually(lambda: state.consecutive_failures >= 2)
                async with httpx.AsyncClient(
                    base_url=f"http://{tree.http_addresses[0]}",
                    headers={"authorization": "Bearer tok"},
                ) as client:
                    status = (await client.get("/status")).text

        assert "password authentication failed" in status
        for text in (status, repr(logs), state.last_error):
            assert sent not in (text or "")

    async def test_the_thread_is_bounded_by_the_timeout(self, pg: Postgres) -> None:
        """A query slower than *timeout* is cancelled by the server's statement_timeout."""
        fn = checks.postgres(pg.dsn(), timeout=0.3, query="SELECT pg_sleep(5)")
        began = time.monotonic()
        said = await failure(fn)

        assert "statement timeout" in said
        assert time.monotonic() - began < 3

    async def test_a_check_timeout_interrupts_the_thread(self, pg: Postgres) -> None:
        """
        The Check's timeout shorter than the query: the run ends at once, its
        thread's connection is shut, and the next run (one thread at a time)
        takes its own query's time.
        """
        fn = checks.postgres(pg.dsn(), timeout=1.5, query="SELECT pg_sleep(1)")
        with trio.move_on_after(0.2) as first:
            await fn()
        began = time.monotonic()
        obs = await fn()

        assert first.cancelled_caught
        assert obs is not None
        assert 0.5 < time.monotonic() - began < 5

    async def test_a_query_the_server_never_answers_ends_its_thread_at_the_timeout(
        self, pg: Postgres
    ) -> None:
        """
        No statement_timeout, and a query that waits on a lock the test holds:
        the server never answers. Cancelled at the Check's timeout, the check
        shuts its socket down, so the thread ends within a bound instead of
        waiting for TCP keepalive (hours), and once the lock is free (the
        database recovered) the same check passes again: one at a time held
        no later run back.
        """
        holder = await trio.to_thread.run_sync(
            lambda: psycopg.connect(pg.dsn(), autocommit=True)
        )
        try:
            await trio.to_thread.run_sync(
                lambda: holder.execute("SELECT pg_advisory_lock(7014)")
            )
            fn = checks.postgres(
                pg.dsn(),
                timeout=0.5,
                query="SELECT pg_advisory_xact_lock_shared(7014)",
                statement_timeout=False,
            )
            with trio.move_on_after(0.5) as first:
                await fn()
            await eventually(lambda: not threads_in("query_once"), seconds=3)
            with trio.move_on_after(0.5) as second:  # still held: a fresh wait
                await fn()
            await eventually(lambda: not threads_in("query_once"), seconds=3)
            await trio.to_thread.run_sync(
                lambda: holder.execute("SELECT pg_advisory_unlock(7014)")
            )
            with trio.fail_after(5):
                obs = await fn()
        finally:
            holder.close()

        assert (True, True) == (first.cancelled_caught, second.cancelled_caught)
        assert obs is not None

    def test_libpq_bounds_the_connection_itself(self) -> None:
        """
        connect_timeout, TCP keepalives and tcp_user_timeout from the timeout
        (the user's own kept); statement_timeout only when asked for.
        """
        bounded = checks._bounded_conninfo(
            "host=db keepalives_idle=30 options='-c search_path=app'",
            {"host": "db", "keepalives_idle": "30", "options": "-c search_path=app"},
            2.5,
            statement=True,
        )
        plain = checks._bounded_conninfo(
            "host=db", {"host": "db"}, 0.2, statement=False
        )
        got = psycopg.conninfo.conninfo_to_dict(bounded)

        assert {
            "connect_timeout": "3",
            "keepalives": "1",
            "keepalives_idle": "30",
            "keepalives_interval": "1",
            "keepalives_count": "3",
            "tcp_user_timeout": "3000",
            "options": "-c search_path=app -c statement_timeout=2500",
        }.items() <= got.items()
        assert "options" not in psycopg.conninfo.conninfo_to_dict(plain)
        assert "2" == psycopg.conninfo.conninfo_to_dict(plain)["connect_timeout"]

    async def test_no_server_fails_within_the_bound(self) -> None:
        """Nothing listening: a connection refusal, quickly."""
        said = await failure(checks.postgres("postgresql://app:pw@127.0.0.1:1/x"))

        assert "OperationalError" in said

    def test_a_bad_dsn_is_a_spec_error_that_does_not_echo_it(self) -> None:
        with pytest.raises(SpecError) as caught:
            checks.postgres("host=db password=hunter2 this is not a dsn")

        assert "hunter2" not in str(caught.value)
        assert "not a libpq connection string" in str(caught.value)


class TestOwnClientRecipe:
    """docs/checks.md's recipe: a check around the application's own client."""

    async def test_a_pool_ping_as_a_check(
        self, redis_port: int, tmp_path: Path
    ) -> None:
        """
        The app's pool (a trio-native client held by the app) gives its bound
        ``ping`` as the check: it passes, and fails once the server refuses.
        """
        pool = RedisPool("127.0.0.1", redis_port, password=SECRET)
        check = Check(name="cache", fn=pool.ping, interval=0.05, failure_threshold=1)
        spec = Supervisor(
            name="app", children=[Child(name="w", target=trio.sleep_forever)]
        )
        async with open_tree(spec, checks=[check]) as tree:
            state = tree.observer.checks()[0]
            await eventually(lambda: state.up is True)
            pool.password = "rotated-away"
            await eventually(lambda: state.up is False)

        assert "WRONGPASS" in (state.last_error or "")

    async def test_a_held_psycopg_connection_as_a_check(self, pg: Postgres) -> None:
        """
        The app's own blocking connection, pinged in a worker thread: passes; a
        ping that outlives the check's timeout fails it, and the next waits for
        that thread (one at a time on the one connection) instead of piling up.
        """
        conn = await trio.to_thread.run_sync(
            lambda: psycopg.connect(
                pg.dsn(),
                autocommit=True,
                options="-c statement_timeout=1000",
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=1,
                keepalives_count=3,
                tcp_user_timeout=5000,
            )
        )
        one_at_a_time = trio.CapacityLimiter(1)
        query = "SELECT 1"

        async def db_ping() -> None:
            await trio.to_thread.run_sync(
                lambda: conn.execute(query),
                abandon_on_cancel=True,
                limiter=one_at_a_time,
            )

        try:
            check = Check(name="db", fn=db_ping, interval=0.05, timeout=0.3)
            spec = Supervisor(
                name="app", children=[Child(name="w", target=trio.sleep_forever)]
            )
            async with open_tree(spec, checks=[check]) as tree:
                state = tree.observer.checks()[0]
                await eventually(lambda: state.consecutive_successes >= 2)
                query = "SELECT pg_sleep(0.6)"  # past the check's timeout
                await eventually(lambda: state.consecutive_failures >= 1)
                query = "SELECT 1"
                await eventually(lambda: state.consecutive_successes >= 1)
                assert one_at_a_time.borrowed_tokens <= 1
        finally:
            conn.close()


def threads_in(function: str) -> list[str]:
    """Names of the threads whose stack runs *function* of supervisor/checks.py now."""
    found = []
    for ident, frame in sys._current_frames().items():
        walk: types.FrameType | None = frame
        while walk is not None:
            code = walk.f_code
            if code.co_name == function and code.co_filename == checks.__file__:
                found.append(str(ident))
                break
            walk = walk.f_back
    return found


class RedisPool:
    """Stand-in for the application's own client: one connection, re-opened when lost."""

    def __init__(self, host: str, port: int, password: str) -> None:
        self.host, self.port, self.password = host, port, password

    async def ping(self) -> None:
        # A real pool would reuse its connections; the recipe is the bound method.
        await checks.redis(self.host, self.port, password=self.password)()
