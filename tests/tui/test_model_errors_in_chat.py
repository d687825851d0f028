"""A real model endpoint that fails: the explorer's chat says why in a line of its own, and
the next prompt works (issue: hardening, the real-model path)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tui_helpers import chat_text, main_screen, send_prompt

from runtime.settings import Settings
from stack.asgi_server import AsgiServer


class Broken:
    """An OpenAI-compatible endpoint whose first answer has no choices, then a good one."""

    def __init__(self) -> None:
        self.calls = 0
        self.server = AsgiServer(Starlette(routes=[
            Route("/v1/chat/completions", self.answer, methods=["POST"])]))

    async def answer(self, _request: Request) -> Response:
        self.calls += 1
        if self.calls == 1:
            return JSONResponse({"id": "c1", "object": "chat.completion", "choices": []})
        return JSONResponse({"id": "c2", "object": "chat.completion", "created": 0,
                             "model": "fake-1", "choices": [{
                                 "index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Fine now."}}]})


@pytest_asyncio.fixture
async def endpoint() -> AsyncIterator[Broken]:
    broken = Broken()
    await broken.server.start()
    yield broken
    await broken.server.stop()


async def test_a_model_that_fails_is_a_line_in_the_chat_and_the_next_prompt_works(
        make_app, endpoint):
    settings = Settings(model="fake-1", openai_base_url=endpoint.server.base_url + "/v1",
                        openai_api_key="sk-fake-key-000000000000000000")
    app = make_app(patterns=("p01",), settings=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        chat = chat_text(app)
        assert "The agent could not finish: the model endpoint's answer has no choices" in chat
        assert "Traceback" not in chat
        await send_prompt(pilot, app, "Hello?")
        assert "Fine now." in chat_text(app)
        assert main_screen(app).explorer.session.runner is not None
