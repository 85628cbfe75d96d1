"""sd_notify datagrams, received on a real AF_UNIX socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from feedsvc.notify import Notifier


def test_environment_names_socket_and_watchdog() -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"})
    assert notifier == Notifier("/run/x", 30.0)
    assert Notifier.from_environment({}) == Notifier(None, None)
    # A watchdog meant for another process is not ours to keep.
    other = {
        "NOTIFY_SOCKET": "@abstract",
        "WATCHDOG_USEC": "1",
        "WATCHDOG_PID": str(os.getpid() + 1),
    }
    assert Notifier.from_environment(other) == Notifier("\0abstract", None)


def test_messages_arrive_as_datagrams(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        notifier = Notifier(address)
        notifier.ready("last build: 3 entries")
        notifier.watchdog()
        assert sock.recv(1024) == b"READY=1\nSTATUS=last build: 3 entries"
        assert sock.recv(1024) == b"WATCHDOG=1"


def test_a_listener_that_does_not_read_never_blocks(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        notifier = Notifier(address)
        for _ in range(1000):
            notifier.watchdog()


def test_without_socket_nothing_is_sent() -> None:
    Notifier().ready("fine")
