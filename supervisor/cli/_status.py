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

from .._safe import one_line
from .._snapshot import Reason

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
    "standby": "cyan",  # a fleet singleton another instance runs
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
    except (httpx.HTTPError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        _fail(url, f"cannot read {url}/status: {reason}")
        return EXIT_UNHEALTHY
    if as_json:
        print(json.dumps(data, indent=2))
        verdicts = data.get("verdicts") if isinstance(data, dict) else None
        healthy = isinstance(verdicts, dict) and verdicts.get("healthz") is True
        return EXIT_HEALTHY if healthy else EXIT_UNHEALTHY
    try:
        # Whatever answered may not be a tree (another service on that port):
        # a document of another shape is one line, not a traceback.
        healthy = data["verdicts"]["healthz"] is True
        _print(data)
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
        _fail(url, f"{url}/status is not a supervisor status document")
        return EXIT_UNHEALTHY
    return EXIT_HEALTHY if healthy else EXIT_UNHEALTHY


def _fail(url: str, message: str) -> None:
    print(f"supervisor status: {one_line(message)}", file=sys.stderr)


def _text(value: object) -> str:
    # What the server sent, as plain text: no rich markup, no terminal escapes.
    return escape(one_line(str(value)))


def _print(data: dict[str, Any]) -> None:
    console = Console()
    verdicts = data["verdicts"]
    marks = "  ".join(
        f"[{'green' if ok is True else 'red'}]{_text(name)} "
        f"{'ok' if ok is True else 'failing'}[/]"
        for name, ok in verdicts.items()
    )
    root = data["tree"]["root"]
    top = RichTree(f"{_line(root)}    {marks}")
    _add_children(top, root)
    console.print(top)
    for check in data.get("checks", []):
        status = check["status"]
        colour = {"pass": "green", "warn": "yellow"}.get(status, "red")
        error = check.get("last_error")
        detail = f" - {_text(error)}" if error else ""
        console.print(
            f"check [bold]{_text(check['name'])}[/] [{colour}]{_text(status)}[/]{detail}"
        )


def _add_children(branch: RichTree, node: dict[str, Any]) -> None:
    for child in node["children"]:
        _add_children(branch.add(_line(child)), child)


def _line(node: dict[str, Any]) -> str:
    state = node["state"]
    colour = _COLOURS.get(state, "white")
    parts = [f"[bold]{_text(node['name'])}[/] [{colour}]{_text(state)}[/]"]
    if node["restarts"]:
        parts.append(f"restarts {_text(node['restarts'])}")
    # Restarts the child did not cause: a sibling's sweep, a restart_child call.
    for key, word in (
        ("sweep_restarts", "swept"),
        ("manual_restarts", "restarted by hand"),
    ):
        if node.get(key):
            parts.append(f"{word} {_text(node[key])}")
    if node.get("heartbeat_age") is not None:
        parts.append(f"beat {float(node['heartbeat_age']):.1f}s ago")
    last = node.get("last_exit")
    if last and last["reason"] not in (Reason.NORMAL, Reason.SHUTDOWN):
        what = str(last.get("exc_type") or "")
        message = f": {last['exc_message']}" if last.get("exc_message") else ""
        parts.append(f"[red]last: {_text(last['reason'])} {_text(what + message)}[/]")
    return "  ".join(parts)
