"""systemd: the daemon's sd_notify datagrams, received on a real AF_UNIX socket, and the unit
files, which pass `systemd-analyze verify` (where systemd-analyze exists)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from feedsvc.daemon.systemd import SystemdNotifier

UNITS = Path(__file__).parent.parent / "systemd"
INSTALLED = "/opt/feedsvc/.venv/bin/feedsvc"
ANALYZE = shutil.which("systemd-analyze")


def installed_units(directory: Path) -> list[Path]:
    """The units as installed, with ExecStart pointing at this checkout's feedsvc: verify
    insists that the command exists."""
    feedsvc = Path(sys.executable).parent / "feedsvc"
    copies = []
    for unit in sorted(UNITS.iterdir()):
        copy = directory / unit.name
        copy.write_text(unit.read_text().replace(INSTALLED, str(feedsvc)))
        copies.append(copy)
    return copies


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = installed_units(tmp_path)
    assert {unit.name for unit in units} == {
        "feedsvc.service",
        "feedsvc-build.service",
        "feedsvc-build.timer",
    }
    done = subprocess.run(
        [ANALYZE, "verify", *map(str, units)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == ""


def test_daemon_unit_is_a_sandboxed_notify_service() -> None:
    unit = (UNITS / "feedsvc.service").read_text().splitlines()
    for setting in (
        "Type=notify",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert setting in unit
    assert any(line.startswith("WatchdogSec=") for line in unit)
    assert any(line.startswith("ReadWritePaths=") for line in unit)
    start = f"ExecStart={INSTALLED} run --config /etc/feedsvc/feedsvc.toml"
    assert f"{start} --state-dir /var/lib/feedsvc" in unit
    assert "StateDirectory=feedsvc" in unit  # systemd makes /var/lib/feedsvc, owned by it


def test_daemon_unit_raises_the_open_file_limit_for_the_server() -> None:
    unit = (UNITS / "feedsvc.service").read_text().splitlines()
    assert "LimitNOFILE=65536" in unit


def test_environment_names_socket_and_watchdog() -> None:
    notifier = SystemdNotifier.from_environment(
        {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    )
    assert notifier == SystemdNotifier("/run/x", 30.0)
    assert SystemdNotifier.from_environment({}) == SystemdNotifier(None, None)
    # A watchdog meant for another process is not ours to keep.
    other = {
        "NOTIFY_SOCKET": "@abstract",
        "WATCHDOG_USEC": "1",
        "WATCHDOG_PID": str(os.getpid() + 1),
    }
    assert SystemdNotifier.from_environment(other) == SystemdNotifier("\0abstract", None)


def test_messages_arrive_as_datagrams(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        notifier = SystemdNotifier(address)
        notifier.ready("last build: 3 entries")
        notifier.watchdog()
        assert sock.recv(1024) == b"READY=1\nSTATUS=last build: 3 entries"
        assert sock.recv(1024) == b"WATCHDOG=1"


def test_a_listener_that_does_not_read_never_blocks(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        notifier = SystemdNotifier(address)
        for _ in range(1000):
            notifier.watchdog()


def test_without_socket_nothing_is_sent() -> None:
    SystemdNotifier().ready("fine")
