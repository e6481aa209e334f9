"""
The library's loggers: structlog's, with a safe fallback while nothing is configured.

The library never configures logging; the application does
(`supervisor.logging.configure`, or its own structlog setup). But while it has
not, structlog's built-in default renders every exception with rich, frame
locals included: a secret passed in a child's *args* would reach the terminal,
and formatting one crash would hold the event loop for about ten
milliseconds. So until structlog is configured, the library's own events are
rendered as structlog's default would render them, with one change: a plain
traceback, without locals. Global configuration is never touched.

The choice is made when a logger is bound (once per child, when its supervisor
starts), so an application configures logging before it starts a tree.
"""

from __future__ import annotations

from typing import Any, TextIO

import structlog

from ._safe import format_traceback


def _plain_traceback(sio: TextIO, exc_info: Any) -> None:
    # structlog.dev.plain_traceback, with each part cut (a huge message).
    sio.write("\n" + format_traceback(exc_info))


_FALLBACK_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.StackInfoRenderer(),
    structlog.dev.set_exc_info,
    structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
    structlog.dev.ConsoleRenderer(exception_formatter=_plain_traceback),
]


def _resolve(name: str) -> Any:
    if structlog.is_configured():
        return structlog.get_logger(name)
    return structlog.wrap_logger(
        structlog.PrintLogger(),
        processors=_FALLBACK_PROCESSORS,
        wrapper_class=structlog.make_filtering_bound_logger(0),
    )


class Logger:
    """A named logger resolved at each use: `bind` once, log through the result."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def bind(self, **values: Any) -> Any:
        return _resolve(self._name).bind(**values)

    def __getattr__(self, method: str) -> Any:
        return getattr(_resolve(self._name), method)


def get_logger(name: str) -> Logger:
    """The logger *name* (``"supervisor"``, ``"supervisor.http"``)."""
    return Logger(name)
