"""
Text of a user's object (an exception, a spec value) that can never raise.

A child's exception whose ``__str__`` raises, or a value whose ``__repr__``
does, must not turn a crash report or a spec error into a crash of the
tree's own machinery. As the traceback module does, such an object is shown
as ``<unprintable E object>``; text longer than *limit* is cut, saying how
much was dropped, so that one huge message cannot bloat snapshots and logs.
"""

from __future__ import annotations

from collections.abc import Callable

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
