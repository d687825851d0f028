"""The FastAPI app both services start from: their context, and reading a body only after
the caller is authenticated."""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ValidationError

from runtime.errors import field_problems
from runtime.pattern_api import ServiceContext

Body = TypeVar("Body", bound=BaseModel)
MAX_BODY_BYTES = 64 * 1024


async def read_body(request: Request, model: type[Body]) -> Body:
    """The request's JSON body as `model`, its types as JSON has them (`true` is no amount,
    "12" no number). Handlers call it after authentication (never as a FastAPI body
    parameter, which FastAPI would validate before any dependency runs)."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(413, detail={"error": "invalid_request", "reason": "body too large"})
    try:
        value = json.loads(raw or b"{}")
    except UnicodeDecodeError:
        raise _bad_request("request body is not valid UTF-8") from None
    except ValueError:
        raise _bad_request("request body is not JSON") from None
    try:
        return model.model_validate(value, strict=True)   # JSON's types: no `true` for 1
    except ValidationError as exc:
        raise HTTPException(422, detail={"error": "invalid_request",
                                         "reason": field_problems(exc.errors())}) from None


def _bad_request(reason: str) -> HTTPException:
    return HTTPException(400, detail={"error": "invalid_request", "reason": reason})


def service_app(title: str, ctx: ServiceContext) -> FastAPI:
    """A service's app; a pattern's `service_context(request)` finds `ctx` on it."""
    app = FastAPI(title=title, version="1.0")
    app.state.service_context = ctx
    return app
