"""
The public surface: exactly what __all__ lists, under the `supervisor` name.
"""

from __future__ import annotations

import ast
import types
from pathlib import Path

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


def test_policy_modules_do_not_import_trio() -> None:
    """
    The policy layer is sans-IO: its modules never import trio.
    """
    package = Path(supervisor.__file__).parent
    policy = sorted(
        str(p.relative_to(package)) for p in (package / "_policy").glob("*.py")
    )
    for module in (*policy, "_spec.py", "_errors.py"):
        tree = ast.parse((package / module).read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (
                node.names
                if isinstance(node, ast.Import)
                else [ast.alias(node.module or "")]
            )
        }

        assert "trio" not in imported, module
