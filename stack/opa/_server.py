"""EmbeddedOPA: OPA's data API over regopy, served in-process on 127.0.0.1 (ephemeral port).

Wire shape (as `opa run --server`, OPA 1.x, without decision logs):

    POST /v1/data/<path>  {"input": ...}  -> 200 {"result": <value>}   ({} when undefined)
    POST without an "input" key          -> 200 {..., "warning": {"code": "api_usage_warning", ...}}
    GET  /v1/data/<path>                 -> same, input undefined
    body not a JSON object               -> 400 {"code": "invalid_parameter", "message": ...}
    evaluation error                     -> 500 {"code": "internal_error", "message": ...}
    ?metrics (or ?metrics=true)          -> adds "metrics": {"timer_..._ns": ...}
    ?pretty=true                         -> indented JSON;  ?explain, ?provenance: ignored
    GET  /health                         -> 200 {}

Evaluation runs inline on the event loop: a decision costs ~0.3 ms (precompiled bundle),
well below what would stall other servers sharing the loop; a path outside the compiled
entry points (the root, an unknown package) costs a fresh compile, ~10 ms.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stack.asgi_server import Served

from ._engine import (
    NO_INPUT,
    POLICY_DIR,
    Evaluation,
    PolicyEvalError,
    PolicySet,
    RegoEngine,
)

Fault = Literal["error", "undefined", "slow"] | None
"""Simulated OPA faults for fail-closed tests (HTTP only; `evaluate()` is unaffected):

- "error": every data request answers 500 internal_error;
- "undefined": every data request answers {} (no decision document);
- "slow": every data request waits `slow_seconds` before answering normally.
"""

_INPUT_MISSING_WARNING = {
    "code": "api_usage_warning",
    "message": "'input' key missing from the request",
}


class EmbeddedOPA(Served):
    """The stack/opa policies behind OPA's REST API.

    `app` is the ASGI app (also usable with httpx.ASGITransport); `start()` loads the
    policies (raising PolicyLoadError for a broken file) and serves them.
    """

    server_name = "embedded-opa"

    def __init__(self, policy_dir: Path | str | None = None, *, slow_seconds: float = 5.0) -> None:
        self.policy_dir = Path(policy_dir) if policy_dir is not None else POLICY_DIR
        self.fault: Fault = None
        self.slow_seconds = slow_seconds
        self._engine: RegoEngine | None = None
        self.app = Starlette(
            routes=[
                Route("/health", self._health, methods=["GET"]),
                Route("/v1/data", self._data, methods=["GET", "POST"]),
                Route("/v1/data/{path:path}", self._data, methods=["GET", "POST"]),
            ],
        )

    # --- policy set ------------------------------------------------------------------------

    @property
    def engine(self) -> RegoEngine:
        if self._engine is None:
            self.load()
        assert self._engine is not None
        return self._engine

    @property
    def policy(self) -> PolicySet:
        return self.engine.policy

    def load(self, policy_dir: Path | str | None = None) -> None:
        """(Re)load the policy folder. On PolicyLoadError the previous policy set stays."""
        folder = Path(policy_dir) if policy_dir is not None else self.policy_dir
        engine = RegoEngine(PolicySet.from_dir(folder))
        self.policy_dir = folder
        self._engine = engine

    reload = load

    def use(
        self,
        policy: PolicySet | Mapping[str, str],
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace the policy set with one in memory: a PolicySet, or modules (+ data)."""
        if not isinstance(policy, PolicySet):
            policy = PolicySet.from_sources(policy, data)
        self._engine = RegoEngine(policy)

    def evaluate(self, path: str, input: Any = NO_INPUT) -> Evaluation:
        """Evaluate a document ("agentauth/rbac/decision" or "data.agentauth.rbac.decision")."""
        return self.engine.evaluate(path, input)

    def decide(self, path: str, input: Any) -> Any:
        """The value of a document, or None when undefined."""
        return self.evaluate(path, input).value

    # --- serving ---------------------------------------------------------------------------

    async def start(self) -> str:
        if self._engine is None:
            self.load()
        return await super().start()

    # --- HTTP ------------------------------------------------------------------------------

    async def _health(self, request: Request) -> Response:
        return _json({})

    async def _data(self, request: Request) -> Response:
        started = time.perf_counter_ns()
        params = request.query_params
        pretty = _flag(params, "pretty")
        path = request.path_params.get("path", "")
        input_value: Any = NO_INPUT
        warning = None
        if request.method == "POST":
            body = await request.body()
            if body.strip():
                try:
                    doc = json.loads(body, parse_constant=_reject_constant)
                except (ValueError, UnicodeDecodeError) as exc:
                    return _bad_input(str(exc), pretty)
                if not isinstance(doc, dict):
                    return _bad_input(f"expected a JSON object, got {type(doc).__name__}", pretty)
                if "input" in doc:
                    input_value = doc["input"]
            if input_value is NO_INPUT:
                warning = _INPUT_MISSING_WARNING

        if self.fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        elif self.fault == "error":
            return _json(
                {"code": "internal_error", "message": "simulated fault: policy engine error"},
                500,
                pretty,
            )
        elif self.fault == "undefined":
            return _json({}, 200, pretty)

        try:
            result = self.engine.evaluate(path, input_value)
        except PolicyEvalError as exc:
            return _json({"code": "internal_error", "message": str(exc)}, 500, pretty)

        out: dict[str, Any] = {}
        if _flag(params, "metrics"):
            out["metrics"] = {
                "timer_rego_input_parse_ns": result.input_ns,
                "timer_rego_query_eval_ns": result.eval_ns,
                "timer_server_handler_ns": time.perf_counter_ns() - started,
            }
        if result.defined:
            out["result"] = result.value
        if warning is not None:
            out["warning"] = warning
        return _json(out, 200, pretty)


def _flag(params: Mapping[str, str], name: str) -> bool:
    if name not in params:
        return False
    return params[name].lower() in ("", "true", "1")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name!r}")


def _bad_input(detail: str, pretty: bool) -> Response:
    return _json(
        {
            "code": "invalid_parameter",
            "message": f"body contains malformed input document: {detail}",
        },
        400,
        pretty,
    )


def _json(doc: Any, status: int = 200, pretty: bool = False) -> Response:
    text = json.dumps(doc, indent=2 if pretty else None, ensure_ascii=False, allow_nan=False)
    return Response(text, status_code=status, media_type="application/json")
