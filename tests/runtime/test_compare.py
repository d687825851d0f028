"""Compare two patterns hop by hop: alignment, and each kind of difference marked."""

from __future__ import annotations

import jwt
import pytest

from runtime.compare import align, check_request, compare_patterns, differences
from runtime.errors import InputError
from runtime.settings import Settings
from runtime.wire import Hop


def hop(seq: int, kind: str, source: str, target: str, summary: str, status: int | None = 200,
        token: dict | None = None, **data: object) -> Hop:
    headers = (("Authorization", "Bearer " + jwt.encode(token, "k" * 32)),) if token else ()
    return Hop(seq, "t", kind, source, target, summary, method="GET" if status else "",
               url="http://127.0.0.1:1/x" if status else "", status=status,
               request_headers=headers, data=dict(data))


def audit(seq: int, decided_by: str, allowed: bool, user: str, actor: str | None = None) -> Hop:
    return hop(seq, "audit", "records", "audit log", f"{decided_by}", 200 if allowed else 403,
               audit={"action": "read_expenses", "decided_by": decided_by, "allowed": allowed,
                      "user": user, "actor": actor})


def test_identical_runs_align_with_no_differences():
    run = [hop(1, "prompt", "alice", "agent", "hi", None), hop(2, "service", "mcp", "records",
                                                                "GET /expenses")]
    rows = align(run, run)
    assert [(r.left, r.right, r.differences) for r in rows] == [(h, h, ()) for h in run]


def test_a_hop_under_one_pattern_only_stands_alone():
    left = [hop(1, "prompt", "alice", "agent", "hi", None),
            hop(2, "service", "mcp", "records", "GET /expenses")]
    right = [left[0], hop(2, "idp", "mcp", "idp", "token token-exchange"), left[1]]
    rows = align(left, right)
    assert [(r.left is not None, r.right is not None) for r in rows] == [
        (True, True), (False, True), (True, True)]
    assert rows[1].differences == ("only on the right",)


def test_status_decider_verdict_audit_names_and_claims_are_marked():
    assert differences(hop(1, "service", "a", "b", "x", 200), hop(1, "service", "a", "b", "x",
                                                                  403)) == ("status 200 -> 403",)
    found = differences(audit(1, "service", True, "alice"),
                        audit(1, "OPA", False, "alice", "agent"))
    assert found == ("status 200 -> 403", "decided by service -> OPA", "ALLOW -> DENY",
                     "audit names alice -> alice (actor agent)")
    claims = differences(
        hop(1, "service", "a", "b", "x", token={"aud": ["records-service", "mcp-server"],
                                                "sub": "alice", "iat": 1}),
        hop(1, "service", "a", "b", "x", token={"aud": "records-service", "sub": "alice",
                                                "iat": 2, "act": {"sub": "agent"}}))
    assert claims[0].startswith("authorization claim act added")
    assert claims[1].startswith("authorization claim aud changed")
    assert len(claims) == 2       # iat differs on every run: not a difference


def test_ports_of_local_servers_are_not_differences():
    one = hop(1, "mcp", "a", "b", "x", token={"aud": ["http://127.0.0.1:4000/mcp"]})
    two = hop(1, "mcp", "a", "b", "x", token={"aud": ["http://127.0.0.1:5111/mcp"]})
    assert differences(one, two) == ()


@pytest.mark.parametrize(("patterns", "prompt", "step", "message"), [
    (["p05"], "hi", None, "two patterns"),
    (["p05", "p06"], None, None, "one of the two"),
    (["p05", "p06"], "hi", "A5", "one of the two"),
    (["p05", "p06"], None, "Z9", "unknown step"),
])
def test_bad_requests_are_refused(patterns, prompt, step, message):
    with pytest.raises(InputError, match=message):
        check_request(patterns, prompt, step)


async def test_p05_against_p06_shows_the_exchange_and_the_policy(stack):
    result = await compare_patterns(Settings(), ["p05", "p06"], user="alice",
                           prompt="What are my expenses?", stack=stack)
    only_right = [r.right.summary for r in result.rows if r.left is None and r.right]
    assert "token token-exchange" in only_right
    assert any(s.startswith("decide agentauth/rbac") for s in only_right)
    service = next(r for r in result.rows if r.left and r.left.kind == "service")
    assert any(d.startswith("authorization claim aud changed") for d in service.differences)
    verdicts = [d for r in result.rows for d in r.differences if d.startswith("decided by")]
    assert verdicts == ["decided by service -> OPA"]
    assert result.to_json()["patterns"] == ["p05", "p06"]


async def test_a_step_compares_outcomes(stack):
    result = await compare_patterns(Settings(), ["p05", "p06"], step="A5", stack=stack)
    assert result.left.outcome.startswith("ALLOW") and result.right.outcome.startswith("DENY")
    assert any("ALLOW -> DENY" in r.differences for r in result.rows)
