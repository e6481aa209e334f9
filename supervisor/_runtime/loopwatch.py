"""
Blocked event loop detection, from a small thread beside the trio thread.

A synchronous call that never yields (``time.sleep``, a CPU loop, a blocking
socket) freezes every task, the watchdog included, so only another thread can
notice. This one posts a no-op to the trio loop through the run's
`trio.lowlevel.TrioToken` every ``threshold / 4`` seconds and waits for it to
run. When one has waited longer than the threshold, the loop is blocked: it
logs ``event_loop_blocked`` with the trio thread's stack at that moment, and
``event_loop_unblocked`` once the loop runs the no-op. The thread touches
trio only through the token (trio's thread-safe entry point) and is joined
when the tree stops.

Real time on purpose: a blocked loop is a wall-clock fact, also under a
MockClock.

Whatever the application did to logging, the watcher survives it: the stack is
one string (what structlog's renderers print as a traceback), an error raised
while logging is counted in `EventLoopHealth.logging_errors` and told once on
stderr, and the ``blocked`` flag is cleared in a ``finally``, so it never
outlives the block (a stuck flag would fail ``/livez`` forever).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from typing import Any

import trio

from .._log import get_logger
from .._snapshot import EventLoopHealth

_log = get_logger("supervisor")

_STACK_FRAMES = 30


class LoopWatch:
    """Watches one trio run; `start` and `stop` from the trio thread."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._interval = threshold / 4
        # Set by the trio thread (ack, stop) to wake the watcher; the flags say why.
        self._signal = threading.Event()
        self._acked = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._trio_thread = 0
        # Written by the watcher thread only; single stores, read by the trio thread.
        self._blocked_since: float | None = None
        self._count = 0
        self._seconds = 0.0
        self._logging_errors = 0

    def start(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self._thread = threading.Thread(
            target=self._watch, name="supervisor-loopwatch", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the watcher; called on the trio thread, returns at once."""
        self._stopping = True
        self._signal.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def health(self) -> EventLoopHealth:
        since = self._blocked_since
        current = time.perf_counter() - since if since is not None else 0.0
        return EventLoopHealth(
            threshold=self.threshold,
            blocked=since is not None,
            blocked_count=self._count,
            blocked_seconds_total=self._seconds + current,
            logging_errors=self._logging_errors,
        )

    # ---- the watcher thread ---------------------------------------------------

    def _ack(self) -> None:  # runs on the trio thread
        self._acked = True
        self._signal.set()

    def _wait(self, seconds: float, *, until_ack: bool) -> None:
        """Sleep *seconds*, waking early on stop (and on the ack if *until_ack*)."""
        deadline = time.perf_counter() + seconds
        while not self._stopping and not (until_ack and self._acked):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._signal.wait(remaining)
            self._signal.clear()

    def _watch(self) -> None:
        assert self._token is not None
        try:
            while not self._stopping:
                self._acked = False
                posted = time.perf_counter()
                try:
                    self._token.run_sync_soon(self._ack)
                except trio.RunFinishedError:
                    return
                self._wait(self.threshold, until_ack=True)
                if not self._acked and not self._stopping:
                    self._report_block(posted)
                self._wait(self._interval, until_ack=False)
        finally:
            self._blocked_since = None

    def _report_block(self, posted: float) -> None:
        self._blocked_since = posted
        self._count += 1
        try:
            self._emit(
                "warning",
                "event_loop_blocked",
                blocked_for=time.perf_counter() - posted,
                threshold=self.threshold,
                stack=self._trio_stack(),
            )
            while not self._acked and not self._stopping:
                self._wait(self._interval, until_ack=True)
        finally:
            total = time.perf_counter() - posted
            self._seconds += total
            self._blocked_since = None
        self._emit("info", "event_loop_unblocked", blocked_for=total)

    def _emit(self, level: str, event: str, **fields: Any) -> None:
        """Log *event*; an error raised by the application's logging is counted, never raised."""
        try:
            getattr(_log, level)(event, **fields)
        except Exception as exc:
            self._logging_errors += 1
            if self._logging_errors == 1:
                # Only the type: the text may quote the event's fields (the stack's source lines).
                with contextlib.suppress(Exception):
                    sys.stderr.write(
                        f"supervisor: logging {event} raised {type(exc).__name__}; "
                        "the loop watcher goes on (errors counted in "
                        "snapshot().event_loop.logging_errors; told once)\n"
                    )
                    sys.stderr.flush()

    def _trio_stack(self) -> str:
        """The trio thread's stack as one traceback-style string, innermost call last."""
        try:
            frame = sys._current_frames().get(self._trio_thread)
            if frame is None:  # pragma: no cover - it exists while we run
                return ""
            summary = traceback.extract_stack(frame)[-_STACK_FRAMES:]
            return "".join(traceback.format_list(summary)).rstrip("\n")
        except Exception:  # pragma: no cover - e.g. a source file unreadable
            return "(stack unavailable)"
