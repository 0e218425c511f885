"""Real ``hub serve`` processes on the embedded defaults: how they stop, and the embedded Redis
they share.

SIGTERM (or SIGINT) makes ``hub serve`` stop accepting, finish the requests in flight, drain
its outbox relay, give back its lease on the embedded Redis, and exit 0. The embedded
redis-server of a data directory runs while any Hub process of that directory uses it and
stops with the last one; restarts, even after a crash, never leave more than one behind.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from hub.auth.service import bootstrap_key
from hub.db import Database
from tests.support.hub_processes import HubCommand, redis_servers, redis_socket, stop_redis_servers
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    """A fresh data directory (``HUB_DATA_DIR``)."""
    return tmp_path / "data"


@pytest.fixture
def started(hub_dir: Path) -> Iterator[list[HubCommand]]:
    """The ``hub`` processes a test started; killed at the end if still running."""
    commands: list[HubCommand] = []
    yield commands
    for command in commands:
        command.kill()
    stop_redis_servers(hub_dir)


def _serve(hub_dir: Path, started: list[HubCommand], *args: str) -> HubCommand:
    command = HubCommand(hub_dir, "serve", *args)
    started.append(command)
    return command.start()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _pings(socket_path: Path) -> bool:
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _owner_key(hub_dir: Path) -> str:
    db = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    try:
        _organization_id, key = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")
    finally:
        db.dispose()
    return key


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _read_response(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_finishes_the_request_in_flight_exits_0_and_stops_the_embedded_redis(
    hub_dir: Path, started: list[HubCommand]
) -> None:
    server = _serve(hub_dir, started)
    key = _owner_key(hub_dir)
    [redis_pid] = redis_servers(hub_dir)
    socket_path = redis_socket(hub_dir)
    assert socket_path is not None
    assert socket_path.exists()

    # A slow client: the request's headers and the start of its body are in, the rest is not.
    body = json.dumps({"name": "Ada Host", "email": "ada@example.com", "timezone": "Europe/Berlin"}).encode()
    head = (
        f"POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body[:10])
        time.sleep(1)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not _connects(server.port), 10, "the server to stop accepting connections")
        time.sleep(1)
        assert server.process.poll() is None, "the server exited with a request in flight"
        assert _pings(socket_path), "the embedded Redis stopped before the request finished"
        sock.sendall(body[10:])
        response = _read_response(sock)

    status_line = response.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 201 Created", response[:500]
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["name"] == "Ada Host"

    assert server.process.wait(timeout=60) == 0, server.log()
    wait_for(lambda: _gone(redis_pid), 10, "the embedded redis-server to end")
    assert redis_servers(hub_dir) == []
    assert not socket_path.exists()


def test_two_processes_of_one_data_directory_share_redis_and_the_last_one_stops_it(
    hub_dir: Path, started: list[HubCommand]
) -> None:
    first = _serve(hub_dir, started)
    second = _serve(hub_dir, started)
    [redis_pid] = redis_servers(hub_dir)  # the second attached to the server the first started
    assert first.ready() == second.ready() == 200

    assert second.stop() == 0, second.log()
    assert redis_servers(hub_dir) == [redis_pid]
    assert first.ready() == 200  # /ready pings Redis

    third = _serve(hub_dir, started)
    assert redis_servers(hub_dir) == [redis_pid]
    assert first.stop() == 0, first.log()  # the one that started it: the server outlives it
    assert redis_servers(hub_dir) == [redis_pid]
    assert third.ready() == 200

    assert third.stop() == 0, third.log()
    wait_for(lambda: _gone(redis_pid), 10, "the embedded redis-server to end")
    assert redis_servers(hub_dir) == []


def test_a_worker_keeps_the_embedded_redis_after_the_server_stops_and_stops_it_itself(
    hub_dir: Path, started: list[HubCommand]
) -> None:
    server = _serve(hub_dir, started)
    [redis_pid] = redis_servers(hub_dir)
    worker = HubCommand(hub_dir, "worker")
    started.append(worker)
    worker.start(wait=False)
    wait_for(lambda: "worker.started" in worker.log(), 60, "hub worker to start")

    assert server.stop() == 0, server.log()
    assert redis_servers(hub_dir) == [redis_pid]
    time.sleep(1)
    assert worker.process is not None
    assert worker.process.poll() is None, worker.log()  # still working on the same server

    assert worker.stop() == 0, worker.log()
    assert "Traceback" not in worker.log()
    wait_for(lambda: _gone(redis_pid), 10, "the embedded redis-server to end")
    assert redis_servers(hub_dir) == []


def test_restarts_never_leave_more_than_one_redis_server(hub_dir: Path, started: list[HubCommand]) -> None:
    """Clean stops leave none; a crash (SIGKILL) leaves one, which the next start replaces."""
    pids: list[int] = []
    for stop in (signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGTERM):
        server = _serve(hub_dir, started)
        running = redis_servers(hub_dir)
        assert len(running) == 1, running
        pids.extend(running)
        assert server.ready() == 200
        if stop == signal.SIGKILL:
            server.crash()
            assert redis_servers(hub_dir) == running  # left behind by the crash
        else:
            assert server.stop(stop) == 0, server.log()
            assert "Traceback" not in server.log()
            wait_for(lambda: redis_servers(hub_dir) == [], 10, "the embedded redis-server to end")
    assert len(set(pids)) == len(pids)  # a fresh server each time: the embedded Redis keeps nothing
    assert redis_servers(hub_dir) == []


def _server_processes(server: HubCommand) -> list[psutil.Process]:
    """The server processes uvicorn's supervisor started (not Redis or multiprocessing's
    resource tracker), leaving out one that died and is not yet reaped."""
    assert server.process is not None
    processes = []
    for child in psutil.Process(server.process.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                processes.append(child)
        except psutil.Error:
            continue  # gone meanwhile
    return processes


def _tcp(process: psutil.Process, port: int, status: str) -> list[object]:
    return [c for c in process.net_connections(kind="tcp") if c.laddr and c.laddr.port == port and c.status == status]


def _listening(server: HubCommand) -> dict[int, int]:
    """Server process id -> its listening sockets on the server's port."""
    return {p.pid: len(_tcp(p, server.port, psutil.CONN_LISTEN)) for p in _server_processes(server)}


