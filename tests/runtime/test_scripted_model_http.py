"""The scripted model over HTTP: the real `openai` SDK end to end, errors, determinism."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall
from starlette.testclient import TestClient

from runtime.model import ScriptedModel, respond

KEY = "ak_alice_0123abcd45"
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "read_data", "description": "Read data",
     "parameters": {"type": "object", "properties": {
         "kind": {"type": "string", "enum": ["expenses", "documents", "notes"]},
         "query": {"type": "string"}, "id": {"type": "integer"},
         "api_key": {"type": "string"}}, "required": ["kind", "api_key"]}}},
    {"type": "function", "function": {"name": "manage_users", "description": "Users",
     "parameters": {"type": "object", "properties": {
         "action": {"type": "string"}, "username": {"type": "string"},
         "role": {"type": "string"}, "api_key": {"type": "string"}}, "required": ["action"]}}},
]
SYSTEM = {"role": "system", "content": f"You are Acme's assistant. You are helping alice. "
                                       f"The user's API key is {KEY}. Pass it as api_key to "
                                       f"every tool."}
EXPENSES = {"expenses": [
    {"id": i, "owner": "alice", "department": "engineering", "amount": amt, "currency": "USD",
     "description": d, "status": s} for i, amt, d, s in [
        (1, 89.0, "Team lunch", "approved"), (4, 1450.0, "External 4K monitor", "pending"),
        (5, 12.99, "Technical book", "approved"), (7, 310.0, "Training course", "pending")]]}


@pytest_asyncio.fixture
async def model() -> AsyncIterator[ScriptedModel]:
    m = ScriptedModel()
    await m.start()
    try:
        yield m
    finally:
        await m.stop()


async def test_openai_sdk_runs_the_tool_loop_end_to_end(model: ScriptedModel) -> None:
    assert model.base_url.endswith("/v1")
    client = AsyncOpenAI(base_url=model.base_url, api_key="x", max_retries=0)
    messages: list[Any] = [SYSTEM, {"role": "user", "content": "What are my expenses?"}]
    first = await client.chat.completions.create(model="scripted", messages=messages,
                                                 tools=TOOLS)
    choice = first.choices[0]
    assert first.model == "scripted" and first.object == "chat.completion"
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = (choice.message.tool_calls or [])[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert (call.id, call.type, call.function.name) == ("call_1_1", "function", "read_data")
    assert json.loads(call.function.arguments) == {"kind": "expenses", "api_key": KEY}
    assert first.usage is not None and first.usage.total_tokens == \
        first.usage.prompt_tokens + first.usage.completion_tokens > 0
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(EXPENSES)})
    second = await client.chat.completions.create(model="scripted", messages=messages,
                                                  tools=TOOLS)
    answer = second.choices[0]
    assert answer.finish_reason == "stop" and not answer.message.tool_calls
    content = answer.message.content or ""
    assert content.startswith("[scripted model] You have 4 expenses")
    assert "USD 1,450.00" in content
    await client.close()


async def test_models_endpoint_lists_scripted(model: ScriptedModel) -> None:
    client = AsyncOpenAI(base_url=model.base_url, api_key="x", max_retries=0)
    ids = [m.id async for m in client.models.list()]
    assert ids == ["scripted"]
    await client.close()


async def test_sdk_sees_a_bad_request_as_400(model: ScriptedModel) -> None:
    client = AsyncOpenAI(base_url=model.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="scripted", messages=[])
    assert info.value.status_code == 400
    assert info.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert info.value.body["param"] == "messages"  # type: ignore[index]
    await client.close()


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    (b"", None),
    (b"[1, 2]", None),
    (b'{"messages": [{"role": "user", "content": "hi", "x": NaN}]}', None),
    (b'{"model": "scripted"}', "messages"),
    (b'{"model": "scripted", "messages": "hi"}', "messages"),
    (b'{"model": "scripted", "messages": [{"role": "wizard", "content": "hi"}]}',
     "messages.0.role"),
    (b'{"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "stream": true}',
     "stream"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}',
     "tools.0.function"),
])
async def test_bad_request_gets_400_with_openai_error_shape(model: ScriptedModel, body: bytes,
                                                            param: str | None) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{model.base_url}/chat/completions", content=body,
                            headers={"content-type": "application/json"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


async def test_unknown_path_and_wrong_method_get_openai_errors(model: ScriptedModel) -> None:
    async with httpx.AsyncClient() as http:
        missing = await http.post(f"{model.base_url}/completions", json={})
        wrong = await http.get(f"{model.base_url}/chat/completions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "invalid_request_error"


async def test_same_conversation_gives_identical_response_json(model: ScriptedModel) -> None:
    request: dict[str, Any] = {"model": "scripted", "tools": TOOLS,
               "messages": [SYSTEM, {"role": "user", "content": "List all users."}]}
    async with httpx.AsyncClient() as http:
        url = f"{model.base_url}/chat/completions"
        a, b = (await http.post(url, json=request)), (await http.post(url, json=request))
        request["messages"][1] = {"role": "user", "content": "What are my expenses?"}
        c = await http.post(url, json=request)
    assert a.status_code == 200 and a.content == b.content
    assert a.json()["created"] == 0 and a.json()["id"].startswith("chatcmpl-")
    assert c.json()["id"] != a.json()["id"]


async def test_stop_frees_the_server_and_start_is_idempotent() -> None:
    m = ScriptedModel()
    url = await m.start()
    assert await m.start() == url
    await m.stop()
    with pytest.raises(RuntimeError):
        _ = m.base_url
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/models")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer"])},
    optional={"content": st.one_of(st.text(max_size=80), st.none(), _json.map(json.dumps)),
              "tool_call_id": st.sampled_from(["call_1_1", "call_1_2", "x"]),
              "tool_calls": st.lists(st.fixed_dictionaries({
                  "id": st.sampled_from(["call_1_1", "call_1_2"]),
                  "type": st.just("function"),
                  "function": st.fixed_dictionaries({
                      "name": st.sampled_from(["read_data", "manage_users", "write_data"]),
                      "arguments": st.one_of(st.text(max_size=20), _json.map(json.dumps))})}),
                  max_size=2)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(_json, st.fixed_dictionaries(
    {"messages": st.lists(_message, max_size=6)},
    optional={"tools": st.just(TOOLS), "model": st.text(max_size=5)})))
def test_any_json_body_gets_200_or_400_never_500(body: Any) -> None:
    with TestClient(ScriptedModel().app, raise_server_exceptions=True) as client:
        r = client.post("/v1/chat/completions", json=body)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert r.json()["choices"][0]["message"]["role"] == "assistant"


@settings(max_examples=200, deadline=None)
@given(prompt=st.text(max_size=120))
def test_any_prompt_gets_a_scripted_answer_or_a_tool_call(prompt: str) -> None:
    msg = respond([SYSTEM, {"role": "user", "content": prompt}], TOOLS)
    if "tool_calls" in msg:
        for call in msg["tool_calls"]:
            assert call["function"]["name"] in {"read_data", "manage_users"}
            json.loads(call["function"]["arguments"])
    else:
        assert msg["content"].startswith("[scripted model] ")
