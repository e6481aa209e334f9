"""
The composition: `run` and `open_tree`, the one place that turns the options
(``http=``, ``checks=``) into the services the tree runs beside the user's
children. The core (`Tree`) knows only a list of services; this module is above
it and may import the surfaces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import trio

from ._bind import HttpOptions, ShowDetails
from ._checks import Check
from ._deprecate import moved
from ._fleet import EtcdOptions, singleton_paths
from ._options import DEFAULT_LOOP_BLOCK_THRESHOLD, TreeOptions
from ._runtime.reaper import OrphanReaper
from ._runtime.services import CheckRunners, Service
from ._runtime.singleton import COORDINATOR, NoCoordinator
from ._runtime.tree import Tree
from ._spec import SupervisorSpec
from .http._app import HealthApp
from .http._server import HttpServer
from .integrations.etcd._member import EtcdMember
from .integrations.systemd import SystemdNotifier


def services(options: TreeOptions) -> list[Service[Tree]]:
    """
    The services *options* ask for: the HTTP server first (etcd registers its
    address), then the checks, then the fleet membership in etcd; and the
    systemd notifier when the tree runs under systemd (NOTIFY_SOCKET), the
    orphan reaper when it runs as PID 1.
    """
    found: list[Service[Tree]] = []
    if options.http is not None:
        found.append(HttpServer(options.http))
    if options.checks:
        found.append(CheckRunners(options.checks))
    if options.etcd is not None:
        found.append(EtcdMember(options.etcd))
    notifier = SystemdNotifier.from_environment()  # None unless run by systemd
    if notifier is not None:
        found.append(notifier)
    if OrphanReaper.needed():  # PID 1 in a container: orphans come to the tree
        found.append(OrphanReaper())
    return found


def _tree(spec: SupervisorSpec, options: TreeOptions) -> Tree:
    # A coordinator set around the run (`singleton.serving`) serves as well.
    no_coordinator = options.etcd is None and COORDINATOR.get() is None
    if no_coordinator and (paths := singleton_paths(spec)):
        raise NoCoordinator(tuple(paths))
    return Tree(spec, options, services(options), _private=True)


async def run(
    spec: SupervisorSpec,
    *,
    loop_block_threshold: float | None = DEFAULT_LOOP_BLOCK_THRESHOLD,
    http: str | HttpOptions | None = None,
    checks: Sequence[Check] = (),
    opened: Callable[[Tree], object] | None = None,
    started: Callable[[Tree], object] | None = None,
    etcd: EtcdOptions | None = None,
) -> None:
    """
    Run the tree described by *spec* until it ends.

    Returns when the root ends normally (its auto_shutdown, or `Tree.stop`).
    The keywords are those of `TreeOptions` (*opened* and *started* are
    called with the `Tree`: before any child starts, and once every initial
    child has started). *etcd* registers the instance in etcd while it is
    ready and runs its ``singleton=True`` children on one instance of the
    fleet (docs/fleet.md).

    Raises:
        NoCoordinator: The spec has singletons and *etcd* is None.
        TooManyRestarts: The root gave up (also during the initial start: a
            child that cannot start is retried with backoff until the root's
            intensity runs out).
        KeyboardInterrupt: Re-raised after the tree stopped in order.
    """
    options = TreeOptions(
        loop_block_threshold=loop_block_threshold,
        http=http,
        checks=checks,
        opened=opened,
        started=started,
        etcd=etcd,
    )
    await _tree(spec, options)._run_root()


@asynccontextmanager
async def open_tree(
    spec: SupervisorSpec,
    *,
    loop_block_threshold: float | None = DEFAULT_LOOP_BLOCK_THRESHOLD,
    http: str | HttpOptions | None = None,
    checks: Sequence[Check] = (),
    opened: Callable[[Tree], object] | None = None,
    started: Callable[[Tree], object] | None = None,
    etcd: EtcdOptions | None = None,
) -> AsyncIterator[Tree]:
    """
    Start the tree described by *spec* and give its `Tree` handle.

    Enters once every initial child has started. Leaving the block stops the
    tree in reverse start order. If the root gives up while the block runs, the
    block is cancelled and `TooManyRestarts` is raised from the ``async with``.
    The keywords are those of `run` (`TreeOptions`).
    """
    options = TreeOptions(
        loop_block_threshold=loop_block_threshold,
        http=http,
        checks=checks,
        opened=opened,
        started=started,
        etcd=etcd,
    )
    tree = _tree(spec, options)
    # The root's failure and the block's own exception, raised bare after the
    # nursery closed and the tree stopped (a nursery would wrap them in an
    # ExceptionGroup, and `except KeyError` around the block would miss them).
    failure: list[BaseException] = []
    body: list[BaseException] = []
    async with trio.open_nursery() as nursery:
        up = False

        async def root(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            try:
                await tree._run_root(task_status)
            except trio.Cancelled:
                raise
            except BaseException as exc:  # re-raised below, after the nursery closed
                if not up:
                    raise
                failure.append(exc)
                nursery.cancel_scope.cancel()

        try:
            await nursery.start(root)
        except trio.Cancelled:
            raise
        except BaseException as exc:  # re-raised below, after the nursery closed
            failure.append(exc)
        else:
            up = True
            try:
                yield tree
            except trio.Cancelled:
                raise  # it belongs to a cancel scope that will catch it
            except BaseException as exc:  # re-raised below, after the ordered stop
                body.append(exc)
            finally:
                tree.request_stop()
    if body:
        raise body[0]
    if failure:
        raise failure[0]


# Deprecated for a release: the app is mounted with `HealthApp(tree)`. Defined
# here, not in the core, which does not import the HTTP surface.
@moved("Tree.asgi_app(...)", "supervisor.HealthApp(tree, ...)")
def _asgi_app(
    tree: Tree,
    *,
    token: str | None = None,
    show_details: ShowDetails = ShowDetails.WHEN_AUTHORIZED,
) -> HealthApp:
    """An ASGI app serving this tree's health, status and metrics, to mount in your own."""
    return HealthApp(tree, token=token, show_details=show_details)


Tree.asgi_app = _asgi_app  # type: ignore[attr-defined]
