"""
HTTP fuzzing in process: hypothesis-generated methods, paths, queries, headers
and bodies go straight to the ASGI app of a running tree. No answer is a 5xx
other than the probes' defined 503, none hangs, and without the token nothing
changes the tree.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor import Child, DynamicSupervisor, HealthApp, Supervisor, open_tree

TOKEN = "fuzz-token"
PROBES = ("livez", "readyz", "healthz")

segments = st.sampled_from(
    [
        "",
        "livez",
        "readyz",
        "healthz",
        "status",
        "metrics",
        "control",
        "restart",
        "terminate",
        "start",
        "app",
        "w",
        "pool",
        "..",
        "%2F",
        "\x00",
        "é",
        "a" * 300,
    ]
)
paths = st.lists(segments | st.text(max_size=20), max_size=6).map(
    lambda parts: "/" + "/".join(parts)
)
queries = st.binary(max_size=200) | st.sampled_from(
    [
        b"verbose",
        b"exclude=root",
        b"exclude=nope",
        b"format=json",
        b"verbose&exclude=started",
        b"a=" * 60,
        b"%ZZ",
    ]
)
header_names = st.sampled_from(
    [b"accept", b"authorization", b"content-type", b"x-random"]
) | st.binary(min_size=1, max_size=20)
header_values = st.sampled_from(
    [
        b"application/health+json",
        b"Bearer nope",
        b"Bearer " + TOKEN.encode() + b"x",
        b"bearer",
        b"*/*",
    ]
) | st.binary(max_size=100)
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(
            ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"]
        ),
        "path": paths,
        "query": queries,
        "headers": st.lists(st.tuples(header_names, header_values), max_size=5),
        "body": st.binary(max_size=300),
    }
)


async def call(
    app: Any, request: dict[str, Any], *, within: float = 5
) -> tuple[int, bytes]:
    """One request straight to the ASGI app; (status, body), answered *within* seconds."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request["method"],
        "path": request["path"],
        "raw_path": request["path"].encode("utf-8", "surrogateescape"),
        "query_string": request["query"],
        "headers": [(name.lower(), value) for name, value in request["headers"]],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []
    body_given = False

    async def receive() -> dict[str, Any]:
        nonlocal body_given
        if body_given:
            await trio.sleep_forever()
        body_given = True
        return {"type": "http.request", "body": request["body"], "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with trio.fail_after(within):
        await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def worker(n: int = 0) -> None:
    await trio.sleep_forever()


def fingerprint(snapshot: Any) -> list[tuple[str, str, int]]:
    return [(n.path, str(n.state), n.starts) for n in snapshot.walk()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(requests, min_size=1, max_size=8))
def test_fuzzed_requests_never_5xx_and_never_change_the_tree(
    batch: list[dict[str, Any]],
) -> None:
    """
    Random requests: statuses are 2xx/4xx or a probe's 503; the tree is unchanged.
    """

    async def main() -> None:
        spec = Supervisor(
            name="app",
            children=[
                Child(name="w", target=worker),
                DynamicSupervisor(name="pool", template=Child(name="j", target=worker)),
            ],
        )
        async with open_tree(spec, loop_block_threshold=None) as tree:
            app = HealthApp(tree, token=TOKEN)
            before = fingerprint(tree.snapshot())
            for request in batch:
                status, _ = await call(app, request)
                probe = request["path"].strip("/").split("/")[0] in PROBES
                assert status < 500 or (status == 503 and probe), (status, request)
            await trio.testing.wait_all_tasks_blocked()

            assert before == fingerprint(tree.snapshot())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
