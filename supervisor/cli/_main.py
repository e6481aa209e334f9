"""
Run a supervision tree from a spec in a module or file, or print the state of a running one.

This is an application, so unlike the library it configures structlog.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence

import structlog
import trio

from .. import logging as supervisor_logging
from .._bind import HttpOptions, ShowDetails, parse_bind
from .._checks import Check
from .._entry import run
from .._errors import HttpBindError, SpecError, TooManyRestarts
from .._fleet import EtcdOptions
from .._runtime.process_groups import kill_live_groups
from .._runtime.singleton import NoCoordinator
from .._runtime.tree import Tree
from .._spec import SupervisorSpec
from .._version import DISTRIBUTION, __version__
from ..integrations import consul
from ._fleet import FleetUsageError, add_fleet_arguments, fleet_options
from ._load import SpecLoadError, load_checks, load_spec
from ._status import status

_log = structlog.get_logger("supervisor.cli")

EXIT_GAVE_UP = 1
EXIT_USAGE = 2
EXIT_HTTP_BIND = 3  # --http cannot listen: in use, not a local address, unresolvable
EXIT_INTERRUPTED = 130

# Kubernetes' default grace period between SIGTERM and SIGKILL.
DEFAULT_STOP_TIMEOUT = 30.0


# What --checks and the fleet flags add to a run: its checks and etcd options.
Fleet = tuple[Sequence[Check], EtcdOptions | None]


async def serve(
    spec: SupervisorSpec,
    http: HttpOptions | None = None,
    stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    gc_freeze: bool = False,
    fleet: Fleet | None = None,
) -> None:
    """
    Run *spec* until it stops; SIGINT/SIGTERM stop it in order, a second one
    forces. *fleet*: the ``--checks`` and ``--etcd`` options, if any.
    """
    checks, etcd = fleet if fleet is not None else ((), None)
    failure: list[BaseException] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            def opened(tree: Tree) -> None:
                # Signals are watched from the start, not only once the tree
                # is up: a dependency that never comes up keeps the initial
                # start retrying (signals before this wait in the receiver).
                nursery.start_soon(_signals_task, tree, signals, stop_timeout)

            try:
                await run(
                    spec,
                    http=http,
                    checks=checks,
                    etcd=etcd,
                    opened=opened,
                    started=_freeze_gc if gc_freeze else None,
                )
            except trio.Cancelled:
                raise
            except BaseException as exc:  # raised bare below, not in a group
                failure.append(exc)
            finally:
                nursery.cancel_scope.cancel()
    if failure:
        raise failure[0]


def _freeze_gc(tree: Tree) -> None:
    """Once every initial child has started (--gc-freeze)."""
    # What start-up allocated (specs, tasks, modules) will live as long as the
    # tree: move it where the collector never scans it again. An application's
    # choice, never the library's: see heartbeats.md.
    gc.freeze()
    _log.info("gc_frozen", objects=gc.get_freeze_count())


async def _signals_task(
    tree: Tree, signals: AsyncIterator[int], stop_timeout: float
) -> None:
    async with trio.open_nursery() as nursery:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not tree.observer.shutting_down:
                _log.warning(
                    "stop_requested",
                    signal=name,
                    stop_timeout=stop_timeout,
                    hint="send it again to force",
                )
                tree.request_stop()
                nursery.start_soon(_force_after, stop_timeout)
            else:
                _force(f"second {name}")


async def _force_after(seconds: float) -> None:
    # Like systemd's TimeoutStopSec or Kubernetes' grace period: a child that
    # ignores cancellation (trio cannot abandon a task) must not keep the
    # process alive forever. The tree has reported it as unstopped by now.
    await trio.sleep(seconds)
    _force(f"the stop took longer than {seconds:g} s")


def _force(reason: str) -> None:
    # Each Process child leads a session of its own: os._exit alone would
    # leave every group running, re-parented to PID 1.
    killed = kill_live_groups()
    _log.error("forced_exit", reason=reason, process_groups_killed=killed)
    os._exit(EXIT_INTERRUPTED)


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds > 0, got {text!r}"
        )
    return value


def _bind(text: str) -> str:
    """An argparse type: HOST:PORT, as `HttpOptions` takes it."""
    try:
        parse_bind(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(
            "expected " + exc.problem.removeprefix("must be ")
        ) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    # The description is the module docstring's summary line: plain text, no
    # markup, as --help prints it verbatim.
    parser = argparse.ArgumentParser(
        prog="supervisor", description=__doc__.splitlines()[1]
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s ({DISTRIBUTION}) {__version__}",
        help="print the installed version and exit",
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="run, status or consul-service; supervisor COMMAND --help explains its options",
    )
    run_p = sub.add_parser(
        "run",
        help="run a supervision tree until it stops or Ctrl-C",
        description="Run a supervision tree until its root ends, gives up (exit 1) "
        "or is stopped: the first SIGINT/SIGTERM stops it in reverse start order, "
        "a second one forces the exit (130).",
    )
    run_p.add_argument(
        "spec",
        help="MODULE:NAME or FILE.py:NAME of a Supervisor spec (or a function returning one)",
    )
    run_p.add_argument(
        "--log-format",
        choices=["auto", "console", "json"],
        default="auto",
        help="how events are printed on stderr: console lines for people, JSON "
        "lines for log collectors; auto (default) picks console on a terminal, "
        "JSON otherwise",
    )
    run_p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="the least severe events printed (default info; debug adds every "
        "stop request and supervisor start)",
    )
    run_p.add_argument(
        "--log-locals",
        action="store_true",
        help="show each frame's local variables in logged tracebacks; they may "
        "hold secrets: local debugging only, never in production",
    )
    run_p.add_argument(
        "--http",
        type=_bind,
        metavar="HOST:PORT",
        help="serve health, status, metrics and the dashboard (0.0.0.0:8080 in Kubernetes)",
    )
    run_p.add_argument(
        "--token-env",
        default="SUPERVISOR_TOKEN",
        metavar="VAR",
        help="environment variable holding the bearer token for control calls "
        "and details (default SUPERVISOR_TOKEN; unset: control calls off)",
    )
    run_p.add_argument(
        "--show-details",
        choices=["never", "when-authorized", "always"],
        default="when-authorized",
        help="who sees failure reasons and exception text over HTTP: never, "
        "callers sending the token (default), or always (a trusted network only)",
    )
    run_p.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=DEFAULT_STOP_TIMEOUT,
        metavar="SECONDS",
        help="after SIGTERM/SIGINT, exit anyway (status 130) if the tree has not "
        "stopped within this time (default 30, Kubernetes' grace period)",
    )
    run_p.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once every child has started: shorter collector pauses "
        "in large trees (docs/heartbeats.md)",
    )
    run_p.add_argument(
        "--checks",
        metavar="FILE.py:NAME|MODULE:NAME",
        help="a list of Check specs (or a function returning one) feeding "
        "readiness, liveness or INFO items",
    )
    add_fleet_arguments(run_p)
    status_p = sub.add_parser(
        "status",
        help="print a running tree; exit 0 if healthy, 1 if not",
        description="Print the tree served at URL (its /status document) and exit "
        "0 if it is healthy, 1 if it is not or cannot be reached: usable as an "
        "exec probe.",
    )
    status_p.add_argument(
        "url",
        nargs="?",
        default="http://127.0.0.1:8080",
        metavar="URL",
        help="base URL of the tree's HTTP server, as given to run --http "
        "(default http://127.0.0.1:8080)",
    )
    status_p.add_argument(
        "--json", action="store_true", help="print the raw /status JSON"
    )
    status_p.add_argument(
        "--token-env",
        default="SUPERVISOR_TOKEN",
        metavar="VAR",
        help="environment variable holding the bearer token, sent when set so "
        "that a tree withholding details shows them (default SUPERVISOR_TOKEN)",
    )
    status_p.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="give up (exit 1) if the server has not answered within this time "
        "(default 5)",
    )
    consul_p = sub.add_parser(
        "consul-service",
        help="print a Consul service definition (JSON) checking /readyz",
        description="Print the body of Consul's PUT /v1/agent/service/register for "
        "a tree served at --http, with an HTTP check on /readyz.",
    )
    consul.add_arguments(consul_p)
    args = parser.parse_args(argv)
    if args.command == "consul-service":
        return consul.command(args)
    if args.command == "status":
        return status(
            args.url, as_json=args.json, token_env=args.token_env, timeout=args.timeout
        )
    supervisor_logging.configure(
        format=args.log_format, level=args.log_level, show_locals=args.log_locals
    )
    if os.getcwd() not in sys.path:  # MODULE:NAME from the project directory
        sys.path.insert(0, os.getcwd())
    try:
        spec = load_spec(args.spec)
        checks = load_checks(args.checks) if args.checks else []
        etcd = fleet_options(args)
    except FleetUsageError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecLoadError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        if exc.details:
            print(exc.details, end="", file=sys.stderr)
        return EXIT_USAGE
    http = None
    if args.http:
        http = HttpOptions(
            bind=args.http,
            token=os.environ.get(args.token_env) or None,
            show_details=ShowDetails(args.show_details.replace("-", "_")),
        )
    return _serve_command(args, spec, http, checks, etcd)


def _serve_command(
    args: argparse.Namespace,
    spec: SupervisorSpec,
    http: HttpOptions | None,
    checks: Sequence[Check],
    etcd: EtcdOptions | None,
) -> int:
    """Run the tree; the exit status its end means."""
    fleet: Fleet | None = (checks, etcd) if checks or etcd is not None else None
    try:
        trio.run(serve, spec, http, args.stop_timeout, args.gc_freeze, fleet)
    except (NoCoordinator, SpecError) as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TooManyRestarts as exc:
        _log.error("tree_gave_up", error=str(exc))
        return EXIT_GAVE_UP
    except HttpBindError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_HTTP_BIND
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
