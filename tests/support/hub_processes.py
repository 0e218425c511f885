"""Real ``hub`` command processes on the embedded defaults of a data directory, and what runs
under that directory (its embedded redis-server, found by its socket, not by asking Hub)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from tests.support.servers import free_port, wait_for

START_SECONDS = 60  # two shared cores: a cold start (migrations, imports) can be slow


class HubCommand:
    """``hub <command>`` (serve or dev) on ``data_dir`` with no HUB_REDIS_URL or
    HUB_DATABASE_URL: SQLite and the embedded Redis under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [*args, "--port", str(self.port)] if args[0] in ("serve", "dev") else list(args)
        environment = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        self.env = {
            **environment,
            "HUB_DATA_DIR": str(data_dir),
            "HUB_LOG_LEVEL": "info",
            "HUB_RATE_LIMIT_PER_MINUTE": "100000",
            **(env or {}),
        }
        self.preexec_fn = preexec_fn
        self.log_path = data_dir.parent / f"hub-{args[0]}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True, timeout: float = START_SECONDS) -> HubCommand:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self.preexec_fn,
        )
        log.close()
        if wait:
            try:
                wait_for(self.healthy, timeout, f"hub {self.args[0]} to answer /health")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{self.log()}") from None
        return self

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"hub {self.args[0]} exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> int:
        return httpx.get(f"{self.url}/ready", timeout=5).status_code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` and return the exit status."""
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def crash(self) -> None:
        """SIGKILL this process alone, as a crash would end it: what it started stays."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def kill(self) -> None:
        """Clean up after a test: SIGKILL the process and every process it started."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self.process.kill()
        self.process.wait(timeout=30)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def redis_socket(data_dir: Path) -> Path | None:
    """The Unix socket the embedded Redis of ``data_dir`` is configured on (its redis.conf)."""
    conf = data_dir / "redis" / "redis.conf"
    if not conf.exists():
        return None
    match = re.search(r'^unixsocket "(.*)"$', conf.read_text(), re.MULTILINE)
    assert match, conf.read_text()
    return Path(match.group(1))


def redis_servers(data_dir: Path) -> list[int]:
    """Process ids of the redis-server processes listening on ``data_dir``'s socket (a zombie
    waiting to be reaped by a parent that is not Hub does not run and does not count)."""
    socket_path = redis_socket(data_dir)
    if socket_path is None:
        return []
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if "redis-server" in " ".join(process.info["cmdline"] or []) and str(socket_path) in " ".join(
                process.info["cmdline"] or []
            ):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def stop_redis_servers(data_dir: Path) -> None:
    """Clean up after a failed test: stop whatever redis-server still runs for ``data_dir``."""
    for pid in redis_servers(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
