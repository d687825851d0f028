"""Challenges: a known solution is detected exactly under the patterns the challenge says it
is solvable under, and a near miss is never detected. Progress files and the instructor's
report keep what they should and refuse what they cannot read."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

import pytest
import pytest_asyncio

from runtime.challenges import (
    BY_ID,
    CHALLENGES,
    Evidence,
    Progress,
    ProgressError,
    detect,
    read_reports,
)
from runtime.replay import HttpRequest, TokenEdit, apply_edits, send_to
from runtime.runner import PatternRunner
from runtime.stack_handle import StackHandle
from runtime.wire import Hop

PATTERNS = [f"p{n:02d}" for n in range(1, 11)]
Action = Callable[[PatternRunner], Awaitable[str | None]]   # the trace of the last action


async def captured(runner: PatternRunner, user: str = "alice",
                   prompt: str = "What are my expenses?") -> list[Hop]:
    turn = await runner.run_as(user, prompt)
    return runner.tap.trace(turn.trace_id)


def hop_to(hops: list[Hop], target: str = "records") -> Hop:
    return next(h for h in hops if h.kind == "service" and h.target == target)


async def replay(runner: PatternRunner, request: HttpRequest, notes: list[str] | None = None,
                 **kwargs: object) -> str:
    return (await runner.replay(request, notes or [], **kwargs)).trace_id  # type: ignore[arg-type]


async def prompt(runner: PatternRunner, user: str, text: str) -> str:
    return (await runner.run_as(user, text)).trace_id


async def call(runner: PatternRunner, user: str, tool: str, arguments: dict) -> str:
    return (await runner.call_tool(user, tool, arguments)).trace_id


def bare(request: HttpRequest) -> HttpRequest:
    for name in ("authorization", "x-api-key", "dpop"):
        request = request.with_header(name, None)
    return request


async def records_replay(runner: PatternRunner, change=lambda r: r, **kwargs) -> str:
    request = change(HttpRequest.from_hop(hop_to(await captured(runner))))
    return await replay(runner, request, **kwargs)


async def edited_token(runner: PatternRunner, sign: str = "keep") -> str | None:
    request = HttpRequest.from_hop(hop_to(await captured(runner)))
    slot = next((s for s in request.tokens() if s.where == "authorization"), None)
    if slot is None:
        return await replay(runner, request)
    edited, notes = apply_edits(request, [TokenEdit(slot.index, {"preferred_username": "bob",
                                                                  "role": "admin"},
                                                    sign=sign)], runner.signer())
    return await replay(runner, edited, notes, oracle=sign in ("idp", "holder"))


async def widened(runner: PatternRunner, audiences: tuple[str, ...]) -> str | None:
    hops = await captured(runner)
    exchange = next((h for h in hops if h.kind == "idp" and "token-exchange" in h.summary),
                    None)
    if exchange is None:
        return await replay(runner, HttpRequest.from_hop(hop_to(hops)))
    request = HttpRequest.from_hop(exchange)
    form = [(k, v) for k, v in parse_qsl(request.body) if k != "audience"]
    form += [("audience", a) for a in audiences]
    answer = await runner.replay(HttpRequest(request.method, request.url, request.headers,
                                             urlencode(form), request.of, request.target))
    token = json.loads(answer.response_body).get("access_token")
    service = HttpRequest.from_hop(hop_to(hops))
    if token:
        service = service.with_header("Authorization", f"Bearer {token}")
    return await replay(runner, service)


async def another_url(runner: PatternRunner, path: str) -> str:
    request = HttpRequest.from_hop(hop_to(await captured(runner)))
    moved, notes = send_to(request, runner.endpoints, path=path)
    return await replay(runner, moved, notes)


SOLUTIONS: dict[str, Action] = {
    "anonymous": lambda r: records_replay(r, bare),
    "shared-key": lambda r: records_replay(r),
    "escalate": lambda r: prompt(r, "dave", "Make me an admin."),
    "stolen-key": lambda r: call(r, "dave", "read_data",
                                 {"kind": "expenses", "api_key": r.world.key_for("alice")}),
    "exfiltrate": lambda r: prompt(r, "alice", "Summarize the vendor onboarding notes."),
    "stale-replay": lambda r: records_replay(r, later=3600),
    "passthrough": lambda r: records_replay(
        r, lambda q: send_to(q, r.endpoints, "directory", "/users")[0]),
    "self-approval": lambda r: prompt(r, "alice", "Approve my own expense 4."),
    "agent-disables": lambda r: prompt(r, "alice", "Disable user bob."),
    "stolen-bearer": lambda r: records_replay(r),
    "tamper": lambda r: edited_token(r),
    "widened-audience": lambda r: widened(r, ("records-service", "directory-service")),
    "proof-reuse": lambda r: another_url(r, "/documents"),
    "sub-agent": lambda r: prompt(r, "alice", "Ask the summarizer to summarize the vendor "
                                  "onboarding notes."),
    "retrieval-leak": lambda r: prompt(r, "dave", "Look up how often we rotate the "
                                       "break-glass keys."),
}
NEAR_MISSES: dict[str, Action] = {
    "anonymous": lambda r: records_replay(
        r, lambda q: send_to(bare(q), r.endpoints, path="/notes")[0]),
    "shared-key": lambda r: records_replay(r, lambda q: q.with_header("x-api-key", None)),
    "escalate": lambda r: call(r, "dave", "manage_users",
                               {"action": "set_role", "username": "dave", "role": "user"}),
    "stolen-key": lambda r: call(r, "dave", "read_data", {"kind": "expenses"}),
    "exfiltrate": lambda r: prompt(r, "alice", "What are my expenses?"),
    "stale-replay": lambda r: records_replay(r),
    "passthrough": lambda r: records_replay(r),
    "self-approval": lambda r: prompt(r, "bob", "Approve Alice's expense 4."),
    "agent-disables": lambda r: prompt(r, "alice", "List all users."),
    "stolen-bearer": lambda r: edited_token(r, sign="idp"),      # an oracle proves nothing
    "tamper": lambda r: records_replay(r),
    "widened-audience": lambda r: widened(r, ("records-service",)),
    "proof-reuse": lambda r: records_replay(r),
    "sub-agent": lambda r: prompt(r, "alice", "Summarize the vendor onboarding notes."),
    "retrieval-leak": lambda r: prompt(r, "alice", "Look up how often we rotate the "
                                       "break-glass keys."),
}


def test_every_challenge_has_a_solution_a_near_miss_and_one_to_three_hints():
    assert set(SOLUTIONS) == set(NEAR_MISSES) == set(BY_ID)
    for challenge in CHALLENGES:
        assert 1 <= len(challenge.hints) <= 3 and challenge.goal and challenge.solvable
        assert challenge.solvable <= set(PATTERNS)


@pytest_asyncio.fixture(params=PATTERNS)
async def runner(request, stack: StackHandle) -> AsyncIterator[PatternRunner]:
    async with PatternRunner(request.param, stack=stack) as started:
        yield started


async def solved_by(runner: PatternRunner, action: Action) -> set[str]:
    runner.reset()
    trace = await action(runner)
    assert trace is not None
    return {c.id for c, _ in detect(Evidence.of(runner, trace))}


async def test_solutions_are_detected_exactly_where_solvable(runner: PatternRunner):
    wrong = []
    for challenge in CHALLENGES:
        found = challenge.id in await solved_by(runner, SOLUTIONS[challenge.id])
        if found != (runner.id in challenge.solvable):
            wrong.append(f"{challenge.id}: detected={found}")
    assert not wrong, f"under {runner.id}: " + ", ".join(wrong)


async def test_near_misses_are_never_detected(runner: PatternRunner):
    wrong = [c.id for c in CHALLENGES
             if c.id in await solved_by(runner, NEAR_MISSES[c.id])]
    assert not wrong, f"under {runner.id}: near misses detected: {wrong}"


# -- progress ------------------------------------------------------------------------------

def test_progress_is_kept_in_a_file_only_its_owner_reads(tmp_path):
    path = tmp_path / "state" / "challenges.json"
    progress = Progress(path, user="carol")
    assert progress.mark("stale-replay", "p04", "replayed an hour later") is True
    assert progress.mark("stale-replay", "p04", "again") is False
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Progress(path, user="carol")
    assert again.is_solved("stale-replay", "p04") and not again.is_solved("stale-replay", "p03")
    assert again.problem == ""


@pytest.mark.parametrize("content", ["{oops", "[]", '{"version": 9}',
                                     '{"version": 1, "user": "x", "solved": [1]}'])
def test_an_unreadable_progress_file_is_kept_aside_not_lost(tmp_path, content):
    path = tmp_path / "challenges.json"
    path.write_text(content)
    progress = Progress(path, user="carol")
    assert progress.solved == {} and "started afresh" in progress.problem
    kept = [p for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    assert len(kept) == 1 and kept[0].read_text() == content
    progress.mark("escalate", "p01", "proof")
    assert Progress(path, user="carol").is_solved("escalate", "p01")


def test_hand_in_and_the_instructors_report(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    for user, solved in (("alice1", [("escalate", "p01"), ("escalate", "p02")]),
                         ("bob2", [("stale-replay", "p04")])):
        progress = Progress(tmp_path / user / "c.json", user=user)
        for challenge, pattern in solved:
            progress.mark(challenge, pattern, "proof")
        handed = progress.hand_in(drop)
        assert handed.name == f"{user}.json"
        assert stat.S_IMODE(os.stat(handed).st_mode) == 0o640
    (drop / "broken.json").write_text("not json")
    report = read_reports(drop)
    assert sorted(report.students) == ["alice1", "bob2"]
    assert [s.pattern for s in report.students["alice1"]] == ["p01", "p02"]
    assert "broken.json" in report.unreadable
    assert report.to_json()["students"]["bob2"][0]["challenge"] == "stale-replay"
    with pytest.raises(ProgressError, match="not a folder"):
        Progress(tmp_path / "x.json", user="eve").hand_in(tmp_path / "missing")
    with pytest.raises(ProgressError, match="plain login name"):
        Progress(tmp_path / "y.json", user="../etc").hand_in(drop)
