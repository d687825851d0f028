"""stack.asgi_server.Observable: an app others wrap for a while (the runtime's InboundTap on
the embedded IdP), straight through when nobody does."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from stack.asgi_server import Observable


async def hello(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def marking(name: str, seen: list[str]):
    def layer(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(name)
            await app(scope, receive, send)
        return wrapped
    return layer


async def get(front: Observable) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=front),
                                 base_url="http://t") as client:
        return (await client.get("/")).text


async def test_wrapped_while_asked_then_straight_through_again():
    front = Observable(Starlette(routes=[Route("/", hello)]))
    seen: list[str] = []
    assert await get(front) == "hello" and seen == []
    unwrap_a = front.wrap(marking("a", seen))
    unwrap_b = front.wrap(marking("b", seen))
    assert await get(front) == "hello" and seen == ["b", "a"]   # the last wrap is outermost
    unwrap_a()
    unwrap_a()                                                 # twice is harmless
    seen.clear()
    assert await get(front) == "hello" and seen == ["b"]
    unwrap_b()
    seen.clear()
    assert await get(front) == "hello" and seen == []
