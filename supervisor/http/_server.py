"""
The HTTP server as a service: hypercorn's trio server for `HealthApp`, a child
of the tree's ``_system`` supervisor, on a listener bound before any child
starts (a taken port fails the run at once, `HttpBindError`, bare).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

import hypercorn.config
import hypercorn.trio
import trio

from .._bind import HttpOptions, parse_bind
from .._errors import HttpBindError
from .._log import get_logger
from .._runtime.services import Service
from .._spec import Child
from ._app import HealthApp

if TYPE_CHECKING:
    from .._runtime.tree import Tree

_log = get_logger("supervisor.http")

# Connection bounds of the HTTP server (hypercorn's Config), so that anonymous
# clients cannot crowd out the kubelet's probes (benchmarks/bench_idle_clients.py).
# A connection without a complete request, or idle between requests, is closed
# after HTTP_KEEP_ALIVE seconds; one whose request body stalls after
# HTTP_READ_TIMEOUT. A burst of connects while the loop is busy queues in a deep
# backlog instead of dropping the probe's SYN (retried after 1 s: the kubelet's
# default timeout; hypercorn's default backlog is 100).
HTTP_READ_TIMEOUT = 10
HTTP_KEEP_ALIVE = 5.0
HTTP_BACKLOG = 1024
HTTP_MAX_HEADER_BYTES = 8 * 1024


async def _listen(options: HttpOptions) -> socket.socket:
    """The HTTP listener, bound once per run; a failure is `HttpBindError`."""
    host, port = parse_bind(options.bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = await trio.socket.getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(HTTP_BACKLOG)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:  # socket.gaierror too: a host that does not resolve
        raise HttpBindError(options.bind, exc) from None
    return sock


async def _serve_http(
    server: HttpServer,
    tree: Tree,
    app: HealthApp,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """
    The HTTP child: hypercorn's trio server for *app*, inside the tree's run,
    on a copy of the listener the run bound (a restart keeps the port).
    """
    listener = server.listener
    if listener is None:
        raise RuntimeError("the HTTP listener is closed")  # the run is ending
    config = hypercorn.config.Config()
    # hypercorn owns (and closes) the duplicate; the run keeps the original.
    config.bind = [f"fd://{os.dup(listener.fileno())}"]
    config.backlog = HTTP_BACKLOG
    config.read_timeout = HTTP_READ_TIMEOUT
    config.keep_alive_timeout = HTTP_KEEP_ALIVE
    config.h11_max_incomplete_size = HTTP_MAX_HEADER_BYTES
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # the application decides
    config.graceful_timeout = 1.0

    class _Bound:
        def started(self, binds: list[str] | None = None) -> None:
            tree.http_addresses = [b.removeprefix("http://") for b in binds or []]
            for url in binds or []:
                _log.info("http_serving", url=url)  # one line, at info, not _system's
            task_status.started()

    await hypercorn.trio.serve(app, config, task_status=_Bound())  # type: ignore[arg-type]


class HttpServer(Service["Tree"]):
    """Serves `HealthApp` for the tree with hypercorn, as ``_system/http``."""

    def __init__(self, options: HttpOptions) -> None:
        self.options = options
        #: The listening socket while the tree runs (bound in `opened`).
        self.listener: socket.socket | None = None

    def opened(self, tree: Tree) -> AbstractAsyncContextManager[object]:
        return self._bound()

    @asynccontextmanager
    async def _bound(self) -> AsyncIterator[None]:
        self.listener = await _listen(self.options)
        try:
            yield
        finally:
            self.listener.close()
            self.listener = None

    def children(self, tree: Tree) -> Sequence[Child]:
        options = self.options
        app = HealthApp(tree, token=options.token, show_details=options.show_details)
        return [
            Child(
                name="http",
                target=functools.partial(_serve_http, self, tree, app),
                shutdown=2,
            )
        ]
