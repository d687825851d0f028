"""A real model endpoint that misbehaves: every answer ends the turn with one clear reason.

A fake OpenAI-compatible endpoint on 127.0.0.1 answers what a broken or busy provider
might: a 200 that is not JSON, text/plain, no choices, 429 with Retry-After, 5xx, tool calls
whose arguments are not a JSON object. The turn's `error` and answer say why in one line,
nothing raises, and the runner takes the next prompt.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_auth.cli import main
from runtime.model_endpoint import RetryPolicy
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from stack.asgi_server import AsgiServer

Reply = Callable[[dict[str, Any]], Response]


def completion(content: str | None = "All done.", tool_calls: list[Any] | None = None,
               **message: Any) -> Reply:
    def reply(_request: dict[str, Any]) -> Response:
        body: dict[str, Any] = {"role": "assistant", "content": content, **message}
        if tool_calls is not None:
            body["tool_calls"] = tool_calls
        return JSONResponse({"id": "c1", "object": "chat.completion", "created": 0,
                             "model": "fake-1", "choices": [
                                 {"index": 0, "finish_reason": "stop", "message": body}]})
    return reply


def raw(body: bytes | str, status: int = 200, media: str = "application/json",
        headers: dict[str, str] | None = None) -> Reply:
    return lambda _request: Response(body, status_code=status, media_type=media,
                                     headers=headers)


def error(status: int, message: str = "busy", headers: dict[str, str] | None = None) -> Reply:
    return lambda _request: JSONResponse({"error": {"message": message}}, status_code=status,
                                         headers=headers)


class FakeModel:
    """Answers each chat completion with the next reply in `replies` (the last one repeats)."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [completion()]
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.server = AsgiServer(Starlette(routes=[
            Route("/v1/chat/completions", self.completions, methods=["POST"])]))

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization"))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(body)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeModel]:
    model = FakeModel()
    await model.server.start()
    yield model
    await model.server.stop()


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest_asyncio.fixture
async def runner(fake: FakeModel, stack: StackHandle) -> AsyncIterator[PatternRunner]:
    settings = Settings(model="fake-1", openai_base_url=fake.server.base_url + "/v1",
                        openai_api_key="sk-fake-key-000000000000000000")
    async with PatternRunner("p01", settings=settings, stack=stack) as r:
        r.agent.retry = RetryPolicy(sleep=Sleeps())
        yield r


BROKEN = {
    "200 with a body that is not JSON":
        (raw(b"{not json"), "the model endpoint's answer is not valid JSON (9 bytes)"),
    "200 text/plain": (raw("Hello!", media="text/plain"),
                       "the model endpoint answered text/plain, not a JSON chat completion"),
    "200 html without a type": (raw(b"<html>", media=""),
                                "the model endpoint answered a body without a type, not a "
                                "JSON chat completion"),
    "choices: []": (raw(json.dumps({"choices": []})),
                    "the model endpoint's answer has no choices"),
    "a JSON array": (raw(b"[1, 2]"), "the model endpoint's answer has no choices"),
    "a choice without a message": (raw(json.dumps({"choices": [{"index": 0}]})),
                                   "the model endpoint's answer has no message"),
    "content that is not a string": (completion(content=["a"]),  # type: ignore[arg-type]
                                     "the model's message content is a JSON array, not a "
                                     "string"),
    "a tool call without an id": (completion(None, [{"type": "function", "function": {
        "name": "read_data", "arguments": "{}"}}]), "the model made a tool call without an id"),
    "500": (error(500, "boom"), "the model endpoint answered HTTP 500: boom"),
    "401 names the problem": (error(401, "Incorrect API key provided: sk-fake-***"),
                              "the model endpoint answered HTTP 401: Incorrect API key "
                              "provided: sk-fake-***"),
    "503 every time": (error(503), "the model endpoint answered HTTP 503; gave up after 2 "
                                   "retries"),
    "429 every time": (error(429, headers={"Retry-After": "1"}),
                       "the model endpoint is rate limiting (HTTP 429); gave up after 2 "
                       "retries"),
    "429 asking for a minute": (error(429, headers={"Retry-After": "60"}),
                                "the model endpoint is rate limiting (HTTP 429); it asked to "
                                "wait 60 s, more than the 10 s the agent waits"),
}


@pytest.mark.parametrize(("reply", "reason"), list(BROKEN.values()), ids=list(BROKEN))
async def test_a_broken_model_answer_ends_the_turn_with_one_clear_reason(
    fake, runner, reply, reason
):
    fake.replies = [reply]
    turn = await runner.run_as("alice", "What are my expenses?")
    assert turn.error == reason
    assert turn.answer == f"The agent could not finish: {reason}"
    trace = runner.tap.trace(turn.trace_id)
    assert [h.kind for h in trace][-2:] == ["error", "answer"] and trace[-2].summary == reason
    assert "sk-fake-key" not in turn.error
    waits = runner.agent.retry.sleep.waits  # type: ignore[attr-defined]
    assert sum(waits) <= 10 and len(waits) <= 2
    fake.replies = [completion("Fine again.")]
    again = await runner.run_as("bob", "What are my expenses?")
    assert (again.error, again.answer) == (None, "Fine again.")  # the runner is still usable


