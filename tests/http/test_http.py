"""
The HTTP surface through a real socket against the real server (hypercorn on
trio, inside the tree), with httpx as the client. Real clock: the sockets are
the point; waits are short and bounds generous.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import jsonschema
import pytest
import structlog
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from supervisor import (
    Backoff,
    Check,
    Child,
    DynamicSupervisor,
    Feeds,
    HealthApp,
    HttpOptions,
    Jitter,
    Restart,
    ShowDetails,
    Supervisor,
    Tree,
    heartbeat,
    open_tree,
)
from supervisor._checks import CheckState, Observation
from supervisor._policy.health import facts_from_snapshot
from tests.http.test_http_fuzz import call

TOKEN = "s3cret-token"
STATUS_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "status.schema.json").read_text()
)
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def steady() -> None:
    while True:
        heartbeat()
        await trio.sleep(0.05)


async def crash_now() -> None:
    raise ConnectionError("db password is hunter2")


async def worker(n: int) -> None:
    await trio.sleep_forever()


def spec(*, flaky: bool = False) -> Supervisor:
    children: list[Any] = [Child(name="w", target=steady, heartbeat_timeout=5)]
    if flaky:
        children.append(Child(name="db", target=crash_now))
    children.append(
        DynamicSupervisor(name="pool", template=Child(name="job", target=worker))
    )
    return Supervisor(
        name="app",
        intensity=100,
        backoff=Backoff(initial=30, max=30, jitter=Jitter.NONE),
        children=children,
    )


async def passing() -> None:
    return None


async def failing() -> None:
    raise RuntimeError("dependency said: secret detail")


@pytest.fixture
async def served() -> AsyncIterator[tuple[Tree, httpx.AsyncClient]]:
    checks = [
        Check(name="cache", fn=passing, interval=0.05, feeds=Feeds.READINESS),
        Check(
            name="audit",
            fn=failing,
            interval=0.05,
            feeds=Feeds.INFO,
            failure_threshold=1,
        ),
    ]
    options = HttpOptions(bind="127.0.0.1:0", token=TOKEN)
    async with open_tree(spec(), http=options, checks=checks) as tree:
        address = tree.http_addresses[0]
        async with httpx.AsyncClient(base_url=f"http://{address}") as client:
            # Every task blocked: the checks have run once and sleep until the next.
            await trio.testing.wait_all_tasks_blocked()
            assert tree.observer.checks()[0].up is True
            yield tree, client


class TestProbes:
    async def test_plain_ok(self, served: tuple[Tree, httpx.AsyncClient]) -> None:
        """
        All three probes answer a plain `ok` with 200 and no-store.
        """
        _, client = served
        for path in ("/livez", "/readyz", "/healthz"):
            response = await client.get(path)

            assert (200, "ok") == (response.status_code, response.text)
            assert "no-store" == response.headers["cache-control"]

    async def test_verbose_and_exclude(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        ?verbose lists every check and a closing line; ?exclude marks and skips one.
        """
        _, client = served
        response = await client.get("/livez?verbose&exclude=event-loop")

        assert [
            "[+]root ok",
            "[+]event-loop excluded: ok",
            "[+]unstopped ok",
            "livez check passed",
        ] == response.text.splitlines()
        response = await client.get(
            "/readyz", params={"verbose": "", "exclude": ["cache", "children"]}
        )
        assert "[+]cache excluded: ok" in response.text.splitlines()

    async def test_one_check_and_unknown_names(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        /readyz/NAME answers for one check; unknown names are 404 (path) or 400 (exclude).
        """
        _, client = served

        assert (200, "ok\n") == (
            (r := await client.get("/readyz/cache")).status_code,
            r.text,
        )
        assert 404 == (await client.get("/readyz/nope")).status_code
        assert 400 == (await client.get("/livez?exclude=nope")).status_code

    async def test_child_in_backoff_is_not_ready_but_alive(self) -> None:
        """
        A child waiting in backoff fails readiness, not liveness; reasons need the token.
        """
        options = HttpOptions(bind="127.0.0.1:0", token=TOKEN)
        async with open_tree(spec(flaky=True), http=options) as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                ready = await client.get("/readyz")
                alive = await client.get("/livez")
                authorised = await client.get("/readyz?verbose", headers=AUTH)

        assert 503 == ready.status_code
        assert (
            "[-]children failed: reason withheld (send the bearer token)"
            in ready.text.splitlines()
        )
        assert "readyz check failed" == ready.text.splitlines()[-1]
        assert 200 == alive.status_code
        assert "[-]children failed: not running: app/db" in authorised.text.splitlines()

    async def test_health_json(self, served: tuple[Tree, httpx.AsyncClient]) -> None:
        """
        Accept: application/health+json (or ?format=json) gives the IETF draft format;
        an INFO check that fails is a warn, not a fail.
        """
        _, client = served
        by_header = await client.get(
            "/healthz", headers={"accept": "application/health+json"}
        )
        by_query = await client.get("/healthz?format=json")
        body = by_header.json()

        assert (200, 200) == (by_header.status_code, by_query.status_code)
        assert "application/health+json" == by_header.headers["content-type"]
        assert "warn" == body["status"]
        assert {
            "root:status",
            "event-loop:blocked",
            "unstopped:children",
            "started:status",
            "children:not-running",
            "cache:status",
            "audit:status",
        } == set(body["checks"])
        audit = body["checks"]["audit:status"][0]
        assert ("warn", "component") == (audit["status"], audit["componentType"])
        assert "output" not in audit  # no token, no detail
        assert audit["time"].endswith("Z")

    async def test_a_withheld_reason_says_how_to_see_it(self) -> None:
        """
        Without details a failing probe line says what would show the reason: the
        bearer token, a token to configure, or nothing (show_details=NEVER).
        """
        lines = []
        for options in (
            HttpOptions(bind="127.0.0.1:0", token=TOKEN),
            HttpOptions(bind="127.0.0.1:0"),
            HttpOptions(
                bind="127.0.0.1:0", token=TOKEN, show_details=ShowDetails.NEVER
            ),
        ):
            async with open_tree(spec(flaky=True), http=options) as tree:
                async with httpx.AsyncClient(
                    base_url=f"http://{tree.http_addresses[0]}"
                ) as client:
                    lines.append(
                        (await client.get("/readyz?verbose")).text.splitlines()[1]
                    )

        assert [
            "[-]children failed: reason withheld (send the bearer token)",
            "[-]children failed: reason withheld (no token is configured)",
            "[-]children failed: reason withheld (details are never shown)",
        ] == lines

    async def test_readiness_fails_as_soon_as_shutdown_starts(self) -> None:
        """
        /readyz answers 503 from the moment a stop begins, while children still stop.
        """

        async def slow_to_stop() -> None:
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await trio.sleep(0.5)

        options = HttpOptions(bind="127.0.0.1:0")
        tree_spec = Supervisor(
            name="app", children=[Child(name="s", target=slow_to_stop)]
        )
        async with open_tree(tree_spec, http=options) as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                before = await client.get("/readyz?verbose")
                tree.request_stop()
                during = await client.get("/readyz?verbose")
                alive = await client.get("/livez")

        assert 200 == before.status_code
        assert (503, "[-]started failed: reason withheld (no token is configured)") == (
            during.status_code,
            during.text.splitlines()[0],
        )
        assert 200 == alive.status_code


class TestStatusAndMetrics:
    async def test_status_document(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        /status carries the tree, the verdicts and every check.
        """
        _, client = served
        body = (await client.get("/status")).json()

        assert {"tree", "wall_time", "shutting_down", "verdicts", "checks"} == set(body)
        assert {"livez": True, "readyz": True, "healthz": True} == body["verdicts"]
        root = body["tree"]["root"]
        assert ["app/w", "app/pool"] == [c["path"] for c in root["children"]]
        assert 5 == root["children"][0]["heartbeat_timeout"]
        assert ["cache", "audit"] == [c["name"] for c in body["checks"]]
        assert "last_error" not in body["checks"][1]

    async def test_status_shows_the_system_node_outside_the_verdicts(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        The tree's own machinery is in /status as tree.system (the HTTP server and
        one runner per check), apart from the user's root and its verdicts.
        """
        _, client = served
        system = (await client.get("/status")).json()["tree"]["system"]

        assert ("_system", "running") == (system["path"], system["state"])
        assert [
            ("_system/http", "running"),
            ("_system/check:cache", "running"),
            ("_system/check:audit", "running"),
        ] == [(c["path"], c["state"]) for c in system["children"]]

    async def test_status_matches_its_published_schema(self) -> None:
        """
        /status validates against docs/status.schema.json, with and without details.
        """
        schema = STATUS_SCHEMA
        checks = [
            Check(name="cache", fn=passing, interval=0.05),
            Check(name="audit", fn=failing, interval=0.05, feeds=Feeds.INFO),
        ]
        options = HttpOptions(bind="127.0.0.1:0", token=TOKEN)
        async with open_tree(spec(flaky=True), http=options, checks=checks) as tree:
            await trio.testing.wait_all_tasks_blocked()
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                public = (await client.get("/status")).json()
                private = (await client.get("/status", headers=AUTH)).json()

        for document in (public, private):
            jsonschema.validate(document, schema)
        assert (
            "hunter2"
            in private["tree"]["root"]["children"][1]["last_exit"]["exc_message"]
        )

    async def test_exception_text_only_with_the_token(self) -> None:
        """
        Unauthorised /status never carries exception text; the token reveals it.
        """
        options = HttpOptions(bind="127.0.0.1:0", token=TOKEN)
        async with open_tree(spec(flaky=True), http=options) as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                public = (await client.get("/status")).text
                private = (await client.get("/status", headers=AUTH)).text

        assert "hunter2" not in public
        assert "builtins.ConnectionError" in public
        assert "hunter2" in private

    async def test_show_details_never_and_always(self) -> None:
        """
        show_details=NEVER hides reasons even from the token; ALWAYS shows them to all.
        """
        for mode, expected in ((ShowDetails.NEVER, False), (ShowDetails.ALWAYS, True)):
            options = HttpOptions(bind="127.0.0.1:0", token=TOKEN, show_details=mode)
            async with open_tree(spec(flaky=True), http=options) as tree:
                async with httpx.AsyncClient(
                    base_url=f"http://{tree.http_addresses[0]}"
                ) as client:
                    text = (
                        await client.get(
                            "/status", headers=AUTH if not expected else {}
                        )
                    ).text

            assert expected == ("hunter2" in text)

    async def test_metrics_parse_back(self) -> None:
        """
        /metrics is valid Prometheus text with the documented families and labels.
        """
        options = HttpOptions(bind="127.0.0.1:0")
        async with open_tree(spec(flaky=True), http=options) as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                response = await client.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}

        assert {
            "supervisor_child_up",
            "supervisor_child_state",
            "supervisor_child_restarts",
            "supervisor_heartbeat_age_seconds",
            "supervisor_intensity_exceeded",
            "supervisor_event_loop_blocked_seconds",
            "supervisor_check_up",
            "supervisor_check_consecutive_failures",
        } <= set(families)
        up = {
            s.labels["path"]: s.value for s in families["supervisor_child_up"].samples
        }
        assert {"app": 1.0, "app/w": 1.0, "app/db": 0.0, "app/pool": 1.0} == up
        restarts = [
            (s.labels, s.value)
            for s in families["supervisor_child_restarts"].samples
            if s.name.endswith("_total") and s.value  # every cause is exported at 0
        ]
        assert [({"path": "app/db", "reason": "crash"}, 1.0)] == restarts
        backoff = [
            s
            for s in families["supervisor_child_state"].samples
            if s.labels == {"path": "app/db", "state": "backoff"}
        ]
        assert 1.0 == backoff[0].value

    async def test_snapshot_is_not_rebuilt_per_request(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        Requests while nothing changed reuse one snapshot.
        """
        tree, client = served
        app = HealthApp(tree)
        first = app.snapshot()

        assert first is app.snapshot()
        await client.get("/status")


class TestControl:
    async def test_off_without_a_token(self) -> None:
        """
        With no token configured every control call is 404, and the tree is untouched.
        """
        async with open_tree(spec(), http="127.0.0.1:0") as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                response = await client.post("/control/restart/app/w", headers=AUTH)
            starts = tree.snapshot().node("app/w").starts

        assert (404, 1) == (response.status_code, starts)

    async def test_wrong_or_missing_token_is_401_and_logged(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        A missing or wrong bearer token gets 401 with WWW-Authenticate, and an
        event (one per 10 s: the second call's is counted, not logged).
        """
        tree, client = served
        with structlog.testing.capture_logs() as logs:
            missing = await client.post("/control/restart/app/w")
            wrong = await client.post(
                "/control/restart/app/w", headers={"authorization": "Bearer nope"}
            )

        assert (401, 401) == (missing.status_code, wrong.status_code)
        assert "Bearer" in missing.headers["www-authenticate"]
        assert [0] == [
            e["suppressed"] for e in logs if e["event"] == "http_unauthorized"
        ]
        assert 1 == tree.snapshot().node("app/w").starts

    async def test_restart_terminate_start(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        restart, terminate and start work through POST with the token.
        """
        tree, client = served
        restarted = await client.post("/control/restart/app/w", headers=AUTH)
        started = await client.post(
            "/control/start/app/pool", headers=AUTH, json={"args": [7], "name": "seven"}
        )
        terminated = await client.post(
            "/control/terminate/app/pool/seven", headers=AUTH
        )

        assert (200, {"path": "app/w"}) == (restarted.status_code, restarted.json())
        assert (200, {"path": "app/pool/seven"}) == (
            started.status_code,
            started.json(),
        )
        assert 200 == terminated.status_code
        assert 2 == tree.snapshot().node("app/w").starts

    async def test_control_errors_map_to_4xx(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        Bad paths, bad bodies, conflicts and unknown actions are 4xx with a reason.
        """
        _, client = served
        cases = {
            ("/control/restart/app/nope", None): 404,
            ("/control/explode/app/w", None): 404,
            ("/control/start/app/pool", b"not json"): 400,
            ("/control/restart/", None): 400,
        }
        for (path, content), expected in cases.items():
            response = await client.post(path, headers=AUTH, content=content)

            assert expected == response.status_code, path
        assert (
            405
            == (await client.get("/control/restart/app/w", headers=AUTH)).status_code
        )


class TestMalformed:
    async def test_raw_garbage_gets_4xx_and_leaves_the_tree_alone(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        Garbage, huge headers, bad methods and bad queries get 4xx; the tree is untouched.
        """
        tree, client = served
        host, port = tree.http_addresses[0].rsplit(":", 1)
        before = tree.snapshot().node("app/w").starts
        requests = [
            b"GARBAGE\r\n\r\n",
            b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
            b"GET /livez?"
            + b"a=1&" * 100
            + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"DELETE /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
        statuses = []
        for raw in requests:
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(raw)
                reply = b""
                with trio.move_on_after(5):
                    while b"\r\n" not in reply:
                        chunk = await stream.receive_some(4096)
                        if not chunk:
                            break
                        reply += chunk
            statuses.append(int(reply.split(b" ", 2)[1]) if reply else 0)

        assert all(400 <= s < 500 for s in statuses), statuses
        assert before == tree.snapshot().node("app/w").starts
        assert 200 == (await client.get("/livez")).status_code

    async def test_dashboard_and_unknown_pages(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        / serves the dashboard page; unknown pages are 404; POST to a probe is 405.
        """
        _, client = served
        page = await client.get("/")

        assert (200, "text/html; charset=utf-8") == (
            page.status_code,
            page.headers["content-type"],
        )
        assert 'fetch("status"' in page.text
        assert 404 == (await client.get("/nope")).status_code
        assert 404 == (await client.get("/status/x")).status_code
        assert 405 == (await client.post("/livez")).status_code
        assert json.loads((await client.get("/status")).text)


class TestReviewRegressions:
    async def test_query_and_accept_edge_cases(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        ?verbose=0 is not verbose; Accept with q=0 refuses health+json; an excluded
        single check passes.
        """
        _, client = served

        assert "ok" == (await client.get("/livez?verbose=0")).text
        refused = await client.get(
            "/livez", headers={"accept": "application/health+json;q=0, text/plain"}
        )
        assert "ok" == refused.text
        assert "ok\n" == (await client.get("/readyz/children?exclude=children")).text

    async def test_a_terminated_child_does_not_make_the_tree_unready(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        A child stopped on purpose is not a readiness failure; starting it again works,
        and starting a running one is a conflict.
        """
        _, client = served
        await client.post("/control/terminate/app/w", headers=AUTH)
        ready = await client.get("/readyz")
        started = await client.post("/control/start/app/w", headers=AUTH)
        again = await client.post("/control/start/app/w", headers=AUTH)

        assert 200 == ready.status_code
        assert (200, 409) == (started.status_code, again.status_code)

    async def test_non_finite_observations_do_not_break_json(self) -> None:
        """
        A check that reports NaN or infinity still gives valid JSON answers; the
        check fails (issue 9: a bad result is a failed check, not a pass).
        """
        from supervisor.checks import Observation  # noqa: PLC0415 - local to this case

        async def weird() -> Observation:
            return Observation(value=float("nan"))

        check = Check(name="weird", fn=weird, interval=0.05)
        async with open_tree(spec(), http="127.0.0.1:0", checks=[check]) as tree:
            await trio.testing.wait_all_tasks_blocked()
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                status = await client.get("/status")
                health = await client.get("/readyz?format=json")

        assert (200, 503) == (status.status_code, health.status_code)
        assert "fail" == health.json()["checks"]["weird:status"][0]["status"]
        assert None is status.json()["checks"][0]["observed_value"]

    async def test_status_follows_a_check_flip_at_once(self) -> None:
        """
        A check changing verdict invalidates the cached /status document.
        """
        flaky = {"fail": False}

        async def dependency() -> None:
            if flaky["fail"]:
                raise ConnectionError("gone")

        check = Check(name="dep", fn=dependency, interval=0.02, failure_threshold=1)
        async with open_tree(spec(), http="127.0.0.1:0", checks=[check]) as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                await trio.testing.wait_all_tasks_blocked()
                before = (await client.get("/status")).json()["verdicts"]["readyz"]
                flaky["fail"] = True
                with trio.fail_after(5):
                    while tree.observer.checks()[0].up:  # noqa: ASYNC110 - a real-clock check run
                        await trio.sleep(0.01)
                after = (await client.get("/status")).json()["verdicts"]["readyz"]

        assert (True, False) == (before, after)

    async def test_head_has_the_get_length(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        HEAD answers carry the Content-Length of the GET answer, and no body.
        """
        _, client = served
        get = await client.get("/healthz?verbose")
        head = await client.head("/healthz?verbose")

        assert (str(len(get.content)), b"") == (
            head.headers["content-length"],
            head.content,
        )

    async def test_an_incomplete_control_request_does_nothing(
        self, served: tuple[Tree, httpx.AsyncClient]
    ) -> None:
        """
        A control call whose client leaves before sending its whole body is not carried out.
        """
        tree, _ = served
        host, port = tree.http_addresses[0].rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(
            b"POST /control/terminate/app/w HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\npartial..".encode()
        )
        await stream.aclose()
        await trio.sleep(0.2)

        assert "running" == tree.snapshot().node("app/w").state

    async def test_liveness_checks_start_passing(self) -> None:
        """
        A LIVENESS check that has not answered yet does not fail /livez (Kubernetes).
        """
        release = trio.Event()

        async def slow_first() -> None:
            await release.wait()

        check = Check(name="live", fn=slow_first, timeout=30, feeds=Feeds.LIVENESS)
        async with open_tree(spec(), http="127.0.0.1:0", checks=[check]) as tree:
            async with httpx.AsyncClient(
                base_url=f"http://{tree.http_addresses[0]}"
            ) as client:
                response = await client.get("/livez")
            release.set()

        assert 200 == response.status_code


async def test_probe_facts_from_the_live_tree_match_the_snapshot(
    autojump_clock: Any,
) -> None:
    """
    Probes read the live tree instead of a snapshot; both must name the same
    children as not ready, in the same order, whatever states they are in.
    """

    async def done() -> None:
        return

    async def refuse(task_status: Any) -> None:
        raise ConnectionRefusedError("no")

    inner = Supervisor(
        name="inner",
        backoff=Backoff(initial=5, jitter=Jitter.NONE),
        children=[
            Child(name="ok", target=worker, args=(1,)),
            Child(name="flaky", target=crash_now),
            Child(name="job", target=refuse, restart=Restart.TEMPORARY),
        ],
    )
    root = Supervisor(
        name="root",
        children=[
            Child(name="a", target=worker, args=(1,)),
            inner,
            Child(name="finished", target=done, restart=Restart.TRANSIENT),
            Child(name="late", target=worker, args=(1,)),
        ],
    )
    async with open_tree(root, loop_block_threshold=None) as tree:
        await trio.sleep(1)
        await tree.terminate_child("root/late")
        live = tree.observer.facts(fresh=True)
        snapped = facts_from_snapshot(tree.snapshot())
        assert ["root/inner/flaky"] == list(live.laggards)
        await tree.restart_child("root/late")
        tree.request_stop()  # every child now stopping or stopped
        assert attrs.evolve(live, time=0) == attrs.evolve(snapped, time=0)
        assert list(tree.observer.facts(fresh=True).laggards) == list(
            facts_from_snapshot(tree.snapshot()).laggards
        )


async def test_probes_show_check_values_that_change_without_a_verdict_change() -> None:
    """
    A check's measured value, error and run time change with every run while
    its status stays: the probes show the latest, not a cached first answer.
    """

    async def gauge() -> None:
        return None

    state = CheckState(Check(name="queue", fn=gauge, feeds=Feeds.READINESS))
    spec = Supervisor(name="root", children=[Child(name="w", target=worker, args=(0,))])
    async with open_tree(spec, loop_block_threshold=None) as tree:
        app = HealthApp(tree, checks=lambda: [state])
        seen = []
        for depth in (4.0, 8.0, 12.0):
            state.record(trio.current_time(), Observation(value=depth), None)
            _, body = await call(
                app,
                {
                    "method": "GET",
                    "path": "/readyz",
                    "query": b"format=json",
                    "headers": [],
                    "body": b"",
                },
            )
            seen.append(json.loads(body)["checks"]["queue:status"][0]["observedValue"])
    assert [4.0, 8.0, 12.0] == seen


async def test_a_passing_checks_message_is_shown_with_details() -> None:
    """
    Observation.message (say, "not measurable on this platform") reaches the
    answer as the check's output, for callers allowed to see details.
    """

    async def gauge() -> None:
        return None

    state = CheckState(Check(name="rss", fn=gauge, feeds=Feeds.READINESS))
    state.record(0.0, Observation(message="rss: not measurable here"), None)
    spec = Supervisor(name="root", children=[Child(name="w", target=worker, args=(0,))])
    request = {
        "method": "GET",
        "path": "/readyz",
        "query": b"format=json",
        "headers": [],
        "body": b"",
    }
    async with open_tree(spec, loop_block_threshold=None) as tree:
        shown = HealthApp(tree, checks=lambda: [state], show_details=ShowDetails.ALWAYS)
        hidden = HealthApp(tree, checks=lambda: [state], show_details=ShowDetails.NEVER)
        _, with_details = await call(shown, request)
        _, without = await call(hidden, request)
    entry = json.loads(with_details)["checks"]["rss:status"][0]
    assert ("pass", "rss: not measurable here") == (entry["status"], entry["output"])
    assert "output" not in json.loads(without)["checks"]["rss:status"][0]


async def test_status_rendering_counts_against_the_rebuild_rate_limit() -> None:
    """
    A /status rebuild is the snapshot plus its rendering (about twice the
    snapshot): both count, so a poller cannot keep the tree busy describing
    itself more than a tenth of the time.
    """
    spec = Supervisor(name="root", children=[Child(name="w", target=worker, args=(0,))])
    async with open_tree(spec, loop_block_threshold=None) as tree:
        app = HealthApp(tree)
        before = tree.observer.cached().min_age  # the snapshot alone
        app._status(authorized=False)
        after = tree.observer.cached().min_age
    assert after > before > 0
