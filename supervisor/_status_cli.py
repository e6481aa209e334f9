"""
``supervisor status [URL]``: print a running tree and exit 0 when it is healthy,
1 when it is not (or cannot be reached), so it works as an exec probe.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree as RichTree

from ._snapshot import Reason

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1

_COLOURS = {
    "running": "green",
    "starting": "yellow",
    "backoff": "dark_orange",
    "stopping": "blue",
    "stopped": "grey50",
    "failed": "red",
    "unstopped": "bold red",
}


def status(url: str, *, as_json: bool, token_env: str, timeout: float) -> int:
    headers = {}
    token = os.environ.get(token_env)
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        response = httpx.get(
            url.rstrip("/") + "/status", headers=headers, timeout=timeout
        )
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"supervisor status: cannot read {url}/status: {exc}", file=sys.stderr)
        return EXIT_UNHEALTHY
    healthy = bool(data.get("verdicts", {}).get("healthz"))
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        _print(data)
    return EXIT_HEALTHY if healthy else EXIT_UNHEALTHY


def _print(data: dict[str, Any]) -> None:
    console = Console()
    verdicts = data["verdicts"]
    marks = "  ".join(
        f"[{'green' if ok else 'red'}]{name} {'ok' if ok else 'failing'}[/]"
        for name, ok in verdicts.items()
    )
    root = data["tree"]["root"]
    top = RichTree(f"{_line(root)}    {marks}")
    _add_children(top, root)
    console.print(top)
    for check in data.get("checks", []):
        colour = {"pass": "green", "warn": "yellow"}.get(check["status"], "red")
        detail = f" - {escape(check['last_error'])}" if check.get("last_error") else ""
        console.print(
            f"check [bold]{escape(check['name'])}[/] [{colour}]{check['status']}[/]{detail}"
        )


def _add_children(branch: RichTree, node: dict[str, Any]) -> None:
    for child in node["children"]:
        _add_children(branch.add(_line(child)), child)


def _line(node: dict[str, Any]) -> str:
    colour = _COLOURS.get(node["state"], "white")
    parts = [f"[bold]{escape(node['name'])}[/] [{colour}]{node['state']}[/]"]
    if node["restarts"]:
        parts.append(f"restarts {node['restarts']}")
    if node.get("heartbeat_age") is not None:
        parts.append(f"beat {node['heartbeat_age']:.1f}s ago")
    last = node.get("last_exit")
    if last and last["reason"] not in (Reason.NORMAL, Reason.SHUTDOWN):
        what = last.get("exc_type") or ""
        message = f": {last['exc_message']}" if last.get("exc_message") else ""
        parts.append(f"[red]last: {last['reason']} {escape(what + message)}[/]")
    return "  ".join(parts)