def test_serve_with_several_processes_spreads_connections_restarts_a_dead_one_and_exits_0(
    hub_dir: Path, started: list[HubCommand]
) -> None:
    """Every server process of ``--workers 2`` listens on a socket of its own (SO_REUSEPORT), so
    keep-alive connections a client opens at once land on both instead of all on the one that
    woke first; a process that dies is replaced by one with its own socket; SIGTERM ends all."""
    server = HubCommand(hub_dir, "serve", "--workers", "2")
    started.append(server)
    server.start(timeout=180)  # each server process imports Hub on its own
    [redis_pid] = redis_servers(hub_dir)
    wait_for(lambda: list(_listening(server).values()) == [1, 1], 120, "two processes, a listening socket each")
    assert server.ready() == 200

    pool = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(32)]
    try:
        for sock in pool:
            sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        for sock in pool:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        served = {p.pid: len(_tcp(p, server.port, psutil.CONN_ESTABLISHED)) for p in _server_processes(server)}
    finally:
        for sock in pool:
            sock.close()
    assert sum(served.values()) == 32
    assert min(served.values()) > 0, served  # all 32 on one process: a chance of 2 in 2**32

    dead = min(served)
    psutil.Process(dead).kill()
    wait_for(
        lambda: dead not in _listening(server) and list(_listening(server).values()) == [1, 1],
        120,
        "a replacement process with a listening socket of its own",
    )
    assert server.ready() == 200

    assert server.stop() == 0, server.log()
    wait_for(lambda: _gone(redis_pid), 10, "the embedded redis-server to end")
    assert redis_servers(hub_dir) == []


def test_serve_with_several_processes_refuses_a_port_another_server_listens_on(
    hub_dir: Path, started: list[HubCommand]
) -> None:
    """A listener with SO_REUSEPORT (another ``hub serve --workers N``, say) would let the
    processes' own sockets join it: the port is checked with a plain bind first."""
    server = HubCommand(hub_dir, "serve", "--workers", "2")
    started.append(server)
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", server.port))
    other.listen()
    try:
        server.start(wait=False)
        assert server.process is not None
        assert server.process.wait(timeout=120) == 3, server.log()  # uvicorn's startup failure
    finally:
        other.close()
    assert "address already in use" in server.log().lower()
    assert redis_servers(hub_dir) == []
