"""The runner end to end: real servers on 127.0.0.1, the scripted model, the wire."""

import json

import pytest

from runtime.errors import InputError, RunnerError
from runtime.export import to_curl, to_har, to_jsonl
from runtime.runner import PatternRunner
from runtime.settings import Settings


async def test_l1_is_answered_end_to_end_and_every_hop_is_on_the_wire(p01):
    turn = await p01.run_as("alice", "What are my expenses?")
    assert turn.answer.startswith("[scripted model]")
    assert "8 expenses" in turn.answer
    assert [c.name for c in turn.tool_calls] == ["read_data"]
    hops = p01.tap.trace(turn.trace_id)
    kinds = [h.kind for h in hops]
    assert kinds[0] == "prompt" and kinds[-1] == "answer"
    for kind in ("mcp", "llm", "service", "audit"):
        assert kind in kinds, kinds
    service = next(h for h in hops if h.kind == "service")
    assert service.source == "mcp-server" and service.target == "records"
    assert service.method == "GET" and service.url.endswith("/expenses")
    assert service.status == 200 and service.duration_ms > 0
    assert '"expenses"' in service.response_body
    calls = [h.summary for h in hops if h.kind == "mcp"]
    assert "tools/list" in calls and "tools/call read_data" in calls
    assert all(h.user == "alice" for h in hops)


async def test_exchange_and_policy_hops_appear_with_decoded_tokens(stack):
    async with PatternRunner("p06", stack=stack) as runner:
        turn = await runner.run_as("bob", "Approve Alice's expense 4.")
        hops = runner.tap.trace(turn.trace_id)
    idp = [h for h in hops if h.kind == "idp"]
    assert any(h.summary == "token token-exchange" for h in idp)
    opa = next(h for h in hops if h.kind == "opa")
    assert opa.data["opa_input"]["action"] == "approve_expense"
    assert opa.data["opa_result"]["allow"] is False
    service = next(h for h in hops if h.kind == "service")
    assert service.status == 403
    exchanged = [t for t in service.tokens if t.claims.get("aud") == "records-service"]
    assert exchanged and exchanged[0].claims["preferred_username"] == "bob"
    assert "refused" in turn.answer.lower() or "denied" in turn.answer.lower()


@pytest.mark.parametrize(
    ("user", "prompt", "message"),
    [
        ("mallory", "hi", "unknown user 'mallory'"),
        ("alice", "   ", "the prompt is empty"),
        ("alice", "x" * 5000, "the limit is 4000"),
    ],
)
async def test_bad_input_is_refused_clearly_and_the_runner_stays_usable(p01, user, prompt,
                                                                        message):
    with pytest.raises(InputError, match=message):
        await p01.run_as(user, prompt)
    turn = await p01.run_as("dave", "Show me the platform documents.")
    assert "document" in turn.answer.lower()


async def test_a_prompt_the_model_does_not_understand_gets_a_clear_answer(p01):
    turn = await p01.run_as("alice", "Sing me a song about penguins.")
    assert "don't understand" in turn.answer and not turn.tool_calls


async def test_unknown_step_is_refused(p01):
    with pytest.raises(InputError, match="unknown step 'Z9'"):
        await p01.run_step("Z9")


async def test_using_a_runner_before_start_says_so():
    runner = PatternRunner("p01")
    with pytest.raises(RunnerError, match="not started"):
        await runner.run_as("alice", "What are my expenses?")


async def test_two_runners_side_by_side_do_not_share_state_or_ports(stack):
    async with PatternRunner("p01", stack=stack) as one, PatternRunner("p01", stack=stack) as two:
        assert one.service_urls["records"] != two.service_urls["records"]
        await one.run_as("bob", "Approve Alice's expense 4.")
        assert one.world.expenses[4].status == "approved"
        assert two.world.expenses[4].status == "pending"
        assert one.world.key_for("alice") != two.world.key_for("alice")
        assert not two.tap.hops


async def test_reset_gives_a_fresh_world(p01):
    await p01.run_as("bob", "Approve Alice's expense 4.")
    assert p01.world.audit and p01.world.expenses[4].status == "approved"
    p01.reset()
    assert p01.world.expenses[4].status == "pending" and not p01.world.audit


