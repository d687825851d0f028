"""The FastAPI app both services start from: their context and shared error handling."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from runtime.pattern_api import ServiceContext


async def _undecodable_body(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI decodes a body without a JSON content type itself and lets a non-UTF-8 one
    # escape as a 500; it is the caller's error, so say so.
    return JSONResponse(
        {"detail": {"error": "invalid_request", "reason": "request body is not valid UTF-8"}},
        status_code=400,
    )


def service_app(title: str, ctx: ServiceContext) -> FastAPI:
    """A service's app; a pattern's `service_context(request)` finds `ctx` on it."""
    app = FastAPI(title=title, version="1.0")
    app.state.service_context = ctx
    app.add_exception_handler(UnicodeDecodeError, _undecodable_body)
    return app
