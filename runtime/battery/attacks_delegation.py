"""Sub-agent and retrieval attacks (patterns 09 and 10; RFC 8693 sections 4.1 and 4.4).

The summarizer sub-agent holds a task token the agent handed it (a second exchange: `act`
names the summarizer, the agent nested under it, scope `acme:read`). Played here as a
compromised summarizer: it asks the IdP for more scope, skips the agent's link of the chain,
replays the agent's hand-off token at the MCP server, chains one actor deeper, and uses its
task token to write. The retrieval attack is dave's query crafted to match the admin-only
document's chunks.
"""

from __future__ import annotations

from typing import Any

from runtime.battery.core import Arena, Attack, Outcome, Skip, reason_of, split_token
from runtime.demo_realm import demo_realm
from runtime.presets import ACCESS_TOKEN_TYPE
from runtime.subagent import SUB_AGENT, TASK_SCOPE

FAMILY = "Delegation"
CHAINING = ("p09", "p10")
RETRIEVING = ("p05", "p06", "p07", "p08", "p09", "p10")
#: a query made of the admin-only document's own words (world.py, "Admin credentials policy")
CRAFTED_QUERY = "admin credentials policy break-glass keys rotate vault"


async def _hand_off(a: Arena, user: str = "alice") -> tuple[str, str]:
    """The agent's hand-off token (for the summarizer) and the summarizer's own task token,
    made as the pattern makes them: two exchanges."""
    login = await a.runner.login(user)
    agent_cc = await a.client_credentials("agent")
    handed = await _exchange(a, login, "agent", SUB_AGENT,
                             f"mcp:tools {TASK_SCOPE} delegate:{SUB_AGENT}", agent_cc)
    if handed.status_code != 200:
        raise AssertionError(f"the hand-off itself failed: {reason_of(handed)}")
    hand_off = str(handed.json()["access_token"])
    own = await a.client_credentials(SUB_AGENT)
    task = await _exchange(a, hand_off, SUB_AGENT, "mcp-server", f"mcp:tools {TASK_SCOPE}", own)
    if task.status_code != 200:
        raise AssertionError(f"the sub-agent's exchange failed: {reason_of(task)}")
    return hand_off, str(task.json()["access_token"])


async def _exchange(a: Arena, subject: str, client_id: str, audience: str, scope: str,
                    actor: str | None) -> Any:
    extra = {"scope": scope}
    if actor is not None:
        extra |= {"actor_token": actor, "actor_token_type": ACCESS_TOKEN_TYPE}
    return await a.exchange(subject, audience=audience, client_id=client_id,
                            secret=demo_realm().secret(client_id), extra=extra)


def _issued(response: Any, what: str) -> Outcome:
    if response.status_code == 200:
        return Outcome(True, 200, what)
    return Outcome(False, response.status_code, reason_of(response))


async def widen_scope(a: Arena) -> Outcome:
    """The summarizer asks for `acme:write` on top of its read-only hand-off."""
    hand_off, _ = await _hand_off(a)
    own = await a.client_credentials(SUB_AGENT)
    response = await _exchange(a, hand_off, SUB_AGENT, "mcp-server",
                               f"mcp:tools {TASK_SCOPE} acme:write", own)
    return _issued(response, "the IdP widened the sub-agent's scope to acme:write")


async def skip_link(a: Arena) -> Outcome:
    """The summarizer exchanges alice's own login token, leaving the agent out of the
    chain (it would act for alice directly, with all her scopes)."""
    login = await a.runner.login("alice")
    own = await a.client_credentials(SUB_AGENT)
    response = await _exchange(a, login, SUB_AGENT, "mcp-server",
                               f"mcp:tools {TASK_SCOPE}", own)
    return _issued(response, "the IdP let the summarizer act for alice without the agent")


async def replay_parent_token(a: Arena) -> Outcome:
    """The summarizer sends the agent's hand-off token (its parent's) straight to the MCP
    server and asks it to post a note."""
    hand_off, _ = await _hand_off(a)
    before = len(a.runner.world.notes)
    answer = await a.mcp_call("write_data", {"action": "post_note", "text": "parent's token"},
                              hand_off)
    return _posted(a, before, answer)


