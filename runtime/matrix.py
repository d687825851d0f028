"""The teaching matrix: the script under every pattern, actual next to expected.

The five columns of the pattern table are *measured* from the audit records of the run:
who decided, which identity the service extracted, whether it was verified, what audience
the credential carried, and whom the audit log names (compared with the human who asked).
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime import event_loop
from runtime.contract import COLUMN_NAMES, expected, expected_columns
from runtime.errors import RunnerError
from runtime.identity import USER_CREDENTIAL_KIND, Outcome
from runtime.pattern_loader import PatternInfo, discover, find
from runtime.runner import PatternRunner
from runtime.script import STEP_IDS, StepId, StepResult
from runtime.services.guard import AuditRecord
from runtime.services.knowledge import RETRIEVE
from runtime.settings import Settings
from runtime.stack_handle import StackHandle
from runtime.wire import WireTap


@dataclass(frozen=True)
class Cell:
    step: StepId
    pattern: str
    expected: Outcome | None     # None: a pattern of your own, off the staircase
    actual: Outcome
    decided_by: str
    audit: str
    detail: str
    result: StepResult

    @property
    def ok(self) -> bool:
        return self.expected is None or self.expected == self.actual

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "pattern": self.pattern, "expected": self.expected,
                "actual": self.actual, "decided_by": self.decided_by, "audit": self.audit,
                "detail": self.detail,
                "parts": [{"label": p.label, "succeeded": p.succeeded,
                           "decided_by": p.decided_by, "audit": p.audit, "reason": p.reason}
                          for p in self.result.parts]}


#: The ways to read the matrix: what happened, who decided it, whom the audit log names.
MatrixView = Literal["outcome", "decided by", "audit"]
MATRIX_VIEWS: tuple[MatrixView, ...] = ("outcome", "decided by", "audit")
VIEW_TITLES: dict[MatrixView, str] = {
    "outcome": "outcome",
    "decided by": "who decided",
    "audit": "whom the audit log names (user+actor; rejected = credential refused)",
}


def outcome_word(outcome: Outcome) -> str:
    """ALLOW in capitals, deny in lower case: the two read apart without colour."""
    return "ALLOW" if outcome == "ALLOW" else "deny"


def short_audit(cell: Cell) -> str:
    """Whom the audit names, short enough for a matrix cell: "alice+agent" (user+actor),
    "alice+summarizer+agent" (and the actor that delegated to it), "rejected"."""
    text = cell.audit.replace("nobody (credential rejected)", "rejected")
    text = text.replace("(never reached a service)", "-").replace(" (actor ", "+")
    text = text.replace(", delegated by ", "+")
    return text.rstrip(")") if "+" in text else text


def view_value(cell: Cell, view: MatrixView) -> str:
    """A cell's text in one view of the matrix (without the ✓/✗ or '!' mark)."""
    if view == "decided by":
        return cell.decided_by
    if view == "audit":
        return short_audit(cell)
    return outcome_word(cell.actual)


@dataclass
class MatrixResult:
    patterns: list[str]
    steps: list[StepId]
    cells: list[Cell] = field(default_factory=list)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    stack: str = "embedded"

    @property
    def ok(self) -> bool:
        complete = len(self.cells) == len(self.patterns) * len(self.steps)
        return complete and all(c.ok for c in self.cells) and not self.column_mismatches()

    def column_mismatches(self) -> list[tuple[str, str, str, str]]:
        """(pattern, column, expected, measured) for every measured column that differs
        from the teaching contract (patterns of your own have no expectation)."""
        wrong = []
        for pattern, measured in self.columns.items():
            wanted = expected_columns(pattern, self.stack) or {}
            wrong += [(pattern, name, value, measured.get(name, ""))
                      for name, value in wanted.items() if measured.get(name) != value]
        return wrong

    def cell(self, step: str, pattern: str) -> Cell | None:
        for cell in self.cells:
            if cell.step == step and cell.pattern == pattern:
                return cell
        return None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "stack": self.stack, "seconds": round(self.seconds, 3),
                "column_mismatches": [
                    {"pattern": p, "column": c, "expected": e, "measured": m}
                    for p, c, e, m in self.column_mismatches()],
                "patterns": self.patterns, "steps": list(self.steps),
                "titles": self.titles,
                "cells": [c.to_json() for c in self.cells], "columns": self.columns}


