"""
``configure(format="json")`` builds its exception dicts itself (cheaper than
structlog's `dataclasses.asdict`): they must stay what structlog's own
`ExceptionDictTransformer` returns, key for key, for every shape of exception.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from supervisor._safe import MAX_TEXT, cut_exception_dicts
from supervisor.logging import _CutDicts


def _plain() -> None:
    raise ValueError("plain")


def _chained() -> None:
    try:
        _plain()
    except ValueError as exc:
        raise RuntimeError("with a cause") from exc


def _context() -> None:
    try:
        _plain()
    except ValueError:
        raise KeyError("during handling") from None


def _implicit_context() -> None:
    try:
        _plain()
    except ValueError:
        raise OSError("while handling") from None


def _group() -> None:
    errors: list[Exception] = []
    for make in (_plain, _chained):
        try:
            make()
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("two", [*errors, ExceptionGroup("inner", [KeyError(1)])])


def _syntax() -> None:
    compile("def f(:\n", "<bench>", "exec")


def _noted() -> None:
    exc = ValueError("noted")
    exc.add_note("first note")
    exc.add_note("x" * (MAX_TEXT + 10))
    raise exc


def _deep(depth: int = 70) -> None:
    if depth:
        _deep(depth - 1)
    raise RecursionError("deep")


def _huge_message() -> None:
    raise ValueError("m" * (MAX_TEXT * 3))


def _with_locals() -> None:
    secret = "sk-live-1"  # noqa: F841 - a local for show_locals to show
    numbers = list(range(30))  # noqa: F841
    raise ValueError("locals")


def _loop() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    raise first


CASES: list[Callable[[], None]] = [
    _plain,
    _chained,
    _context,
    _implicit_context,
    _group,
    _syntax,
    _noted,
    _deep,
    _huge_message,
    _with_locals,
    _loop,
]


@pytest.mark.parametrize("raiser", CASES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("show_locals", [False, True])
def test_same_dicts_as_structlogs_transformer(
    raiser: Callable[[], None], show_locals: bool
) -> None:
    exc_info = _caught(raiser)
    reference = structlog.tracebacks.ExceptionDictTransformer(show_locals=show_locals)

    ours = _CutDicts(show_locals=show_locals)(exc_info)

    assert cut_exception_dicts(reference(exc_info)) == ours
    frames = [f for stack in ours for f in stack["frames"] if f["lineno"] != -1]
    assert show_locals == all("locals" in frame for frame in frames)


def _caught(raiser: Callable[[], None]) -> Any:
    # Caught in a frame that has ended by the time both sides read its locals.
    try:
        raiser()
    except BaseException:
        return sys.exc_info()
    raise AssertionError("did not raise")
