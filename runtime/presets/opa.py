"""Ask OPA (patterns 06-08): POST /v1/data/<decision> with the verified claims as input.

Fail closed: OPA down, slow or erroring is a 503; an undefined decision is a denial.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from runtime.identity import Decision, DependencyError, Identity
from runtime.pattern_api import ServiceContext

Authorizer = Callable[[Identity, str, dict[str, Any], ServiceContext], Awaitable[Decision]]


def opa_policy(decision_path: str) -> Authorizer:
    """authorize() backed by the OPA decision document at `decision_path`."""
    path = decision_path.strip("/")

    async def authorize(
        identity: Identity, action: str, resource: dict[str, Any], ctx: ServiceContext
    ) -> Decision:
        policy_input = {"action": action, "token": identity.claims, "resource": resource}
        url = f"{ctx.stack.opa_url}/v1/data/{path}"
        try:
            response = await ctx.http.post(url, json={"input": policy_input},
                                           timeout=ctx.timeout)
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

    return authorize
