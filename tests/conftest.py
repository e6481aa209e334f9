"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    # The CLI configures structlog globally (it is an application); keep one
    # test's configuration, and its captured streams, out of the next test.
    yield
    structlog.reset_defaults()
