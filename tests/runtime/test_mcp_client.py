"""The agent's MCP client reuses what it learnt per user (server/discover, tools/list), and
nothing else: every tool call still carries a credential the MCP server verifies."""

from runtime.runner import PatternRunner
from runtime.stack_handle import StackHandle


def mcp_calls(runner: PatternRunner, trace_id: str) -> list[str]:
    return [h.summary for h in runner.tap.trace(trace_id) if h.kind == "mcp"]


async def test_a_users_second_turn_sends_only_its_tool_calls(p01):
    first = await p01.run_as("alice", "What are my expenses?")
    assert mcp_calls(p01, first.trace_id) == [
        "server/discover", "tools/list", "tools/call read_data"]
    second = await p01.run_as("alice", "What are my expenses?")
    assert mcp_calls(p01, second.trace_id) == ["tools/call read_data"]
    assert "8 expenses" in second.answer


async def test_another_user_discovers_and_lists_for_herself(p01):
    await p01.run_as("alice", "What are my expenses?")
    turn = await p01.run_as("bob", "What are my expenses?")
    assert mcp_calls(p01, turn.trace_id) == [
        "server/discover", "tools/list", "tools/call read_data"]
    assert all(h.user == "bob" for h in p01.tap.trace(turn.trace_id))


async def test_an_expired_token_is_refused_although_the_tool_list_is_reused(stack: StackHandle):
    async with PatternRunner("p06", stack=stack) as runner:
        await runner.run_as("alice", "What are my expenses?")
        runner.clock.advance(2 * 86400)   # past the access (and refresh) token's expiry
        try:
            turn = await runner.run_as("alice", "What are my expenses?")
        finally:
            runner.clock.advance(-2 * 86400)
        hops = runner.tap.trace(turn.trace_id)
    mcp = [h for h in hops if h.kind == "mcp"]
    assert "tools/list" not in [h.summary for h in mcp]
    assert mcp[0].summary == "tools/call read_data" and mcp[0].status == 401
    assert any(h.kind == "idp" and h.summary == "token authorization_code" for h in hops)
    assert mcp[-1].summary == "tools/call read_data" and mcp[-1].status == 200


async def test_a_reset_keeps_the_servers_answers_they_hold_no_user_state(p01):
    await p01.run_as("alice", "What are my expenses?")
    p01.reset()
    turn = await p01.run_as("alice", "What are my expenses?")
    assert mcp_calls(p01, turn.trace_id) == ["tools/call read_data"]


async def test_a_hand_off_before_any_mcp_request_still_carries_a_fresh_login(
        stack: StackHandle):
    """With the listing reused, a turn whose first move is handing a task to the summarizer
    has sent the MCP server nothing yet: the agent logs the user in (the MCP login flow)
    and hands on the new token, rather than nothing (A8 under p05)."""
    async with PatternRunner("p05", stack=stack) as runner:
        await runner.run_as("alice", "What are my expenses?")
        runner.clock.advance(2 * 86400)   # alice's tokens expire; her tool listing does not
        try:
            step = await runner.run_step("A8")
        finally:
            runner.clock.advance(-2 * 86400)
        hops = [h for t in step.trace_ids for h in runner.tap.trace(t)]
    assert step.outcome == "ALLOW", step.detail
    sub = [h for h in hops if h.kind == "mcp" and h.source == "summarizer"]
    assert sub and all(h.status == 200 for h in sub)
    logins = [i for i, h in enumerate(hops) if h.kind == "idp"
              and h.summary == "token authorization_code"]
    first_sub = next(i for i, h in enumerate(hops) if h.kind == "mcp"
                     and h.source == "summarizer")
    assert logins and logins[0] < first_sub


async def test_the_summarizer_learns_the_server_once_per_user_too(stack: StackHandle):
    async with PatternRunner("p09", stack=stack) as runner:
        first = await runner.run_step("A8")
        second = await runner.run_step("A8")
        assert first.outcome == second.outcome == "DENY"

        def sub_mcp(step) -> list[str]:
            return [h.summary for t in step.trace_ids for h in runner.tap.trace(t)
                    if h.kind == "mcp" and h.source == "summarizer"]

    assert sub_mcp(first)[:2] == ["server/discover", "tools/list"]
    assert sub_mcp(second) and all(s.startswith("tools/call") for s in sub_mcp(second))
