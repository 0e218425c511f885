"""Everything Hub writes under its data directory is private to the user it runs as.

A real ``hub dev`` on a fresh data directory, started with umask 000 (so nothing can come out
right by the umask's grace), takes a booking whose invitation it writes to ``mail/``; then it
is stopped. Every directory under the data directory is 0700, every file 0600 (the database
and its WAL files, the development key, the mail, the embedded Redis's files), and the Redis
socket has no group or other bits either.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.hub_processes import HubCommand, redis_servers, stop_redis_servers
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow

MONDAY_2031 = "2031-01-06"


@pytest.fixture
def hub_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "data"
    yield directory
    stop_redis_servers(directory)


def _modes(root: Path) -> dict[str, str]:
    """``relative path -> kind and permission bits`` for ``root`` and everything under it."""
    found = {".": f"dir {stat.S_IMODE(root.stat().st_mode):o}"}
    for path in root.rglob("*"):
        mode = path.lstat().st_mode
        kind = "dir" if stat.S_ISDIR(mode) else "socket" if stat.S_ISSOCK(mode) else "file"
        found[str(path.relative_to(root))] = f"{kind} {stat.S_IMODE(mode):o}"
    return found


def _not_private(modes: dict[str, str]) -> dict[str, str]:
    expected = {"dir": "700", "file": "600", "socket": "600"}
    return {path: mode for path, mode in modes.items() if mode.split()[1] != expected[mode.split()[0]]}


def test_hub_dev_keeps_every_file_of_its_data_directory_private(hub_dir: Path) -> None:
    dev = HubCommand(hub_dir, "dev", preexec_fn=lambda: os.umask(0))
    try:
        dev.start()
        key = re.search(r"^\s+(hub_sk_\S+)$", dev.log(), re.MULTILINE)
        assert key, dev.log()
        with httpx.Client(base_url=dev.url, headers={"Authorization": f"Bearer {key.group(1)}"}, timeout=30) as client:
            host = client.post(
                "/v1/users",
                json={
                    "name": "Ada Host",
                    "email": "ada@example.com",
                    "timezone": "Europe/Berlin",
                    "working_hours": [{"weekday": "mon", "start": "09:00", "end": "17:00"}],
                },
            )
            assert host.status_code == 201, host.text
            booking = client.post(
                "/v1/bookings",
                json={
                    "host_id": host.json()["id"],
                    "start": f"{MONDAY_2031}T10:00:00",
                    "duration_minutes": 30,
                    "timezone": "Europe/Berlin",
                    "title": "Intro call",
                    "attendees": [{"email": "guest@example.com", "name": "Guest"}],
                },
            )
            assert booking.status_code == 201, booking.text
        wait_for(lambda: any((hub_dir / "mail").glob("*.eml")), 90, "the invitation in mail/")

        running = _modes(hub_dir)
        for name in ("hub.db", "hub.db-wal", "hub.db-shm", "secret.key", "redis/redis.sock", "redis/redis.log"):
            assert name in running, sorted(running)
        assert [p for p in running if p.startswith("mail/") and p.endswith(".eml")], sorted(running)
        assert _not_private(running) == {}

        assert dev.stop(signal.SIGTERM, timeout=180) == 0, dev.log()
        assert redis_servers(hub_dir) == []
        assert _not_private(_modes(hub_dir)) == {}
    finally:
        dev.kill()


def test_a_data_directory_left_readable_by_an_earlier_version_is_tightened(hub_dir: Path) -> None:
    hub_dir.mkdir()
    os.chmod(hub_dir, 0o755)  # noqa: S103 (the mode an earlier version left)
    (hub_dir / "hub.db").touch()
    os.chmod(hub_dir / "hub.db", 0o644)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "migrate"],
        env={**env, "HUB_DATA_DIR": str(hub_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modes = _modes(hub_dir)
    assert modes["."] == "dir 700"
    assert modes["hub.db"] == "file 600"
    assert _not_private(modes) == {}
