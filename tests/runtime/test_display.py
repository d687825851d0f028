"""runtime/display.py: what notebooks and the REPL show of a run, as HTML and as text."""

from __future__ import annotations

import html
import re

import pytest

from runtime import display
from runtime.agent import ToolInvocation, TurnResult
from runtime.identity import Identity
from runtime.pattern_loader import PatternInfo, find
from runtime.runner import PatternRunner
from runtime.script import Part, StepResult
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from runtime.tokens import DecodedToken
from runtime.wire import Hop

SCRIPT = "<script>alert(1)</script>"
HOSTILE = {
    "iss": "http://127.0.0.1:41234/realms/agentauth",
    "sub": SCRIPT,
    "preferred_username": '<img src=x onerror="alert(1)">',
    "aud": ["records-service", "</td></tr></table><h1>"],
    "role": "admin\x1b[2J\u202e",
    "jti": "onrtac:5c1d",
    "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
    "exp": 1767258300,
}


def _markup(view: display.View) -> str:
    return view._repr_html_()


def _no_hostile_markup(markup: str) -> None:
    assert "<script" not in markup and "<img" not in markup and "<h1>" not in markup
    assert "\x1b" not in markup and "\u202e" not in markup


def test_a_decoded_token_shows_its_claims_escaped_with_placeholders_for_what_churns():
    token = DecodedToken("eyJ.x.y", {"alg": "RS256", "kid": "k-4711", "typ": "JWT"}, HOSTILE)
    view = display.token_view(token, "mcp-server -> records")
    markup = _markup(view)
    _no_hostile_markup(markup)
    assert html.escape(SCRIPT) in markup and "&lt;img src=x" in markup
    for text in (markup, repr(view)):
        assert "127.0.0.1:&lt;port&gt;" in text or "127.0.0.1:<port>" in text
        assert "41234" not in text and "onrtac" not in text and "k-4711" not in text
        assert "0ZcOCORZ" not in text and "records-service" in text
        assert "2026-01-01 09:05:00 UTC" in text and "alg: RS256" in text
    assert "\\x1b" in repr(view) and "\x1b" not in repr(view)


def test_an_identity_shows_the_user_the_method_and_the_claims_escaped():
    identity = Identity(method="scoped_jwt", user_id="alice", claims=HOSTILE,
                        detail=f"verified {SCRIPT}", actor="agent")
    view = display.identity_view(identity, "records, read_expenses")
    markup = _markup(view)
    _no_hostile_markup(markup)
    for text in (markup, repr(view)):
        assert "scoped_jwt" in text and "alice" in text and "agent" in text
        assert "preferred_username" in text and "records, read_expenses" in text
    assert "claims: (none)" in repr(display.identity_view(Identity(method="none")))


def _hop(n: int, **fields: object) -> Hop:
    base: dict[str, object] = {"seq": n, "trace_id": "t1", "kind": "service",
                               "source": "mcp-server", "target": "records",
                               "summary": "GET /expenses", "method": "GET",
                               "url": "http://127.0.0.1:5555/expenses", "status": 200}
    return Hop(**{**base, **fields})  # type: ignore[arg-type]


def test_a_hop_list_shows_kinds_statuses_and_escapes_summaries():
    hops = [_hop(1), _hop(2, kind="opa", source="records", target="opa", summary="decide",
                          data={"opa_result": {"allow": False, "reason": SCRIPT}}),
            _hop(3, kind="audit", source="records", target="audit log", status=403,
                 summary=f"DENY approve_expense by {SCRIPT}")]
    view = display.hops_view(hops)
    markup = _markup(view)
    _no_hostile_markup(markup)
    for text in (markup, repr(view)):
        assert "GET /expenses" in text and "403" in text and "allow=False" in text
        assert "mcp-server -&gt; records" in text or "mcp-server -> records" in text


def _audit_hop(identity: dict[str, object] | None, status: int = 200) -> Hop:
    record = {"action": "read_expenses", "allowed": status < 400, "status": status,
              "decided_by": "OPA", "reason": f"because {SCRIPT}"}
    return _hop(9, kind="audit", source="records", target="audit log", status=status,
                data={"audit": record, "identity": identity})


def test_a_turn_shows_the_answer_the_tool_calls_and_what_the_service_saw():
    turn = TurnResult("alice", "What are my expenses?", f"You have {SCRIPT}", "t1", "scripted",
                      (ToolInvocation("read_data", {"kind": "expenses"}, '{"expenses": []}'),))
    identity = {"method": "jwt", "user_id": "alice", "actor": None, "verified": True,
                "detail": "verified JWT", "claims": HOSTILE}
    view = display.turn_view(turn, [_hop(1), _audit_hop(identity), _hop(3, trace_id="other")])
    markup = _markup(view)
    _no_hostile_markup(markup)
    for text in (markup, repr(view)):
        assert "What are my expenses?" in text and "read_data" in text
        assert "What the service saw" in text and "200 ALLOW" in text and "jwt" in text
        assert "The wire: 2 hops" in text


