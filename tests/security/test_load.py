"""50 concurrent sessions mixing alice, bob and dave on ONE runner under patterns 07/08:
no errors and no identity bleed (every audit record names the prompting user and the
agent as actor; every expense list holds only its user's expenses). Figures are printed;
scripts/bench_load.py measures the same at larger scale."""

from __future__ import annotations

import dataclasses

import pytest

from runtime.battery.load import check, plan, run_sessions
from runtime.runner import PatternRunner

SESSIONS = 50


@pytest.mark.parametrize("pattern", ["p07", "p08"])
async def test_concurrent_sessions_share_one_runner_without_identity_bleed(
        stack, pattern, capsys):
    async with PatternRunner(pattern, stack=stack) as runner:
        report = await run_sessions(runner, SESSIONS)
    with capsys.disabled():
        print("\n  " + report.summary())
    assert report.problems == [], report.problems[:10]
    assert len(report.turns) == SESSIONS and report.audit_records >= SESSIONS
    assert {t.user for t in report.turns} == {"alice", "bob", "dave"}
    assert all(t.tool_calls for t in report.turns)


async def test_the_bleed_check_catches_a_swapped_identity(stack):
    async with PatternRunner("p07", stack=stack) as runner:
        report = await run_sessions(runner, 6)
        assert report.problems == []
        victim = next(i for i, t in enumerate(report.turns) if t.user == "alice")
        report.turns[victim] = dataclasses.replace(report.turns[victim], user="bob")
        check(runner, report, "agent")
    assert any("audit names alice" in p for p in report.problems), report.problems
    assert any("wire prompt hop names alice" in p for p in report.problems)


def test_the_plan_mixes_all_three_users_evenly():
    users = [u for u, _ in plan(SESSIONS)]
    assert {users.count(u) for u in ("alice", "bob", "dave")} <= {16, 17}
