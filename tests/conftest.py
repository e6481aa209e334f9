"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

import supervisor.logging
from supervisor._policy import lifecycle

# An impossible state transition fails the test at once (in production it is
# logged instead); the environment variable carries it to the trees the tests
# run in subprocesses (the CLI, the examples).
lifecycle.STRICT = True
os.environ["SUPERVISOR_STRICT_LIFECYCLE"] = "1"


def _quiet_structlog() -> None:
    # Events are rendered but not printed: cheap, and the same code paths run.
    # structlog's default ConsoleRenderer formats every crash's traceback (with
    # rich, when installed), which would dominate crash-loop tests. Tests that
    # look at events use structlog.testing.capture_logs() on top of this.
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    # The CLI configures structlog globally (it is an application); keep one
    # test's configuration, and its captured streams, out of the next test.
    _quiet_structlog()
    yield
    supervisor.logging._reset()  # structlog's defaults, and no stdlib handler of ours
