"""The /auth group's sockets under uWSGI: which peer address a check is judged by, where the uwsgi
socket listens, and what every answer of the HTTP socket says about its connection."""
from __future__ import annotations

import socket

import pytest

from app.request_parsing import SOCKET_PEER, SocketPeer, check_request, socket_peer
from app.serving.uwsgi_check import connection_peer, socket_peers, tcp_ports, uwsgi_args, uwsgi_socket

UWSGI = {"uwsgi.version": b"2.0.31", "REQUEST_METHOD": "GET", "PATH_INFO": "/auth"}


# (environ, the address TRUSTED_PROXY_CIDRS judges)
PEERS = [
    ({"REMOTE_ADDR": "10.1.2.3"}, "10.1.2.3"),  # gunicorn: its own accept's peer
    ({}, None),
    ({**UWSGI, "REMOTE_ADDR": "10.1.2.3"}, None),  # a uwsgi packet's word
    ({**UWSGI, "REMOTE_ADDR": "10.1.2.3", SOCKET_PEER: "10.1.2.3"}, None),  # a variable the sender wrote
    ({**UWSGI, "REMOTE_ADDR": "10.1.2.3", SOCKET_PEER: SocketPeer(None)}, None),  # the uwsgi socket
    ({**UWSGI, "REMOTE_ADDR": "127.0.0.1", SOCKET_PEER: SocketPeer("10.9.8.7")}, "10.9.8.7"),  # the HTTP socket
]


@pytest.mark.parametrize("environ, expected", PEERS)
def test_only_the_connections_own_peer_is_the_check_requests_address(environ, expected):
    assert socket_peer(environ) == expected
    assert check_request({"REQUEST_METHOD": "GET", "PATH_INFO": "/auth", **environ}).remote_addr == expected


@pytest.mark.parametrize("option, ports", [
    (b"127.0.0.1:3001", {3001}), (b":3001", {3001}), (b"[::1]:3001", {3001}), (b"0.0.0.0:80", {80}),
    ([b"127.0.0.1:3001", b"10.0.0.1:3005"], {3001, 3005}), ("127.0.0.1:3001", {3001}),
    (b"/run/gatehouse/check.sock", set()), (b"@abstract:1", set()), (b"localhost:http", set()),
    (None, set()), (b"", set()),
])
def test_tcp_ports_of_a_socket_option(option, ports):
    assert tcp_ports(option) == ports


@pytest.fixture
def connection():
    """An accepted loopback TCP connection: (its fd on the accepting side, the listening port)."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    yield accepted.fileno(), listener.getsockname()[1]
    for s in (accepted, client, listener):
        s.close()


def test_the_peer_is_read_from_the_connection_on_the_http_port_only(connection):
    fd, port = connection
    assert connection_peer(fd, frozenset({port})) == "127.0.0.1"
    assert connection_peer(fd, frozenset({port + 1})) is None  # another socket's connection
    assert connection_peer(fd, frozenset()) is None
    with socket.socket(fileno=socket.dup(fd)) as again:  # the connection stays open: it is uWSGI's
        assert again.getpeername()
    a, b = socket.socketpair()  # a unix socket has no address to judge
    try:
        assert connection_peer(a.fileno(), frozenset({port})) is None
    finally:
        a.close()
        b.close()
    assert connection_peer(10_000, frozenset({port})) is None  # no such descriptor


def test_every_request_gets_its_connections_peer(connection):
    fd, port = connection
    seen = []

    def app(environ, start_response):
        seen.append(environ[SOCKET_PEER])
        return [b""]

    def no_connection() -> int:
        raise OSError("no connection")

    wrapped = socket_peers(app, frozenset({port}), lambda: fd)
    wrapped({**UWSGI, SOCKET_PEER: "10.1.2.3"}, None)
    socket_peers(app, frozenset({port + 1}), lambda: fd)({**UWSGI, SOCKET_PEER: SocketPeer("10.1.2.3")}, None)
    socket_peers(app, frozenset({port}), no_connection)(dict(UWSGI), None)
    assert seen == [SocketPeer("127.0.0.1"), SocketPeer(None), SocketPeer(None)]


@pytest.mark.parametrize("http, given, expected", [
    ("0.0.0.0:3001", None, "127.0.0.1:3002"),  # never GATEHOUSE_BIND's address
    ("127.0.0.1:3001", None, "127.0.0.1:3002"),
    ("0.0.0.0:3001", "10.0.0.5:3002", "10.0.0.5:3002"),  # an address given is used
    ("0.0.0.0:3001", "/run/gatehouse/check.sock", "/run/gatehouse/check.sock"),
    ("0.0.0.0:3001", "none", None),
])
def test_the_uwsgi_socket_is_on_loopback_unless_given(http, given, expected):
    assert uwsgi_socket(http, given) == expected


def test_uwsgi_command_line():
    args = uwsgi_args("0.0.0.0:3001", None, 2, "/tmp/fifo", 100, 40)
    assert "--socket" not in args and args[args.index("--http-socket") + 1] == "0.0.0.0:3001"
    assert args[args.index("--add-header") + 1] == "Connection: close"
    args = uwsgi_args("0.0.0.0:3001", "127.0.0.1:3002", 2, "/tmp/fifo", 100, 40)
    assert args[args.index("--socket") + 1] == "127.0.0.1:3002"
