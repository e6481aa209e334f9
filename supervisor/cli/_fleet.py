"""
The ``supervisor run`` flags of the fleet: ``--etcd``, ``--service``,
``--instance``, ``--etcd-ttl``, ``--advertise`` (turned into `EtcdOptions`),
next to the command line itself (`_cli`), which stays about running a tree.
"""

from __future__ import annotations

import argparse
import os

from .._errors import SpecError
from .._fleet import EtcdOptions


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "fleet (etcd)",
        "register this instance in etcd while it is ready, and run "
        "singleton=True children on one instance of the service (docs/fleet.md)",
    )
    group.add_argument(
        "--etcd",
        metavar="URL[,URL...]",
        help="etcd client URLs, tried in turn (e.g. http://127.0.0.1:2379)",
    )
    group.add_argument(
        "--service",
        metavar="NAME",
        help="the service this instance belongs to: /services/NAME/INSTANCE",
    )
    group.add_argument(
        "--instance",
        metavar="ID",
        help="this instance's id (default: the host name and the --http port)",
    )
    group.add_argument(
        "--etcd-ttl",
        type=int,
        default=10,
        metavar="SECONDS",
        help="lease TTL, whole seconds (default 10): how long a dead instance "
        "stays listed, and how long its singletons wait to move",
    )
    group.add_argument(
        "--advertise",
        metavar="URL",
        help="the URL others reach this instance's health server at (default: "
        "the --http address)",
    )
    group.add_argument(
        "--etcd-user-env",
        default="SUPERVISOR_ETCD_USER",
        metavar="VAR",
        help="environment variables holding the etcd user name and password "
        "(VAR and VAR_PASSWORD; default SUPERVISOR_ETCD_USER): when set, the "
        "client authenticates",
    )


class FleetUsageError(Exception):
    """The fleet flags do not fit together; the message says how to fix them."""


def fleet_options(args: argparse.Namespace) -> EtcdOptions | None:
    """The `EtcdOptions` the flags ask for (None without --etcd)."""
    if args.etcd is None:
        if args.service or args.instance or args.advertise:
            raise FleetUsageError("--service, --instance and --advertise need --etcd")
        return None
    if not args.service:
        raise FleetUsageError("--etcd needs --service NAME")
    user = os.environ.get(args.etcd_user_env) or None
    password = os.environ.get(f"{args.etcd_user_env}_PASSWORD") or None
    if (user is None) != (password is None):
        # One without the other never authenticates: say so now, naming the
        # variables (never their values), not in an endless retry.
        have, missing = (
            (args.etcd_user_env, f"{args.etcd_user_env}_PASSWORD")
            if password is None
            else (f"{args.etcd_user_env}_PASSWORD", args.etcd_user_env)
        )
        raise FleetUsageError(
            f"--etcd-user-env: ${have} is set but ${missing} is not; set both "
            "for etcd authentication, or neither"
        )
    try:
        return EtcdOptions(
            endpoints=args.etcd,
            service=args.service,
            instance=args.instance,
            ttl=args.etcd_ttl,
            advertise=args.advertise,
            username=user,
            password=password,
        )
    except SpecError as exc:
        flag = {"ttl": "--etcd-ttl", "endpoints": "--etcd"}.get(
            exc.field, f"--{exc.field}"
        )
        raise FleetUsageError(f"{flag} {exc.problem}") from None
