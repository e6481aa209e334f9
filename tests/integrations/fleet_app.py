"""
The tree the fleet tests run in real processes through the CLI: one
singleton child that writes when it starts and stops to a log shared by the
instances (``FLEET_LOG``), and a readiness check that fails while the file
``FLEET_UNREADY`` exists (loaded with ``--checks``).
"""

from __future__ import annotations

import os
import time

import trio

import supervisor
from supervisor import Check, Child, Supervisor


def _write(event: str, token: int) -> None:
    line = f"{event} {os.environ['FLEET_INSTANCE']} {token} {time.time():.6f}\n"
    # One write of one short line to a file opened for appending: the lines
    # of the two processes never interleave.
    fd = os.open(os.environ["FLEET_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


async def job() -> None:
    token = supervisor.fencing_token()
    _write("start", token)
    try:
        await trio.sleep_forever()
    finally:
        _write("stop", token)


tree = Supervisor(
    name="root",
    children=[
        Child(name="worker", target=trio.sleep_forever),
        Child(name="cron", target=job, singleton=True),
    ],
)


async def _ready() -> None:
    if await trio.Path(os.environ["FLEET_UNREADY"]).exists():
        raise RuntimeError("told to be unready")


checks = [Check(name="flag", fn=_ready, interval=0.1, failure_threshold=1)]
