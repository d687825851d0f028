"""The headless commands behind `agent-auth`: plain text for people, `--json` for machines."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from agent_auth.judging import judged, judged_json, say_judged
from runtime import (
    COLUMN_NAMES,
    VIEW_TITLES,
    Cell,
    Hop,
    MatrixResult,
    MatrixView,
    PatternRunner,
    Settings,
    StackHandle,
    StepResult,
    TurnResult,
    hop_to_dict,
    is_http,
    probe,
    run_matrix_forked,
    stack_endpoints,
    to_har,
    to_jsonl,
    view_value,
)
from stack.errors import ExplorerError


class CliError(ExplorerError):
    """A problem to report in one clear line (exit code 2), never as a traceback."""


def dump_json(value: object) -> str:
    return json.dumps(value, indent=2, default=str)


def hop_line(hop: Hop) -> str:
    status = f" {hop.status}" if hop.status is not None else ""
    took = f" {hop.duration_ms:6.1f}ms" if hop.duration_ms else ""
    return f"  {hop.kind:<8} {hop.source:>11} -> {hop.target:<12}{status}{took}  {hop.summary}"


def _print_turn(turn: TurnResult, hops: list[Hop]) -> None:
    print(f"{turn.user}> {turn.prompt}")
    for call in turn.tool_calls:
        args = json.dumps(call.arguments)
        print(f"  tool {call.name}({args}) -> {call.result.replace(chr(10), ' ')[:160]}")
    print(f"agent ({turn.model})> {turn.answer}")
    print("wire:")
    for hop in hops:
        print(hop_line(hop))


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if not args.step and not args.prompt.strip():
        raise CliError("give a prompt, or --step L1..A9")
    async with PatternRunner(args.pattern, settings=settings) as runner:
        if args.step:
            result = await runner.run_step(args.step)
            hops = [h for h in runner.tap.hops if h.trace_id in result.trace_ids]
            if args.json:
                print(dump_json({"step": result.step, "pattern": result.pattern,
                                 "outcome": result.outcome, "decided_by": result.decided_by,
                                 "parts": [p.__dict__ for p in result.parts],
                                 "hops": [hop_to_dict(h) for h in hops]}))
            else:
                _print_step(result, hops)
            return 0
        turn = await runner.run_as(args.user, args.prompt)
        hops = runner.tap.trace(turn.trace_id)
        found = await judged(runner, turn.trace_id)
        if args.json:
            print(dump_json({"pattern": runner.id, "user": turn.user, "prompt": turn.prompt,
                             "answer": turn.answer, "model": turn.model,
                             "error": turn.error, "trace_id": turn.trace_id,
                             "tool_calls": [c.__dict__ for c in turn.tool_calls],
                             "hops": [hop_to_dict(h) for h in hops],
                             "challenges": judged_json(found)}))
        else:
            _print_turn(turn, hops)
            say_judged(found)
        return 0 if turn.error is None else 1


def _print_step(result: StepResult, hops: list[Hop]) -> None:
    print(f"{result.pattern} {result.step}: {result.outcome} (decided by {result.decided_by})")
    for part in result.parts:
        mark = "went through" if part.succeeded else "stopped"
        print(f"  - {part.label}: {mark}; audit: {part.audit}; {part.reason}")
    for turn in result.turns:
        print(f"  {turn.user}> {turn.prompt}\n  agent> {turn.answer}")
    print("wire:")
    for hop in hops:
        print(hop_line(hop))


def _mark(cell: Cell) -> str:
    text = view_value(cell, "outcome")
    return text if cell.ok else f"{text}!"


def _table(result: MatrixResult, view: MatrixView) -> list[str]:
    title = VIEW_TITLES[view]
    cells = {(c.step, c.pattern): view_value(c, view) for c in result.cells}
    widths = [max([len(p)] + [len(cells.get((s, p), "")) for s in result.steps]) + 2
              for p in result.patterns]
    lines = [f"{title}:", ("step  " + "".join(f"{p:<{w}}" for p, w in
                                               zip(result.patterns, widths, strict=True))).rstrip()]
    for step in result.steps:
        lines.append((f"{step:<6}" + "".join(
            f"{cells.get((step, p), '-'):<{w}}" for p, w in
            zip(result.patterns, widths, strict=True))).rstrip())
    return lines


def render_matrix(result: MatrixResult) -> str:
    lines = []
    head = "step  " + "".join(f"{p:>8}" for p in result.patterns)
    lines.append(head)
    for step in result.steps:
        row = f"{step:<6}"
        for pattern in result.patterns:
            cell = result.cell(step, pattern)
            row += f"{_mark(cell) if cell else '-':>8}"
        lines.append(row)
    lines.append("")
    lines.append("'!' marks a cell whose actual outcome differs from the expected one.")
    wrong = [c for c in result.cells if not c.ok]
    for cell in wrong:
        lines.append(f"  {cell.pattern} {cell.step}: expected {cell.expected}, got {cell.actual}"
                     f" (decided by {cell.decided_by}; audit: {cell.audit})")
    lines.append("")
    lines += _table(result, "decided by")
    lines.append("")
    lines += _table(result, "audit")
    lines.append("")
    lines.append("measured columns ('!' where the pattern table says otherwise):")
    width = max(len(n) for n in COLUMN_NAMES)
    off = {(p, name): want for p, name, want, _ in result.column_mismatches()}
    for pattern in result.patterns:
        cols = result.columns.get(pattern, {})
        lines.append(f"  {pattern} {result.titles.get(pattern, '')}")
        for name in COLUMN_NAMES:
            mark = f"  ! expected {off[(pattern, name)]}" if (pattern, name) in off else ""
            lines.append(f"      {name:<{width}}  {cols.get(name, '?')}{mark}")
    verdict = "matches the expected table" if result.ok else "DIFFERS from the expected table"
    lines.append("")
    lines.append(f"{len(result.cells)} cells on the {result.stack} stack in "
                 f"{result.seconds:.2f}s: {verdict}")
    return "\n".join(lines)


def matrix(args: argparse.Namespace, settings: Settings) -> int:
    """Synchronous: the matrix forks its workers before any event loop exists."""
    def progress(pattern: str, step: str, cell: Cell) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r{pattern} {step} {cell.actual:<5}", end="", file=sys.stderr, flush=True)

    workers = args.workers or min(4, os.cpu_count() or 1)
    result = run_matrix_forked(settings, args.patterns, progress=progress, workers=workers)
    if not args.json:
        if sys.stderr.isatty():
            print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
        print(render_matrix(result))
    else:
        print(dump_json(result.to_json()))
    return 0 if result.ok else 1


async def stack_status(settings: Settings) -> int:
    print(f"stack mode: {settings.stack}")
    if settings.stack == "embedded":
        stack = StackHandle(settings)
        started = time.perf_counter()
        endpoints = await stack.start()
        took = (time.perf_counter() - started) * 1000
        health = await probe(endpoints, settings.timeout)
        await stack.stop()
        print(f"  embedded IdP and OPA start in-process on 127.0.0.1 (ephemeral ports); "
              f"started and checked in {took:.0f} ms")
        print(f"  IdP (Keycloak-compatible): {health['idp']}")
        print(f"  OPA (regopy):              {health['opa']}")
        return 0 if set(health.values()) == {"ok"} else 1
    endpoints = stack_endpoints(settings.keycloak_url, settings.opa_url, settings.realm)
    health = await probe(endpoints, settings.timeout)
    print(f"  Keycloak {settings.keycloak_url} realm {settings.realm}: {health['idp']}")
    print(f"  OPA {settings.opa_url}: {health['opa']}")
    # the docker SDK is synchronous: keep it off the event loop
    print("  containers: " + await asyncio.to_thread(_docker_state))
    return 0 if set(health.values()) == {"ok"} else 1


def _docker_state() -> str:
    try:
        import docker  # type: ignore[import-not-found]
    except ImportError:
        return "docker SDK not installed - container state not shown"
    try:
        client = docker.from_env(timeout=2)
        names = [f"{c.name}: {c.status}" for c in client.containers.list(all=True)
                 if "keycloak" in c.name or "opa" in c.name]
        return ", ".join(names) or "no keycloak/opa containers"
    except Exception as exc:  # noqa: BLE001 - docker raises many kinds; a status line only
        return f"no Docker engine reachable ({type(exc).__name__})"


async def doctor(settings: Settings) -> int:
    from runtime import PatternError, discover, load

    problems = 0
    print(f"python {sys.version.split()[0]}; stack {settings.stack}; model {settings.model}")
    for info in discover():
        try:
            load(info)
            print(f"  ok    {info.id} {info.title}")
        except PatternError as exc:
            problems += 1
            print(f"  FAIL  {exc}")
    code = await stack_status(settings)
    return 1 if problems or code else 0


async def export(args: argparse.Namespace, settings: Settings) -> int:
    async with PatternRunner(args.pattern, settings=settings) as runner:
        turn = await runner.run_as(args.user, args.prompt)
        hops = runner.tap.trace(turn.trace_id)
    text = (json.dumps(to_har(hops), indent=1) if args.format == "har"
            else to_jsonl(hops, runner.id))
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc}") from None
    if args.format == "har":
        exchanges = sum(is_http(h) for h in hops)
        print(f"wrote {args.output} (HAR): {exchanges} HTTP exchanges as entries; its _events "
              f"hold the other {len(hops) - exchanges} hops (prompts, answers, audit records)")
    else:
        print(f"wrote {args.output} (JSON lines): all {len(hops)} hops, one per line")
    return 0


def show(args: argparse.Namespace) -> int:
    """A pattern as a reader sees it in the explorer's code view, on stdout."""
    from runtime import CODE_FILES, calls, discover, find, find_shared, shared_code

    if args.preset:
        code = find_shared(args.preset)
        if code is None:
            raise CliError(f"no preset or plugin API name {args.preset!r}")
        print(f"# {code.module} ({code.path}:{code.line})\n{code.source}")
        for called in calls(code):
            print(f"# calls {called.name}: {called.module} ({called.path}:{called.line})")
        return 0
    if not args.pattern:
        raise CliError("show needs --pattern (or --preset NAME)")
    info = find(args.pattern)
    if args.narrative:
        print(info.narrative())
        return 0
    if args.diff:
        from runtime import unified_diff

        ordered = discover()
        earlier = [i for i in ordered if i.number and info.number and i.number < info.number]
        print(unified_diff(earlier[-1] if earlier else None, info)
              or f"{info.id} has no previous pattern to compare with")
        return 0
    shared = shared_code(info)
    for name in CODE_FILES:
        print(f"# ---- {info.folder.name}/{name}\n{info.code(name)}")
        used = [c for c in shared if name in c.used_in]
        if used:
            print(f"# used here ({name}); `agent-auth show --preset NAME` prints one:")
            for code in used:
                print(f"#   {code.name:<22} {code.path}:{code.line}  {code.summary[:60]}")
        print()
    return 0
