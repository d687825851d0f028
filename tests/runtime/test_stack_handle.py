"""StackHandle: one IdP and one OPA however many callers start it at once."""

from __future__ import annotations

import asyncio

import pytest

from runtime.settings import Settings
from runtime.stack_handle import StackHandle, StackUnavailable


async def test_callers_starting_together_share_one_stack():
    handle = StackHandle(Settings())
    try:
        results = await asyncio.gather(*(handle.start() for _ in range(4)))
        assert len({id(r) for r in results}) == 1
        idp = handle.idp
        assert idp is not None
        served = results[0].issuer.rsplit("/realms/", 1)[0]
        assert idp.base_url == served  # type: ignore[attr-defined]
    finally:
        await handle.stop()
    assert handle.idp is None and handle.endpoints is None


async def test_an_external_stack_that_does_not_answer_is_checked_again_next_time():
    settings = Settings(stack="external", keycloak_url="http://127.0.0.1:9",
                        opa_url="http://127.0.0.1:9", timeout=0.5)
    handle = StackHandle(settings)
    for _ in range(2):
        with pytest.raises(StackUnavailable):
            await handle.start()
        assert handle.endpoints is None


@pytest.mark.parametrize("server", ["idp", "opa"])
async def test_a_stop_while_the_stack_starts_stops_the_server_coming_up(server):
    """Quitting while the IdP is up and OPA (or the IdP itself) is still coming up: the stop
    must reach the one starting too, not leave it serving after everyone left."""
    import socket

    from stack.asgi_server import ServerStartError

    async def until(what):
        for _ in range(5000):
            if what():
                return
            await asyncio.sleep(0.001)
        raise AssertionError("never came")

    handle = StackHandle(Settings())
    starting = asyncio.create_task(handle.start())
    await until(lambda: getattr(getattr(handle, server), "_starting", None) is not None)
    coming_up = getattr(handle, server)._starting
    await until(lambda: coming_up.port)
    await handle.stop()
    with pytest.raises(ServerStartError, match="stopped while it started"):
        await starting
    assert handle.endpoints is None and handle.idp is None and handle.opa is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", coming_up.port), timeout=2).close()
