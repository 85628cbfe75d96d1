"""Telling systemd how the daemon is doing (sd_notify): READY, STATUS, WATCHDOG, STOPPING.

One datagram per message to the socket systemd names in ``NOTIFY_SOCKET``; without it
(not under systemd, or not ``Type=notify``) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("feedsvc.notify")


@dataclass(frozen=True)
class SystemdNotifier:
    """Where to send notifications, and how often systemd wants to hear WATCHDOG=1."""

    address: str | None = None
    watchdog_s: float | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> SystemdNotifier:
        """Read ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` (honouring ``WATCHDOG_PID``)."""
        address = environ.get("NOTIFY_SOCKET") or None
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # an abstract socket
        watchdog_s = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog_s = int(usec) / 1_000_000
        return cls(address, watchdog_s)

    def send(self, *fields: str) -> None:
        """Send ``KEY=value`` fields in one datagram; a failure is logged, never raised."""
        if not self.address:
            return
        message = "\n".join(field.replace("\n", " ") for field in fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the daemon on a listener that does not read.
                sock.setblocking(False)
                sock.sendto(message, self.address)
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self.address, exc)

    def ready(self, status: str) -> None:
        """The daemon is up: its first build is out."""
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        """A one-line status for `systemctl status`."""
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        """A SIGHUP reload began; call ``ready`` when it is done."""
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> None:
        """Shutdown began."""
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        """Still alive."""
        self.send("WATCHDOG=1")
