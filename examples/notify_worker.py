"""
A small program written for systemd (``Type=notify``, ``WatchdogSec=``) that
runs unchanged under the supervisor: it warms up, says ``READY=1``, reports
what it does in ``STATUS=``, and beats with ``WATCHDOG=1`` at half of
``WATCHDOG_USEC``. No library: sd_notify is one datagram.

    python examples/notify_worker.py   # outside a supervisor it only prints
"""

from __future__ import annotations

import os
import socket
import time


def notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


def main() -> None:
    usec = int(os.environ.get("WATCHDOG_USEC", "0"))
    beat_every = usec / 2e6 if usec else 1.0
    print("warming up", flush=True)
    time.sleep(1.0)  # the siblings after it wait for READY=1
    notify("READY=1\nSTATUS=warm, 0 jobs done")
    done = 0
    while True:
        time.sleep(beat_every)
        done += 1
        notify(f"WATCHDOG=1\nSTATUS=warm, {done} jobs done")
        if done % 10 == 0:
            print(f"{done} jobs done", flush=True)


if __name__ == "__main__":
    main()
