"""Run an ASGI app as a real HTTP server on 127.0.0.1 with an ephemeral port.

Every in-process server of the explorer (embedded IdP and OPA, tool services, MCP server,
scripted model) starts through this one helper, so many sessions can share a host: the
socket is bound to port 0 and the kernel picks a free port.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp

from stack.errors import ExplorerError


class ServerStartError(ExplorerError, RuntimeError):
    """The server could not bind or did not come up in time."""


@dataclass
class AsgiServer:
    app: ASGIApp
    name: str = "server"
    host: str = "127.0.0.1"
    port: int = 0
    _server: uvicorn.Server | None = field(default=None, repr=False)
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
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._server.started:
            if self._task.done():
                error = self._task.exception() if not self._task.cancelled() else None
                await self.stop()
                raise ServerStartError(f"{self.name} exited during start: {error}")
            if loop.time() > deadline:
                await self.stop()
                raise ServerStartError(f"{self.name} did not start within {timeout}s")
            await asyncio.sleep(0.005)
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, timeout=3)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        # uvicorn closes the listening socket on a clean shutdown, not when its task is
        # cancelled (a stop that timed out, a start that failed): close it here either way.
        if self._sock is not None:
            self._sock.close()
        self._server = None
        self._task = None
        self._sock = None


class Served:
    """Mixin for an in-process server object that has an ASGI `app`: start/stop/async with,
    `base_url` and `running`. Subclasses set `server_name` and may hook `_started`/`_stopped`.
    """

    app: ASGIApp
    server_name = "server"
    _server: AsgiServer | None = None

    async def start(self) -> str:
        if self._server is None:
            server = AsgiServer(self.app, name=self.server_name)
            base = await server.start()
            self._server = server
            self._started(base)
        return self.base_url

    async def stop(self) -> None:
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
