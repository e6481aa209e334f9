"""
The tree the shutdown tests run through the CLI: one child that, when told to
stop, asks etcd whether the instance's key is still there (``SHUTDOWN_ETCD``,
``SHUTDOWN_KEY``) and writes the answer to ``SHUTDOWN_LOG``.
"""

from __future__ import annotations

import base64
import os

import httpx
import trio

from supervisor import Child, Supervisor


def _key_present() -> str:
    key = base64.b64encode(os.environ["SHUTDOWN_KEY"].encode()).decode()
    try:
        answer = httpx.post(
            f"{os.environ['SHUTDOWN_ETCD']}/v3/kv/range", json={"key": key}, timeout=2
        )
        return "present" if answer.json().get("kvs") else "absent"
    except httpx.HTTPError as exc:
        return f"etcd-unreachable {type(exc).__name__}"


async def worker() -> None:
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            seen = await trio.to_thread.run_sync(_key_present)
            await trio.Path(os.environ["SHUTDOWN_LOG"]).write_text(f"{seen}\n")


tree = Supervisor(name="root", children=[Child(name="w", target=worker)])
