"""
A user's object that cannot be printed (``__str__`` or ``__repr__`` raises) or
prints megabytes never breaks the tree's own machinery: crashes, snapshots,
TooManyRestarts, checks, spec errors and JSON documents all carry
``<unprintable T object>`` (or a capped text) instead.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import structlog
import trio

from supervisor import (
    Backoff,
    Check,
    Child,
    DynamicSupervisor,
    Jitter,
    SpecError,
    State,
    Supervisor,
    TooManyRestarts,
    open_tree,
    run,
)
from supervisor import logging as supervisor_logging
from supervisor._checks import CheckState
from supervisor._safe import MAX_TEXT, safe_repr, safe_str
from supervisor._snapshot import ExitInfo, Reason
from supervisor.http._documents import dumps

NOW = Backoff(initial=0.5, jitter=Jitter.NONE)


class Unprintable(Exception):
    """The issue's repro: ``__str__`` reads an attribute nobody set."""

    msg: str

    def __str__(self) -> str:
        return self.msg


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class UnprintableEverywhere(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


async def forever() -> None:
    await trio.sleep_forever()


def raising(exc: BaseException) -> Any:
    async def child() -> None:
        await trio.sleep(1)
        raise exc

    return child


def tree_of(target: Any, *, intensity: int = 100) -> Supervisor:
    return Supervisor(
        name="root",
        intensity=intensity,
        period=100,
        backoff=NOW,
        children=[
            Child(name="bad", target=target),
            Child(name="sibling", target=forever),
        ],
    )


class TestSafeText:
    def test_fallbacks_and_cap(self) -> None:
        """
        str/repr that raise give <unprintable T object>; long text is cut, saying how much.
        """
        long = "x" * (MAX_TEXT + 10)

        assert "<unprintable Unprintable object>" == safe_str(Unprintable())
        assert "<unprintable BadRepr object>" == safe_repr(BadRepr())
        assert f"{'x' * MAX_TEXT}... [10 more characters]" == safe_str(long)
        assert "'ok'" == safe_repr("ok")


class TestCrashes:
    @pytest.mark.parametrize(
        "exc", [Unprintable(), UnprintableEverywhere()], ids=["str", "str-and-repr"]
    )
    async def test_unprintable_exception_is_a_crash_like_any_other(
        self, autojump_clock: Any, exc: Exception
    ) -> None:
        """
        The child is restarted, the event and snapshot carry <unprintable E
        object>, and the sibling is untouched.
        """
        with structlog.testing.capture_logs() as logs:
            async with open_tree(tree_of(raising(exc))) as tree:
                await trio.sleep(3.2)  # crashes at 1, 2.5 (+0.5 backoff), ...
                snap = tree.snapshot()

        name = type(exc).__name__
        crashes = [e for e in logs if e["event"] == "child_crashed"]
        assert len(crashes) >= 2
        assert f"<unprintable {name} object>" == crashes[0]["exc_message"]
        bad, sibling = snap.node("root/bad"), snap.node("root/sibling")
        assert bad.restarts >= 2
        assert bad.last_exit is not None
        assert f"<unprintable {name} object>" == bad.last_exit.exc_message
        assert (State.RUNNING, 1) == (sibling.state, sibling.starts)

    async def test_too_many_restarts_names_the_unprintable_failure(
        self, autojump_clock: Any
    ) -> None:
        """
        The root giving up raises TooManyRestarts (not a bare ExceptionGroup),
        whose message describes the last failure safely.
        """
        with pytest.raises(TooManyRestarts) as info:
            await run(tree_of(raising(Unprintable()), intensity=1))

        assert "last failure: crash: " in str(info.value)
        assert str(info.value).endswith("Unprintable: <unprintable Unprintable object>")

    async def test_huge_message_is_capped_in_the_snapshot(
        self, autojump_clock: Any
    ) -> None:
        """
        A 1 MB exception message keeps MAX_TEXT characters in the snapshot and event.
        """
        with structlog.testing.capture_logs() as logs:
            async with open_tree(tree_of(raising(ValueError("y" * 1_000_000)))) as tree:
                await trio.sleep(1.1)
                last = tree.snapshot().node("root/bad").last_exit

        assert last is not None
        assert last.exc_message is not None
        assert len(last.exc_message) < MAX_TEXT + 40
        assert last.exc_message.endswith(f"[{1_000_000 - MAX_TEXT} more characters]")
        event = next(e for e in logs if e["event"] == "child_crashed")
        assert event["exc_message"] == last.exc_message

    @pytest.mark.parametrize("fmt", ["json", "console", "structlog-default"])
    async def test_rendered_logs_survive_an_unprintable_crash(
        self, autojump_clock: Any, fmt: str
    ) -> None:
        """
        Through each log format (and structlog's own default configuration,
        rich tracebacks included) the crash is rendered and the tree lives on.
        """
        out = io.StringIO()
        if fmt == "structlog-default":
            structlog.reset_defaults()
            structlog.configure(logger_factory=structlog.PrintLoggerFactory(out))
        else:
            supervisor_logging.configure(format=fmt, stream=out)
        async with open_tree(tree_of(raising(UnprintableEverywhere()))) as tree:
            await trio.sleep(3.2)
            snap = tree.snapshot()

        assert snap.node("root/bad").restarts >= 2
        assert snap.node("root/sibling").state is State.RUNNING
        assert "child_crashed" in out.getvalue()


class TestChecksAndSpecs:
    def test_check_error_text_is_safe(self) -> None:
        """
        A check raising an unprintable exception is a failed check with a readable error.
        """

        async def fn() -> None:
            return None

        state = CheckState(check=Check(name="db", fn=fn))
        state.record(1.0, None, Unprintable())

        assert "Unprintable: <unprintable Unprintable object>" == state.last_error

    async def test_a_check_raising_unprintable_keeps_the_tree(
        self, autojump_clock: Any
    ) -> None:
        """
        The check's runner lives on: the check fails, the user's tree is untouched.
        """

        async def fn() -> None:
            raise UnprintableEverywhere

        check = Check(name="db", fn=fn, interval=1, failure_threshold=1)
        async with open_tree(tree_of(forever), checks=[check]) as tree:
            await trio.sleep(3.5)
            state = tree.observer.checks()[0]
            root = tree.snapshot().root

        assert (False, 4) == (state.up, state.consecutive_failures)
        assert "<unprintable UnprintableEverywhere object>" in (state.last_error or "")
        assert root.state is State.RUNNING

    @pytest.mark.parametrize(
        "make",
        [
            lambda: Child(name="c", target=BadRepr()),
            lambda: Child(name=BadRepr(), target=forever),
            lambda: Child(name="c", target=forever, shutdown=BadRepr()),
            lambda: Supervisor(name="s", children=[BadRepr()]),
            lambda: DynamicSupervisor(name="d", template=BadRepr()),
            lambda: Check(name="c", fn=BadRepr()),
        ],
        ids=["target", "name", "number", "children", "template", "check"],
    )
    def test_spec_errors_name_an_unprintable_value(self, make: Any) -> None:
        """
        A spec field holding a value whose repr raises is still a SpecError.
        """
        with pytest.raises(SpecError, match="<unprintable BadRepr object>"):
            make()

    async def test_tree_level_spec_errors(self, autojump_clock: Any) -> None:
        """
        open_tree and start_child refuse an unprintable value with a SpecError too.
        """
        with pytest.raises(SpecError, match="<unprintable BadRepr object>"):
            async with open_tree(BadRepr()):  # type: ignore[arg-type]
                pass
        with pytest.raises(SpecError, match="<unprintable BadRepr object>"):
            async with open_tree(tree_of(forever), checks=[BadRepr()]):  # type: ignore[list-item]
                pass
        async with open_tree(tree_of(forever)) as tree:
            with pytest.raises(SpecError, match="<unprintable BadRepr object>"):
                await tree.start_child("root", BadRepr())  # type: ignore[arg-type]


def test_json_documents_render_unprintable_values() -> None:
    """
    The HTTP JSON encoder's fallback for unknown objects cannot raise.
    """
    body = json.loads(dumps({"value": BadRepr(), "exit": "ok"}))

    assert {"value": "<unprintable BadRepr object>", "exit": "ok"} == body


def test_exit_info_from_an_unprintable_exception() -> None:
    """
    ExitInfo.from_exception (the crash path's first step) never raises.
    """
    info = ExitInfo.from_exception(Reason.CRASH, 1.0, UnprintableEverywhere())

    assert "<unprintable UnprintableEverywhere object>" == info.exc_message
    assert info.describe().endswith("<unprintable UnprintableEverywhere object>")
