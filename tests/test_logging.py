"""
Logs are safe and readable: `supervisor.logging.configure()` in each format,
no frame locals unless asked for, one console line per crash, and a rate
limit on what anonymous HTTP clients can make the tree log.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import structlog
import trio
import trio.testing

import supervisor
from supervisor import (
    Backoff,
    Check,
    Child,
    HealthApp,
    Jitter,
    Supervisor,
    open_tree,
)
from supervisor.cli import _main as _cli
from tests.http.test_http_fuzz import call

ARG_SECRET = "sk-live-ARG-4f9c2e"
LOCAL_SECRET = "sk-live-LOCAL-77ab10"
FORMATS = ["json", "console"]


async def call_api(api_key: str) -> None:
    token = LOCAL_SECRET  # a secret in a local too
    await trio.sleep(1)
    raise ConnectionError(f"prices timed out after {len(token)} tries")


async def forever() -> None:
    await trio.sleep_forever()


def raising(exc: Exception) -> Any:
    async def child() -> None:
        await trio.sleep(1)
        raise exc

    return child


def api_tree(*, initial: float = 0.5234) -> Supervisor:
    return Supervisor(
        name="demo",
        intensity=100,
        period=100,
        backoff=Backoff(initial=initial, factor=1, jitter=Jitter.NONE),
        children=[
            Child(name="poller", target=call_api, args=(ARG_SECRET,)),
            Child(name="ok", target=forever),
        ],
    )


async def crash_log(fmt: str, seconds: float = 4.8, **options: Any) -> str:
    """What the tree logs in *fmt* while its poller crashes (3 times in 4.8 s)."""
    out = io.StringIO()
    supervisor.logging.configure(format=fmt, stream=out, **options)  # type: ignore[arg-type]
    async with open_tree(api_tree()):
        await trio.sleep(seconds)
    return out.getvalue()


class TestNoLocals:
    @pytest.mark.parametrize("fmt", FORMATS)
    async def test_no_secret_from_args_or_locals(
        self, autojump_clock: Any, fmt: str
    ) -> None:
        """
        A crash's logged traceback carries neither the child's arguments nor its locals.
        """
        text = await crash_log(fmt)

        assert "child_crashed" in text
        assert "call_api" in text  # the traceback is there (the first time)
        assert ARG_SECRET not in text
        assert LOCAL_SECRET not in text
        assert "locals" not in text

    @pytest.mark.parametrize("fmt", FORMATS)
    async def test_locals_only_when_asked(self, autojump_clock: Any, fmt: str) -> None:
        """
        show_locals=True (local debugging) shows them: the opt-in works.
        """
        text = await crash_log(fmt, show_locals=True)

        assert ARG_SECRET in text
        assert LOCAL_SECRET in text

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_the_cli_shows_no_locals(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
    ) -> None:
        """
        supervisor run --log-format json|console: the crash, without locals.
        """
        assert 1 == _cli.main(["run", api_spec(tmp_path), "--log-format", fmt])
        err = capsys.readouterr().err

        assert "child_crashed" in err
        assert ARG_SECRET not in err
        assert LOCAL_SECRET not in err

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_the_cli_opt_in(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
    ) -> None:
        """
        supervisor run --log-locals shows them, for local debugging.
        """
        argv = ["run", api_spec(tmp_path), "--log-format", fmt, "--log-locals"]
        assert 1 == _cli.main(argv)
        err = capsys.readouterr().err

        assert ARG_SECRET in err
        assert LOCAL_SECRET in err


def api_spec(tmp_path: Path) -> str:
    """A spec file whose only child crashes at once, a secret in its args and a local."""
    spec = tmp_path / "api.py"
    spec.write_text(
        textwrap.dedent(
            f"""
            from supervisor import Child, Supervisor

            async def call_api(api_key):
                token = {LOCAL_SECRET!r}
                raise ConnectionError("down")

            tree = Supervisor(
                name="t",
                intensity=0,
                children=[Child(name="c", target=call_api, args=({ARG_SECRET!r},))],
            )
            """
        )
    )
    return f"{spec}:tree"


class TestConsole:
    async def test_one_line_per_crash_and_one_traceback(
        self, autojump_clock: Any
    ) -> None:
        """
        Three crashes of one error: three one-line summaries, one traceback,
        repeats counted; floats rounded.
        """
        text = await crash_log("console")
        lines = text.splitlines()
        crashed = [line for line in lines if "child_crashed" in line]
        line_no = call_api.__code__.co_firstlineno + 3

        assert 3 == len(crashed)
        summary = (
            "child_crashed demo/poller ConnectionError: prices timed out after "
            f"20 tries (test_logging.py:{line_no})"
        )
        assert all(summary in line for line in crashed)
        assert ["", "repeat=2", "repeat=3"] == [
            line.partition(")")[2].strip() for line in crashed
        ]
        assert 1 == text.count("Traceback (most recent call last)")
        assert "delay=0.52" in text
        assert "0.5234" not in text
        # The console never has the rich box, nor the exception twice on one line.
        assert "╭" not in text
        assert "exc_type" not in text
        assert (
            len(lines) < 3 + 2 * 3 + 3 + 10
        )  # starts, crash+restart lines, 1 traceback

    async def test_a_new_error_gets_its_traceback(self, autojump_clock: Any) -> None:
        """
        Another error type (or raising line) of the same child is printed in full again.
        """
        errors = iter([KeyError("a"), KeyError("a"), ValueError("b"), KeyError("a")])

        async def flaky() -> None:
            await trio.sleep(1)
            raise next(errors)

        out = io.StringIO()
        supervisor.logging.configure(format="console", stream=out)
        spec = Supervisor(
            name="r",
            intensity=100,
            backoff=Backoff(initial=0, jitter=Jitter.NONE),
            children=[Child(name="f", target=flaky)],
        )
        async with open_tree(spec):
            await trio.sleep(4.5)
        text = out.getvalue()

        assert 2 == text.count("Traceback (most recent call last)")
        assert "KeyError: 'a'" in text
        assert "repeat=3" in text
        assert "ValueError: b" in text

    async def test_a_crash_summary_stays_on_one_line(self, autojump_clock: Any) -> None:
        """
        A multi-line (or huge) message keeps a crash's summary on one line:
        newlines are escaped and the text is cut (the traceback, printed once,
        has it all; JSON lines escape everything).
        """
        message = "first\n2026-01-01 00:00:00 [info     ] forged_line\r\n" + "z" * 5000
        out = io.StringIO()
        supervisor.logging.configure(format="console", stream=out)
        spec = Supervisor(
            name="r",
            backoff=Backoff(initial=1, jitter=Jitter.NONE),
            children=[Child(name="c", target=raising(ValueError(message)))],
        )
        async with open_tree(spec):
            await trio.sleep(3.5)  # crashes at 1 and 3
        lines = out.getvalue().splitlines()
        summaries = [line for line in lines if "child_crashed" in line]

        assert 2 == len(summaries)
        assert all(
            "ValueError: first\\n2026-01-01 00:00:00 [info     ] forged_line\\r\\nzzz"
            in line
            for line in summaries
        )
        assert all(len(line) < 700 for line in summaries)
        assert 1 == lines.count(
            "2026-01-01 00:00:00 [info     ] forged_line"
        )  # traceback

    @pytest.mark.parametrize("level", ["info", "debug"])
    async def test_internal_nodes_log_at_debug(
        self, autojump_clock: Any, level: str
    ) -> None:
        """
        The tree's own _system nodes (here a check runner) log their routine
        events at debug: hidden at info, shown (as debug) at debug.
        """

        async def ok() -> None:
            return None

        out = io.StringIO()
        supervisor.logging.configure(format="console", level=level, stream=out)
        async with open_tree(api_tree(), checks=[Check(name="db", fn=ok)]):
            await trio.sleep(0.1)
        internal = [line for line in out.getvalue().splitlines() if "_system" in line]

        assert "child_started demo/ok" in out.getvalue()
        if level == "info":
            assert [] == internal
        else:
            assert any("child_started _system/check:db" in line for line in internal)
            assert all("[debug" in line for line in internal)

    def test_stdlib_records_render_the_same_way(self) -> None:
        """
        stdlib logging (hypercorn's loggers too) goes through the same
        renderer; hypercorn's own "Running on" line gives way to http_serving.
        """
        for fmt in FORMATS:
            out = io.StringIO()
            supervisor.logging.configure(format=fmt, stream=out)  # type: ignore[arg-type]
            logging.getLogger("hypercorn.error").info("Running on http://x (CTRL + C)")
            logging.getLogger("hypercorn.error").error("socket trouble")
            logging.getLogger("app.db").warning("pool low: %d", 3)
            text = out.getvalue()

            assert "Running on" not in text
            assert "socket trouble" in text
            assert "hypercorn.error" in text
            assert "pool low: 3" in text
            if fmt == "json":
                lines = [json.loads(line) for line in text.splitlines()]
                assert ["error", "warning"] == [line["level"] for line in lines]
                assert "app.db" == lines[1]["logger"]

    def test_configure_twice_replaces_and_refuses_nonsense(self) -> None:
        """
        A second configure() replaces the first (one handler); bad arguments are refused.
        """
        first, second = io.StringIO(), io.StringIO()
        supervisor.logging.configure(format="json", stream=first)
        supervisor.logging.configure(format="json", stream=second)
        logging.getLogger("x").warning("once")

        assert ("", 1) == (first.getvalue(), second.getvalue().count("once"))
        with pytest.raises(ValueError, match="format must be"):
            supervisor.logging.configure(format="xml")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="level must be"):
            supervisor.logging.configure(level="loud")

    def test_auto_is_json_off_a_terminal(self) -> None:
        """
        format="auto" (the default) gives JSON lines when the stream is not a terminal.
        """
        out = io.StringIO()
        supervisor.logging.configure(stream=out)
        structlog.get_logger().info("hello", n=1)

        assert {"event": "hello", "n": 1, "level": "info"}.items() <= json.loads(
            out.getvalue()
        ).items()


class TestJson:
    async def test_every_crash_keeps_its_full_exception(
        self, autojump_clock: Any
    ) -> None:
        """
        JSON lines carry the structured exception on every crash, not just the first.
        """
        text = await crash_log("json")
        crashes = [
            e
            for e in map(json.loads, text.splitlines())
            if e["event"] == "child_crashed"
        ]

        assert 3 == len(crashes)
        for event in crashes:
            (exc,) = event["exception"]
            assert "ConnectionError" == exc["exc_type"]
            assert "call_api" == exc["frames"][-1]["name"]
            assert "locals" not in exc["frames"][-1]
            assert "builtins.ConnectionError" == event["exc_type"]
            assert "demo/poller" == event["path"]


async def test_http_serving_is_logged_once_with_its_url() -> None:
    """
    At start the tree says where HTTP is served, in one line (real socket).
    """
    with structlog.testing.capture_logs() as logs:
        async with open_tree(api_tree(), http="127.0.0.1:0") as tree:
            address = tree.http_addresses[0]

    serving = [e for e in logs if e["event"] == "http_serving"]
    assert [f"http://{address}"] == [e["url"] for e in serving]
    assert "path" not in serving[0]  # not a _system node's line: shown at info


def test_the_library_never_configures_logging() -> None:
    """
    Importing supervisor (supervisor.logging included) and running a tree,
    HTTP server and all, leaves structlog and the stdlib's root logger alone.
    """
    script = textwrap.dedent(
        """
        import logging, structlog, trio
        import supervisor
        from supervisor import Child, Supervisor, open_tree

        async def crash():
            raise RuntimeError("x")

        async def main():
            spec = Supervisor(name="r", children=[Child(name="c", target=crash)])
            async with open_tree(spec, http="127.0.0.1:0"):
                await trio.sleep(0.2)

        trio.run(main)
        print("RESULT", structlog.is_configured(), logging.getLogger().handlers,
              logging.getLogger().level, logging.getLogger("hypercorn.error").handlers)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    result = next(
        line for line in done.stdout.splitlines() if line.startswith("RESULT")
    )

    assert f"RESULT False [] {logging.WARNING} []" == result


class TestUnauthorizedRateLimit:
    async def test_one_line_per_interval_with_a_suppressed_count(
        self, autojump_clock: Any
    ) -> None:
        """
        An anonymous client hammering control calls gets a 401 each time but
        logs one http_unauthorized line per 10 s, the next one counting the
        lines it dropped.
        """
        request = {
            "method": "POST",
            "path": "/control/restart/demo/ok",
            "query": b"",
            "headers": [],
            "body": b"",
        }
        async with open_tree(api_tree()) as tree:
            app = HealthApp(tree, token="s3cret")
            with structlog.testing.capture_logs() as logs:
                statuses = []
                for _ in range(50):  # 50 calls over 5 s
                    statuses.append((await call(app, request))[0])
                    await trio.sleep(0.1)
                await trio.sleep(5.1)  # 10.1 s after the first line
                statuses.append((await call(app, request))[0])
                await trio.sleep(1)
                statuses.append((await call(app, request))[0])

        lines = [e for e in logs if e["event"] == "http_unauthorized"]
        assert [401] * 52 == statuses
        assert [0, 49] == [e["suppressed"] for e in lines]
        assert all(e["client"] == "127.0.0.1:50000" for e in lines)

    async def test_each_app_has_its_own_limit(self, autojump_clock: Any) -> None:
        """
        The limit is per HealthApp: two apps mounted side by side log one line each.
        """
        request = {
            "method": "POST",
            "path": "/control/restart/demo/ok",
            "query": b"",
            "headers": [(b"authorization", b"Bearer wrong")],
            "body": b"",
        }
        async with open_tree(api_tree()) as tree:
            apps = [HealthApp(tree, token="a"), HealthApp(tree, token="b")]
            with structlog.testing.capture_logs() as logs:
                for app in apps * 3:
                    await call(app, request)

        assert 2 == [e["event"] for e in logs].count("http_unauthorized")


def test_an_unconfigured_application_sees_no_locals_and_a_plain_traceback() -> None:
    """
    structlog's built-in default renders exceptions with rich, frame locals
    included: an application that never configured logging would print a
    child's secret argument, and spend milliseconds per crash doing it. The
    library's own events use the default layout with a plain traceback instead.
    """
    script = textwrap.dedent(
        """
        import time, structlog, trio
        from supervisor import Backoff, Child, Supervisor, run

        async def call_api(api_key):
            token = api_key.upper()
            raise ConnectionError("the API is down")

        async def main():
            spec = Supervisor(
                name="r", intensity=20, period=1, backoff=Backoff(initial=0),
                children=[Child(name="c", target=call_api, args=("sk-live-SECRET",))],
            )
            began = time.perf_counter()
            try:
                await run(spec, loop_block_threshold=None)
            except Exception:
                pass
            print("ELAPSED", time.perf_counter() - began)

        trio.run(main)
        print("CONFIGURED", structlog.is_configured())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
        env={**os.environ, "FORCE_COLOR": "1"},
    )
    out = done.stdout + done.stderr

    assert "sk-live" not in out.lower()
    assert out.count("child_crashed") == 21
    assert out.count("Traceback (most recent call last)") == 21
    assert "ConnectionError: the API is down" in out
    assert "CONFIGURED False" in out


class TestHugeMessages:
    """
    An exception's message is cut at 2048 characters in the traceback too (the
    ``Type: message`` line, the JSON ``exc_value``, notes, inside groups), not
    only in ``exc_message``: a child that crashes with a megabyte message
    (a response body, a query) must not write a megabyte per crash.
    """

    HUGE = "q" * 1_000_000

    def huge_tree(self) -> Supervisor:
        error = ValueError(self.HUGE)
        error.add_note("n" * 100_000)
        group = ExceptionGroup("g", [KeyError(self.HUGE)])
        return Supervisor(
            name="demo",
            intensity=100,
            period=100,
            children=[
                Child(name="huge", target=raising(error)),
                Child(name="group", target=raising(group)),
            ],
        )

    @pytest.mark.parametrize("fmt", FORMATS)
    async def test_each_format_cuts_the_traceback(
        self, autojump_clock: Any, fmt: str
    ) -> None:
        out = io.StringIO()
        supervisor.logging.configure(format=fmt, stream=out)  # type: ignore[arg-type]
        async with open_tree(self.huge_tree(), loop_block_threshold=None):
            await trio.sleep(1.5)
        text = out.getvalue()

        assert text.count("child_crashed") >= 2
        assert "more characters]" in text
        assert len(text) < 50_000

    def test_unconfigured_cuts_the_traceback(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async def main() -> None:
            async with open_tree(self.huge_tree(), loop_block_threshold=None):
                await trio.sleep(1.5)

        supervisor.logging._reset()  # as in an application that never configured it
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        text = capsys.readouterr().out

        assert text.count("child_crashed") >= 2
        assert "more characters]" in text
        assert len(text) < 50_000


async def test_a_console_crash_line_escapes_control_characters(
    autojump_clock: Any,
) -> None:
    """
    The one-line crash summary escapes every control character of the message
    and of the exception type's name (ESC, CR, LF, DEL, U+2028), not only CR
    and LF: no forged line after it, no terminal escape sequence on the
    operator's terminal.
    """
    evil = type("Evil\n2026-01-01 [critical ] forged", (Exception,), {})
    spec = Supervisor(
        name="r",
        intensity=100,
        period=100,
        children=[
            Child(name="c", target=raising(evil("\x1b]0;owned\x07 \x9b2J\u2028x")))
        ],
    )
    out = io.StringIO()
    supervisor.logging.configure(format="console", stream=out)
    async with open_tree(spec, loop_block_threshold=None):
        await trio.sleep(10)
    lines = [line for line in out.getvalue().splitlines() if "child_crashed" in line]

    assert len(lines) >= 2
    for line in lines:
        assert "\x1b" not in line
        assert "\x07" not in line
        assert "\x9b" not in line
        assert "\\x1b]0;owned\\x07 \\x9b2J\\u2028x" in line
        assert "Evil\\n2026-01-01 [critical ] forged" in line
