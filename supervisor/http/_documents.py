"""
What the HTTP surface renders and parses, apart from its routing: the
Kubernetes probe text, content negotiation for health+json, query strings and
request bodies, JSON without NaN or unbounded nesting, redaction of exception
text for unauthorised callers, and the dashboard page.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from .._policy import health as _health
from .._safe import safe_str
from ._routes import (
    HEALTH_JSON,
    MAX_BODY,
    NO_STORE,
    BadRequest,
    Receive,
    Scope,
    Send,
)

FALSE = {"0", "false", "no"}  # ?verbose=0 means not verbose


def k8s_text(
    endpoint: str,
    items: list[_health.Item],
    excluded: set[str],
    *,
    verbose: bool,
    details: bool,
    withheld: str,
    single: bool,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    failed = [i for i in items if not i.ok and i.name not in excluded]
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"x-content-type-options", b"nosniff"),
        *NO_STORE,
    ]
    if single:
        item = items[0]
        passing = item.ok or item.name in excluded
        line = "ok" if passing else failed_line(item, details, withheld)
        return (200 if passing else 503), headers, f"{line}\n".encode()
    if not verbose and not failed:
        return 200, headers, b"ok"
    lines = []
    for item in items:
        if item.name in excluded:
            lines.append(f"[+]{item.name} excluded: ok")
        elif item.ok:
            lines.append(f"[+]{item.name} ok")
        else:
            lines.append(failed_line(item, details, withheld))
    lines.append(f"{endpoint} check {'failed' if failed else 'passed'}")
    return (503 if failed else 200), headers, ("\n".join(lines) + "\n").encode()


def failed_line(item: _health.Item, details: bool, withheld: str) -> str:
    return f"[-]{item.name} failed: {item.reason if details else withheld}"


def wants_health_json(scope: Scope, query: list[tuple[str, str]]) -> bool:
    if any(key == "format" and value == "json" for key, value in query):
        return True
    for name, value in scope["headers"]:
        if name == b"accept":
            for media in value.decode("latin-1").split(","):
                kind, *params = media.split(";")
                if kind.strip().lower() == HEALTH_JSON and quality(params) > 0:
                    return True
    return False


def quality(params: list[str]) -> float:
    # "q=0" in an Accept header means "not this one" (RFC 9110 12.4.2).
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def parse_query(scope: Scope) -> list[tuple[str, str]]:
    raw: bytes = scope.get("query_string", b"")
    try:
        # ?verbose carries no value (Kubernetes style); over 50 fields is abuse.
        return parse_qsl(raw.decode("ascii"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "malformed query string") from None


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # An incomplete request must not act on the tree.
            raise BadRequest(400, "the client went away before the body was complete")
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequest(413, f"request body over {MAX_BODY} bytes")
        if not message.get("more_body", False):
            return body


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def redact(node: dict[str, Any]) -> None:
    last = node.get("last_exit")
    if last is not None:
        last["exc_message"] = None
        last["traceback"] = []
    process = node.get("process")
    if process is not None:
        # A program's output is as private as an exception's text.
        process["output"] = []
    for child in node["children"]:
        redact(child)


def client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def dumps(data: Any) -> bytes:
    """Strict JSON; a non-finite float (never valid JSON) is served as ``null``."""
    try:
        text = json.dumps(
            data, separators=(",", ":"), allow_nan=False, default=safe_str
        )
    except ValueError:  # "Out of range float values are not JSON compliant"
        text = json.dumps(
            finite(data), separators=(",", ":"), allow_nan=False, default=safe_str
        )
    return text.encode()


def nesting(data: Any) -> int:
    """How deep arrays and objects nest in parsed JSON *data* (no recursion)."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return deepest


def finite(data: Any) -> Any:
    """A copy of *data* with every inf and nan float replaced by None (no recursion)."""
    root: list[Any] = [data]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        holder, key = stack.pop()
        value = holder[key]
        if isinstance(value, float) and not math.isfinite(value):
            holder[key] = None
        elif isinstance(value, dict):
            holder[key] = mapping = dict(value)
            stack.extend((mapping, k) for k in mapping)
        elif isinstance(value, list | tuple):
            holder[key] = items = list(value)
            stack.extend((items, i) for i in range(len(items)))
    return root[0]


@functools.cache
def dashboard() -> bytes:
    page: bytes = resources.files("supervisor").joinpath("dashboard.html").read_bytes()
    return page