async def test_unreachable_model_endpoint_gives_a_clear_answer(stack):
    settings = Settings(model="some-model", openai_base_url="http://127.0.0.1:9/v1",
                        openai_api_key="sk-test-unreachable-000000000000")
    async with PatternRunner("p01", settings=settings, stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
        assert turn.error == "the model endpoint is unreachable"
        assert "could not finish" in turn.answer
        assert runner.tap.trace(turn.trace_id)[-1].kind == "answer"


async def test_a_real_provider_key_never_reaches_the_wire_or_exports(stack):
    from runtime.model import ScriptedModel

    model = ScriptedModel()
    base = await model.start()
    secret = "sk-proj-THISISASECRETKEY1234567890abcdef"
    settings = Settings(model="scripted", openai_base_url=base, openai_api_key=secret)
    # a named model other than "scripted" makes the runner use the configured endpoint
    settings = settings.with_(model="compatible-model")
    try:
        async with PatternRunner("p01", settings=settings, stack=stack) as runner:
            turn = await runner.run_as("alice", "What are my expenses?")
            hops = runner.tap.hops
        assert "8 expenses" in turn.answer
        llm = [h for h in hops if h.kind == "llm"]
        assert llm and any("[redacted]" in v for h in llm for _, v in h.request_headers)
        dumped = to_jsonl(hops) + json.dumps(to_har(hops))
        assert secret not in dumped
    finally:
        await model.stop()


async def test_har_export_has_the_har_1_2_shape(p01):
    turn = await p01.run_as("alice", "What are my expenses?")
    har = to_har(p01.tap.trace(turn.trace_id))
    log = har["log"]
    assert log["version"] == "1.2" and log["creator"]["name"]
    assert log["entries"], "HTTP hops become entries"
    for entry in log["entries"]:
        assert set(entry) >= {"startedDateTime", "time", "request", "response", "cache",
                              "timings"}
        req, resp = entry["request"], entry["response"]
        assert set(req) >= {"method", "url", "httpVersion", "cookies", "headers",
                            "queryString", "headersSize", "bodySize"}
        assert set(resp) >= {"status", "statusText", "httpVersion", "cookies", "headers",
                             "content", "redirectURL", "headersSize", "bodySize"}
        assert "mimeType" in resp["content"] and "size" in resp["content"]
        assert entry["timings"]["wait"] >= 0
        assert all(not k.startswith("_") or k[1:].isidentifier() for k in entry)
        assert all(k.startswith("_") for k in entry if k not in (
            "startedDateTime", "time", "request", "response", "cache", "timings"))
    kinds = {e["kind"] for e in log["_events"]}
    assert {"prompt", "answer", "audit"} <= kinds


async def test_jsonl_export_is_one_hop_per_line(p01):
    turn = await p01.run_as("alice", "What are my expenses?")
    hops = p01.tap.trace(turn.trace_id)
    lines = to_jsonl(hops).splitlines()
    assert len(lines) == len(hops)
    assert [json.loads(line)["seq"] for line in lines] == [h.seq for h in hops]


async def test_a_hop_can_be_exported_as_curl(p01):
    turn = await p01.run_as("alice", "What are my expenses?")
    service = next(h for h in p01.tap.trace(turn.trace_id) if h.kind == "service")
    command = to_curl(service)
    assert command.startswith("curl -sS -X GET") and "/expenses" in command
    prompt = p01.tap.trace(turn.trace_id)[0]
    with pytest.raises(ValueError):
        to_curl(prompt)


async def _broken_model(behaviour: str):
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from stack.asgi_server import AsgiServer

    async def completions(request):
        if behaviour == "slow":
            await asyncio.sleep(3)
        return JSONResponse({"error": {"message": "boom"}}, status_code=500)

    server = AsgiServer(Starlette(routes=[Route("/v1/chat/completions", completions,
                                                methods=["POST"])]))
    await server.start()
    return server


@pytest.mark.parametrize(("behaviour", "reason"), [
    ("error", "the model endpoint answered HTTP 500: boom"),
    ("slow", "the model endpoint timed out"),
])
async def test_a_model_endpoint_that_errors_or_times_out_gives_a_clear_answer(stack, behaviour,
                                                                              reason):
    server = await _broken_model(behaviour)
    settings = Settings(model="broken", openai_base_url=server.base_url + "/v1",
                        openai_api_key="x", llm_timeout=0.5)
    try:
        async with PatternRunner("p01", settings=settings, stack=stack) as runner:
            turn = await runner.run_as("alice", "What are my expenses?")
            assert turn.error == reason
            again = await runner.run_as("bob", "List all users.")
            assert again.error == reason  # still usable, still clear
    finally:
        await server.stop()


BROKEN_MCP = '''
from runtime.pattern_api import AuthHandler


class Broken(AuthHandler):
    async def prepare_request(self, user_context, headers):
        raise KeyError("no such credential")


auth_handler = Broken()
'''
BROKEN_SERVICE = '''
async def get_identity(request):
    return 1 / 0


async def authorize(identity, action, resource, request):
    raise AssertionError("never reached")
'''
WRONG_RETURNS_MCP = '''
from runtime.pattern_api import AuthHandler


class Forgetful(AuthHandler):
    async def before_tool_call(self, user_context, tool_name):
        pass                        # forgot `return True`


auth_handler = Forgetful()
'''
WRONG_RETURNS_SERVICE = '''
async def get_identity(request):
    return {"method": "none"}      # a dict, not an Identity
'''


def _broken_pattern(tmp_path, mcp: str, service: str):
    from runtime.pattern_loader import load

    folder = tmp_path / "p01_broken"
    folder.mkdir()
    (folder / "README.md").write_text("# Broken\n")
    (folder / "mcp_auth.py").write_text(mcp)
    (folder / "service_auth.py").write_text(service)
    return load("p01", tmp_path)


async def test_a_pattern_whose_code_raises_fails_closed_with_a_clear_reason(stack, tmp_path):
    from runtime.pattern_loader import PATTERNS_DIR

    pattern = _broken_pattern(tmp_path, BROKEN_MCP,
                              (PATTERNS_DIR / "p01_no_auth" / "service_auth.py").read_text())
    async with PatternRunner(pattern, stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
    result = json.loads(turn.tool_calls[0].result)
    assert result["error"]["status"] == 503
    assert result["error"]["reason"] == (
        "the pattern's mcp_auth failed: KeyError: 'no such credential'")
    assert "refused" in turn.answer.lower() or "503" in turn.answer


async def test_a_service_auth_that_raises_is_a_503_and_an_audited_denial(stack, tmp_path):
    pattern = _broken_pattern(tmp_path, "from runtime.pattern_api import AuthHandler\n"
                              "auth_handler = AuthHandler()\n", BROKEN_SERVICE)
    async with PatternRunner(pattern, stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
        audit = list(runner.world.audit)
    result = json.loads(turn.tool_calls[0].result)
    assert result["error"]["status"] == 503
    assert "service_auth failed: ZeroDivisionError" in result["error"]["reason"]
    assert len(audit) == 1 and not audit[0].allowed and audit[0].status == 503


async def test_a_before_tool_call_that_returns_nothing_refuses_the_call(stack, tmp_path):
    pattern = _broken_pattern(tmp_path, WRONG_RETURNS_MCP,
                              "async def get_identity(request): ...\n")
    async with PatternRunner(pattern, stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
        audit = list(runner.world.audit)
    result = json.loads(turn.tool_calls[0].result)
    assert result["error"]["status"] == 503 and audit == []
    assert "before_tool_call returned NoneType, not True or False" in result["error"]["reason"]


async def test_a_get_identity_that_returns_no_identity_is_a_503(stack, tmp_path):
    pattern = _broken_pattern(tmp_path, "from runtime.pattern_api import AuthHandler\n"
                              "auth_handler = AuthHandler()\n", WRONG_RETURNS_SERVICE)
    async with PatternRunner(pattern, stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
    result = json.loads(turn.tool_calls[0].result)
    assert result["error"]["status"] == 503
    assert "get_identity returned dict, not an Identity" in result["error"]["reason"]


EXITING_MCP = '''
import sys

from runtime.pattern_api import AuthHandler


class Exiting(AuthHandler):
    async def prepare_request(self, user_context, headers):
        sys.exit(5)


auth_handler = Exiting()
'''
EXITING_SERVICE = '''
import sys


async def get_identity(request):
    raise SystemExit("bye")
'''
INJECTING_MCP = '''
from runtime.pattern_api import AuthHandler


class Injecting(AuthHandler):
    async def prepare_request(self, user_context, headers):
        headers["X-User"] = "alice\\r\\nX-Role: admin"
        return headers


auth_handler = Injecting()
'''
PLAIN_MCP = "from runtime.pattern_api import AuthHandler\nauth_handler = AuthHandler()\n"


@pytest.mark.parametrize(("mcp", "service", "reason"), [
    (EXITING_MCP, "async def get_identity(request): ...\n",
     "the pattern's mcp_auth broke the contract: prepare_request called sys.exit(5)"),
    (PLAIN_MCP, EXITING_SERVICE,
     "the pattern's service_auth broke the contract: get_identity called sys.exit('bye')"),
    (INJECTING_MCP, "async def get_identity(request): ...\n",
     "prepare_request returned a header that cannot be sent: header X-User holds a line "
     "break or NUL"),
], ids=["mcp_auth-exits", "service_auth-exits", "header-injection"])
async def test_a_hook_that_exits_or_injects_a_header_fails_closed_and_the_runner_goes_on(
        stack, tmp_path, mcp, service, reason):
    pattern = _broken_pattern(tmp_path, mcp, service)
    async with PatternRunner(pattern, stack=stack) as runner:
        for user in ("alice", "bob"):       # the servers outlive the first broken call
            turn = await runner.run_as(user, "What are my expenses?")
            result = json.loads(turn.tool_calls[0].result)
            assert result["error"]["status"] == 503 and reason in result["error"]["reason"]


HANGING_MCP = '''
import asyncio

from runtime.pattern_api import AuthHandler


class Hanging(AuthHandler):
    async def prepare_request(self, user_context, headers):
        await asyncio.sleep(3600)


auth_handler = Hanging()
'''


async def test_a_hook_that_never_returns_is_refused_in_bounded_time(stack, tmp_path):
    pattern = _broken_pattern(tmp_path, HANGING_MCP, "async def get_identity(request): ...\n")
    async with PatternRunner(pattern, settings=Settings(timeout=0.2), stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
        gate = [h for h in runner.tap.trace(turn.trace_id) if h.target == "gate"]
    result = json.loads(turn.tool_calls[0].result)
    assert result["error"] == {"status": 503, "decided_by": "runtime", "reason":
                               "the pattern's mcp_auth did not return within 1.4s"}
    assert gate and "did not return within 1.4s" in gate[0].summary


def test_a_pattern_that_exits_while_it_loads_is_a_clear_error(tmp_path):
    from runtime.pattern_loader import PatternError

    with pytest.raises(PatternError, match=r"mcp_auth.py failed to import: SystemExit: 3"):
        _broken_pattern(tmp_path, "import sys\nsys.exit(3)\n", "")


async def test_a_runner_can_be_built_from_names_as_in_a_notebook():
    runner = PatternRunner("p05", stack="embedded", model="scripted")
    assert runner.settings.stack == "embedded" and runner.settings.scripted
    async with runner:
        turn = await runner.run_as("alice", "What are my expenses?")
    assert "4 expenses" in turn.answer


async def test_hops_are_stamped_by_the_stack_clock_the_tokens_come_from():
    from runtime.settings import DEMO_EPOCH
    from runtime.stack_handle import StackHandle
    from stack.clock import Clock

    stack = StackHandle(Settings(), clock=Clock(fixed=DEMO_EPOCH))
    await stack.start()
    try:
        async with PatternRunner("p05", stack=stack) as runner:
            turn = await runner.run_as("alice", "What are my expenses?")
            hops = runner.tap.trace(turn.trace_id)
    finally:
        await stack.stop()
    assert {h.started_at for h in hops} == {DEMO_EPOCH}   # HTTP hops and recorded events
    service = next(h for h in hops if h.kind == "service" and h.tokens)
    assert service.tokens[0].claims["iat"] == int(DEMO_EPOCH)


async def test_a_login_cache_keeps_users_logged_in_across_runners(stack):
    cache: dict = {}
    async with PatternRunner("p05", stack=stack, logins=cache) as first:
        token = await first.login("dave")
    async with PatternRunner("p05", stack=stack, logins=cache) as second:
        assert await second.login("dave") == token
        assert not second.tap.hops                 # no second login on the wire
        turn = await second.run_as("dave", "Show me the platform documents.")
        assert turn.error is None and "Platform on-call" in turn.answer
        second.reset()
    assert cache == {}                             # a reset forgets the logins
