"""One chat-completions call, made safe against whatever a real endpoint answers.

`complete` returns the first choice as a `ModelReply`, checked field by field, or raises
`ModelFailure` with the one line to show: a body that is not JSON or not a chat completion,
no choices, an HTTP error, a timeout, or a 429/502/503/504 still failing after the
`RetryPolicy` (Retry-After honoured; bounded in retries and in total wait). A tool call's
arguments are kept as sent: judging them is the agent's business.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx2

from stack.errors import ExplorerError

if TYPE_CHECKING:
    import openai

RETRY_STATUSES = frozenset({429, 502, 503, 504})  # "try again later"; other errors are final


class ModelFailure(ExplorerError):
    """The model endpoint's answer cannot be used; the message is the one line to show."""


class ModelClient:
    """An OpenAI-compatible endpoint, reached through the openai SDK's client, which is made
    on first use: importing the SDK takes ~0.3 s (its `types` package), and the explorer is
    ready, and a pattern without a model call runs, before anyone needs it. `load_sdk` warms
    it up off the event loop."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float,
                 http_client: httpx2.AsyncClient) -> None:
        self.base_url = base_url
        self._api_key, self._timeout, self._http = api_key, timeout, http_client
        self._sdk: openai.AsyncOpenAI | None = None

    @property
    def sdk(self) -> openai.AsyncOpenAI:
        if self._sdk is None:
            import openai

            try:
                self._sdk = openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key,
                                               max_retries=0, timeout=self._timeout,
                                               http_client=self._http)
            except openai.OpenAIError as exc:
                raise ModelFailure(f"the model endpoint cannot be used: {exc}") from None
        return self._sdk


def load_sdk() -> None:
    """Import the openai SDK now: `await asyncio.to_thread(load_sdk)` once the rest is up."""
    import openai  # noqa: F401


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait out an endpoint that says "later": at most `retries` more attempts
    and `max_wait` seconds of sleep in all. A Retry-After (or retry-after-ms) header sets
    each wait; without one it is backoff, 2 x backoff, ..."""

    retries: int = 2
    max_wait: float = 10.0
    backoff: float = 0.5
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str | None
    arguments: object  # as the model sent it: a string of JSON, if it follows the API


@dataclass(frozen=True)
class ModelReply:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    model: str

    def as_message(self) -> dict[str, Any]:
        """The assistant message as it goes back into the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name or "", "arguments": c.arguments if isinstance(c.arguments, str)
                else json.dumps(c.arguments, default=str)}} for c in self.tool_calls]
        return message


async def complete(llm: ModelClient, model: str, messages: list[dict[str, Any]],
                   tools: list[dict[str, Any]], retry: RetryPolicy) -> ModelReply:
    """The model's next message, or ModelFailure."""
    sdk = llm.sdk
    import openai  # loaded by `sdk` above

    waited, attempt = 0.0, 0
    while True:
        try:
            # The SDK's documented raw request: the body is plain JSON already, so it skips
            # `create`'s transform, which walks every message and tool schema of every request
            # (~8 % of a matrix run's CPU); errors and headers are the same as `create`'s.
            raw = await sdk.post(
                "/chat/completions", cast_to=httpx2.Response,
                body={"model": model, "messages": messages, "tools": tools},
                options={"security": {"bearer_auth": True}},
            )
        except openai.APITimeoutError:
            raise ModelFailure("the model endpoint timed out") from None
        except openai.APIConnectionError:
            raise ModelFailure("the model endpoint is unreachable") from None
        except openai.APIStatusError as exc:
            delay = _retry_delay(exc, attempt, waited, retry)
            if isinstance(delay, str):
                raise ModelFailure(delay) from None
            await retry.sleep(delay)
            waited, attempt = waited + delay, attempt + 1
            continue
        except openai.APIError as exc:   # none other is raised for a raw request; to be sure
            raise ModelFailure(f"the model endpoint's answer cannot be used: "
                               f"{type(exc).__name__}") from None
        return parse_reply(raw.headers.get("content-type", ""), raw.content, model)


def _retry_delay(exc: openai.APIStatusError, attempt: int, waited: float,
                 retry: RetryPolicy) -> float | str:
    """Seconds to wait before the next attempt, or the reason to give up."""
    status = exc.status_code
    reason = ("the model endpoint is rate limiting (HTTP 429)" if status == 429
              else f"the model endpoint answered HTTP {status}")
    if status not in RETRY_STATUSES:
        message = exc.body.get("message") if isinstance(exc.body, dict) else None
        return f"{reason}: {message[:160]}" if isinstance(message, str) and message else reason
    if attempt >= retry.retries:
        return f"{reason}; gave up after {attempt} retries"
    asked = retry_after(exc.response.headers)
    delay = retry.backoff * 2**attempt if asked is None else asked
    if waited + delay > retry.max_wait:
        return (f"{reason}; it asked to wait {delay:g} s, more than the {retry.max_wait:g} s "
                "the agent waits")
    return delay


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if valid."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def parse_reply(content_type: str, body: bytes, model: str) -> ModelReply:
    """The first choice of a chat completion body, or ModelFailure saying what is wrong."""
    media = content_type.split(";")[0].strip().lower()
    if "json" not in media:
        raise ModelFailure(f"the model endpoint answered {media or 'a body without a type'}, "
                           "not a JSON chat completion")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ModelFailure(f"the model endpoint's answer is not valid JSON ({len(body)} bytes)"
                           ) from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise ModelFailure("the model endpoint's answer has no choices")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise ModelFailure("the model endpoint's answer has no message")
    content, raw_calls = message.get("content"), message.get("tool_calls") or []
    if content is not None and not isinstance(content, str):
        raise ModelFailure(f"the model's message content is a JSON {json_type(content)}, "
                           "not a string")
    if not isinstance(raw_calls, list):
        raise ModelFailure(f"the model's tool_calls is a JSON {json_type(raw_calls)}, "
                           "not an array")
    calls = []
    for raw in raw_calls:
        call_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise ModelFailure("the model made a tool call without an id")
        function = raw.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        calls.append(ToolCall(call_id, name if isinstance(name, str) and name else None,
                              function.get("arguments")))
    reported = data.get("model")
    return ModelReply(content, tuple(calls),
                      reported if isinstance(reported, str) and reported else model)


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type (object, array, string, ...)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
