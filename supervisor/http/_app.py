"""
The HTTP surface of a running tree, as a plain ASGI application: health probes
(Kubernetes API-server conventions and the IETF health+json draft), the tree's
status, Prometheus metrics, a dashboard and authenticated control calls.

Mount `HealthApp(tree)` in your own ASGI app, or let `open_tree(spec,
http=...)` serve it with hypercorn inside the tree (`_http_server`). It reads
the tree only through the tree's observer (`TreeObserver`) and its public
control calls: probes and /status's verdicts the live facts (one walk over the
children, redone when the tree changed but no sooner than ten times its cost);
/status and /metrics the cached snapshot (rebuilt at most once per version and
second, and no sooner than ten times its cost); check results come from the
checks' own runners. So a probe storm never
reaches a child or a dependency, and cannot make the tree spend more than a
tenth of its time describing itself. Unauthorised answers never carry
exception text.
"""

from __future__ import annotations

import functools
import hmac
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs
import trio
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .._bind import ShowDetails
from .._checks import CheckState
from .._errors import (
    ChildExists,
    ChildLookupError,
    ChildRunning,
    ControlError,
    NotSupported,
    SpecError,
    TooManyChildren,
    TreeNotRunning,
)
from .._log import get_logger
from .._policy import health as _health
from .._safe import safe_str
from .._snapshot import TreeSnapshot
from ..metrics import TreeCollector, registry_for

if TYPE_CHECKING:
    from .._runtime.tree import Tree

_log = get_logger("supervisor.http")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_MAX_BODY = 64 * 1024
_MAX_NESTING = 32  # levels of arrays and objects in a control call's JSON body
# A control call still in progress after this many seconds (a slow start, a
# slow stop, a queue of earlier calls) is answered 202 with the child's state;
# the action goes on in the supervisor's control task.
CONTROL_ANSWER_WITHIN = 5.0
# The status of a control call that raised a ControlError: the one table the
# control route answers from (a test checks it names every subclass).
CONTROL_STATUS: dict[type[ControlError], int] = {
    ChildLookupError: 404,  # no such node
    ChildExists: 409,  # conflicts with the tree's current state ...
    ChildRunning: 409,
    TooManyChildren: 409,
    NotSupported: 409,
    TreeNotRunning: 409,
}


def control_status(exc: ControlError) -> int:
    """The HTTP status for *exc*: its class's entry, or its nearest base's."""
    for kind in type(exc).__mro__:
        status = CONTROL_STATUS.get(kind)
        if status is not None:
            return status
    return 409  # a ControlError subclass not in the table (a test forbids it)


_SNAPSHOT_TTL = 1.0  # seconds a snapshot is reused while the tree's version holds
_HEALTH_JSON = "application/health+json"
_NO_STORE = [(b"cache-control", b"no-store")]
_FALSE = {"0", "false", "no"}  # ?verbose=0 means not verbose
# One http_unauthorized line per this many seconds, at most (journald-style).
_UNAUTHORIZED_LOG_INTERVAL = 10.0


@attrs.define
class _RateLimit:
    """At most one line per *interval* seconds; the lines dropped are counted."""

    interval: float
    _last: float | None = None
    _suppressed: int = 0

    def admit(self, now: float) -> int | None:
        """None: drop this line. Otherwise log it, with this many dropped since the last."""
        if self._last is not None and now - self._last < self.interval:
            self._suppressed += 1
            return None
        suppressed, self._last, self._suppressed = self._suppressed, now, 0
        return suppressed


# A 4xx answer quotes what the client sent (a path, a name): no more than this.
_ERROR_TEXT = 512


@attrs.frozen
class Route:
    """One route of the surface: its methods, what serves it, whether ``/NAME`` may follow."""

    methods: tuple[str, ...]
    serves: str  # "probe", "status", "metrics", "dashboard" or "control"
    suffix: bool = False  # /readyz/NAME; /control/ACTION/PATH


_READ = ("GET", "HEAD")

#: Every route, by the first segment of its path; docs/openapi.yaml is checked
#: against this table (tests/test_openapi.py).
ROUTES: dict[str, Route] = {
    "livez": Route(_READ, "probe", suffix=True),
    "readyz": Route(_READ, "probe", suffix=True),
    "healthz": Route(_READ, "probe", suffix=True),
    "status": Route(_READ, "status"),
    "metrics": Route(_READ, "metrics"),
    "": Route(_READ, "dashboard"),
    "control": Route(("POST",), "control", suffix=True),
}


