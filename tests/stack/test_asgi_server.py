"""The in-process server's socket never outlives it: stopped, failed or cancelled mid-start."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading

import httpx
import pytest

from runtime import event_loop
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


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_start_cancelled_once_listening_leaves_nothing_listening(loop):
    """Cancelled the moment uvicorn is listening (an explorer quit as its runtime came up):
    the listener uvicorn made must be closed too, not only the socket handed to it. uvloop,
    the loop the CLI and the explorer's runtime run on, listens on its own copy of it."""
    async def scenario() -> int:
        server = AsgiServer(app, name="quitting")
        starting = asyncio.create_task(server.start(timeout=30))
        while server._server is None or not server._server.started:
            await asyncio.sleep(0)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        await asyncio.sleep(0.01)
        return server.port

    new_loop = event_loop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    ports: list[int] = []

    def run() -> None:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            ports.append(runner.run(scenario()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)   # uvloop, left with uvicorn's listener open, never finishes closing
    assert not thread.is_alive(), "the loop did not close after the cancelled start"
    assert _port_is_free(ports[0])


async def test_a_start_that_times_out_closes_its_socket():
    server = AsgiServer(never_starts, name="slow")
    with pytest.raises(ServerStartError, match="did not start"):
        await server.start(timeout=0.1)
    assert _port_is_free(server.port)


async def test_servers_leave_the_process_signal_handlers_alone():
    """Stopped out of order, uvicorn's own signal capture left a stopped server's handler
    installed for SIGTERM; sse_starlette reads it and then closed every later MCP event
    stream at once (the MCP Inspector saw an empty tool list)."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    first, second = AsgiServer(app, name="first"), AsgiServer(app, name="second")
    await first.start()
    await second.start()
    during = {sig: signal.getsignal(sig) for sig in before}
    await first.stop()
    await second.stop()
    after = {sig: signal.getsignal(sig) for sig in before}
    assert during == before and after == before


async def test_an_event_stream_stays_open_after_other_servers_stopped():
    """The GET stream an MCP client opens after `initialize` is an sse_starlette response:
    it must stay open while the client works, whatever servers came and went before. Served
    from a thread of its own, as the tests' live stack and the lab's runtimes are."""
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def events(request):
        async def beats():
            for n in range(3):
                yield {"data": str(n)}
                await asyncio.sleep(0.6)        # past sse_starlette's 0.5 s shutdown poll
        return EventSourceResponse(beats())

    earlier = [AsgiServer(app, name="first"), AsgiServer(app, name="second")]
    for server in earlier:
        await server.start()
    for server in earlier:                      # stopped in start order, not LIFO
        await server.stop()

    async def stream_once() -> str:
        streaming = AsgiServer(Starlette(routes=[Route("/events", events)]), name="events")
        base = await streaming.start()
        try:
            async with httpx.AsyncClient() as client, client.stream(
                    "GET", f"{base}/events") as response:
                return "".join([chunk async for chunk in response.aiter_text()])
        finally:
            await streaming.stop()

    body = await asyncio.to_thread(asyncio.run, stream_once())
    assert [line for line in body.splitlines() if line.startswith("data:")] == [
        "data: 0", "data: 1", "data: 2"]


async def test_forwarded_headers_do_not_rewrite_who_called_or_how():
    """No proxy stands in front of these servers: a loopback caller's X-Forwarded-For and
    X-Forwarded-Proto must not change the client address or scheme a service sees."""
    seen: dict[str, object] = {}

    async def echo(scope, receive, send):
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        seen.update(client=scope["client"][0], scheme=scope["scheme"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = AsgiServer(echo, name="echo")
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.get(server.base_url + "/", headers={
                "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    finally:
        await server.stop()
    assert answer.status_code == 204
    assert seen == {"client": "127.0.0.1", "scheme": "http"}


def _on_loop(loop: str, scenario) -> list:
    """Run `scenario()` on a fresh loop of kind `loop` in a thread, close the loop, and return
    [its result]. uvloop refuses to close (EBUSY) while a server or connection is still open,
    and warns of each: either fails the test."""
    new_loop = event_loop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    results: list = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=new_loop) as runner:
                results.append(runner.run(scenario()))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(15)
    assert not thread.is_alive(), "the loop did not close"
    assert not errors, errors
    return results


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_stop_while_it_starts_fails_that_start_and_leaves_nothing_listening(loop):
    """Quitting the explorer while a pattern comes up stops a server whose start is still
    waiting: the start must fail (not hand back a stopped server) and nothing may listen."""
    async def scenario() -> tuple[int, str]:
        server = AsgiServer(app, name="quitting")
        starting = asyncio.create_task(server.start(timeout=30))
        while not server.port:
            await asyncio.sleep(0)
        await server.stop()
        with pytest.raises(ServerStartError) as failed:
            await starting
        return server.port, str(failed.value)

    [(port, error)] = _on_loop(loop, scenario)
    assert error == "quitting was stopped while it started"
    assert _port_is_free(port)


def test_a_stop_as_the_server_comes_up_still_fails_that_start():
    """The stop lands after uvicorn is up but before the start has looked (it polls): the
    start must not hand out a server that is being stopped (seen once in CI: the stack
    then asked a stopped IdP for its URL)."""
    async def scenario() -> str:
        server = AsgiServer(app, name="racing")
        starting = asyncio.create_task(server.start(timeout=30))
        for _ in range(5000):
            if server._server is not None and server._server.started:
                break
            await asyncio.sleep(0)
        assert not starting.done(), "the start looked before the stop could land"
        stopping = asyncio.create_task(server.stop())
        with pytest.raises(ServerStartError) as failed:
            await starting
        await stopping
        return str(failed.value)

    assert _on_loop("uvloop", scenario) == ["racing was stopped while it started"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_serving_task_cancelled_without_a_stop_closes_its_listener(loop):
    """The runtime loop's end cancels every task left, a server's serving task among them
    when nobody stopped it: uvicorn then skips its shutdown, so the server closes its own
    listener and the connections it accepted on the way out."""
    async def scenario() -> tuple[int, bytes]:
        server = AsgiServer(app, name="forgotten")
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await asyncio.sleep(0.05)                           # accepted, idle
        assert server._task is not None
        server._task.cancel()
        await asyncio.gather(server._task, return_exceptions=True)
        left = await asyncio.wait_for(reader.read(), 5)     # EOF: the server hung up
        writer.close()
        await writer.wait_closed()
        return server.port, left

    [(port, left)] = _on_loop(loop, scenario)
    assert left == b""
    with pytest.raises(ConnectionRefusedError):     # (the port itself waits in TIME_WAIT)
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_a_served_object_stopped_while_it_starts_is_not_left_serving():
    from stack.opa import EmbeddedOPA

    opa = EmbeddedOPA()
    starting = asyncio.create_task(opa.start())
    for _ in range(5000):
        if opa._starting is not None and opa._starting.port:
            break
        await asyncio.sleep(0.001)
    assert opa._starting is not None, "the start never began"
    port = opa._starting.port
    await opa.stop()
    with pytest.raises(ServerStartError, match="stopped while it started"):
        await starting
    assert not opa.running and _port_is_free(port)
