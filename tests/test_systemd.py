"""The unit files pass `systemd-analyze verify` (where systemd-analyze exists)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert f"ExecStart={INSTALLED} run --config /etc/feedsvc/feedsvc.toml" in unit


def test_daemon_unit_raises_the_open_file_limit_for_the_server() -> None:
    unit = (UNITS / "feedsvc.service").read_text().splitlines()
    assert "LimitNOFILE=65536" in unit
