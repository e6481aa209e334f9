"""Scripted children shared by the scenario tests."""

from __future__ import annotations

from typing import Any

import trio

Log = list[tuple[float, str]]


def recorder(
    log: Log,
    name: str,
    *,
    crash_after: float | None = None,
    crashes: int | None = None,
    stop_takes: float = 0,
) -> Any:
    """Logs start/stop; crashes after *crash_after* s (the first *crashes* times); cleanup takes *stop_takes* s."""
    count = 0

    async def child() -> None:
        nonlocal count
        count += 1
        log.append((trio.current_time(), f"start {name}"))
        try:
            if crash_after is None or (crashes is not None and count > crashes):
                await trio.sleep_forever()
            await trio.sleep(crash_after)
            raise RuntimeError(f"{name} failed")
        finally:
            if stop_takes:
                with trio.CancelScope(shield=True):
                    await trio.sleep(stop_takes)
            log.append((trio.current_time(), f"stop {name}"))

    return child
