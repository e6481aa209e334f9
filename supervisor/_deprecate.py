"""
The one deprecation helper: a call that moved keeps working for a release and
warns (`DeprecationWarning`) naming its replacement.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def moved(old: str, new: str) -> Callable[[F], F]:
    """Wrap the old spelling *old* of a call that now lives at *new*."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def warned(*args: Any, **kwargs: Any) -> Any:
            warnings.warn(
                f"{old} is deprecated and will be removed; use {new}",
                DeprecationWarning,
                stacklevel=2,
            )
            return fn(*args, **kwargs)

        return warned  # type: ignore[return-value]

    return wrap
