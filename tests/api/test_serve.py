"""Each worker listens on its own SO_REUSEPORT socket; the port check happens before any starts."""

from __future__ import annotations

import socket

import pytest

from api.serve import listener
from benchmarks.http import free_port


def test_workers_can_share_a_port_and_a_taken_port_is_refused() -> None:
    port = free_port()
    a = listener("127.0.0.1", port)
    b = listener("127.0.0.1", port)  # a second worker's socket on the same port
    try:
        assert a.getsockname()[1] == b.getsockname()[1] == port
        assert a.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        a.close()
        b.close()
    plain = socket.socket()
    plain.bind(("127.0.0.1", port))
    plain.listen(1)
    try:
        with pytest.raises(OSError):  # another program holds the port
            listener("127.0.0.1", port, listen=False)
    finally:
        plain.close()
