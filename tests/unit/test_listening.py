"""``hub.listening``: the port reservation of ``hub serve --workers N`` and the socket of its own
each server process gets from it, in one process (the server processes themselves are in
``tests/integration/test_process_lifecycle.py``)."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from multiprocessing.reduction import ForkingPickler

import pytest

from hub import listening

pytestmark = pytest.mark.skipif(not listening.PER_PROCESS, reason="SO_REUSEPORT spreads connections on Linux only")


def _option(sock: socket.socket, name: int) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, name)


@pytest.fixture
def reservation() -> Iterator[listening.PortReservation]:
    sock = listening.reserve("127.0.0.1", 0)
    yield sock
    sock.close()


def test_the_reservation_holds_a_port_with_reuse_port_and_never_listens(
    reservation: listening.PortReservation,
) -> None:
    host, port = reservation.getsockname()
    assert (host, _option(reservation, socket.SO_REUSEPORT)) == ("127.0.0.1", 1)
    assert port > 0
    assert _option(reservation, socket.SO_ACCEPTCONN) == 0
    with pytest.raises(ConnectionRefusedError):  # nothing is queued on it
        socket.create_connection((host, port), timeout=2).close()


def test_pickled_into_a_process_the_reservation_is_a_new_socket_on_the_same_address(
    reservation: listening.PortReservation,
) -> None:
    """What uvicorn's supervisor does when it starts a server process (multiprocessing's spawn
    pickles the sockets it hands over): each gets a socket of its own, which uvicorn listens on."""
    own = [ForkingPickler.loads(ForkingPickler.dumps(reservation)) for _ in range(2)]
    try:
        assert [type(sock) for sock in own] == [socket.socket, socket.socket]
        assert {sock.getsockname() for sock in own} == {reservation.getsockname()}
        assert len({reservation.fileno(), *(sock.fileno() for sock in own)}) == 3
        assert [_option(sock, socket.SO_REUSEPORT) for sock in own] == [1, 1]
        for sock in own:
            sock.listen()
        clients = [socket.create_connection(reservation.getsockname(), timeout=2) for _ in range(32)]
        accepted = []
        deadline = time.monotonic() + 5
        while len(accepted) < 32 and time.monotonic() < deadline:
            ready, _, _ = select.select(own, [], [], 0.1)
            accepted.extend(sock.accept()[0] for sock in ready)
        assert len(accepted) == 32  # every connection reached a process's own socket
        for sock in [*clients, *accepted]:
            sock.close()
    finally:
        for sock in own:
            sock.close()


def test_a_port_another_listener_holds_is_refused_even_with_reuse_port() -> None:
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", 0))
    other.listen()
    try:
        with pytest.raises(SystemExit) as exit_:
            listening.reserve("127.0.0.1", other.getsockname()[1])
    finally:
        other.close()
    assert exit_.value.code == 3  # uvicorn's startup failure: its supervisor does not retry
