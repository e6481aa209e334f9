"""
A child speaking systemd's notify protocol, for the tests: each argument is a
datagram to send to $NOTIFY_SOCKET (``\\n`` separates assignments), or
``sleep:S``, ``exit:N``, or ``echo:TEXT`` (printed only); after the last one it sleeps until stopped.
"""

import os
import socket
import sys
import time


def send(text: str) -> None:
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(text.replace("\\n", "\n").encode(), address)


for arg in sys.argv[1:]:
    step = arg
    if step.startswith("sleep:"):
        time.sleep(float(step[6:]))
    elif step.startswith("exit:"):
        sys.exit(int(step[5:]))
    elif step.startswith("echo:"):
        step = arg[5:]  # only printed
    else:
        send(step)
    print(step, flush=True)
while True:
    time.sleep(60)
