"""
The event vocabulary (`supervisor._events.EVENTS`) against the code and the docs:
every event logged in the package is in the table at its level, every event of
the table is logged somewhere, and docs/logging.md lists exactly the table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from supervisor._events import EVENTS

ROOT = Path(__file__).resolve().parent.parent
_LEVELS = {"debug", "info", "warning", "error", "critical", "exception"}


def call_sites() -> dict[str, set[str]]:
    """Event name -> the levels it is logged at, from every call in supervisor/."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "supervisor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _LEVELS
                and ast.unparse(func.value).lower().endswith(("log", "logger"))
                and args
                and isinstance(args[0], str)
            ):
                found.setdefault(args[0], set()).add(func.attr)
            elif (  # the loop watcher's own helper: _emit(level, event, ...)
                isinstance(func, ast.Attribute)
                and func.attr == "_emit"
                and len(args) >= 2
            ):
                found.setdefault(str(args[1]), set()).add(str(args[0]))
    return found


def test_every_call_site_logs_a_known_event_at_its_level() -> None:
    sites = call_sites()

    assert set(EVENTS) == set(sites)
    for name, levels in sites.items():
        assert {EVENTS[name][0]} == levels, name


def test_the_docs_list_exactly_the_table() -> None:
    text = (ROOT / "docs" / "logging.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ([a-z]+) \|", text, flags=re.M))

    assert {name: level for name, (level, _) in EVENTS.items()} == rows
