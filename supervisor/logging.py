"""
Logging for applications: ``supervisor.logging.configure()``.

The library itself never configures logging (importing `supervisor` or
running a tree leaves structlog and the stdlib's ``logging`` as they were);
an application calls `configure` once at start, as the ``supervisor`` CLI does.

Two formats (see docs/logging.md):

* ``json``: one JSON object a line, for log collectors. Every crash carries
  its full exception, as structured frames (``exception``).
* ``console``: one short line an event, for humans. A crash is one line
  (``child_crashed demo/poller ConnectionError: prices timed out
  (demo.py:49)``); the plain traceback is printed the first time a child
  fails with a given error (type and raising line), and the line of each
  repeat counts it (``repeat=3``).

Neither ever shows frame locals (they hold arguments, tokens and passwords)
unless *show_locals* is set, for local debugging only. Records of the stdlib's
``logging`` (hypercorn's among them) are rendered the same way, through
structlog's `~structlog.stdlib.ProcessorFormatter`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from ._safe import (
    cut_exception_dicts,
    format_traceback,
    one_line,
    safe_repr,
    safe_str,
)

__all__ = ["Format", "configure"]

Format = Literal["auto", "console", "json"]

# Distinct (child, error type, raising line) whose tracebacks were printed;
# beyond that the oldest is forgotten (and would be printed again).
_MAX_DISTINCT_ERRORS = 4096
_CONSOLE_MESSAGE = 500  # characters of an exception message on a console line
# Frames of one exception in a JSON line beyond which the middle ones are
# skipped: structlog's ExceptionDictTransformer default.
_MAX_FRAMES = structlog.tracebacks.MAX_FRAMES


def configure(
    format: Format = "auto",
    level: str | int = "info",
    *,
    stream: TextIO | None = None,
    show_locals: bool = False,
) -> None:
    """
    Route structlog events and stdlib ``logging`` records to *stream* (stderr).

    *format* ``auto`` is ``console`` on a terminal and ``json`` otherwise.
    *level* is a name (``"debug"`` ... ``"critical"``) or a ``logging``
    level number. *show_locals* adds each frame's local variables to logged
    tracebacks: never in production, they may hold secrets. Calling it again
    replaces the previous configuration.
    """
    out = sys.stderr if stream is None else stream
    threshold = _level_number(level)
    if format == "auto":
        format = "console" if _isatty(out) else "json"
    if format == "console":
        tail = _console_tail(colors=_isatty(out), show_locals=show_locals)
        stamp = structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False)
    elif format == "json":
        tail = _json_tail(show_locals=show_locals)
        stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    else:
        raise ValueError(
            f"format must be 'auto', 'console' or 'json', got {safe_repr(format)}"
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _InternalAtDebug(threshold),
            stamp,
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.WriteLoggerFactory(out),
        # Loggers are bound once per child, never per event: caching buys
        # nothing, and would pin module-level loggers to this configuration.
        cache_logger_on_first_use=False,
    )
    handler = _Handler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                stamp,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
            ],
        )
    )
    handler.addFilter(_HypercornStartAtDebug(threshold))
    root = logging.getLogger()
    _remove_handlers(root)
    root.addHandler(handler)
    root.setLevel(threshold)


def _reset() -> None:
    """Undo `configure` (for tests): structlog's defaults, our handler removed."""
    structlog.reset_defaults()
    _remove_handlers(logging.getLogger())


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler `configure` installs (so that a second call replaces it)."""


def _remove_handlers(root: logging.Logger) -> None:
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)


def _level_number(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    names = logging.getLevelNamesMapping()
    if isinstance(level, str) and level.upper() in names:
        return names[level.upper()]
    raise ValueError(
        f"level must be debug, info, warning, error, critical or a number, "
        f"got {safe_repr(level)}"
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a real file
        return False


# ---- shared processors ---------------------------------------------------------


class _InternalAtDebug:
    """
    The tree's own machinery (paths under ``_system``: the HTTP server, the
    check runners) logs its routine events at debug: a user sees their own
    tree. Its warnings and errors (a crashed HTTP server) keep their level.
    """

    def __init__(self, threshold: int) -> None:
        self._hide = threshold > logging.DEBUG

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
        path = event.get("path")
        if (
            type(path) is str
            and path.startswith("_system")
            and event.get("level") in ("info", "debug")
        ):
            if self._hide:
                raise structlog.DropEvent
            event["level"] = "debug"
        return event


class _HypercornStartAtDebug(logging.Filter):
    """hypercorn's "Running on ..." line: the tree logs ``http_serving`` instead."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self._hide = threshold > logging.DEBUG

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            self._hide
            and record.name == "hypercorn.error"
            and record.levelno == logging.INFO
        )


# ---- json ------------------------------------------------------------------------


def _json_tail(*, show_locals: bool) -> list[Processor]:
    return [
        structlog.processors.ExceptionRenderer(_CutDicts(show_locals=show_locals)),
        structlog.processors.JSONRenderer(default=_json_default),
    ]


