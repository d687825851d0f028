"""The scripted model: a deterministic, offline, OpenAI-compatible chat-completions endpoint.

It stands in for the LLM by default. It decides from the conversation alone (stateless):
the system prompt says who it helps ("You are helping alice.") and, in pattern 03, which API
key it holds; the latest user message is the intent; the tool results after it are how far
its plan got. It is naive about instructions injected into tool results, as real models can be.

    model = ScriptedModel()
    base_url = await model.start()      # http://127.0.0.1:<port>/v1
    AsyncOpenAI(base_url=base_url, api_key="scripted").chat.completions.create(...)
    await model.stop()

or, without HTTP: `respond(messages, tools)` -> the assistant message.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from runtime.model.app import MODEL_NAME, RequestError, complete, create_app
from runtime.model.conversation import USER_RE, Context, read_conversation
from runtime.model.intents import Intent, IntentKind, parse_intent
from runtime.model.planner import respond
from runtime.model.results import KEY_RE
from stack.asgi_server import AsgiServer, ServerStartError

__all__ = [
    "KEY_RE", "MODEL_NAME", "USER_RE", "Context", "Intent", "IntentKind", "RequestError",
    "ScriptedModel", "complete", "parse_intent", "read_conversation", "respond",
]


class ScriptedModel:
    """The scripted model's ASGI app, its pure API and its in-process HTTP server."""

    name = MODEL_NAME

    def __init__(self) -> None:
        self.app: Starlette = create_app()
        self._server: AsgiServer | None = None

    @staticmethod
    def respond(messages: list[Any], tools: list[Any] | None = None,
                tool_choice: Any = None) -> dict[str, Any]:
        """The next assistant message for a conversation (pure, no HTTP)."""
        return respond(messages, tools, tool_choice)

    @staticmethod
    def complete(payload: Any) -> dict[str, Any]:
        """A whole chat.completion object for a request body (raises RequestError)."""
        return complete(payload)

    async def start(self) -> str:
        """Serve on 127.0.0.1 (ephemeral port); returns the base URL ending in /v1."""
        if self._server is None:
            server = AsgiServer(self.app, name="scripted-model")
            await server.start()
            self._server = server
        return self.base_url

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise ServerStartError("scripted-model is not started")
        return f"{self._server.base_url}/v1"