def _not_allowed(method: str, allowed: tuple[str, ...]) -> _BadRequest:
    what = (
        "control calls are POST"
        if allowed == ("POST",)
        else f"{method} is not allowed here"
    )
    return _BadRequest(405, what, [(b"allow", ", ".join(allowed).encode())])


class _BadRequest(Exception):
    def __init__(
        self, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(safe_str(message, _ERROR_TEXT))
        self.status = status
        self.headers = list(headers)


class HealthApp:
    """
    The ASGI application serving one running tree.

    ===========================  =========================================
    ``GET /livez``, ``/readyz``,  probes; ``?verbose``, ``?exclude=NAME``,
    ``/healthz`` (and ``/NAME``)  ``Accept: application/health+json``
    ``GET /status``               the whole tree and every check, as JSON
    ``GET /metrics``              Prometheus text exposition
    ``GET /``                     the dashboard
    ``POST /control/ACTION/PATH`` ``restart``, ``terminate`` or ``start``
    ===========================  =========================================
    """

    def __init__(
        self,
        tree: Tree,
        *,
        token: str | None = None,
        show_details: ShowDetails = ShowDetails.WHEN_AUTHORIZED,
        checks: Callable[[], Sequence[CheckState]] | None = None,
    ) -> None:
        self._tree = tree
        self._token = token.encode() if token else None
        self._show = show_details
        # What a probe says instead of a reason it withholds: how to see it.
        self._withheld = "reason withheld ({})".format(
            "details are never shown"
            if show_details is ShowDetails.NEVER
            else "send the bearer token"
            if self._token
            else "no token is configured"
        )
        observer = self._observer = tree.observer
        self._checks = checks or observer.checks
        self._registry = registry_for(TreeCollector(observer.snapshot, self._checks))
        # Anonymous clients must not decide how much the tree logs.
        self._unauthorized_log = _RateLimit(_UNAUTHORIZED_LOG_INTERVAL)

    # ---- cached state ----------------------------------------------------------

    def snapshot(self) -> TreeSnapshot:
        """The tree's snapshot, rate-limited by the tree's observer (`TreeObserver`)."""
        return self._observer.snapshot()

    # ---- ASGI ------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            # Nothing here speaks WebSocket: refuse the upgrade (the server
            # answers the handshake with 403, as the ASGI spec says).
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return  # nothing else to serve
        try:
            status, headers, body = await self._route(scope, receive)
        except _BadRequest as exc:
            status, body = exc.status, f"{exc}\n".encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                *_NO_STORE,
                *exc.headers,
            ]
        # HEAD: the GET answer's headers, Content-Length included (RFC 9110 9.3.2).
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        if scope["method"] == "HEAD":
            body = b""
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    async def _route(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        query = _query(scope)
        authorized = self._authorized(scope)
        endpoint, _, rest = path.lstrip("/").partition("/")
        route = ROUTES.get(endpoint)
        if route is None or (rest and not route.suffix):
            if method not in _READ:  # as before a table: the method is judged first
                raise _not_allowed(method, _READ)
            raise _BadRequest(404, f"no such page: {path}")
        if method not in route.methods:
            raise _not_allowed(method, route.methods)
        if route.serves == "control":
            return await self._control(scope, receive, path, authorized)
        if route.serves == "probe":
            return self._probe(endpoint, rest, query, scope, authorized)
        if route.serves == "status":
            return self._status(authorized)
        if route.serves == "metrics":
            return (
                200,
                [(b"content-type", CONTENT_TYPE_LATEST.encode()), *_NO_STORE],
                generate_latest(self._registry),
            )
        return 200, [(b"content-type", b"text/html; charset=utf-8")], _dashboard()

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None:
            return False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    credential.strip(), self._token
                )
        return False

    def _details(self, authorized: bool) -> bool:
        return self._show is ShowDetails.ALWAYS or (
            self._show is ShowDetails.WHEN_AUTHORIZED and authorized
        )

    # ---- probes ----------------------------------------------------------------

    def _probe(
        self,
        endpoint: str,
        single: str,
        query: list[tuple[str, str]],
        scope: Scope,
        authorized: bool,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        facts = self._facts()
        items = self._verdict(endpoint, facts)
        excluded = {value for key, value in query if key == "exclude"}
        unknown = excluded - {item.name for item in items}
        if unknown:
            raise _BadRequest(
                400, f"unknown check to exclude: {', '.join(sorted(unknown))}"
            )
        if single:
            items = [item for item in items if item.name == single]
            if not items:
                raise _BadRequest(404, f"no check named {single!r} in /{endpoint}")
        details = self._details(authorized)
        if _wants_health_json(scope, query):
            return self._health_json(facts, items, excluded, details)
        verbose = any(key == "verbose" and value not in _FALSE for key, value in query)
        return _k8s_text(
            endpoint,
            items,
            excluded,
            verbose=verbose,
            details=details,
            withheld=self._withheld,
            single=bool(single),
        )

    def _facts(self) -> _health.TreeFacts:
        """The probes' facts, from the tree's observer (`TreeObserver.facts`)."""
        return self._observer.facts()

    def _verdict(self, endpoint: str, facts: _health.TreeFacts) -> list[_health.Item]:
        return self._observer.verdict(endpoint, facts, self._checks())

    def _health_json(
        self,
        facts: _health.TreeFacts,
        items: list[_health.Item],
        excluded: set[str],
        details: bool,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        wall_offset = time.time() - facts.time
        counted = [item for item in items if item.name not in excluded]
        failed = any(not item.ok for item in counted)
        warned = any(item.status != "pass" for item in counted)
        status = "fail" if failed else ("warn" if warned else "pass")
        checks: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            entry: dict[str, Any] = {
                "componentId": item.component,
                "componentType": item.component_type,
                "status": item.status,
            }
            if item.observed_value is not None:
                entry["observedValue"] = item.observed_value
            if item.observed_unit is not None:
                entry["observedUnit"] = item.observed_unit
            if item.time is not None:
                entry["time"] = _iso(item.time + wall_offset)
            if details and item.reason:
                entry["output"] = item.reason
            if item.name in excluded:
                entry["excluded"] = True
            checks.setdefault(f"{item.name}:{item.measurement}", []).append(entry)
        body = {
            "status": status,
            "serviceId": facts.root_path,
            "description": "trio-supervisor tree",
            "checks": checks,
        }
        code = 503 if failed else 200
        return (
            code,
            [(b"content-type", _HEALTH_JSON.encode()), *_NO_STORE],
            _dumps(body),
        )

    # ---- status ----------------------------------------------------------------

    def _status(self, authorized: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        cache = self._observer.cached()
        details = self._details(authorized)
        key = (self, details)
        body = cache.renderings.get(key)
        if body is None:  # rendered once per snapshot and detail level
            began = time.perf_counter()
            body = cache.renderings[key] = self._render_status(cache.snapshot, details)
            # Rendering costs twice the snapshot: it counts against the rate
            # limit too, or a poller could keep the tree busy a third of the time.
            cache.charge(time.perf_counter() - began)
        return 200, [(b"content-type", b"application/json"), *_NO_STORE], body

    def _render_status(self, snap: TreeSnapshot, details: bool) -> bytes:
        checks = self._checks()
        tree = snap.as_dict()
        if not details:
            _redact(tree["root"])
            if tree["system"] is not None:
                _redact(tree["system"])
        # The probes' facts and code: /status and /readyz cannot disagree.
        verdicts = self._observer.verdicts(self._facts(), checks)
        return _dumps(
            {
                "tree": tree,
                "wall_time": time.time(),
                "shutting_down": self._observer.shutting_down,
                "verdicts": verdicts,
                "checks": [state.as_dict(details=details) for state in checks],
            }
        )

    # ---- control ---------------------------------------------------------------

    async def _control(
        self, scope: Scope, receive: Receive, path: str, authorized: bool
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if self._token is None:
            raise _BadRequest(404, "control calls are off (no token configured)")
        if not authorized:
            suppressed = self._unauthorized_log.admit(trio.current_time())
            if suppressed is not None:
                _log.warning(
                    "http_unauthorized",
                    path=path,
                    client=_client(scope),
                    suppressed=suppressed,
                )
            raise _BadRequest(
                401,
                "a valid bearer token is required",
                [(b"www-authenticate", b'Bearer realm="supervisor"')],
            )
        # scope["path"] is already percent-decoded by the server: decode no further.
        action, _, target = path[len("/control/") :].partition("/")
        body = await _read_body(receive)
        # The child's path, once known (a nameless dynamic start learns it late).
        child: list[str] = []
        try:
            with trio.move_on_after(CONTROL_ANSWER_WITHIN):
                result = await self._act(action, target, body, child)
                _log.info("http_control", action=action, path=target)
                return (
                    200,
                    [(b"content-type", b"application/json"), *_NO_STORE],
                    _dumps(result),
                )
        except ControlError as exc:
            raise _BadRequest(control_status(exc), str(exc)) from None
        except SpecError as exc:
            raise _BadRequest(400, str(exc)) from None
        # Still in progress: it goes on in the supervisor's control task.
        _log.info("http_control", action=action, path=target, in_progress=True)
        state = self._tree.child_state(child[0]) if child else None
        answer = {"path": child[0] if child else target, "state": state}
        return 202, [(b"content-type", b"application/json"), *_NO_STORE], _dumps(answer)

    async def _act(
        self, action: str, target: str, body: bytes, child: list[str]
    ) -> dict[str, Any]:
        tree = self._tree
        if not target:
            raise _BadRequest(400, "name a tree path: /control/ACTION/root/child")
        if action == "restart":
            child.append(target)
            await tree.restart_child(target)
        elif action == "terminate":
            child.append(target)
            await tree.terminate_child(target)
        elif action == "start":
            return {"path": await _start(tree, target, body, child)}
        else:
            raise _BadRequest(
                404, f"unknown control action {action!r}: restart, terminate or start"
            )
        return {"path": target}


async def _start(tree: Tree, target: str, body: bytes, child: list[str]) -> str:
    """
    Start a new dynamic child (JSON body ``{"args": [...], "name": ...}``) or a
    stopped one; its path goes into *child* as soon as it is known.
    """
    if tree.is_dynamic_supervisor(target):
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise _BadRequest(
                400, 'the body must be JSON: {"args": [...], "name": ...}'
            ) from None
        if _nesting(data) > _MAX_NESTING:
            raise _BadRequest(400, f"the body nests over {_MAX_NESTING} levels deep")
        if not isinstance(data, dict) or not isinstance(data.get("args", []), list):
            raise _BadRequest(400, "the body must be a JSON object with a list 'args'")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise _BadRequest(400, "'name' must be a string")
        path, settled = await tree.add_child_soon(
            target, args=data.get("args", []), name=name
        )
        child.append(path)
        await settled.wait()
        return path
    child.append(target)
    await tree.start_stopped_child(target)
    return target


# ---- rendering ---------------------------------------------------------------


def _k8s_text(
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
        *_NO_STORE,
    ]
    if single:
        item = items[0]
        passing = item.ok or item.name in excluded
        line = "ok" if passing else _failed_line(item, details, withheld)
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
            lines.append(_failed_line(item, details, withheld))
    lines.append(f"{endpoint} check {'failed' if failed else 'passed'}")
    return (503 if failed else 200), headers, ("\n".join(lines) + "\n").encode()


def _failed_line(item: _health.Item, details: bool, withheld: str) -> str:
    return f"[-]{item.name} failed: {item.reason if details else withheld}"


def _wants_health_json(scope: Scope, query: list[tuple[str, str]]) -> bool:
    if any(key == "format" and value == "json" for key, value in query):
        return True
    for name, value in scope["headers"]:
        if name == b"accept":
            for media in value.decode("latin-1").split(","):
                kind, *params = media.split(";")
                if kind.strip().lower() == _HEALTH_JSON and _quality(params) > 0:
                    return True
    return False


def _quality(params: list[str]) -> float:
    # "q=0" in an Accept header means "not this one" (RFC 9110 12.4.2).
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def _query(scope: Scope) -> list[tuple[str, str]]:
    raw: bytes = scope.get("query_string", b"")
    try:
        # ?verbose carries no value (Kubernetes style); over 50 fields is abuse.
        return parse_qsl(raw.decode("ascii"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest(400, "malformed query string") from None


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # An incomplete request must not act on the tree.
            raise _BadRequest(400, "the client went away before the body was complete")
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > _MAX_BODY:
            raise _BadRequest(413, f"request body over {_MAX_BODY} bytes")
        if not message.get("more_body", False):
            return body


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _redact(node: dict[str, Any]) -> None:
    last = node.get("last_exit")
    if last is not None:
        last["exc_message"] = None
        last["traceback"] = []
    for child in node["children"]:
        _redact(child)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def _iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _dumps(data: Any) -> bytes:
    """Strict JSON; a non-finite float (never valid JSON) is served as ``null``."""
    try:
        text = json.dumps(
            data, separators=(",", ":"), allow_nan=False, default=safe_str
        )
    except ValueError:  # "Out of range float values are not JSON compliant"
        text = json.dumps(
            _finite(data), separators=(",", ":"), allow_nan=False, default=safe_str
        )
    return text.encode()


def _nesting(data: Any) -> int:
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


def _finite(data: Any) -> Any:
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
def _dashboard() -> bytes:
    page: bytes = resources.files("supervisor").joinpath("dashboard.html").read_bytes()
    return page
