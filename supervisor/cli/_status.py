"""
``supervisor status [URL]``: print a running tree and exit 0 when it is healthy,
1 when it is not (or cannot be reached), so it works as an exec probe.

The coloured tree view needs ``rich``, an optional extra
(``pip install 'trio-supervisor[cli]'``): an application embedding the library
should not pull it in, since structlog's default renderer picks rich up when
installed and pretty-prints every traceback with it. Without rich the same
lines print as plain indented text, with a note saying how to install it: the
exit code (what an exec probe reads) never depends on the extra.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import httpx

from .._safe import one_line
from .._snapshot import Reason

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1

INSTALL_RICH = (
    "supervisor status: plain output; for the coloured tree install the cli "
    "extra: pip install 'trio-supervisor[cli]'"
)

#: paint(style, text): *text* (already one line) in a rich *style*, or plain.
Paint = Callable[[str, str], str]

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


def _rich_paint(style: str, text: str) -> str:
    from rich.markup import escape  # noqa: PLC0415 - only when rich is installed

    # What the server sent, as plain text: no rich markup, no terminal escapes.
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def _plain_paint(style: str, text: str) -> str:
    return text


def _text(value: object, paint: Paint) -> str:
    return paint("", one_line(str(value)))


def _print(data: dict[str, Any]) -> None:
    try:
        from rich.console import Console  # noqa: PLC0415 - the optional cli extra
        from rich.tree import Tree as RichTree  # noqa: PLC0415
    except ImportError:
        _print_plain(data)
        return
    console = Console()
    root = data["tree"]["root"]
    top = RichTree(f"{_line(root)}    {_verdicts(data, _rich_paint)}")

    def add_children(branch: RichTree, node: dict[str, Any]) -> None:
        for child in node["children"]:
            add_children(branch.add(_line(child)), child)

    add_children(top, root)
    console.print(top)
    for line in _check_lines(data, _rich_paint):
        console.print(line)


def _print_plain(data: dict[str, Any]) -> None:
    # Validate the whole document before printing a line of it (as rich does).
    root = data["tree"]["root"]
    lines = [f"{_line(root, _plain_paint)}    {_verdicts(data, _plain_paint)}"]

    def add_children(node: dict[str, Any], depth: int) -> None:
        for child in node["children"]:
            lines.append(f"{'    ' * depth}{_line(child, _plain_paint)}")
            add_children(child, depth + 1)

    add_children(root, 1)
    lines.extend(_check_lines(data, _plain_paint))
    print("\n".join(lines))
    print(INSTALL_RICH, file=sys.stderr)


def _verdicts(data: dict[str, Any], paint: Paint) -> str:
    return "  ".join(
        paint(
            "green" if ok is True else "red",
            f"{one_line(str(name))} {'ok' if ok is True else 'failing'}",
        )
        for name, ok in data["verdicts"].items()
    )


def _check_lines(data: dict[str, Any], paint: Paint) -> list[str]:
    lines = []
    for check in data.get("checks", []):
        status = check["status"]
        colour = {"pass": "green", "warn": "yellow"}.get(status, "red")
        error = check.get("last_error")
        detail = f" - {_text(error, paint)}" if error else ""
        name = paint("bold", one_line(str(check["name"])))
        lines.append(f"check {name} {paint(colour, one_line(str(status)))}{detail}")
    return lines


def _line(node: dict[str, Any], paint: Paint = _rich_paint) -> str:
    state = node["state"]
    colour = _COLOURS.get(state, "white")
    name = paint("bold", one_line(str(node["name"])))
    parts = [f"{name} {paint(colour, one_line(str(state)))}"]
    if node["restarts"]:
        parts.append(f"restarts {_text(node['restarts'], paint)}")
    # Restarts the child did not cause: a sibling's sweep, a restart_child call.
    for key, word in (
        ("sweep_restarts", "swept"),
        ("manual_restarts", "restarted by hand"),
    ):
        if node.get(key):
            parts.append(f"{word} {_text(node[key], paint)}")
    if node.get("heartbeat_age") is not None:
        parts.append(f"beat {float(node['heartbeat_age']):.1f}s ago")
    last = node.get("last_exit")
    if last and last["reason"] not in (Reason.NORMAL, Reason.SHUTDOWN):
        what = str(last.get("exc_type") or "")
        message = f": {last['exc_message']}" if last.get("exc_message") else ""
        text = f"last: {one_line(str(last['reason']))} {one_line(what + message)}"
        parts.append(paint("red", text))
    return "  ".join(parts)
