"""Erlang-style supervision trees for trio: restarts, backoff, ordered stops, live control."""

from . import logging as logging  # supervisor.logging.configure()
from ._bind import HttpOptions, ShowDetails
from ._checks import Check, Feeds
from ._context import stop_requested
from ._entry import open_tree, run
from ._errors import (
    BadCheckResult,
    ChildExists,
    ChildLookupError,
    ChildRunning,
    ControlError,
    HttpBindError,
    NotInChild,
    NotSupported,
    SpecError,
    SupervisorError,
    TooManyChildren,
    TooManyRestarts,
    TreeNotRunning,
)
from ._heartbeat import heartbeat
from ._http import HealthApp
from ._loopwatch import EventLoopHealth
from ._singleton import NoCoordinator, NoFencingToken, fencing_token
from ._snapshot import ExitInfo, NodeSnapshot, Reason, State, TreeSnapshot
from ._spec import (
    AutoShutdown,
    Backoff,
    Child,
    DynamicSupervisor,
    Jitter,
    Restart,
    Strategy,
    Supervisor,
)
from ._tree import ChildCounts, Tree
from ._version import __version__ as __version__
from .integrations.etcd._errors import EtcdError, EtcdUnavailable, InstanceTaken
from .integrations.etcd._options import EtcdOptions

__all__ = [
    "AutoShutdown",
    "Backoff",
    "BadCheckResult",
    "Check",
    "Child",
    "ChildCounts",
    "ChildExists",
    "ChildLookupError",
    "ChildRunning",
    "ControlError",
    "DynamicSupervisor",
    "EtcdError",
    "EtcdOptions",
    "EtcdUnavailable",
    "EventLoopHealth",
    "ExitInfo",
    "Feeds",
    "HealthApp",
    "HttpBindError",
    "HttpOptions",
    "InstanceTaken",
    "Jitter",
    "NoCoordinator",
    "NoFencingToken",
    "NodeSnapshot",
    "NotInChild",
    "NotSupported",
    "Reason",
    "Restart",
    "ShowDetails",
    "SpecError",
    "State",
    "Strategy",
    "Supervisor",
    "SupervisorError",
    "TooManyChildren",
    "TooManyRestarts",
    "Tree",
    "TreeNotRunning",
    "TreeSnapshot",
    "fencing_token",
    "heartbeat",
    "open_tree",
    "run",
    "stop_requested",
]

for _name in __all__:  # tracebacks and reprs show supervisor.X, not supervisor._spec.X
    globals()[_name].__module__ = __name__
del _name