def test_when_no_request_reached_a_service_the_view_says_why():
    gate = _hop(1, kind="audit", source="mcp-server", target="gate", status=401,
                summary="DENY", data={"gate": {"reason": "no token", "decided_by": "runtime"}})
    text = repr(display.service_saw([gate]))
    assert "No request reached a tool service. The last refusal: no token" in text
    assert "(no identity extracted)" in repr(display.service_saw([_audit_hop(None, 401)]))


def test_a_challenge_the_client_answered_is_not_the_refusal_shown():
    challenge = _hop(1, kind="audit", source="mcp-server", target="gate", status=401,
                     summary="DENY", data={"gate": {"reason": "no access token",
                                                    "decided_by": "runtime",
                                                    "challenge": True}})
    answered = _hop(2, kind="mcp", source="agent", target="mcp-server", status=200)
    assert repr(display.service_saw([challenge, answered])).endswith(
        "No request reached a tool service.")
    assert "The last refusal: no access token" in repr(display.service_saw([challenge]))


def _step(step: str, succeeded: bool, audit: str = "alice") -> StepResult:
    return StepResult(step, "p06", (Part(f"{step} part", succeeded, "OPA", audit, "why"),))  # type: ignore[arg-type]


def test_the_summary_compares_each_step_with_the_contract():
    view = display.summary_view([_step("L1", True), _step("L3", True, SCRIPT)], 6)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in repr(view).splitlines() if re.match(r"\| [LA]\d", line)}
    assert rows["L1"][2:7] == ["ALLOW", "ALLOW", "yes", "OPA", "alice"]
    assert rows["L3"][2:5] == ["DENY", "ALLOW", "NO"]      # p06 denies L3: this run differs
    _no_hostile_markup(_markup(view))


def test_code_and_diff_views_highlight_both_files_and_escape_them(tmp_path):
    view = display.code_view(find("p06"))
    markup = _markup(view)
    assert "p06_token_exchange_rbac/mcp_auth.py" in markup
    assert "p06_token_exchange_rbac/service_auth.py" in markup
    assert "<span" in markup and "get_identity" in markup and "get_identity" in repr(view)
    diff = display.diff_view(display.previous(find("p06")), find("p06"))
    assert "p05_token_forwarding -&gt; p06_token_exchange_rbac" in _markup(diff)
    assert "+++ p06_token_exchange_rbac/mcp_auth.py" in repr(diff)
    assert "first pattern" in repr(display.diff_view(display.previous(find("p01")),
                                                     find("p01")))
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("mcp_auth.py", "service_auth.py"):
        (mine / name).write_text(f'X = "</pre>{SCRIPT}"\n', encoding="utf-8")
    _no_hostile_markup(_markup(display.code_view(PatternInfo("mine", mine, "mine"))))


async def test_a_real_step_shows_what_the_service_saw(stack: StackHandle):
    async with PatternRunner("p06", stack=stack) as runner:
        step = await runner.run_step("L1")
        view = runner.show(step)
        turn = await runner.run_as("dave", "Make me an admin.")
        last = runner.show_identity()
        summary = runner.show_summary([step])
    text = repr(view)
    assert "L1 under p06: ALLOW (as the contract expects)" in text
    assert "records, read_expenses: 200 ALLOW, decided by OPA" in text
    assert "scoped_jwt" in text and "preferred_username: alice" in text
    assert "Tokens on the wire" in text and "127.0.0.1:<port>" in text
    assert not re.search(r"127\.0\.0\.1:\d", text + _markup(view))
    assert "dave" in repr(last) and "403 DENY" in repr(last) and turn.user == "dave"
    assert "| L1" in repr(summary)


@pytest.mark.parametrize(("pattern", "decided_by"), [("p01", "nobody"), ("p10", "OPA")])
async def test_what_the_knowledge_service_saw_on_a_search(stack: StackHandle, pattern,
                                                          decided_by):
    async with PatternRunner(pattern, stack=stack) as runner:
        view = runner.show(await runner.run_step("L5"))
    text = repr(view)
    assert "No request reached a tool service" not in text
    assert f"knowledge, search: 200 ALLOW, decided by {decided_by}" in text


@pytest.mark.parametrize("pattern", ["p01", "p08"])
async def test_a_notebook_runner_is_reproducible_on_the_embedded_stack(pattern):
    views = []
    for _ in range(2):
        async with PatternRunner.for_notebook(pattern, settings=Settings()) as runner:
            setup = repr(runner.show_setup())
            views.append([repr(runner.show(await runner.run_step(s))) for s in ("L1", "A7")])
    assert views[0] == views[1]
    assert "frozen at 2026-01-01 09:00 UTC" in setup and "fixed demo keys" in setup
