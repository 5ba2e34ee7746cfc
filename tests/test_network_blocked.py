"""The suite cannot reach beyond this host: pytest-socket allows 127.0.0.1 (and ::1, localhost) only."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

from tests.conftest import POSTGRES_ADMIN_URL


def test_connecting_outside_localhost_is_blocked() -> None:
    with pytest.raises((SocketBlockedError, SocketConnectBlockedError)) as raised:
        socket.create_connection(("10.255.255.1", 80), timeout=1)

    assert "10.255.255.1" in str(raised.value)


def test_connecting_to_postgresql_on_localhost_is_allowed() -> None:
    port = urlsplit(POSTGRES_ADMIN_URL).port or 5432

    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        assert connection.getpeername() == ("127.0.0.1", port)