async def test_a_429_is_retried_after_its_retry_after_then_succeeds(fake, runner):
    fake.replies = [error(429, headers={"Retry-After": "2"}),
                    error(503, headers={"retry-after-ms": "250"}), completion("Done.")]
    turn = await runner.run_as("alice", "What are my expenses?")
    assert (turn.error, turn.answer) == (None, "Done.")
    assert runner.agent.retry.sleep.waits == [2.0, 0.25]  # type: ignore[attr-defined]
    assert [h.status for h in runner.tap.trace(turn.trace_id) if h.kind == "llm"] == [
        429, 503, 200]


async def test_a_retry_after_date_is_honoured_and_no_header_backs_off(fake, runner):
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    fake.replies = [error(429, headers={"Retry-After": soon}), error(502), completion("Ok.")]
    turn = await runner.run_as("alice", "What are my expenses?")
    assert turn.answer == "Ok."
    first, second = runner.agent.retry.sleep.waits  # type: ignore[attr-defined]
    assert 1.0 <= first <= 3.0 and second == 1.0  # the second retry: backoff x 2


BAD_ARGUMENTS = {
    "not JSON": ("{kind: expenses", "arguments rejected: not valid JSON (15 characters)"),
    "a JSON array": ('["expenses"]', "arguments rejected: a JSON array, not an object"),
    "a JSON string": ('"expenses"', "arguments rejected: a JSON string, not an object"),
    "an object, not a string of JSON": ({"kind": "expenses"},
                                        "arguments rejected: a JSON object, not a string of "
                                        "JSON"),
    "no tool name": (None, "the call names no tool"),
}


@pytest.mark.parametrize(("arguments", "reason"), list(BAD_ARGUMENTS.values()),
                         ids=list(BAD_ARGUMENTS))
async def test_tool_call_arguments_that_are_not_an_object_are_refused_to_the_model(
    fake, runner, arguments, reason
):
    name = None if arguments is None else "read_data"
    fake.replies = [
        completion(None, [{"id": "bad", "type": "function",
                           "function": {"name": name, "arguments": arguments or "{}"}},
                          {"id": "good", "type": "function", "function": {
                              "name": "read_data", "arguments": '{"kind": "expenses"}'}}]),
        completion("Here is what I found."),
    ]
    turn = await runner.run_as("alice", "What are my expenses?")
    assert turn.answer == "Here is what I found." and turn.error is None
    refused, made = turn.tool_calls
    assert refused.refused and json.loads(refused.result)["error"]["reason"] == reason
    assert refused.arguments == {}  # nothing was run in its name
    assert not made.refused and "expenses" in made.result
    tool_messages = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["bad", "good"]
    assert json.loads(tool_messages[0]["content"])["error"]["reason"] == reason
    trace = runner.tap.trace(turn.trace_id)
    gate = [h for h in trace if h.kind == "audit" and h.source == "agent"]
    assert len(gate) == 1 and gate[0].status == 400 and reason in gate[0].summary
    assert sum(1 for h in trace if h.kind == "mcp" and "tools/call" in h.summary) == 1


async def test_the_cli_prints_the_reason_in_one_line_and_no_traceback(fake, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake.server.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-000000000000000000")
    fake.replies = [raw(json.dumps({"choices": []}))]
    # the CLI runs its own event loop: a thread of its own, while this loop serves the fake
    argv = ["run", "--model", "fake-1", "-p", "p01", "What are my expenses?"]
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    assert "agent (fake-1)> The agent could not finish: the model endpoint's answer has no " \
           "choices\n" in out


async def test_the_chat_request_is_the_model_the_conversation_and_the_tools_with_the_key(
    fake, runner
):
    """The agent sends its chat request raw (no SDK transform): it must still be a plain
    chat completion request, authorized with the configured key."""
    await runner.run_as("alice", "What are my expenses?")
    body = fake.requests[0]
    assert set(body) == {"model", "messages", "tools"}
    assert body["model"] == "fake-1"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "What are my expenses?"
    assert {t["function"]["name"] for t in body["tools"]} >= {"read_data", "write_data"}
    assert fake.authorizations[0] == "Bearer sk-fake-key-000000000000000000"


async def test_a_runner_given_only_a_model_reads_the_endpoint_and_key_from_the_environment(
    fake, stack, monkeypatch
):
    """As the CLI does: `PatternRunner(model=...)` with no settings takes OPENAI_BASE_URL
    and OPENAI_API_KEY from the environment."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake.server.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-0000000000000000000")
    async with PatternRunner("p01", model="fake-1", stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
    assert turn.error is None and turn.model == "fake-1" and turn.answer == "All done."
    assert fake.requests and fake.requests[0]["model"] == "fake-1"
    assert fake.authorizations[0] == "Bearer sk-env-key-0000000000000000000"


LAZY_PROBE = """
import asyncio, json, sys
from runtime import PatternRunner

async def main():
    async with PatternRunner("p01") as runner:
        started = "openai" in sys.modules
        turn = await runner.run_as("alice", "What are my expenses?")
        print(json.dumps({"started": started, "after": "openai" in sys.modules,
                          "error": turn.error, "calls": [c.name for c in turn.tool_calls]}))
asyncio.run(main())
"""


def test_the_model_client_is_made_on_the_first_model_call():
    """A runner starts without the openai SDK (its import is ~0.3 s); the first turn loads
    it and talks to the model through it as before."""
    out = subprocess.run([sys.executable, "-c", LAZY_PROBE],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "started": False, "after": True, "error": None, "calls": ["read_data"]}
