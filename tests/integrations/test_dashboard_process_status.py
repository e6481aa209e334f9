"""The dashboard shows a Process child's STATUS= (headless Chromium, real clock)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import trio

from supervisor import Process, Supervisor, open_tree
from tests._processes import no_leftover_processes, notify_argv, wait_for

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium (./dev test installs it)")
async def test_the_dashboard_shows_a_process_status(tmp_path: Path) -> None:
    argv = notify_argv("READY=1\\nSTATUS=replaying the journal: 42%")
    spec = Supervisor(
        name="shop", children=[Process(name="db", argv=argv, notify=True)]
    )
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        await wait_for(lambda: tree.snapshot().node("shop/db").process.status)  # type: ignore[union-attr]
        url = f"http://{tree.http_addresses[0]}/"
        dom: Any = await trio.run_process(
            [
                CHROMIUM or "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=3000",
                "--dump-dom",
                url,
            ],
            capture_stdout=True,
            capture_stderr=True,
        )
    html = dom.stdout.decode()

    assert 'data-path="shop/db" data-state="running"' in html
    assert '<td class="status">replaying the journal: 42%</td>' in html
