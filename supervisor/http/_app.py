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

import hmac
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .._bind import ShowDetails
from .._checks import CheckState
from .._errors import (
    ControlError,
    SpecError,
)
from .._log import get_logger
from .._policy import health as _health
from .._snapshot import TreeSnapshot
from ..metrics import TreeCollector, registry_for
from ._documents import (
    FALSE,
    client_address,
    dashboard,
    dumps,
    iso,
    k8s_text,
    lifespan,
    nesting,
    parse_query,
    read_body,
    redact,
    wants_health_json,
)
from ._routes import (
    CONTROL_ANSWER_WITHIN,
    HEALTH_JSON,
    MAX_NESTING,
    NO_STORE,
    READ,
    ROUTES,
    BadRequest,
    Receive,
    Scope,
    Send,
    control_status,
    not_allowed,
)

if TYPE_CHECKING:
    from .._runtime.tree import Tree

_log = get_logger("supervisor.http")


_SNAPSHOT_TTL = 1.0  # seconds a snapshot is reused while the tree's version holds
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
            await lifespan(receive, send)
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
        except BadRequest as exc:
            status, body = exc.status, f"{exc}\n".encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                *NO_STORE,
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
        query = parse_query(scope)
        authorized = self._authorized(scope)
        endpoint, _, rest = path.lstrip("/").partition("/")
        route = ROUTES.get(endpoint)
        if route is None or (rest and not route.suffix):
            if method not in READ:  # as before a table: the method is judged first
                raise not_allowed(method, READ)
            raise BadRequest(404, f"no such page: {path}")
        if method not in route.methods:
            raise not_allowed(method, route.methods)
        if route.serves == "control":
            return await self._control(scope, receive, path, authorized)
        if route.serves == "probe":
            return self._probe(endpoint, rest, query, scope, authorized)
        if route.serves == "status":
            return self._status(authorized)
        if route.serves == "metrics":
            return (
                200,
                [(b"content-type", CONTENT_TYPE_LATEST.encode()), *NO_STORE],
                generate_latest(self._registry),
            )
        return 200, [(b"content-type", b"text/html; charset=utf-8")], dashboard()

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
            raise BadRequest(
                400, f"unknown check to exclude: {', '.join(sorted(unknown))}"
            )
        if single:
            items = [item for item in items if item.name == single]
            if not items:
                raise BadRequest(404, f"no check named {single!r} in /{endpoint}")
        details = self._details(authorized)
        if wants_health_json(scope, query):
            return self._health_json(facts, items, excluded, details)
        verbose = any(key == "verbose" and value not in FALSE for key, value in query)
        return k8s_text(
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
                entry["time"] = iso(item.time + wall_offset)
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
            [(b"content-type", HEALTH_JSON.encode()), *NO_STORE],
            dumps(body),
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
        return 200, [(b"content-type", b"application/json"), *NO_STORE], body

    def _render_status(self, snap: TreeSnapshot, details: bool) -> bytes:
        checks = self._checks()
        tree = snap.as_dict()
        if not details:
            redact(tree["root"])
            if tree["system"] is not None:
                redact(tree["system"])
        # The probes' facts and code: /status and /readyz cannot disagree.
        verdicts = self._observer.verdicts(self._facts(), checks)
        return dumps(
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
            raise BadRequest(404, "control calls are off (no token configured)")
        if not authorized:
            suppressed = self._unauthorized_log.admit(trio.current_time())
            if suppressed is not None:
                _log.warning(
                    "http_unauthorized",
                    path=path,
                    client=client_address(scope),
                    suppressed=suppressed,
                )
            raise BadRequest(
                401,
                "a valid bearer token is required",
                [(b"www-authenticate", b'Bearer realm="supervisor"')],
            )
        # scope["path"] is already percent-decoded by the server: decode no further.
        action, _, target = path[len("/control/") :].partition("/")
        body = await read_body(receive)
        # The child's path, once known (a nameless dynamic start learns it late).
        child: list[str] = []
        try:
            with trio.move_on_after(CONTROL_ANSWER_WITHIN):
                result = await self._act(action, target, body, child)
                _log.info("http_control", action=action, path=target)
                return (
                    200,
                    [(b"content-type", b"application/json"), *NO_STORE],
                    dumps(result),
                )
        except ControlError as exc:
            raise BadRequest(control_status(exc), str(exc)) from None
        except SpecError as exc:
            raise BadRequest(400, str(exc)) from None
        # Still in progress: it goes on in the supervisor's control task.
        _log.info("http_control", action=action, path=target, in_progress=True)
        state = self._tree.child_state(child[0]) if child else None
        answer = {"path": child[0] if child else target, "state": state}
        return 202, [(b"content-type", b"application/json"), *NO_STORE], dumps(answer)

    async def _act(
        self, action: str, target: str, body: bytes, child: list[str]
    ) -> dict[str, Any]:
        tree = self._tree
        if not target:
            raise BadRequest(400, "name a tree path: /control/ACTION/root/child")
        if action == "restart":
            child.append(target)
            await tree.restart_child(target)
        elif action == "terminate":
            child.append(target)
            await tree.terminate_child(target)
        elif action == "start":
            return {"path": await _start(tree, target, body, child)}
        else:
            raise BadRequest(
                404, f"unknown control action {action!r}: restart, terminate or start"
            )
        return {"path": target}


async def _start(tree: Tree, target: str, body: bytes, child: list[str]) -> str:
    """
    Start a new dynamic child (JSON body ``{"args": [...], "name": ...}``) or a
    stopped one; its path goes into *child* as soon as it is known.
    """
    if tree._is_dynamic_supervisor(target):
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise BadRequest(
                400, 'the body must be JSON: {"args": [...], "name": ...}'
            ) from None
        if nesting(data) > MAX_NESTING:
            raise BadRequest(400, f"the body nests over {MAX_NESTING} levels deep")
        if not isinstance(data, dict) or not isinstance(data.get("args", []), list):
            raise BadRequest(400, "the body must be a JSON object with a list 'args'")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise BadRequest(400, "'name' must be a string")
        path, settled = await tree._add_child_soon(
            target, args=data.get("args", []), name=name
        )
        child.append(path)
        await settled.wait()
        return path
    child.append(target)
    await tree._start_stopped_child(target)
    return target


# ---- rendering ---------------------------------------------------------------
