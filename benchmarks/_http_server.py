"""
A server for bench_http.py, run as its own process so its CPU time is its own.

    python _http_server.py tree [--children N]   # our tree with its HealthApp
    python _http_server.py bare                  # hypercorn-on-trio app returning "ok"

Prints the bound address on stdout, then serves until killed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hypercorn.config
import hypercorn.trio
import structlog
import trio

from supervisor import Child, Supervisor, heartbeat, open_tree


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # hypercorn insists on the protocol
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[1]
            await send({"type": f"{message['type']}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def serve_bare() -> None:
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None

    class Bound:
        def started(self, binds: list[str] | None = None) -> None:
            print(binds[0].removeprefix("http://") if binds else "", flush=True)

    await hypercorn.trio.serve(bare_app, config, task_status=Bound())  # type: ignore[arg-type]


async def worker() -> None:
    while True:
        heartbeat()
        await trio.sleep(1)


async def serve_tree(children: int) -> None:
    spec = Supervisor(
        name="bench",
        children=[
            Child(name=f"w{i}", target=worker, heartbeat_timeout=30)
            for i in range(children)
        ],
    )
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        print(tree.http_addresses[0], flush=True)
        await trio.sleep_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["tree", "bare"])
    parser.add_argument("--children", type=int, default=10)
    args = parser.parse_args()
    sink = Path(os.devnull).open("w")  # noqa: SIM115 - lives for the process
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.WriteLoggerFactory(sink),
    )
    if args.mode == "bare":
        trio.run(serve_bare)
    else:
        trio.run(serve_tree, args.children)


if __name__ == "__main__":
    sys.exit(main())
