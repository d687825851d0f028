"""The in-process server's socket never outlives it: stopped, failed or cancelled mid-start."""

from __future__ import annotations

import asyncio
import socket

import pytest

from stack.asgi_server import AsgiServer, ServerStartError


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


async def never_starts(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await asyncio.sleep(3600)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_stop_frees_the_port():
    server = AsgiServer(app, name="plain")
    await server.start()
    port = server.port
    assert not _port_is_free(port)
    await server.stop()
    assert _port_is_free(port)


async def test_a_start_cancelled_midway_closes_its_socket():
    server = AsgiServer(never_starts, name="slow")
    starting = asyncio.create_task(server.start(timeout=30))
    while not server.port:
        await asyncio.sleep(0.001)
    port = server.port
    await asyncio.sleep(0.05)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert _port_is_free(port)


async def test_a_start_that_times_out_closes_its_socket():
    server = AsgiServer(never_starts, name="slow")
    with pytest.raises(ServerStartError, match="did not start"):
        await server.start(timeout=0.1)
    assert _port_is_free(server.port)
