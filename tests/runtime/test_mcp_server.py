"""The MCP server: tool schemas, and how refusals and failures reach the model."""

import json

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runtime.http import make_client2
from runtime.runner import PatternRunner


async def _call(runner: PatternRunner, tool: str, args: dict, headers: dict | None = None):
    http = make_client2(runner.tap, runner.endpoints, "test", headers=headers or {})
    async with http, Client(streamable_http_client(runner.mcp_url, http_client=http)) as mcp:
        result = await mcp.call_tool(tool, args)
    return json.loads(result.content[0].text)


async def _tools(runner: PatternRunner) -> dict:
    http = make_client2(runner.tap, runner.endpoints, "test")
    async with http, Client(streamable_http_client(runner.mcp_url, http_client=http)) as mcp:
        listed = await mcp.list_tools()
    return {t.name: t.input_schema for t in listed.tools}


async def test_four_tools_with_typed_arguments(p01):
    tools = await _tools(p01)
    assert set(tools) == {"read_data", "write_data", "manage_users", "search"}
    assert tools["search"]["required"] == ["query"]
    assert tools["search"]["properties"]["query"]["maxLength"] == 200
    read = tools["read_data"]
    assert read["required"] == ["kind"]
    assert read["properties"]["kind"]["enum"] == ["expenses", "documents", "notes"]
    assert "api_key" in read["properties"]
    assert set(tools["write_data"]["properties"]["action"]["enum"]) == {
        "submit_expense", "approve_expense", "post_note"}
    assert set(tools["manage_users"]["properties"]["action"]["enum"]) == {
        "list", "set_role", "disable"}


async def test_the_model_does_not_see_api_key_unless_the_pattern_shows_it(stack):
    async with PatternRunner("p04", stack=stack) as p04, PatternRunner("p03", stack=stack) as p03:
        bound = p04.loaded.mcp.bound_arguments("alice", "ak_alice_0")
        hidden = p04.agent._schema_for_model(type("T", (), {
            "name": "read_data", "description": "",
            "input_schema": (await _tools(p04))["read_data"]})(), bound)
        shown = p03.agent._schema_for_model(type("T", (), {
            "name": "read_data", "description": "",
            "input_schema": (await _tools(p03))["read_data"]})(), {})
    assert "api_key" not in hidden["function"]["parameters"]["properties"]
    assert "api_key" in shown["function"]["parameters"]["properties"]


async def test_a_service_refusal_reaches_the_model_as_an_error_with_status_and_reason(stack):
    async with PatternRunner("p04", stack=stack) as runner:
        result = await _call(runner, "manage_users",
                             {"action": "disable", "username": "bob",
                              "api_key": runner.world.key_for("dave")})
    assert result["error"]["status"] == 403
    assert "dave (readonly) may not disable_user" in result["error"]["reason"]
    assert result["error"]["decided_by"] == "service"


async def test_missing_arguments_are_reported_not_crashed(p01):
    result = await _call(p01, "write_data", {"action": "approve_expense"})
    assert result == {"error": {"status": 400, "reason": "write_data: expense_id is required",
                                "decided_by": "runtime"}}
    result = await _call(p01, "manage_users", {"action": "set_role", "username": "bob"})
    assert result["error"]["reason"] == "manage_users: role is required"


async def test_an_unreachable_service_fails_closed_with_503(p01):
    p01.service_urls["records"] = "http://127.0.0.1:9"
    result = await _call(p01, "read_data", {"kind": "notes"})
    assert result["error"]["status"] == 503 and "unreachable" in result["error"]["reason"]


@pytest.mark.parametrize(("args", "field"), [
    ({"action": "approve_expense", "expense_id": True}, "expense_id"),   # lax: expense 1
    ({"action": "approve_expense", "expense_id": "4"}, "expense_id"),
    ({"action": "approve_expense", "expense_id": [4]}, "expense_id"),
    ({"action": "approve_expense", "expense_id": 4.5}, "expense_id"),
    ({"action": "submit_expense", "amount": True, "description": "x"}, "amount"),
    ({"action": "submit_expense", "amount": "12", "description": "x"}, "amount"),
])
async def test_arguments_of_the_wrong_json_type_are_refused_not_coerced(p01, args, field):
    http = make_client2(p01.tap, p01.endpoints, "test")
    async with http, Client(streamable_http_client(p01.mcp_url, http_client=http)) as mcp:
        result = await mcp.call_tool("write_data", args)
    text = result.content[0].text
    assert result.is_error and text.startswith(f"Error executing tool write_data: {field}: ")
    assert "errors.pydantic.dev" not in text            # one line to act on, no links
    assert not any(h.kind == "service" for h in p01.tap.hops)   # no service was asked
    gate = [h for h in p01.tap.hops if h.target == "gate"]     # the refusal is on the wire
    assert [(g.source, g.status) for g in gate] == [("mcp-server", 400)]
    assert gate[0].summary.startswith(f"DENY at the MCP server (runtime): write_data: {field}")
    assert p01.world.expenses[4].status == "pending" and len(p01.world.expenses) == 8


async def test_an_integer_written_as_4_0_is_the_integer_4(p01):
    result = await _call(p01, "write_data", {"action": "approve_expense", "expense_id": 4.0})
    assert result["expense"]["id"] == 4 and result["expense"]["status"] == "approved"


async def test_a_direct_call_the_schema_refuses_counts_as_refused(p01):
    turn = await p01.call_tool("alice", "write_data",
                               {"action": "approve_expense", "expense_id": 4.5})
    assert turn.tool_calls[0].refused
    assert "expense_id: Input should be a valid integer" in turn.tool_calls[0].result
