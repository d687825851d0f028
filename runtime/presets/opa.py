"""Ask OPA (patterns 06-08): `POST /v1/data/<path>` with `{"input": ...}`, read the decision.

The decision document is `{"allow": bool, "reason": str}`. Fail closed: OPA down, slow or
erroring is a 503; an undefined decision (OPA answers `{}`) is a denial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from runtime.identity import Decision, DependencyError

if TYPE_CHECKING:
    from runtime.pattern_api import ServiceContext


async def ask_opa(ctx: ServiceContext, path: str, policy_input: dict[str, Any]) -> Decision:
    """OPA's decision at `path` (e.g. "agentauth/rbac/decision") for `policy_input`."""
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
        result = response.json().get("result")
    except (ValueError, AttributeError):
        raise DependencyError("policy engine answered garbage", decided_by="OPA") from None
    if not isinstance(result, dict) or not isinstance(result.get("allow"), bool):
        return Decision(False, "OPA", f"policy {path} is undefined for this input",
                        policy_input)
    return Decision(result["allow"], "OPA", str(result.get("reason", "")), policy_input)
