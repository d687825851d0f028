"""Edit and replay a hop: each edit reaches the server as written, and the answer names who
decided and why (the check that caught it, not just "401")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import jwt
import pytest
import pytest_asyncio

from runtime.replay import (
    ATTACKER_KID,
    HttpRequest,
    ReplayError,
    Signer,
    TokenEdit,
    apply_edits,
    parse_assignment,
    parse_value,
    response_reason,
    retarget,
)
from runtime.runner import PatternRunner
from runtime.stack_handle import StackHandle
from runtime.tokens import decode_unverified
from runtime.wire import Hop

NOW = 1_800_000_000.0


@pytest_asyncio.fixture
async def p06(stack: StackHandle) -> AsyncIterator[PatternRunner]:
    async with PatternRunner("p06", stack=stack) as runner:
        yield runner


async def service_hop(runner: PatternRunner, user: str = "alice") -> Hop:
    """The records service hop of `user` reading their expenses."""
    turn = await runner.run_as(user, "What are my expenses?")
    return next(h for h in runner.tap.trace(turn.trace_id) if h.kind == "service")


def claims_sent(request: HttpRequest, slot: int = 0) -> dict:
    return request.tokens()[slot].token.claims


# -- the request --------------------------------------------------------------------------

def test_only_http_hops_replay():
    prompt = Hop(1, "t", "prompt", "alice", "agent", "hi")
    with pytest.raises(ReplayError, match="not an HTTP request"):
        HttpRequest.from_hop(prompt)


@pytest.mark.parametrize(("record", "message"), [
    ([], "JSON object"),
    ({"seq": 3}, "not an HTTP request"),
    ({"method": "GET", "url": "file:///etc/passwd"}, "not an http"),
    ({"method": "GET\r\nX: y", "url": "http://127.0.0.1/"}, "not an HTTP method"),
    ({"method": "GET", "url": "http://127.0.0.1/", "request_headers": [["X-A", "b\r\nc"]]},
     "line break"),
    ({"method": "GET", "url": "http://127.0.0.1/", "request_headers": [["bad name", "v"]]},
     "not valid"),
    ({"method": "GET", "url": "http://127.0.0.1/", "request_headers": {"a": "b"}},
     "list of"),
    ({"method": "GET", "url": "http://127.0.0.1/", "request_body": 7}, "strings"),
    # what no HTTP client can send: a lone surrogate (bytes read as UTF-8 that were not, or
    # a \ud800 escape in the exported JSON), a header value beyond ASCII
    ({"method": "POST", "url": "http://127.0.0.1/", "request_body": "{\"k\": \"\ud800\"}"},
     "the body cannot be sent: character '\\\\ud800' at position 7 is a lone surrogate"),
    ({"method": "GET", "url": "http://127.0.0.1/\udcff"}, "the URL cannot be sent"),
    ({"method": "GET", "url": "http://127.0.0.1/", "request_headers": [["X-A", "caf\u00e9"]]},
     "header X-A holds 'é': header values are ASCII"),
    ({"method": "GET", "url": "http://127.0.0.1/", "request_headers": [["X-A", "\udcff"]]},
     "header values are ASCII"),
])
def test_a_bad_record_is_refused_with_a_reason(record, message):
    with pytest.raises(ReplayError, match=message):
        HttpRequest.from_record(record)


def test_headers_the_client_sets_are_not_resent():
    request = HttpRequest("GET", "http://127.0.0.1:1/x", (
        ("Host", "old:1"), ("Content-Length", "99"), ("traceparent", "00-x"), ("X-Keep", "1")))
    assert request.sendable_headers == [("X-Keep", "1")]
    assert request.with_header("x-keep", None).headers == request.headers[:3]


def test_tokens_are_found_where_they_travel():
    token = jwt.encode({"sub": "a"}, "k" * 32, algorithm="HS256")
    actor = jwt.encode({"sub": "agent"}, "k" * 32, algorithm="HS256")
    request = HttpRequest("POST", "http://127.0.0.1/t", (("Authorization", f"Bearer {token}"),),
                          f"subject_token={token}&actor_token={actor}")
    assert [(s.where, s.token.claims["sub"]) for s in request.tokens()] == [
        ("authorization", "a"), ("body:actor_token", "agent")]


# -- values and edits -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("@now", int(NOW)), ("@now-1h", int(NOW) - 3600), ("@now+30m", int(NOW) + 1800),
    ("@now-90s", int(NOW) - 90), ("@now-2d", int(NOW) - 172800), ("@now+5", int(NOW) + 5),
    ("42", 42), ("true", True), ('["a","b"]', ["a", "b"]), ('{"sub":"x"}', {"sub": "x"}),
    ("directory-service", "directory-service"), ('"NaN"', "NaN"), ("", ""),
    ("123456789012345678901234567890", 123456789012345678901234567890),
])
def test_claim_values_as_typed(text, value):
    assert parse_value(text, NOW) == value


@pytest.mark.parametrize(("text", "message"), [
    ("NaN", "not JSON"), ("Infinity", "not JSON"), ("1e999", "too large"),
    ('{"exp": 1e400}', "too large"), ('[1, -Infinity]', "not JSON"),   # nested, too
    ("@yesterday", "@now"), ("@now-1y", "@now"),
])
def test_values_that_are_not_json_are_refused(text, message):
    with pytest.raises(ReplayError, match=message):
        parse_value(text, NOW)


def test_assignment_needs_a_name():
    assert parse_assignment("act.sub=evil", NOW) == ("act.sub", "evil")
    with pytest.raises(ReplayError, match="claim=value"):
        parse_assignment("=x", NOW)


def _token(claims: dict, header: dict | None = None) -> str:
    from stack.jose import generate_rsa_key

    return jwt.encode(claims, generate_rsa_key(), algorithm="RS256",
                      headers={"kid": "real", **(header or {})})


def test_each_signing_choice_signs_as_it_says():
    raw = _token({"sub": "alice", "exp": 1, "act": {"sub": "agent"}})
    request = HttpRequest("GET", "http://127.0.0.1/x", (("Authorization", f"Bearer {raw}"),))
    from stack.jose import generate_rsa_key

    idp_key = generate_rsa_key()
    signer = Signer(("idp-kid", idp_key))
    edit = {"set_claims": {"exp": 2, "act.sub": "mallory"}, "unset": ("sub",)}
    kept, notes = apply_edits(request, [TokenEdit(0, **edit)], signer)
    token = kept.tokens()[0].token
    assert token.claims == {"exp": 2, "act": {"sub": "mallory"}}
    assert token.raw.rsplit(".", 1)[1] == raw.rsplit(".", 1)[1]     # the old signature
    assert any("exp: 1 -> 2" in n for n in notes) and any("sub: removed" in n for n in notes)

    unsigned, _ = apply_edits(request, [TokenEdit(0, sign="none")], signer)
    assert unsigned.tokens()[0].token.header["alg"] == "none"
    assert unsigned.tokens()[0].token.raw.endswith(".")

    forged, _ = apply_edits(request, [TokenEdit(0, sign="attacker")], signer)
    assert forged.tokens()[0].token.header["kid"] == ATTACKER_KID
    with pytest.raises(jwt.InvalidSignatureError):   # not the IdP's key
        jwt.decode(forged.tokens()[0].token.raw, idp_key.public_key(), algorithms=["RS256"],
                   options={"verify_exp": False})

    oracle, _ = apply_edits(request, [TokenEdit(0, {"exp": 2}, sign="idp")], signer)
    signed = oracle.tokens()[0].token
    assert signed.header["kid"] == "idp-kid"
    assert jwt.decode(signed.raw, idp_key.public_key(), algorithms=["RS256"],
                      options={"verify_exp": False})["exp"] == 2


@pytest.mark.parametrize(("claims", "message"), [
    ('{"sub": "alice", "exp": 1e400}', "claims: 1e400 is too large for a JSON number"),
    ('{"sub": "alice", "act": {"exp": -1e999}}', "-1e999 is too large"),
    ('{"sub": "alice", "exp": NaN}', "claims: NaN is not JSON"),
    ('{"sub": "alice", "exp": ' + "9" * 5000 + "}", "more than 4300 digits in the claims"),
    ('{"sub": "alice",}', "not valid JSON in the claims: Expecting property name"),
    ('["alice"]', "the claims must be a JSON object"),
])
def test_the_token_editor_takes_json_a_token_can_carry(claims, message):
    """The explorer's replay editor: what is typed as claims must be JSON a JWT can carry,
    as `--set` already insists (no float beyond range sneaks in as Infinity)."""
    from runtime.replay import edit_from_json

    token = decode_unverified(_token({"sub": "alice"}))
    with pytest.raises(ReplayError, match=message):
        edit_from_json(token, '{"alg": "RS256"}', claims, "keep")


def test_the_idp_oracle_needs_the_key():
    raw = _token({"sub": "alice"})
    request = HttpRequest("GET", "http://127.0.0.1/x", (("Authorization", f"Bearer {raw}"),))
    assert Signer().choices(decode_unverified(raw)) == ["keep", "attacker", "none"]
    with pytest.raises(ReplayError, match="embedded stack"):
        apply_edits(request, [TokenEdit(0, sign="idp")], Signer())
    with pytest.raises(ReplayError, match="no token 3"):
        apply_edits(request, [TokenEdit(3, {"a": 1})], Signer())


def test_a_dpop_proof_resigned_by_the_attacker_carries_the_attackers_key():
    proof = _token({"htm": "GET", "iat": 1}, {"typ": "dpop+jwt", "jwk": {"kty": "RSA"}})
    request = HttpRequest("GET", "http://127.0.0.1/x", (("DPoP", proof),))
    forged, _ = apply_edits(request, [TokenEdit(0, {"iat": 2}, sign="attacker")], Signer())
    header = forged.tokens()[0].token.header
    assert "kid" not in header and header["jwk"]["kty"] == "RSA" and "n" in header["jwk"]


def test_an_empty_edit_changes_nothing():
    raw = _token({"sub": "alice"})
    request = HttpRequest("GET", "http://127.0.0.1/x", (("Authorization", f"Bearer {raw}"),))
    same, notes = apply_edits(request, [TokenEdit(0)], Signer())
    assert same == request and notes == []


def test_reasons_from_error_bodies():
    assert response_reason('{"detail": {"error": "x", "reason": "token expired"}}') == (
        "token expired")
    assert response_reason('{"error": "invalid_grant", "error_description": "bad code"}') == (
        "bad code")
    assert response_reason('{"error": {"status": 403, "reason": "no"}}') == "no"
    assert response_reason("plain text") == "plain text"


# -- against a running pattern -----------------------------------------------------------

async def test_an_unchanged_replay_is_served_again(p06):
    hop = await service_hop(p06)
    result = await p06.replay(HttpRequest.from_hop(hop))
    assert result.status == 200 and result.decided_by == "OPA"
    replayed = [h for h in result.hops if h.source == "replay"]
    assert len(replayed) == 1 and replayed[0].data["replay"]["of"] == hop.seq
    assert replayed[0].summary.startswith(f"replay of #{hop.seq}: GET /expenses")
    assert replayed[0].trace_id == result.trace_id != hop.trace_id


@pytest.mark.parametrize(("sign", "reason"), [
    ("keep", "Signature verification failed"),
    ("attacker", "unknown key"),
    ("none", "'none' not allowed"),
    ("idp", "expired"),
])
async def test_an_expired_token_is_refused_by_the_check_that_catches_it(p06, sign, reason):
    hop = await service_hop(p06)
    request, notes = apply_edits(HttpRequest.from_hop(hop), [
        TokenEdit(0, {"exp": parse_value("@now-1h", p06.clock.now())}, sign=sign)],
        p06.signer())
    result = await p06.replay(request, notes)
    assert (result.status, result.decided_by) == (401, "service")
    assert reason in result.reason
    assert p06.world.audit[-1].status == 401 and p06.world.audit[-1].trace_id == result.trace_id


async def test_a_changed_audience_is_refused_for_its_audience(p06):
    hop = await service_hop(p06)
    request, notes = apply_edits(HttpRequest.from_hop(hop), [
        TokenEdit(0, {"aud": "directory-service"}, sign="idp")], p06.signer())
    result = await p06.replay(request, notes)
    assert result.status == 401 and "audience" in result.reason
    assert any("aud: records-service -> directory-service" in n for n in result.notes)


async def test_removing_act_under_p07_changes_whom_the_audit_names(stack):
    async with PatternRunner("p07", stack=stack) as runner:
        hop = await service_hop(runner)
        assert "act" in claims_sent(HttpRequest.from_hop(hop))
        audited = runner.world.audit[-1]
        assert (audited.user, audited.actor) == ("alice", "agent")
        request, notes = apply_edits(HttpRequest.from_hop(hop), [
            TokenEdit(0, unset=("act",), sign="idp")], runner.signer())
        result = await runner.replay(request, notes)
        # without `act`, the client the token was issued to (azp) is the one acting
        assert (result.status, result.decided_by) == (200, "OPA")
        assert (runner.world.audit[-1].user, runner.world.audit[-1].actor) == (
            "alice", "mcp-server")
        tampered, notes = apply_edits(HttpRequest.from_hop(hop), [
            TokenEdit(0, unset=("act",))], runner.signer())
        refused = await runner.replay(tampered, notes)
        assert refused.status == 401 and "Signature" in refused.reason


async def test_dpop_proofs_replayed_as_is_stale_or_by_another_key_are_refused(stack):
    async with PatternRunner("p08", stack=stack) as runner:
        hop = await service_hop(runner)
        request = HttpRequest.from_hop(hop)
        again = await runner.replay(request)      # the very same proof, a second time
        assert again.status == 401 and "already used" in again.reason
        slot = next(s for s in request.tokens() if s.where == "dpop")
        signer = runner.signer()
        assert signer.choices(slot.token) == ["keep", "attacker", "none", "holder"]
        assert signer.choices(request.tokens()[0].token)[-1] == "idp"
        fresh_jti = {"jti": "fresh-jti"}
        stale = {"iat": parse_value("@now-10m", runner.clock.now()), **fresh_jti}
        outcomes = {}
        for sign, claims in (("holder", fresh_jti), ("holder", stale), ("attacker", fresh_jti)):
            edited, notes = apply_edits(request, [TokenEdit(slot.index, claims, sign=sign)],
                                        signer)
            result = await runner.replay(edited, notes)
            outcomes[(sign, "iat" in claims)] = (result.status, result.reason)
    # the holder's key with a fresh jti: accepted (the oracle isolates one check at a time)
    assert outcomes[("holder", False)][0] == 200
    assert outcomes[("holder", True)][0] == 401 and "older than" in outcomes[("holder", True)][1]
    assert outcomes[("attacker", False)][0] == 401
    assert "thumbprint" in outcomes[("attacker", False)][1] or "cnf" in outcomes[
        ("attacker", False)][1]


async def test_a_replay_to_the_mcp_server_and_the_idp(p06):
    turn = await p06.run_as("alice", "What are my expenses?")
    trace = p06.tap.trace(turn.trace_id)
    call = next(h for h in trace if h.kind == "mcp" and h.summary == "tools/call read_data")
    result = await p06.replay(HttpRequest.from_hop(call))
    assert result.status == 200 and "expenses" in result.response_body
    stripped = HttpRequest.from_hop(call).with_header("Authorization", None)
    refused = await p06.replay(stripped)
    assert (refused.status, refused.decided_by) == (401, "runtime")
    exchange = next(h for h in trace if h.kind == "idp" and "token-exchange" in h.summary)
    result = await p06.replay(HttpRequest.from_hop(exchange))
    assert result.decided_by == "IdP"
    body = json.loads(result.response_body)
    assert result.status == 200 and decode_unverified(body["access_token"]) is not None


async def test_retarget_moves_a_hop_from_another_run(p06):
    hop = await service_hop(p06)
    old = HttpRequest.from_hop(hop)
    moved_away = HttpRequest(old.method, "http://127.0.0.1:1/expenses", old.headers, old.body,
                             old.of, old.target)
    back, notes = retarget(moved_away, p06.endpoints)
    assert back.url == old.url and notes and "127.0.0.1:1" in notes[0]
    unknown = HttpRequest("GET", "http://127.0.0.1:1/x", target="billing")
    with pytest.raises(ReplayError, match="billing"):
        retarget(unknown, p06.endpoints)


async def test_direct_tool_call_without_a_model(p06):
    turn = await p06.call_tool("dave", "manage_users",
                               {"action": "set_role", "username": "dave", "role": "admin"})
    assert turn.error is None and turn.model == "none (direct call)"
    assert json.loads(turn.answer)["error"]["decided_by"] == "OPA"
    kinds = [h.kind for h in p06.tap.trace(turn.trace_id)]
    assert "llm" not in kinds and kinds[0] == "prompt" and kinds[-1] == "answer"
    assert p06.world.users["dave"].role == "readonly"


async def test_direct_tool_call_passes_the_users_key_where_the_model_would(stack):
    async with PatternRunner("p03", stack=stack) as runner:
        own = await runner.call_tool("dave", "read_data", {"kind": "expenses"})
        assert {e["owner"] for e in json.loads(own.answer)["expenses"]} == {"dave"}
        alices_key = runner.world.key_for("alice")
        stolen = await runner.call_tool("dave", "read_data",
                                        {"kind": "expenses", "api_key": alices_key})
        assert {e["owner"] for e in json.loads(stolen.answer)["expenses"]} == {"alice"}


@pytest.mark.parametrize(("tool", "arguments", "message"), [
    ("nope", {}, "unknown tool"),
    ("read_data", [1], "JSON object"),
    ("read_data", {"kind": "expenses", "limit": float("nan")}, "NaN"),
    ("read_data", {"kind": "expenses", "limit": float("inf")}, "Infinity"),
    ("read_data", {"kind": "expenses", "limit": -float("inf")}, "plain JSON"),
    ("read_data", {"kind": {1, 2}}, "plain JSON"),
    ("read_data", {"kind": "expenses", "query": "\ud800"}, "lone surrogate"),
    ("read_data", {"kind": "expenses", "\udcff": 1}, "lone surrogate"),
])
async def test_direct_tool_call_refuses_bad_input(p06, tool, arguments, message):
    from runtime.errors import InputError

    with pytest.raises(InputError, match=message):
        await p06.call_tool("alice", tool, arguments)


@pytest.mark.parametrize("arguments", [
    {"kind": "../../etc/passwd"}, {"kind": "expenses", "query": 1e308},
    {"kind": ["expenses"]}, {"kind": "expenses", "query": "x" * 5000},
])
async def test_odd_arguments_come_back_as_a_refusal_not_a_crash(p06, arguments):
    turn = await p06.call_tool("alice", "read_data", arguments)
    assert turn.error is None
    assert "error" in turn.answer.lower() or "validation" in turn.answer.lower()


async def test_later_moves_the_clock_for_that_request_only(stack):
    async with PatternRunner("p04", stack=stack) as runner:
        hop = await service_hop(runner)
        before = runner.clock.now()
        result = await runner.replay(HttpRequest.from_hop(hop), later=3600)
        assert result.status == 200          # an API key does not expire
        replayed = next(h for h in result.hops if "replay" in h.data)
        assert replayed.data["replay"]["later"] == 3600
        assert any("3600 s later" in n for n in result.notes)
        assert abs(runner.clock.now() - before) < 60
    async with PatternRunner("p05", stack=stack) as runner:
        hop = await service_hop(runner)
        result = await runner.replay(HttpRequest.from_hop(hop), later=3600)
        assert result.status == 401 and "expired" in result.reason


@pytest.mark.parametrize("later", [-1.0, float("nan"), float("inf"), 1e12])
async def test_later_out_of_range_is_refused(p06, later):
    from runtime.errors import InputError

    hop = await service_hop(p06)
    with pytest.raises(InputError, match="later"):
        await p06.replay(HttpRequest.from_hop(hop), later=later)
