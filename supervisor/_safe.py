"""
Text of a user's object (an exception, a spec value) that can never raise.

A child's exception whose ``__str__`` raises, or a value whose ``__repr__``
does, must not turn a crash report or a spec error into a crash of the
tree's own machinery. As the traceback module does, such an object is shown
as ``<unprintable E object>``; text longer than *limit* is cut, saying how
much was dropped, so that one huge message cannot bloat snapshots and logs.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import Any

#: Longest exception message or value kept in snapshots, events and errors.
MAX_TEXT = 2048


def safe_str(value: object, limit: int = MAX_TEXT) -> str:
    """``str(value)``, or ``<unprintable T object>`` if that raises; capped at *limit*."""
    return _safe(str, value, limit)


def safe_repr(value: object, limit: int = MAX_TEXT) -> str:
    """``repr(value)``, or ``<unprintable T object>`` if that raises; capped at *limit*."""
    return _safe(repr, value, limit)


def _safe(render: Callable[[object], str], value: object, limit: int) -> str:
    try:
        text = render(value)
    except Exception:  # a user's __str__/__repr__: whatever it raises
        text = f"<unprintable {type(value).__name__} object>"
    if len(text) > limit:
        return f"{text[:limit]}... [{len(text) - limit} more characters]"
    return text


def format_traceback(exc_info: Any, *, capture_locals: bool = False) -> str:
    """
    *exc_info* as the traceback module formats it, each part (a frame, the
    ``Type: message`` line, a note) cut at `MAX_TEXT`: an exception whose
    message is megabytes must not make every crash's log line megabytes.
    """
    parts = traceback.TracebackException(
        *exc_info, capture_locals=capture_locals
    ).format()
    return "".join(_cut_part(part) for part in parts)


def _cut_part(part: str) -> str:
    if len(part) <= MAX_TEXT:
        return part
    end = "\n" if part.endswith("\n") else ""
    return (
        f"{part[:MAX_TEXT]}... [{len(part) - MAX_TEXT - len(end)} more characters]{end}"
    )


def cut_exception_dicts(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    structlog's `~structlog.tracebacks.ExceptionDictTransformer` output, with
    each exception's ``exc_value`` and notes cut at `MAX_TEXT` (in place; also
    inside exception groups).
    """
    for stack in trace:
        value = stack.get("exc_value")
        if isinstance(value, str):
            stack["exc_value"] = safe_str(value)
        notes = stack.get("exc_notes")
        if isinstance(notes, list):
            stack["exc_notes"] = [safe_str(note) for note in notes]
        for group in stack.get("exceptions") or ():
            if isinstance(group, list):
                cut_exception_dicts(group)
    return trace


# C0 and C1 control characters (CR, LF, ESC, DEL, CSI) and the Unicode line and
# paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """*text* with every control character escaped (``\\n``, ``\\x1b``): one line, no terminal escapes."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
