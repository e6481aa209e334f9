"""
The words the policy speaks: where a child is in its life (`State`) and why
an incarnation ended (`Reason`). Public as ``supervisor.State`` and
``supervisor.Reason``; they live here so that the policy needs nothing of the
runtime (the snapshot module reaches trio through the loop watch).
"""

from __future__ import annotations

import enum


class State(enum.StrEnum):
    """Where a node is in its life."""

    STARTING = "starting"  # launched, not yet counted as started
    RUNNING = "running"
    BACKOFF = "backoff"  # waiting to be restarted; see next_start_at
    STOPPING = "stopping"  # asked to stop, not finished yet
    STOPPED = "stopped"  # not running: never started, stopped, or ended normally
    FAILED = "failed"  # ended abnormally and will not be restarted
    UNSTOPPED = "unstopped"  # outlived its shutdown bound; the tree still waits for it
    # A fleet singleton that another instance runs: it waits its turn (not
    # running, and not counted against readiness).
    STANDBY = "standby"


class Reason(enum.StrEnum):
    """Why an incarnation of a child ended."""

    NORMAL = "normal"  # the target returned
    CRASH = "crash"  # the target raised an Exception
    START_TIMEOUT = "start_timeout"  # no task_status.started() within start_timeout
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"  # missed its heartbeat
    ESCALATED = "escalated"  # a child supervisor gave up (TooManyRestarts)
    SHUTDOWN = "shutdown"  # stopped on purpose by its supervisor