class _CutDicts:
    """
    structlog's exception dicts (what its `~structlog.tracebacks.ExceptionDictTransformer`
    returns), each message and note cut (see `cut_exception_dicts`).

    Built from `structlog.tracebacks.extract`'s dataclasses by hand: the
    transformer turns them into dicts with `dataclasses.asdict`, which
    deep-copies every field and was a fifth of a rendered crash's cost
    (``benchmarks/bench_restart.py``). The output is the same, key for key
    (pinned by a test against structlog's own transformer).
    """

    def __init__(self, *, show_locals: bool) -> None:
        self._show_locals = show_locals

    def __call__(self, exc_info: Any) -> list[dict[str, Any]]:
        trace = structlog.tracebacks.extract(*exc_info, show_locals=self._show_locals)
        return cut_exception_dicts(_trace_dicts(trace))


def _trace_dicts(trace: structlog.tracebacks.Trace) -> list[dict[str, Any]]:
    return [_stack_dict(stack) for stack in trace.stacks]


def _stack_dict(stack: structlog.tracebacks.Stack) -> dict[str, Any]:
    syntax = stack.syntax_error
    return {
        "exc_type": stack.exc_type,
        "exc_value": stack.exc_value,
        "exc_notes": list(stack.exc_notes),
        "syntax_error": None
        if syntax is None
        else {
            "offset": syntax.offset,
            "filename": syntax.filename,
            "line": syntax.line,
            "lineno": syntax.lineno,
            "msg": syntax.msg,
        },
        "is_cause": stack.is_cause,
        "frames": _frame_dicts(stack.frames),
        "is_group": stack.is_group,
        "exceptions": [_trace_dicts(t) for t in stack.exceptions]
        if stack.is_group
        else [],
    }


def _frame_dicts(frames: list[structlog.tracebacks.Frame]) -> list[dict[str, Any]]:
    if len(frames) > _MAX_FRAMES:  # as structlog: the outermost and innermost kept
        half = _MAX_FRAMES // 2
        skipped = structlog.tracebacks.Frame(
            filename="", lineno=-1, name=f"Skipped frames: {len(frames) - 2 * half}"
        )
        frames = [*frames[:half], skipped, *frames[-half:]]
    out = []
    for frame in frames:
        row: dict[str, Any] = {
            "filename": frame.filename,
            "lineno": frame.lineno,
            "name": frame.name,
        }
        if frame.locals is not None:
            row["locals"] = dict(frame.locals)
        out.append(row)
    return out


def _json_default(value: Any) -> Any:
    # structlog's fallback calls repr(), which a user's object may make raise.
    structlog_hook = getattr(type(value), "__structlog__", None)
    if structlog_hook is not None:
        return structlog_hook(value)
    return safe_repr(value)


# ---- console ---------------------------------------------------------------------


def _console_tail(*, colors: bool, show_locals: bool) -> list[Processor]:
    return [
        _ConsoleLine(),
        structlog.dev.ConsoleRenderer(
            colors=colors,
            exception_formatter=_traceback_with_locals
            if show_locals
            else _plain_traceback,
        ),
    ]


class _ConsoleLine:
    """
    Shapes an event into one readable line: the node's path after the event
    name, a crash as ``Type: message (file.py:line)``, floats rounded. The
    traceback is kept (for the renderer to print) only the first time that
    child fails with that error; repeats count it as ``repeat=N``.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str, int], int] = {}

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
        head = str(event.get("event", ""))
        path = event.pop("path", None)
        if path is not None:
            head = f"{head} {path}"
        exc = _exception(event.get("exc_info"))
        if exc is not None:
            head = f"{head} {self._crash(event, exc, str(path or event.get('logger')))}"
        event["event"] = head
        for key, value in event.items():
            if type(value) is float:
                event[key] = _rounded(value)
        return event

    def _crash(self, event: EventDict, exc: BaseException, where: str) -> str:
        kind = type(exc)
        type_name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        filename, line = _raising_line(exc)
        key = (where, type_name, filename, line)
        seen = self._seen
        count = seen.pop(key, 0) + 1
        seen[key] = count  # now the most recent
        if len(seen) > _MAX_DISTINCT_ERRORS:
            del seen[next(iter(seen))]
        if count > 1:
            del event["exc_info"]  # printed the first time
            event["repeat"] = count
        # Said by the summary itself:
        event.pop("exc_type", None)
        event.pop("exc_message", None)
        if event.get("reason") == "crash":
            del event["reason"]
        # One line, whatever the message and the type's name hold: no forged
        # lines after it, no terminal escape sequences.
        type_name = one_line(type_name)
        message = one_line(safe_str(exc, _CONSOLE_MESSAGE))
        where_raised = f" ({os.path.basename(filename)}:{line})" if filename else ""
        return f"{type_name}: {message}{where_raised}" if message else type_name


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def _raising_line(exc: BaseException) -> tuple[str, int]:
    tb = exc.__traceback__
    if tb is None:
        return "", 0
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename, tb.tb_lineno


def _rounded(value: float) -> float:
    # delay=0.52 rather than delay=0.5234871120; tiny values keep 2 digits.
    if value == 0 or abs(value) >= 0.01:
        return round(value, 2)
    return float(f"{value:.2g}")


def _plain_traceback(sio: TextIO, exc_info: Any) -> None:
    sio.write("\n" + format_traceback(exc_info).rstrip("\n"))


def _traceback_with_locals(sio: TextIO, exc_info: Any) -> None:
    sio.write("\n" + format_traceback(exc_info, capture_locals=True).rstrip("\n"))
