"""Erlang-style supervision trees for trio: restarts, backoff, ordered stops, live control."""

from . import logging as logging  # supervisor.logging.configure()
from ._bind import HttpOptions, ShowDetails
from ._checks import Check, Feeds
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
from ._fleet import EtcdOptions
from ._process_spec import Process
from ._runtime.context import stop_requested
from ._runtime.heartbeat import heartbeat
from ._runtime.process import ProcessFailed
from ._runtime.process_facts import ProcessOverMemory
from ._runtime.singleton import NoCoordinator, NoFencingToken, fencing_token
from ._runtime.tree import ChildCounts, Tree
from ._snapshot import (
    EventLoopHealth,
    ExitInfo,
    NodeSnapshot,
    ProcessSnapshot,
    Reason,
    State,
    TreeSnapshot,
)
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
from ._version import __version__ as __version__
from .http._app import HealthApp
from .integrations.etcd._errors import EtcdError, EtcdUnavailable, InstanceTaken

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
    "Process",
    "ProcessFailed",
    "ProcessOverMemory",
    "ProcessSnapshot",
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
