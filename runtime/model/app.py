"""The scripted model as an OpenAI-compatible HTTP endpoint (`/v1/chat/completions`).

Requests are validated with pydantic; a bad request gets a 400 with OpenAI's error body,
never a 500. Responses are deterministic: same conversation, same JSON, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.model.planner import respond
from stack.errors import ExplorerError

MODEL_NAME = "scripted"
MAX_BODY = 4 * 1024 * 1024


class RequestError(ExplorerError, ValueError):
    """A request the endpoint rejects with 400 (or `status`)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCallIn(_Open):
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(_Open):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallIn


class MessageIn(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class FunctionSpec(_Open):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolIn(_Open):
    type: Literal["function"] = "function"
    function: FunctionSpec


class ChatRequest(_Open):
    model: str = MODEL_NAME
    messages: list[MessageIn] = Field(min_length=1)
    tools: list[ToolIn] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    stream: bool | None = None


def error_body(message: str, param: str | None = None, code: str | None = None,
               kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _validate(payload: Any) -> ChatRequest:
    if not isinstance(payload, dict):
        raise RequestError("The request body must be a JSON object.", code="invalid_type")
    try:
        request = ChatRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
        raise RequestError(f"Invalid value for '{param}': {first['msg']}", param, code) from None
    if request.stream:
        raise RequestError("The scripted model does not support streaming; send stream=false.",
                           "stream", "unsupported_value")
    return request


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def complete(payload: Any) -> dict[str, Any]:
    """A full chat.completion object for a request body (raises RequestError when bad)."""
    request = _validate(payload)
    messages = [m.model_dump(mode="json", exclude_none=True) for m in request.messages]
    tools = [t.model_dump(mode="json", exclude_none=True) for t in request.tools or []]
    canonical = json.dumps({"messages": messages, "tools": tools,
                            "tool_choice": request.tool_choice}, sort_keys=True)
    message = respond(messages, tools, request.tool_choice)
    message["refusal"] = None
    calls = message.get("tool_calls")
    output = message["content"] or json.dumps(calls)
    prompt_tokens, completion_tokens = _tokens(canonical), _tokens(output)
    return {
        "id": "chatcmpl-" + hashlib.sha256(canonical.encode()).hexdigest()[:24],
        "object": "chat.completion",
        "created": 0,
        "model": MODEL_NAME,
        "system_fingerprint": "scripted-v1",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _error(status: int, message: str, param: str | None = None, code: str | None = None,
           kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(error_body(message, param, code, kind), status_code=status)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def chat_completions(request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, f"Request body larger than {MAX_BODY} bytes.", None, "too_large")
    try:
        payload = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return _error(400, "We could not parse the JSON body of your request.", None,
                      "invalid_json")
    try:
        return JSONResponse(complete(payload))
    except RequestError as exc:
        return _error(exc.status, exc.message, exc.param, exc.code)
    except Exception as exc:  # noqa: BLE001 - the endpoint must answer, whatever the input
        return _error(500, f"The scripted model failed: {type(exc).__name__}: {exc}", None,
                      "internal_error", "server_error")


_MODEL = {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "agent-auth-explorer"}


async def list_models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [_MODEL]})


async def get_model(request: Request) -> Response:
    if request.path_params["model_id"] != MODEL_NAME:
        return _error(404, f"The model '{request.path_params['model_id']}' does not exist.",
                      "model", "model_not_found")
    return JSONResponse(_MODEL)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = exc.detail if isinstance(exc, HTTPException) else "Internal error."
    code = {404: "not_found", 405: "method_not_allowed"}.get(status)
    return _error(status, f"{message}: {request.method} {request.url.path}", None, code)


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model_id}", get_model, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
