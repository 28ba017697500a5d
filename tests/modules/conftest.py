"""Fixtures shared by the module tests that apply the AWS module against moto."""

from __future__ import annotations

import pytest
from tfhelp import free_port


@pytest.fixture(scope="module")
def moto_url():
    """A moto server on loopback for one test file (its state starts empty)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
