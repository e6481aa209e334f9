"""
The Python examples of README.md and docs/*.md run as written, and the event
table of docs/logging.md names every event the package logs.

A block runs unless the line before its fence is ``<!-- fragment ... -->``
(an excerpt that needs the reader's own spec or objects); fragments must still
compile. A block that calls ``trio.run`` without a clock of its own runs under
an autojumping MockClock for `SERVICE_SECONDS` virtual seconds, as a service
that runs forever would, then is cancelled. Every ``test_*`` function a block
defines is called, the async ones under a MockClock (as pytest-trio would).
"""

from __future__ import annotations

import ast
import inspect
import random
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import trio
import trio.testing

import supervisor.logging

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SERVICE_SECONDS = 600
# The address examples serve on; each run gets a free port instead, as 8080
# may be taken on the machine running the tests.
EXAMPLE_BIND = "127.0.0.1:8080"

_real_trio_run = trio.run


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the first line of code
    code: str
    fragment: bool

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def python_blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() != "```python":
            continue
        end = lines.index("```", i + 1)
        before = next((b for b in reversed(lines[:i]) if b.strip()), "")
        yield Block(
            page=str(page.relative_to(ROOT)),
            line=i + 2,
            code="\n".join(lines[i + 1 : end]) + "\n",
            fragment=before.strip().startswith("<!-- fragment"),
        )


BLOCKS = [block for page in PAGES for block in python_blocks(page)]
COMPLETE = [block for block in BLOCKS if not block.fragment]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bounded_trio_run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`trio.run` for examples: virtual time, and services stop after a while."""
    if "clock" in kwargs:  # e.g. supervisor.testing.run brings its own MockClock
        return _real_trio_run(fn, *args, **kwargs)

    async def for_a_while() -> None:
        with trio.move_on_after(SERVICE_SECONDS):
            await fn(*args)

    return _real_trio_run(
        for_a_while, clock=trio.testing.MockClock(autojump_threshold=0), **kwargs
    )


def exec_block(block: Block, bind: str) -> dict[str, Any]:
    """Run *block* as the ``__main__`` module, serving on *bind*."""
    code = compile(
        block.code.replace(EXAMPLE_BIND, bind), str(block), "exec", dont_inherit=True
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(code, namespace)
    return namespace


def run_block(
    block: Block, monkeypatch: pytest.MonkeyPatch, bind: str
) -> dict[str, Any]:
    """Run *block* under `bounded_trio_run`, then the tests it defines."""
    assert not block.fragment
    monkeypatch.setattr(trio, "run", bounded_trio_run)
    namespace = exec_block(block, bind)
    for name, fn in list(namespace.items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        if inspect.iscoroutinefunction(fn):
            clock = trio.testing.MockClock(autojump_threshold=0)
            wanted = inspect.signature(fn).parameters
            fixtures = {"autojump_clock": clock} if "autojump_clock" in wanted else {}
            _real_trio_run(lambda: fn(**fixtures), clock=clock)  # noqa: B023
        else:
            fn()
    return namespace


def test_the_pages_have_complete_examples() -> None:
    """
    The README's first block and the how-to pages' main examples are run.
    """
    ran = {(block.page, BLOCKS.index(block)) for block in COMPLETE}

    assert BLOCKS[0].page == "README.md"
    assert ("README.md", 0) in ran
    assert {"docs/logging.md", "docs/testing.md", "docs/http.md"} <= {
        page for page, _ in ran
    }


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_every_block_compiles(block: Block) -> None:
    """
    Fragments may await at top level (they stand inside the reader's async
    code); complete examples are modules.
    """
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if block.fragment else 0
    compile(block.code, str(block), "exec", flags=flags, dont_inherit=True)


@pytest.mark.parametrize("block", COMPLETE, ids=str)
def test_complete_blocks_run_as_written(
    block: Block, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Each complete example runs without an error (NameError included).
    """
    random.seed(1)

    namespace = run_block(block, monkeypatch, bind=f"127.0.0.1:{free_port()}")

    assert namespace


