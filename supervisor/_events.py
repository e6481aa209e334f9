"""
The event vocabulary: every event the package logs, with its level and logger.

One table, so that a name is decided once: docs/logging.md's reference and
every call site in the package are checked against it (tests/test_events.py).
The keys each event carries are documented there, next to the name.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["debug", "info", "warning", "error"]

#: event name -> (level, logger name)
EVENTS: dict[str, tuple[Level, str]] = {
    # a child's life (logger "supervisor", bound with the child's path)
    "child_started": ("info", "supervisor"),
    "child_restarted": ("info", "supervisor"),
    "child_exited": ("info", "supervisor"),
    "child_hung": ("warning", "supervisor"),
    "child_crashed": ("warning", "supervisor"),
    "child_restart_scheduled": ("info", "supervisor"),
    "child_stopping": ("debug", "supervisor"),
    "child_stopped": ("info", "supervisor"),
    "child_unstopped": ("error", "supervisor"),
    "lifecycle_violation": (
        "error",
        "supervisor",
    ),  # a bookkeeping bug; the tree goes on
    # an OS-process child (logger "supervisor", bound with the child's path)
    "process_spawned": ("debug", "supervisor"),
    "process_output": ("info", "supervisor"),
    "process_output_dropped": ("warning", "supervisor"),
    "process_exited": ("info", "supervisor"),
    "process_killed": ("warning", "supervisor"),
    "process_over_memory": ("warning", "supervisor"),
    "notify_ignored": ("warning", "supervisor"),
    "orphans_reaped": ("debug", "supervisor"),
    "notify_errno": ("warning", "supervisor"),
    "notify_watchdog_trigger": ("warning", "supervisor"),
    # a supervisor's life
    "intensity_exceeded": ("error", "supervisor"),
    "supervisor_escalated": ("error", "supervisor"),
    "auto_shutdown": ("info", "supervisor"),
    "supervisor_starting": ("debug", "supervisor"),
    "supervisor_started": ("info", "supervisor"),
    "supervisor_stopped": ("info", "supervisor"),
    # the event loop, from the watcher thread
    "event_loop_blocked": ("warning", "supervisor"),
    "event_loop_unblocked": ("info", "supervisor"),
    # checks
    "check_failed": ("warning", "supervisor"),
    "check_recovered": ("info", "supervisor"),
    "check_unstopped": ("error", "supervisor"),
    # the HTTP surface
    "http_serving": ("info", "supervisor.http"),
    "http_control": ("info", "supervisor.http"),
    "http_unauthorized": ("warning", "supervisor.http"),
    # the tree under systemd
    "systemd_notify_failed": ("warning", "supervisor.systemd"),
    # the CLI
    "stop_requested": ("warning", "supervisor.cli"),
    "forced_exit": ("error", "supervisor.cli"),
    "tree_gave_up": ("error", "supervisor.cli"),
    "gc_frozen": ("info", "supervisor.cli"),
    # the fleet in etcd (supervisor.integrations.etcd)
    "etcd_registered": ("info", "supervisor.etcd"),
    "etcd_deregistered": ("info", "supervisor.etcd"),
    "etcd_unavailable": ("warning", "supervisor.etcd"),
    "etcd_instance_taken": ("error", "supervisor.etcd"),
    "etcd_contact_lost": ("error", "supervisor.etcd"),
    "singleton_elected": ("info", "supervisor.etcd"),
    "singleton_resigned": ("info", "supervisor.etcd"),
    "singleton_campaign_failed": ("warning", "supervisor.etcd"),
}