def _human_of(result: StepResult) -> dict[str, str]:
    return {turn.trace_id: turn.user for turn in result.turns}


def measure_columns(results: list[StepResult]) -> dict[str, str]:
    """The pattern table's five columns, from what the services actually saw."""
    records: list[tuple[AuditRecord, str]] = []
    for result in results:
        humans = _human_of(result)
        records += [(r, humans[r.trace_id]) for r in result.audit if r.trace_id in humans]
    decided = [r for r, _ in records if r.status in (200, 403)]
    deciders = {r.decided_by for r in decided}
    delegated = any(r.actor for r, _ in records if r.verified)
    if deciders <= {"nobody"}:
        authz = "nowhere"
    elif "OPA" in deciders:
        authz = "IdP + OPA" if delegated else "OPA"
    else:
        authz = ", ".join(sorted(deciders - {"nobody"}))
    if any(r.user for r, _ in records):
        kinds = {USER_CREDENTIAL_KIND.get(r.method, "string") for r, _ in records if r.user}
        kind = next((k for k in ("chained JWT", "bound JWT", "delegated JWT", "JWT")
                     if k in kinds), "string")
        sees_user = f"yes ({kind})"
    else:
        sees_user = "no"
    crypto = "yes" if records and all(r.verified for r, _ in records if r.status != 401) else "no"
    allowed = [r for r, _ in records if r.allowed]
    narrow = allowed and all(
        len(r.audience) == 1 and r.audience[0].startswith(r.service) for r in allowed
    )
    least = "yes" if narrow else "no"
    if narrow and _task_scoped(allowed):
        least = "yes (per task)"
        retrievals = [r for r in allowed if r.action == RETRIEVE]
        if retrievals and all(r.decided_by != "nobody" for r in retrievals):
            least = "yes (per document)"
    if not any(r.user or r.actor for r, _ in records):
        audit = "no"
    elif any(r.user != human for r, human in records if r.status == 200):
        audit = "partial"
    elif any(r.prior_actors for r in allowed):
        audit = "yes (user and the whole chain)"
    elif any(r.actor for r in allowed):
        audit = "yes (user and actor)"
    else:
        audit = "yes"
    return dict(zip(COLUMN_NAMES, (authz, sees_user, crypto, least, audit), strict=True))


def _task_scoped(allowed: list[AuditRecord]) -> bool:
    """Did a sub-agent's task carry less than the agent's own calls (a strictly narrower
    granted scope for every call made down a delegation chain)?"""
    chained = [r for r in allowed if r.prior_actors]
    widest = {s for r in allowed if r.actor and not r.prior_actors for s in r.scope}
    return bool(chained) and all(set(r.scope) < widest for r in chained)


ProgressFn = Callable[[str, StepId, Cell], None]


async def run_pattern(
    runner: PatternRunner, steps: tuple[StepId, ...] = STEP_IDS,
    progress: ProgressFn | None = None,
) -> tuple[list[Cell], dict[str, str]]:
    cells, results = [], []
    for step in steps:
        result = await runner.run_step(step)
        results.append(result)
        part = result.deciding_part
        cell = Cell(step, runner.id, expected(step, runner.loaded.info.number),
                    result.outcome, part.decided_by, part.audit, result.detail, result)
        cells.append(cell)
        if progress:
            progress(runner.id, step, cell)
    return cells, measure_columns(results)


#: What one share of the patterns gives back: cells, measured columns and titles, by pattern.
Share = list[tuple[str, str, list[Cell], dict[str, str]]]


async def _run_share(settings: Settings, infos: list[PatternInfo], steps: tuple[StepId, ...],
                     progress: ProgressFn | None, tap: WireTap | None) -> Share:
    """Run the script under each of `infos`, one after the other, on one embedded stack."""
    stack = StackHandle(settings)
    await stack.start()
    share: Share = []
    try:
        for info in infos:
            async with PatternRunner(info, settings=settings, stack=stack, tap=tap) as runner:
                cells, columns = await run_pattern(runner, steps, progress)
            share.append((info.id, info.title, cells, columns))
    finally:
        await stack.stop()
    return share


