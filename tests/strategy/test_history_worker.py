"""The history worker is a fork kept warm: it must not keep its parent's connections alive."""

from __future__ import annotations

import socket

from tradewinds.strategy.history import _HistoryWorker


def test_the_worker_holds_no_copy_of_a_connection_its_parent_closes() -> None:
    # A web server that checks a strategy forks the worker while browsers are connected; a copy
    # of a connection in the worker would keep it open for the browser after the server closed it.
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        worker = _HistoryWorker()  # forked while `accepted` is open
        try:
            accepted.close()
            client.settimeout(5)
            assert client.recv(1) == b""  # the close reached the peer: no copy lives on
        finally:
            client.close()
            worker.close()
