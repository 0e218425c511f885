"""The listening sockets of ``hub serve --workers N``: one per server process.

uvicorn's supervisor binds one socket and hands it to every server process. They then all
accept from one queue, and the standard library's loop, when a process wakes up for it,
accepts every connection waiting: a client's keep-alive connections opened at once (a
connection pool, a proxy's upstream connections) mostly land on one process while the others
idle. Counted with ``ss -tnp`` under wrk's 32 connections against two processes: 32 and 0,
23 and 9, 32 and 0.

With ``SO_REUSEPORT`` (Linux) each process listens on a socket of its own bound to the same
address, and the kernel spreads new connections over the listening sockets by their addresses.
The supervisor keeps a socket bound there that never listens: it holds the port for as long as
Hub runs, and no connection is ever queued on it. When uvicorn's supervisor starts a server
process, it pickles the sockets it was given into that process (multiprocessing's spawn);
pickling this one yields a new socket bound to the same address in the new process instead of
a copy of the supervisor's. A server process started later (a restart after a crash, SIGHUP,
SIGTTIN) gets its own the same way.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, TypeVar

from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")  # where uvicorn reports a failed bind of its own socket

_Socket = TypeVar("_Socket", bound=socket.socket)

PER_PROCESS = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")  # the kernel spreads connections


def _bind(sock: _Socket, address: tuple[str, int], *, reuse_port: bool) -> _Socket:
    """``sock`` bound to ``address``, with SO_REUSEADDR as uvicorn's own; a failure is
    reported as uvicorn reports one and ends the process as a startup failure, which makes
    uvicorn's supervisor stop instead of starting the process again."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        log.error("error while attempting to bind on address %s: %s", address, exc.strerror or exc)
        sys.exit(STARTUP_FAILURE)
    return sock


def _tcp(family: int) -> socket.socket:
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def _own_socket(family: int, address: tuple[str, int]) -> socket.socket:
    """In a server process: its own socket on the supervisor's address (uvicorn listens on it)."""
    return _bind(_tcp(family), address, reuse_port=True)


class PortReservation(socket.socket):
    """The supervisor's socket: bound with SO_REUSEPORT, never listening. Pickled into a server
    process, it becomes that process's own socket on the same address (``_own_socket``)."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (_own_socket, (self.family, (host, port)))


def reserve(host: str, port: int) -> PortReservation:
    """Hold ``host:port`` for server processes with a socket each.

    A plain bind first: a port some other program listens on, another Hub's included (their
    sockets have SO_REUSEPORT too, which would otherwise let this one join them), fails here as
    it does for one process. ``port`` 0 picks a free port, which every process then shares."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = _bind(_tcp(family), (host, port), reuse_port=False)
    address = probe.getsockname()[:2]
    probe.close()
    reservation = PortReservation(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    return _bind(reservation, address, reuse_port=True)