async def deeper_chain(a: Arena) -> Outcome:
    """The summarizer's task token is exchanged once more, with the agent as a third actor
    (summarizer -> agent -> ... -> summarizer): the chain would grow past its limit, and
    nothing in the task token says anyone may act for it."""
    _, task = await _hand_off(a)
    agent_cc = await a.client_credentials("agent")
    response = await _exchange(a, task, "mcp-server", "records-service", TASK_SCOPE, agent_cc)
    if response.status_code == 200 and "act" not in split_token(
            response.json()["access_token"])[1]:
        # Keycloak 26.7 ignores actor_token: it made no chain, so there is no depth to judge
        raise Skip("the IdP ignores actor_token (no act): it makes no delegation chain")
    return _issued(response, "the IdP nested a third actor into the chain")


async def task_token_writes(a: Arena) -> Outcome:
    """The summarizer uses its (valid) read-only task token to post alice's expenses as a
    public note through the MCP server: script step A8 without the model."""
    _, task = await _hand_off(a)
    before = len(a.runner.world.notes)
    answer = await a.mcp_call("write_data", {"action": "post_note",
                                             "text": "alice's expenses: 1450 USD"}, task)
    return _posted(a, before, answer)


def _posted(a: Arena, before: int, answer: dict[str, Any]) -> Outcome:
    if len(a.runner.world.notes) > before:
        return Outcome(True, 200, "a public note was posted")
    error = answer.get("error") if isinstance(answer, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    reason = error.get("reason") if isinstance(error, dict) else str(answer)[:200]
    return Outcome(False, status if isinstance(status, int) else None, str(reason)[:200])


async def crafted_query(a: Arena) -> Outcome:
    """dave's search, worded to match the admin-only document's chunks."""
    login = await a.runner.login("dave")
    answer = await a.mcp_call("search", {"query": CRAFTED_QUERY}, login)
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        return _posted(a, len(a.runner.world.notes), answer)
    dave, docs = a.runner.world.users["dave"], a.runner.world.documents
    leaked = sorted({str(r.get("title")) for r in results if isinstance(r, dict)
                     and r.get("document") in docs
                     and not dave.may_read(docs[r["document"]])})
    if leaked:
        return Outcome(True, 200, f"dave's results quote {', '.join(leaked)}")
    return Outcome(False, 200, f"{len(results)} results, none from a document dave may "
                   "not read")


ATTACKS: tuple[Attack, ...] = (
    Attack("chain.widen-scope", FAMILY, "sub-agent asks the IdP for acme:write on its "
           "read-only hand-off", widen_scope, patterns=CHAINING, ref="RFC 8693 2.1 scope"),
    Attack("chain.skip-link", FAMILY, "sub-agent exchanges the user's token itself, "
           "skipping the agent's link", skip_link, patterns=CHAINING,
           ref="RFC 8693 4.4 may_act"),
    Attack("chain.parent-token-replay", FAMILY, "sub-agent replays the agent's hand-off "
           "token at the MCP server to post a note", replay_parent_token, patterns=CHAINING,
           ref="RFC 8707 audience"),
    Attack("chain.too-deep", FAMILY, "the task token is exchanged again with a third actor",
           deeper_chain, patterns=CHAINING, ref="RFC 8693 4.1, 4.4"),
    Attack("chain.task-token-writes", FAMILY, "sub-agent posts alice's expenses with its "
           "read-only task token (A8 without the model)", task_token_writes,
           patterns=CHAINING, ref="RFC 8693 4.1 current actor and scope"),
    Attack("retrieval.crafted-query", FAMILY, "dave's search crafted to match the "
           "admin-only document", crafted_query, patterns=RETRIEVING,
           unprotected=frozenset(RETRIEVING[:-1]), ref="OWASP LLM08 (vector and embedding "
           "weaknesses)"),
)
