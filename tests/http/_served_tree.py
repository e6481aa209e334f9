"""A tree served over HTTP in its own process, for the schemathesis test."""

from __future__ import annotations

import sys

import structlog
import trio

from supervisor import Child, DynamicSupervisor, HttpOptions, Supervisor, open_tree


async def worker(n: object = None) -> None:
    await trio.sleep_forever()


async def main(token: str) -> None:
    spec = Supervisor(
        name="app",
        children=[
            Child(name="w", target=worker),
            DynamicSupervisor(name="pool", template=Child(name="j", target=worker)),
        ],
    )
    async with open_tree(
        spec, http=HttpOptions(bind="127.0.0.1:0", token=token)
    ) as tree:
        print(tree.http_addresses[0], flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    # stdout carries the address: events go nowhere.
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    trio.run(main, sys.argv[1])
