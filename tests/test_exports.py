"""
The public surface: exactly what __all__ lists, under the `supervisor` name.
"""

from __future__ import annotations

import types

import supervisor


def test_public_names_are_exactly_all() -> None:
    """
    __all__ is sorted and lists every public name, no more.
    """
    public = sorted(
        n
        for n, v in vars(supervisor).items()
        if not n.startswith("_")
        and not isinstance(v, types.ModuleType)  # e.g. supervisor.testing
    )

    assert public == supervisor.__all__
    assert sorted(supervisor.__all__) == supervisor.__all__


def test_public_objects_claim_the_package() -> None:
    """
    Reprs and tracebacks say supervisor.X, never a private module.
    """
    leaks = [
        n
        for n in supervisor.__all__
        if getattr(supervisor, n).__module__ != "supervisor"
    ]

    assert [] == leaks


def test_design_names_are_present() -> None:
    """
    The names DESIGN.md promises to users exist.
    """
    for name in (
        "Supervisor",
        "Child",
        "Strategy",
        "Restart",
        "Backoff",
        "run",
        "open_tree",
        "Tree",
    ):
        assert hasattr(supervisor, name), name
