"""Ask OPA (patterns 06-08): `POST /v1/data/<path>` with `{"input": ...}`, read the decision.

The decision document is `{"allow": bool, "reason": str}`. Fail closed: OPA down, slow or
erroring is a 503; an undefined decision (OPA answers `{}`) is a denial. A filter (pattern
10) is one question about many items, `{"visible": [id, ...], "reason": str}`: undefined
shows nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from runtime.identity import Decision, DependencyError, Filter

if TYPE_CHECKING:
    from runtime.pattern_api import ServiceContext


async def ask_opa(ctx: ServiceContext, path: str, policy_input: dict[str, Any]) -> Decision:
    """OPA's decision at `path` (e.g. "agentauth/rbac/decision") for `policy_input`."""
    result = await _query(ctx, path, policy_input)
    if not isinstance(result, dict) or not isinstance(result.get("allow"), bool):
        return Decision(False, "OPA", f"policy {path} is undefined for this input",
                        policy_input)
    return Decision(result["allow"], "OPA", str(result.get("reason", "")), policy_input)


async def ask_opa_filter(ctx: ServiceContext, path: str, policy_input: dict[str, Any]) -> Filter:
    """OPA's filter at `path` (e.g. "agentauth/retrieval/filter"): the ids it lets through,
    in one round trip however many items `policy_input` lists."""
    result = await _query(ctx, path, policy_input)
    visible = result.get("visible") if isinstance(result, dict) else None
    if not isinstance(visible, list) or not all(isinstance(i, str) for i in visible):
        return Filter(frozenset(), "OPA", f"policy {path} is undefined for this input: "
                      "nothing is shown", policy_input)
    return Filter(frozenset(visible), "OPA", str(result.get("reason", "")), policy_input)


async def _query(ctx: ServiceContext, path: str, policy_input: dict[str, Any]) -> Any:
    """POST /v1/data/<path>: the `result` (None when undefined), or a 503 (fail closed)."""
    url = f"{ctx.opa_url}/v1/data/{path.strip('/')}"
    try:
        response = await ctx.http.post(url, json={"input": policy_input}, timeout=ctx.timeout)
    except httpx.HTTPError as exc:
        raise DependencyError(f"policy engine unreachable: {type(exc).__name__}",
                              decided_by="OPA") from None
    if response.status_code != 200:
        raise DependencyError(f"policy engine answered HTTP {response.status_code}",
                              decided_by="OPA")
    try:
        return response.json().get("result")
    except (ValueError, AttributeError):
        raise DependencyError("policy engine answered garbage", decided_by="OPA") from None
