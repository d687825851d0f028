"""Pattern 09, MCP side: pattern 08's bound delegation, with task-scoped tokens for sub-agents
(a second RFC 8693 exchange whose `act` nests the agent under the sub-agent)."""

from typing import Any

from runtime.pattern_api import (
    AuthHandler,
    AuthorizationDenied,
    Delegation,
    InsufficientScope,
    McpContext,
    Outgoing,
    UserContext,
)
from runtime.presets import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    request_token,
    sign_dpop_proof,
    verify_access_token,
)

TASK_SCOPES = ("acme:read", "acme:write")   # what a token may do; a task gets a subset
SUB_AGENTS = ("summarizer",)                # clients the agent may hand tasks to


class TaskScopedDelegation(AuthHandler):
    user_credential = "bearer_token"    # the agent sends the user's access token,
    actor_credential = "actor_token"    # and its own (got with a secret we do not hold)
    # The login grants both task scopes; `agent:delegate` lets the agent hand tasks on.
    scopes = ("mcp:tools", *TASK_SCOPES, "agent:delegate")

    async def authenticate(self, token: str, ctx: McpContext) -> dict[str, Any]:
        claims = await verify_access_token(token, ctx)    # as in pattern 08
        if "mcp:tools" not in claims.get("scope", "").split():
            raise InsufficientScope("mcp:tools")
        return claims

    async def before_tool_call(self, user_context: UserContext, tool_name: str) -> bool:
        return True     # the IdP and OPA decide; prepare_request names who acts

    async def delegate(self, parent: UserContext, delegation: Delegation) -> UserContext:
        # The agent hands a task on: RFC 8693, twice. First the agent trades the user's
        # token for one only the sub-agent may use (`aud`, `may_act`), with the task's scope.
        agent, sub = delegation.agent, delegation.sub
        handed = await request_token(agent, {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": agent.client_id, "client_secret": agent.client_secret,
            "subject_token": parent.jwt or "", "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": parent.actor_token or "", "actor_token_type": ACCESS_TOKEN_TYPE,
            "scope": f"mcp:tools {delegation.scope} delegate:{delegation.sub_agent}",
            "audience": delegation.sub_agent,
        })
        # Then the sub-agent trades that for its own MCP token, naming itself actor. The
        # IdP judges the chain: `may_act` names the sub-agent, the chain is not too deep,
        # the scope only narrows. The new `act` is {sub: summarizer, act: {sub: agent}}.
        task = await request_token(sub, {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": sub.client_id, "client_secret": sub.client_secret,
            "subject_token": handed.access_token, "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": await sub.token(), "actor_token_type": ACCESS_TOKEN_TYPE,
            "scope": f"mcp:tools {delegation.scope}",
            "audience": "mcp-server",
        })
        return UserContext(user=parent.user, jwt=task.access_token)

    async def prepare_request(
        self, user_context: UserContext, headers: dict[str, str], outgoing: Outgoing,
        ctx: McpContext,
    ) -> dict[str, str]:
        claims = await verify_access_token(user_context.jwt or "", ctx)
        granted = [s for s in claims.get("scope", "").split() if s in TASK_SCOPES]
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": ctx.client_id, "client_secret": ctx.client_secret,
            "subject_token": user_context.jwt or "", "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": outgoing.audience,
            # Keep the task's scope, no more: the IdP refuses a scope that widens.
            "scope": " ".join(granted),
        }
        # A sub-agent's task token was made by the IdP's delegation exchange: its `act` names
        # the chain (Keycloak 26.7 emits no `act`; there only `azp` names the sub-agent).
        if "act" not in claims and claims.get("azp") not in SUB_AGENTS:
            # The agent's own call: as in pattern 08, the agent is named actor.
            if not user_context.actor_token:
                raise AuthorizationDenied("no actor token: the agent did not say who it "
                                          "is (X-Actor-Token)", 401)
            form |= {"actor_token": user_context.actor_token,
                     "actor_token_type": ACCESS_TOKEN_TYPE}
        # A task token names no new actor: the IdP keeps its chain. Bound as in pattern 08.
        issued = await request_token(ctx, form,
                                     dpop_proof=sign_dpop_proof(ctx, "POST", ctx.token_url))
        headers["Authorization"] = f"DPoP {issued.access_token}"
        headers["DPoP"] = sign_dpop_proof(ctx, outgoing.method, outgoing.url,
                                          access_token=issued.access_token)
        return headers


auth_handler = TaskScopedDelegation()
