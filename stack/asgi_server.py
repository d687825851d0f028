"""Run an ASGI app as a real HTTP server on 127.0.0.1 with an ephemeral port.

Every in-process server of the explorer (embedded IdP and OPA, tool services, MCP server,
scripted model) starts through this one helper, so many sessions can share a host: the
socket is bound to port 0 and the kernel picks a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from stack.errors import ExplorerError


class ServerStartError(ExplorerError, RuntimeError):
    """The server could not bind or did not come up in time."""


class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopped the moment it is told rather than on its 0.1 s tick.

    uvicorn polls `should_exit` every 0.1 s and its shutdown sleeps 0.1 s more before it looks
    at open connections (again every 0.1 s): 0.2-0.3 s per stop, paid by every pattern
    switch and by each of the matrix's eight runtimes. Here the main loop waits on an event
    (waking once a second to refresh the Date header, as uvicorn's tick does) and shutdown
    polls the connections every 5 ms. Everything else is uvicorn's own.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the process's signals alone. uvicorn, serving in the main thread, takes
        SIGINT/SIGTERM for itself and puts back what it found when it stops; with several
        servers stopping in any order that leaves a stopped server's `handle_exit` as the
        SIGTERM handler, and sse_starlette, which looks there, then closes every MCP event
        stream in the process the moment it opens. The explorer, the CLI and the lab handle
        their own signals and stop their servers themselves."""
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter += 10       # on_tick refreshes the Date header when counter % 10 == 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        state = self.server_state
        while (state.connections or state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        self._close_transports()
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's serve, which closes what it opened however it ends. Cancelled (a loop
        ending under a server nobody stopped) or stopped mid-start, uvicorn skips its
        shutdown and leaves the listening server and its connections open; uvloop then
        cannot close the loop (EBUSY) and warns of each one."""
        try:
            await super().serve(sockets)
        finally:
            self._close_transports()

    def _close_transports(self) -> None:
        for server in getattr(self, "servers", []):
            server.close()
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()       # past the graceful wait: a client kept it open


@dataclass
class AsgiServer:
    app: ASGIApp
    name: str = "server"
    host: str = "127.0.0.1"
    port: int = 0
    _server: _PromptServer | None = field(default=None, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _sock: socket.socket | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        if not self.port:
            raise ServerStartError(f"{self.name} is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self, timeout: float = 5.0) -> str:
        # IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # is TCP, and without it every keep-alive POST waits ~40 ms (Nagle + delayed ACK).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            where = f"{self.host}:{self.port}"
            raise ServerStartError(f"{self.name}: cannot bind {where}: {exc}") from exc
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self.app,
            log_level="critical",
            access_log=False,
            lifespan="on",
            ws="none",
            # no proxy stands in front: a caller's X-Forwarded-For/-Proto stay its own words
            proxy_headers=False,
            timeout_graceful_shutdown=1,
        )
        server = self._server = _PromptServer(config)
        task = self._task = asyncio.create_task(server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def stopped() -> bool:      # stop() was called meanwhile (it may still be waiting)
            return self._server is not server or server.should_exit

        try:
            while not server.started:
                if stopped():
                    raise ServerStartError(f"{self.name} was stopped while it started")
                if task.done():
                    error = task.exception() if not task.cancelled() else None
                    raise ServerStartError(f"{self.name} exited during start: {error}")
                if loop.time() > deadline:
                    raise ServerStartError(f"{self.name} did not start within {timeout}s")
                await asyncio.sleep(0.005)
        except BaseException:
            # Failed, or cancelled (an explorer quit while starting): nobody holds this
            # server yet to stop it, so it is dropped here, its socket closed.
            if not stopped():           # else the stop under way closes it
                self._abandon()
                self._server = self._task = self._sock = None
            raise
        if stopped():       # started, but a stop is under way: not a server to hand out
            raise ServerStartError(f"{self.name} was stopped while it started")
        return self.base_url

    def _abandon(self) -> None:
        """Cancel the serving task and close what it opened now (the task's own `finally`
        runs only once it is scheduled again, if it ever started)."""
        if self._task is not None:
            self._task.cancel()
        for server in getattr(self._server, "servers", []):   # made by uvicorn's startup
            server.close()
        if self._sock is not None:
            self._sock.close()

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.request_exit()
            try:
                await asyncio.wait_for(self._task, timeout=3)
            except (TimeoutError, asyncio.CancelledError):
                self._abandon()
        # uvicorn closes the listening socket on a clean shutdown, not when its task is
        # cancelled (a stop that timed out): close it here either way.
        if self._sock is not None:
            self._sock.close()
        self._server = None
        self._task = None
        self._sock = None


class Observable:
    """An ASGI app others may wrap for a while: the runtime's InboundTap puts a client of
    your own (the MCP Inspector's UI) on the wire. Unwrapped, requests go straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._layers: dict[object, Callable[[ASGIApp], ASGIApp]] = {}
        self._composed = app

    def wrap(self, layer: Callable[[ASGIApp], ASGIApp]) -> Callable[[], None]:
        """Serve through `layer(app)` until the returned function is called."""
        key = object()
        self._layers[key] = layer
        self._compose()

        def unwrap() -> None:
            if self._layers.pop(key, None) is not None:
                self._compose()
        return unwrap

    def _compose(self) -> None:
        app = self.app
        for layer in self._layers.values():
            app = layer(app)
        self._composed = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._composed(scope, receive, send)


class Served:
    """Mixin for an in-process server object that has an ASGI `app`: start/stop/async with,
    `base_url` and `running`. Subclasses set `server_name` and may hook `_started`/`_stopped`;
    one that sets `front` (an Observable of its app) is served through it.
    """

    app: ASGIApp
    front: Observable | None = None
    server_name = "server"
    _server: AsgiServer | None = None
    _starting: AsgiServer | None = None     # the server between start() and its return

    async def start(self) -> str:
        if self._server is None:
            served = self.front if self.front is not None else self.app
            server = self._starting = AsgiServer(served, name=self.server_name)
            try:
                base = await server.start()
            finally:
                self._starting = None
            self._server = server
            self._started(base)
        return self.base_url

    async def stop(self) -> None:
        if self._starting is not None:      # a stop while it starts: that start fails
            await self._starting.stop()
        if self._server is not None:
            await self._server.stop()
            self._server = None
            self._stopped()

    def _started(self, base_url: str) -> None:
        """Called once the server listens."""

    def _stopped(self) -> None:
        """Called after the server stopped."""

    async def __aenter__(self) -> Served:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.server_name} is not started")
        return self._server.base_url

    @property
    def running(self) -> bool:
        return self._server is not None
