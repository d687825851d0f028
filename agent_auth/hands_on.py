"""The hands-on commands: replay an exported hop with edits, call a tool yourself, compare
two patterns on the same prompt or step. Plain text for people, `--json` for machines."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from agent_auth.commands import CliError, dump_json, hop_line
from agent_auth.judging import judged, judged_json, say_judged
from runtime import (
    API_KEY,
    BY_ID,
    CHALLENGES,
    ORACLE_SIGNS,
    Challenge,
    Comparison,
    Hop,
    HttpRequest,
    PatternRunner,
    Progress,
    ReplayError,
    Settings,
    TokenEdit,
    apply_edits,
    brief,
    check_request,
    compare_patterns,
    hop_to_dict,
    json_object,
    parse_assignment,
    parse_duration,
    printable,
    progress_path,
    retarget,
    send_to,
)

# -- replay --------------------------------------------------------------------------------

def _records(path: Path) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            raise CliError(f"{path}:{number} is not a JSON line") from None
        if not isinstance(value, dict):
            raise CliError(f"{path}:{number} is not a hop (a JSON object)")
        records.append(value)
    if not records:
        raise CliError(f"{path} holds no hops")
    return records


def _http(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if isinstance(r.get("method"), str) and r.get("method")
            and isinstance(r.get("url"), str) and r.get("url")]


def _pick(records: list[dict[str, Any]], seq: int | None) -> dict[str, Any] | None:
    http = _http(records)
    if not http:
        raise CliError("the file has no HTTP hops to replay")
    if seq is None:
        return http[0] if len(http) == 1 else None
    found = [r for r in http if r.get("seq") == seq]
    if not found:
        numbers = ", ".join(str(r.get("seq")) for r in http)
        raise CliError(f"no HTTP hop {seq} in the file (HTTP hops: {numbers})")
    if len(found) > 1:
        patterns = ", ".join(str(r.get("pattern", "?")) for r in found)
        raise CliError(f"hop {seq} appears under several patterns ({patterns}); export one "
                       "pattern, or pick with --pattern")
    return found[0]


def _listing(records: list[dict[str, Any]]) -> str:
    lines = ["hops you can replay (pick one with --hop N):"]
    for record in _http(records):
        try:
            tokens = HttpRequest.from_record(record).tokens()
        except ReplayError:
            tokens = []
        marks = f"  [{len(tokens)} JWT]" if tokens else ""
        pattern = f"{record['pattern']} " if isinstance(record.get("pattern"), str) else ""
        lines.append(printable(f"  {record.get('seq', '?'):>4} {pattern}"
                               f"{record.get('kind', '?'):<8} {record.get('source', '?')} -> "
                               f"{record.get('target', '?')}  {record.get('summary', '')}"
                               f"  {record.get('status', '')}{marks}"))
    return "\n".join(lines)


def _edits(args: argparse.Namespace, now: float) -> list[TokenEdit]:
    claims = dict(parse_assignment(text, now) for text in args.set_claims)
    if not (claims or args.unset or args.sign):
        return []
    return [TokenEdit(args.token, claims, tuple(args.unset), sign=args.sign or "keep")]


def _header_edits(request: HttpRequest, args: argparse.Namespace) -> HttpRequest:
    for name in args.drop_header:
        request = request.with_header(name, None)
    for text in args.header:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise CliError(f"--header {text!r}: write 'Name: value'")
        request = request.with_header(name.strip(), value.strip())
    return request


async def replay(args: argparse.Namespace, settings: Settings) -> int:
    records = _records(args.file)
    record = _pick([r for r in records if not args.pattern or r.get("pattern") in (
        None, args.pattern)] or records, args.hop)
    if record is None:
        print(_listing(records))
        return 0
    pattern = args.pattern or record.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise CliError("the file does not say which pattern the hop is from: pass --pattern")
    request = HttpRequest.from_record(record)
    async with PatternRunner(pattern, settings=settings) as runner:
        request, notes = retarget(request, runner.endpoints)
        request, moved = send_to(request, runner.endpoints, args.to, args.path)
        notes += moved
        request = _header_edits(request, args)
        edits = _edits(args, runner.clock.now())
        if edits and edits[0].sign != "keep":
            edits = [_adopt_issuer(request, edits[0], runner)]
        notes += _foreign_tokens(request, edits, runner) + _foreign_keys(request, runner)
        request, changes = apply_edits(request, edits, runner.signer())
        oracle = any(e.sign in ORACLE_SIGNS for e in edits)
        result = await runner.replay(request, [*notes, *changes],
                                     later=parse_duration(args.later), oracle=oracle)
        found = await judged(runner, result.trace_id)
    if args.json:
        print(dump_json({"pattern": runner.id, **result.to_json(),
                         "challenges": judged_json(found)}))
        return 0
    print(f"replay of hop {record.get('seq')} ({record.get('kind')}: {record.get('source')} -> "
          f"{record.get('target')}) under {runner.id} on the {settings.stack} stack")
    for note in result.notes:
        print(f"  {printable(note)}")
    print(printable(result.request.describe()))
    print(f"-> {result.status}, decided by {result.decided_by}: {printable(result.reason)}")
    _print_wire(list(result.hops))
    say_judged(found)
    return 0


def _this_issuer(runner: PatternRunner) -> str | None:
    return runner.stack.endpoints.issuer if runner.stack.endpoints else None


def _another_runs(iss: object, issuer: str | None) -> bool:
    """`iss` names a realm of another run's IdP (the embedded IdP's address changes from run
    to run)."""
    return bool(issuer) and isinstance(iss, str) and "/realms/" in iss and iss != issuer


def _foreign_tokens(request: HttpRequest, edits: list[TokenEdit],
                    runner: PatternRunner) -> list[str]:
    """A note for each token that keeps a signature from another run's IdP: this run's
    IdP has other keys (and another address), so it is refused before its claims count."""
    issuer = _this_issuer(runner)
    resigned = {e.slot for e in edits if e.sign != "keep"}
    return [f"token {slot.index} ({slot.where}) was signed by the IdP of the run it was "
            "captured in; this run's IdP has other keys, so it is refused as any other IdP's "
            "token is, before its claims count. To have them judged (an expiry with --later, "
            f"an edited claim), re-sign it: --token {slot.index} --sign idp"
            for slot in request.tokens()
            if slot.index not in resigned and _another_runs(slot.token.claims.get("iss"), issuer)]


def _foreign_keys(request: HttpRequest, runner: PatternRunner) -> list[str]:
    """A note for each API key this run never issued: keys are made afresh every run
    (except with --demo), so one captured in another run is unknown here."""
    world = runner.world
    known = {*world.api_keys, world.shared_key}
    text = " ".join([request.body, *(v for _, v in request.headers)])
    sent = [m.group(0) for m in API_KEY.finditer(text)]
    return [f"the API key {key[:8]}... was issued in the run it was captured in; every run "
            "makes new keys (--demo makes the same ones), so this run does not know it and "
            "refuses it as any unknown key. Export and replay both with --demo, or send one "
            "of this run's keys (--header 'X-API-Key: ...')"
            for key in dict.fromkeys(sent) if key not in known]


def _adopt_issuer(request: HttpRequest, edit: TokenEdit, runner: PatternRunner) -> TokenEdit:
    """A token re-signed for this run names this run's issuer when it named another run's."""
    slots = request.tokens()
    if "iss" in edit.set_claims or not 0 <= edit.slot < len(slots):
        return edit
    issuer = _this_issuer(runner)
    if issuer is None or not _another_runs(slots[edit.slot].token.claims.get("iss"), issuer):
        return edit
    return TokenEdit(edit.slot, {"iss": issuer, **edit.set_claims}, edit.unset,
                     edit.set_header, edit.sign)


def _print_wire(hops: list[Hop]) -> None:
    print("wire:")
    for hop in hops:
        print(hop_line(hop))


# -- call ------------------------------------------------------------------------------------

async def call(args: argparse.Namespace, settings: Settings) -> int:
    arguments = json_object(args.arguments, "arguments")
    async with PatternRunner(args.pattern, settings=settings) as runner:
        turn = await runner.call_tool(args.user, args.tool, arguments)
        hops = runner.tap.trace(turn.trace_id)
        found = await judged(runner, turn.trace_id)
    if args.json:
        print(dump_json({"pattern": runner.id, "user": turn.user, "tool": args.tool,
                         "arguments": arguments, "result": turn.answer, "error": turn.error,
                         "trace_id": turn.trace_id, "hops": [hop_to_dict(h) for h in hops],
                         "challenges": judged_json(found)}))
    else:
        print(f"{turn.user} calls {args.tool}({brief(json.dumps(arguments), 200)}) under "
              f"{runner.id}, no model in the loop")
        print(printable(turn.answer, lines=True))
        _print_wire(hops)
        say_judged(found)
    return 0 if turn.error is None else 1


# -- compare ---------------------------------------------------------------------------------

async def compare_command(args: argparse.Namespace, settings: Settings) -> int:
    patterns = [p.strip() for p in args.patterns.split(",") if p.strip()]
    prompt = args.prompt if not args.step else None
    if args.step and args.prompt:
        raise CliError("give a prompt or --step, not both")
    check_request(patterns, prompt, args.step)
    result = await compare_patterns(settings, patterns, user=args.user, prompt=prompt,
                                    step=args.step)
    if args.json:
        print(dump_json(result.to_json()))
    else:
        print(render_comparison(result, shutil.get_terminal_size((160, 40)).columns))
    return 0


def one_line(text: str) -> str:
    return printable(" ".join(text.split()))


def _cell(hop: Hop | None, width: int) -> str:
    if hop is None:
        return " " * width
    status = f" {hop.status}" if hop.status is not None else ""
    text = one_line(f"{hop.kind:<7} {hop.source}->{hop.target} {hop.summary}")
    room = width - len(status)
    text = text if len(text) <= room else text[: max(room - 1, 0)] + "…"
    return f"{text:<{room}}{status}"


def render_comparison(result: Comparison, width: int = 160) -> str:
    column = max(30, (min(width, 200) - 6) // 2)
    left, right = result.left.pattern, result.right.pattern
    lines = [printable(f"compare {left} | {right}   {result.what}"),
             f"   {left:<{column}} {right}"]
    for row in result.rows:
        lines.append(f" {row.mark} {_cell(row.left, column)} {_cell(row.right, column)}"
                     .rstrip())
        shown = [d for d in row.differences if not d.startswith("only on the")]
        for difference in shown:
            lines.append(printable(f"      {difference}"))
    lines.append("")
    lines.append(f"{len(result.rows)} hops aligned, {len(result.differing)} differ "
                 f"(< only under {left}, > only under {right}, ≠ differs)")
    for side in (result.left, result.right):
        lines.append(f"{side.pattern}: {one_line(side.outcome)[:150]}")
    return "\n".join(lines)


# -- challenges --------------------------------------------------------------------------------

def challenges(args: argparse.Namespace, settings: Settings) -> int:
    from runtime import discover

    progress = Progress(progress_path())
    if args.hand_in is not None:
        folder = args.hand_in or settings.hand_in
        if not folder:
            raise CliError("no hand-in folder: name one, or set AGENT_AUTH_HAND_IN")
        path = progress.hand_in(Path(folder))
        print(f"handed in {len(progress.solved)} solved challenges as {path}")
        return 0
    patterns = [p.id for p in discover()]
    if args.challenge:
        challenge = BY_ID.get(args.challenge)
        if challenge is None:
            raise CliError(f"no challenge {args.challenge!r}: one of {', '.join(BY_ID)}")
        return _show_challenge(challenge, progress, patterns, args.json)
    if args.json:
        print(dump_json({"user": progress.user, "progress_file": str(progress.path),
                         "problem": progress.problem, "challenges": [
                             {"id": c.id, "title": c.title, "goal": c.goal, "kind": c.kind,
                              "step": c.step, "solvable": sorted(c.solvable),
                              "solved": sorted(p for p in patterns
                                               if progress.is_solved(c.id, p))}
                             for c in CHALLENGES]}))
        return 0
    print(f"challenges for {progress.user} (progress in {progress.path})")
    if progress.problem:
        print(f"  note: {progress.problem}")
    width = max(len(c.id) for c in CHALLENGES)
    print(" " * (width + 2) + " ".join(f"{p:>3}" for p in patterns) + "  goal")
    for c in CHALLENGES:
        marks = " ".join(f"{_mark(c, p, progress):>3}" for p in patterns)
        print(f"  {c.id:<{width}} {marks}  {c.goal}")
    print("\n✓ solved · to solve; blank: that pattern stops it. "
          "`agent-auth challenges ID` shows one with its hints.")
    return 0


def _mark(challenge: Challenge, pattern: str, progress: Progress) -> str:
    if progress.is_solved(challenge.id, pattern):
        return "✓"
    return "·" if pattern in challenge.solvable else ""


def _show_challenge(challenge: Challenge, progress: Progress, patterns: list[str],
                    as_json: bool) -> int:
    solved = {p: progress.solved[(challenge.id, p)].proof for p in patterns
              if progress.is_solved(challenge.id, p)}
    if as_json:
        print(dump_json({"id": challenge.id, "title": challenge.title, "goal": challenge.goal,
                         "kind": challenge.kind, "step": challenge.step,
                         "solvable": sorted(challenge.solvable), "hints": challenge.hints,
                         "solved": solved}))
        return 0
    print(f"{challenge.title} ({challenge.id}, {challenge.kind})")
    print(f"  goal: {challenge.goal}")
    print(f"  solvable under: {', '.join(sorted(challenge.solvable))}")
    for number, hint in enumerate(challenge.hints, 1):
        print(f"  hint {number}: {hint}")
    for pattern, proof in solved.items():
        print(f"  solved under {pattern}: {proof}")
    return 0


# -- the instructor's report ---------------------------------------------------------------------

def lab_report(args: argparse.Namespace) -> int:
    from runtime import read_reports, solved_patterns

    report = read_reports(args.folder)
    if args.json:
        print(dump_json({"folder": str(args.folder), **report.to_json()}))
        return 0
    possible = sum(len(c.solvable) for c in CHALLENGES)
    print(f"{args.folder}: {len(report.students)} students handed in"
          + (f", {len(report.unreadable)} files unreadable" if report.unreadable else ""))
    if report.students:
        width = max(len(u) for u in report.students)
        for user, solved in sorted(report.students.items()):
            table = solved_patterns(solved)
            listed = ", ".join(f"{c} ({' '.join(p)})" for c, p in sorted(table.items()))
            print(printable(f"  {user:<{width}}  {len(solved):>2}/{possible}  "
                            f"{listed or '(none yet)'}"))
        print("by challenge:")
        for challenge in CHALLENGES:
            who = sorted(u for u, solved in report.students.items()
                         if any(s.challenge == challenge.id for s in solved))
            print(printable(f"  {challenge.id:<17} {len(who):>3} students"
                            + (f": {', '.join(who)}" if who else "")))
    for name, reason in sorted(report.unreadable.items()):
        print(printable(f"  unreadable {name}: {reason}"))
    return 0