def _result(settings: Settings, infos: list[PatternInfo], steps: tuple[StepId, ...],
            shares: list[Share], started: float) -> MatrixResult:
    result = MatrixResult([i.id for i in infos], list(steps), stack=settings.stack)
    by_pattern = {pattern: (title, cells, columns)
                  for share in shares for pattern, title, cells, columns in share}
    for info in infos:
        title, cells, columns = by_pattern[info.id]
        result.titles[info.id] = title
        result.cells += cells
        result.columns[info.id] = columns
    result.seconds = time.perf_counter() - started
    return result


async def run_matrix(
    settings: Settings | None = None,
    patterns: list[str] | None = None,
    steps: tuple[StepId, ...] = STEP_IDS,
    progress: ProgressFn | None = None,
    tap: WireTap | None = None,
) -> MatrixResult:
    """Run the script under each pattern; pass `tap` to keep every hop (drill-down, bench)."""
    settings = settings or Settings()
    infos: list[PatternInfo] = [find(p) for p in patterns] if patterns else discover()
    started = time.perf_counter()
    share = await _run_share(settings, infos, steps, progress, tap)
    return _result(settings, infos, steps, [share], started)


def run_matrix_forked(
    settings: Settings,
    patterns: list[str] | None = None,
    steps: tuple[StepId, ...] = STEP_IDS,
    progress: ProgressFn | None = None,
    workers: int = 2,
) -> MatrixResult:
    """`run_matrix` on `workers` cores: the patterns are dealt out to forked processes, each
    with its own embedded stack and pattern runtimes on 127.0.0.1, exactly as in one process
    (the patterns share nothing but the host). The matrix is CPU-bound Python, so one
    process uses one core; this uses the others.

    Synchronous, and to be called before any event loop or thread exists in this process
    (the CLI does): a fork copies only the calling thread, so no lock can be held by a
    thread that is gone. `progress` sees this process's share as it runs, the others' when
    they are done."""
    infos: list[PatternInfo] = [find(p) for p in patterns] if patterns else discover()
    workers = max(1, min(workers, len(infos)))
    started = time.perf_counter()
    # dealt round-robin: later patterns run longer, so each process gets early and late ones
    dealt = [infos[i::workers] for i in range(workers)]
    children: list[tuple[int, int]] = []
    try:
        for share_infos in dealt[1:]:
            children.append(_fork_share(settings, share_infos, steps))
        shares = [event_loop.run_main(_run_share(settings, dealt[0], steps, progress, None))]
        while children:
            share = _collect(*children.pop(0))
            if progress:
                for pattern, _, cells, _ in share:
                    for cell in cells:
                        progress(pattern, cell.step, cell)
            shares.append(share)
    finally:
        for pid, reader in children:   # this process failed: the others' work is moot
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(reader)
    return _result(settings, infos, steps, shares, started)


def _fork_share(settings: Settings, infos: list[PatternInfo],
                steps: tuple[StepId, ...]) -> tuple[int, int]:
    """Start a child that runs `infos` and writes its pickled Share (or error) to a pipe."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid:
        os.close(writer)
        return pid, reader
    os.close(reader)   # the child: run, report, and leave without the parent's exit handlers
    code = 0
    try:
        payload: Share | str = event_loop.run_main(_run_share(settings, infos, steps, None, None))
    except BaseException as exc:  # noqa: BLE001 - any failure goes back to the parent as text
        payload, code = f"{type(exc).__name__}: {exc}", 1
    try:
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(pickle.dumps(payload))
    finally:
        os._exit(code)


def _collect(pid: int, reader: int) -> Share:
    try:
        with os.fdopen(reader, "rb") as pipe:
            data = pipe.read()
    finally:
        os.waitpid(pid, 0)
    payload = pickle.loads(data) if data else "the process ended without a result"
    if isinstance(payload, str):
        raise RunnerError(f"a matrix worker failed: {payload}")
    return payload
