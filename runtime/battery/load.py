"""Concurrent sessions on one runner: throughput, latency, and no identity bleed.

`run_sessions(runner, n)` starts `n` agent turns at once, mixing the three users and their
prompts, all on the same runner (one MCP server, one pair of services, shared caches).
Then it checks, from evidence: every turn finished without error; every audit record of a
turn names the user who prompted it (the prompt hop on the wire) and the expected actor;
every expense list a user got back holds only that user's expenses.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.agent import TurnResult
    from runtime.runner import PatternRunner

USERS = ("alice", "bob", "dave")
PROMPTS: dict[str, tuple[str, ...]] = {
    "alice": ("What are my expenses?", "List all users.", "Show me the documents."),
    "bob": ("What are my expenses?", "Approve Alice's expense 4.", "Show me the notes."),
    "dave": ("Show me the platform documents.", "What are my expenses?",
             "Show me the notes."),
}


@dataclass
class LoadReport:
    pattern: str
    sessions: int
    seconds: float
    latencies: list[float]
    turns: list[TurnResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    audit_records: int = 0

    @property
    def throughput(self) -> float:
        return self.sessions / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    def summary(self) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (f"{self.pattern}: {self.sessions} concurrent sessions in {self.seconds:.2f} s "
                f"= {self.throughput:.1f} turns/s; latency ms p50 {self.percentile(50) * 1000:.0f}"
                f" p90 {self.percentile(90) * 1000:.0f} p95 {self.percentile(95) * 1000:.0f}"
                f" p99 {self.percentile(99) * 1000:.0f} max {max(ms, default=0):.0f}"
                f" (mean {statistics.fmean(ms) if ms else 0:.0f}); "
                f"{self.audit_records} audit records; "
                f"{len(self.problems)} problems")


def plan(n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        user = USERS[i % len(USERS)]
        prompts = PROMPTS[user]
        out.append((user, prompts[(i // len(USERS)) % len(prompts)]))
    return out


async def run_sessions(runner: PatternRunner, n: int, *,
                       expected_actor: str | None = "agent") -> LoadReport:
    sessions = plan(n)
    latencies: list[float] = [0.0] * n

    async def one(i: int, user: str, prompt: str) -> TurnResult:
        started = time.perf_counter()
        turn = await runner.run_as(user, prompt)
        latencies[i] = time.perf_counter() - started
        return turn

    started = time.perf_counter()
    turns = list(await asyncio.gather(*(one(i, u, p) for i, (u, p) in enumerate(sessions))))
    report = LoadReport(runner.id, n, time.perf_counter() - started, latencies, turns)
    check(runner, report, expected_actor)
    return report


def check(runner: PatternRunner, report: LoadReport, expected_actor: str | None) -> None:
    problems = report.problems
    traces = {t.trace_id: t for t in report.turns}
    prompt_user = {h.trace_id: h.source for h in runner.tap.hops
                   if h.kind == "prompt" and h.trace_id in traces}
    records_by_trace: dict[str, list[Any]] = {}
    for record in runner.world.audit:
        if record.trace_id in traces:
            records_by_trace.setdefault(record.trace_id, []).append(record)
    report.audit_records = sum(len(v) for v in records_by_trace.values())
    for trace_id, turn in traces.items():
        if turn.error:
            problems.append(f"{turn.user} {turn.prompt!r}: error {turn.error}")
        if prompt_user.get(trace_id) != turn.user:
            problems.append(f"trace {trace_id[:8]}: wire prompt hop names "
                            f"{prompt_user.get(trace_id)}, turn is {turn.user}")
        records = records_by_trace.get(trace_id, [])
        if not records:
            problems.append(f"{turn.user} {turn.prompt!r}: no audit record")
        for record in records:
            if record.user != turn.user:
                problems.append(f"{turn.user} {turn.prompt!r}: audit names {record.user}")
            if expected_actor is not None and record.actor != expected_actor:
                problems.append(f"{turn.user}: audit actor {record.actor}, "
                                f"expected {expected_actor}")
            if record.status >= 500:
                problems.append(f"{turn.user} {turn.prompt!r}: HTTP {record.status} "
                                f"{record.reason}")
        for call in turn.tool_calls:
            try:
                body = json.loads(call.result)
            except ValueError:
                continue
            owners = {e.get("owner") for e in body.get("expenses", [])} \
                if isinstance(body, dict) else set()
            if call.arguments.get("kind") == "expenses" and owners - {turn.user}:
                problems.append(f"{turn.user} saw expenses of {sorted(owners)}")
