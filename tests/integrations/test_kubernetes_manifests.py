"""
examples/kubernetes/: the manifests pass `kubernetes-validate --strict` (offline,
with its bundled schemas) for the oldest Kubernetes we support (1.25) and the
newest it knows; their ports, paths and time budgets agree with the program
they run (app.py's spec and the CLI flags); and that program, run as the
container runs it, serves the probed paths and, on SIGTERM, fails readiness
first and exits within the grace period. kubectl is never run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate.utils
import pytest
import yaml

from supervisor import Child, DynamicSupervisor, Supervisor
from supervisor._entry import _tree
from supervisor._options import TreeOptions
from supervisor._runtime.reaper import OrphanReaper
from tests._real_servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "examples" / "kubernetes"
MANIFESTS = K8S / "deployment.yml"
OLDEST = "1.25.0"  # policy/v1 PodDisruptionBudget and startupProbe: 1.21+

sys.path.insert(0, str(K8S))
import app  # noqa: E402 - examples/kubernetes/app.py, the program the Deployment runs


def manifests() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFESTS.read_text())}


def container() -> dict[str, Any]:
    (only,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def leaves(spec: Supervisor | DynamicSupervisor) -> Iterator[Child]:
    children = spec.children if isinstance(spec, Supervisor) else ()
    for child in children:
        if isinstance(child, Child):
            yield child
        else:
            yield from leaves(child)


def worst_start(spec: Supervisor) -> float:
    """The longest initial start that still succeeds: every start_timeout used up."""
    return sum(c.start_timeout for c in leaves(spec) if c.takes_task_status)


def system_children(http: str, monkeypatch: pytest.MonkeyPatch) -> list[Child]:
    """
    ``_system``'s children as the container runs the tree (built, not run): the
    services of ``--http``, and the orphan reaper's, since the Dockerfile's
    command is the pod's PID 1 (nothing runs before it). Call in trio.
    """
    monkeypatch.setattr(OrphanReaper, "needed", staticmethod(lambda: True))
    tree = _tree(app.tree(), TreeOptions(http=http))
    return list(tree._top.system.spec.children)


def worst_stop(spec: Supervisor, system: Sequence[Child]) -> float:
    """
    The longest ordered stop: each child, one after the other, to its bound
    (a graceful one: its own return, then the cancellation's cleanup); then
    *system*'s, since ``_system`` stops after the user's root (probes answer
    meanwhile).
    """
    return sum(
        c.shutdown * (2 if c.graceful_stop else 1) for c in (*leaves(spec), *system)
    )


@pytest.mark.parametrize(
    "version", [OLDEST, kubernetes_validate.utils.latest_version()]
)
def test_manifests_validate_strictly(version: str, tmp_path: Path) -> None:
    """Strict validation passes, and strict it is: an unknown field fails it."""
    validate = [
        str(Path(sys.executable).with_name("kubernetes-validate")),
        "--strict",
        "--kubernetes-version",
        version,
    ]
    good = subprocess.run(
        [*validate, str(MANIFESTS)], capture_output=True, text=True, check=False
    )
    typo = tmp_path / "typo.yml"
    typo.write_text(
        MANIFESTS.read_text().replace("periodSeconds: 2", "periodSecond: 2")
    )
    bad = subprocess.run(
        [*validate, str(typo)], capture_output=True, text=True, check=False
    )

    assert 0 == good.returncode, good.stdout + good.stderr
    assert 3 == good.stdout.count("passed for resource")
    assert 0 != bad.returncode


def test_ports_paths_and_selectors_agree() -> None:
    """
    One port everywhere (the flag, the container port, the probes, the Service,
    the scrape annotations), bound on 0.0.0.0; the probes on /livez, /readyz and
    /readyz/started; the Service and the budget select the Deployment's pods.
    """
    docs = manifests()
    pod = docs["Deployment"]["spec"]["template"]
    c = container()
    host, port = flag(c["args"], "--http").rsplit(":", 1)
    (named,) = c["ports"]
    notes = pod["metadata"]["annotations"]
    labels = pod["metadata"]["labels"]
    scrape = (K8S.parent / "prometheus" / "kubernetes-scrape.yml").read_text()

    assert ("0.0.0.0", int(port)) == (host, named["containerPort"])
    assert ["supervisor", "run", "app:tree"] == c["command"]
    probes = {
        k: c[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert {"http"} == {p["port"] for p in probes.values()} == {named["name"]}
    assert {
        "startupProbe": "/readyz/started",
        "livenessProbe": "/livez",
        "readinessProbe": "/readyz",
    } == {k: p["path"] for k, p in probes.items()}
    assert named["name"] == docs["Service"]["spec"]["ports"][0]["targetPort"]
    assert (port, "/metrics", "true") == (
        notes["prometheus.io/port"],
        notes["prometheus.io/path"],
        notes["prometheus.io/scrape"],
    )
    for annotation in ("scrape", "port", "path"):
        assert f"__meta_kubernetes_pod_annotation_prometheus_io_{annotation}" in scrape
    selected = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selected.items() <= labels.items()
    assert selected == docs["Service"]["spec"]["selector"]
    assert selected == docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert (
        docs["PodDisruptionBudget"]["spec"]["minAvailable"]
        < docs["Deployment"]["spec"]["replicas"]
    )


async def test_time_budgets_fit_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    startupProbe failureThreshold x periodSeconds covers the tree's worst start;
    --stop-timeout covers its worst ordered stop, ``_system``'s included; the
    grace period (which starts with preStop) covers the preStop pause and the
    stop timeout. The Dockerfile's command has the same --http and --stop-timeout.
    """
    c = container()
    spec = app.tree()
    startup = c["startupProbe"]
    pause = float(c["lifecycle"]["preStop"]["exec"]["command"][1])
    stop_timeout = float(flag(c["args"], "--stop-timeout"))
    grace = manifests()["Deployment"]["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]

    system = system_children(flag(c["args"], "--http"), monkeypatch)
    dockerfile = (K8S / "Dockerfile").read_text()

    assert 15 == worst_start(spec)
    assert startup["failureThreshold"] * startup["periodSeconds"] >= worst_start(spec)
    assert {"http": 2, "reaper": 5} == {child.name: child.shutdown for child in system}
    assert stop_timeout >= worst_stop(spec, system) == 12 + 2 + 5
    assert grace >= pause + stop_timeout
    assert f'"--stop-timeout", "{flag(c["args"], "--stop-timeout")}"' in dockerfile
    assert f'"--http", "{flag(c["args"], "--http")}"' in dockerfile


@pytest.mark.slow
def test_the_program_serves_the_probes_and_stops_as_kubernetes_expects() -> None:
    """
    app.py run with the container's command and flags (on loopback): once
    /readyz/started passes, every probed path and /metrics answer 200; after
    SIGTERM /readyz answers 503 while /livez still answers 200 and the consumer
    drains its message; the process exits 0 within grace period - preStop.
    """
    c = container()
    args = list(c["args"])
    port = free_port()
    args[args.index("--http") + 1] = f"127.0.0.1:{port}"
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
        "MESSAGE_SECONDS": "2",  # a message in hand when SIGTERM comes
    }
    grace = manifests()["Deployment"]["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    pause = float(c["lifecycle"]["preStop"]["exec"]["command"][1])
    with subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli", *c["command"][1:], *args],
        cwd=K8S,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            took, err = probe_then_stop(proc, c, base, grace)
        finally:
            proc.kill()  # a no-op once it has exited

    assert 0 == proc.returncode, err[-2000:]
    assert took < grace - pause
    assert "consumer_drained" in err


def probe_then_stop(
    proc: subprocess.Popen[str], c: dict[str, Any], base: str, grace: float
) -> tuple[float, str]:
    with httpx.Client(base_url=base, timeout=2) as client:
        wait_until(
            lambda: answers(client, c["startupProbe"]["httpGet"]["path"]) == 200,
            "the startup probe passing",
        )
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert 200 == answers(client, c[probe]["httpGet"]["path"]), probe
        assert "supervisor_child_up" in client.get("/metrics").text

        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: answers(client, "/readyz") == 503, "readiness failing")
        assert proc.poll() is None  # still stopping: readiness failed first
        assert 200 == answers(client, "/livez")
    _, err = proc.communicate(timeout=grace)
    return time.monotonic() - began, err


def answers(client: httpx.Client, path: str) -> int | None:
    try:
        return client.get(path).status_code
    except httpx.TransportError:
        return None