def test_readme_example_serves_and_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The README's first example runs as a service: its tree starts, the
    connection drops and is restarted, the consumer is restarted after it
    (REST_FOR_ONE), the migration ends for good, and HTTP is served on the
    address it names.
    """
    readme = BLOCKS[0]
    assert readme.code.count(EXAMPLE_BIND) == 1
    port = free_port()
    status: list[dict[str, Any]] = []

    def run_and_probe(fn: Callable[..., Any], *args: Any) -> None:
        async def scenario() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fn, *args)
                await trio.sleep(SERVICE_SECONDS)
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{port}/status")
                status.append(response.json())
                nursery.cancel_scope.cancel()

        _real_trio_run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))

    monkeypatch.setattr(trio, "run", run_and_probe)
    # Its events are read here, not printed: keep configure() off capture_logs.
    monkeypatch.setattr(supervisor.logging, "configure", lambda *a, **k: None)
    random.seed(1)
    with structlog.testing.capture_logs() as logs:
        exec_block(readme, bind=f"127.0.0.1:{port}")

    events = [(e["event"], e.get("path")) for e in logs]
    assert ("child_started", "app/connection") in events
    assert ("child_restarted", "app/connection") in events
    assert ("child_restarted", "app/consumer") in events
    assert ("child_exited", "app/migrate") in events
    assert "intensity_exceeded" not in {event for event, _ in events}
    [document] = status
    children = {c["name"]: c for c in document["tree"]["root"]["children"]}
    assert children["connection"]["restarts"] > 0
    assert "stopped" == children["migrate"]["state"]


# --- the event table -------------------------------------------------------

_LEVELS = {"debug", "info", "warning", "error", "critical", "exception", "msg"}


def logged_events() -> set[str]:
    """Every event name passed as a literal to a logger in supervisor/."""
    names = set()
    for path in (ROOT / "supervisor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _LEVELS
                and ast.unparse(node.func.value).lower().endswith(("log", "logger"))
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


def documented_events() -> set[str]:
    """The first cell of every table row in docs/logging.md."""
    text = (ROOT / "docs" / "logging.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))


def test_event_table_names_every_logged_event() -> None:
    """
    An event added to the code without a row in docs/logging.md fails here.
    """
    logged = logged_events()

    assert {"child_crashed", "stop_requested", "http_control"} <= logged
    assert set() == logged - documented_events()


# --- specs in prose ---------------------------------------------------------

SPECS = ("Child", "Supervisor", "DynamicSupervisor", "Backoff", "Check", "HttpOptions")


def spec_calls_in_prose() -> Iterator[tuple[str, ast.Call]]:
    """Inline code such as `DynamicSupervisor(name=..., template=...)` that parses as a call."""
    for page in PAGES:
        for span in re.findall(r"`([^`\n]+)`", page.read_text()):
            try:
                node = ast.parse(span, mode="eval").body
            except SyntaxError:  # a signature with `*`, or not code at all
                continue
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id in SPECS
                ):
                    yield f"{page.name}: {span}", call


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is ...


def test_specs_in_prose_are_keyword_only() -> None:
    """
    Spec fields are keyword-only: inline examples never pass them by position.
    """
    calls = list(spec_calls_in_prose())
    positional = [
        where
        for where, call in calls
        # Child(...) elides the fields, it passes none by position
        if [a for a in call.args if not _is_ellipsis(a)]
    ]

    assert calls  # the scan finds the pages' inline specs
    assert [] == positional


def test_relative_links_and_images_exist() -> None:
    """
    Every relative link or image of the pages (the README's dashboard
    screenshot included) names a file of the repository.
    """
    targets = [
        (page, target)
        for page in PAGES
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text())
        if "://" not in target
    ]
    missing = [
        f"{page.name}: {target}"
        for page, target in targets
        if not (page.parent / target).exists()
    ]

    assert ("README.md", "docs/dashboard.png") in {
        (page.name, target) for page, target in targets
    }
    assert [] == missing
