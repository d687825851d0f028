"""Run the catalogue against patterns, tabulate attack x pattern, and the CLI entry point.

    result = await run_battery(Settings(), patterns=("p05", "p06", "p07", "p08", "p09", "p10"))
    print(render(result))
    exit_code = cli_main(["--json"], settings)

ALLOW = the attack got through, DENY = it was blocked. `expected` per cell is DENY where the
pattern claims protection and ALLOW where it does not (the teaching matrix); a cell whose
attack raised, or whose service answered 500, is ERROR and never matches.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from runtime import event_loop
from runtime.battery.catalogue import CATALOGUE
from runtime.battery.core import Actual, Arena, Attack, Kit, Outcome, Skip, Verdict
from runtime.battery.servers import AttackerServer
from runtime.errors import InputError
from runtime.settings import Settings

DEFAULT_PATTERNS: tuple[str, ...] = ("p05", "p06", "p07", "p08", "p09", "p10")


@dataclass(frozen=True)
class BatteryCell:
    attack: str
    pattern: str
    expected: Verdict
    actual: Actual
    status: int | None
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.actual == "SKIP" or self.actual == self.expected

    def to_json(self) -> dict[str, Any]:
        return {"attack": self.attack, "pattern": self.pattern, "expected": self.expected,
                "actual": self.actual, "ok": self.ok, "status": self.status,
                "detail": self.detail, "ms": round(self.seconds * 1000, 1)}


@dataclass
class BatteryResult:
    patterns: list[str]
    attacks: list[Attack]
    cells: list[BatteryCell] = field(default_factory=list)
    seconds: float = 0.0
    stack: str = "embedded"

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cells)

    @property
    def mismatches(self) -> list[BatteryCell]:
        return [c for c in self.cells if not c.ok]

    def cell(self, attack: str, pattern: str) -> BatteryCell | None:
        for cell in self.cells:
            if cell.attack == attack and cell.pattern == pattern:
                return cell
        return None

    def counts(self) -> dict[str, int]:
        out = {"cells": len(self.cells), "ALLOW": 0, "DENY": 0, "ERROR": 0, "SKIP": 0,
               "mismatches": len(self.mismatches)}
        for cell in self.cells:
            out[cell.actual] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "stack": self.stack, "seconds": round(self.seconds, 3),
                "patterns": self.patterns, "counts": self.counts(),
                "attacks": [{"id": a.id, "family": a.family, "name": a.name, "ref": a.ref,
                             "patterns": [p for p in a.patterns if p in self.patterns],
                             "expected": {p: a.expected(p) for p in a.patterns
                                          if p in self.patterns}}
                            for a in self.attacks],
                "cells": [c.to_json() for c in self.cells]}


ProgressFn = Callable[[BatteryCell], None]


def families() -> list[str]:
    return sorted({a.family for a in CATALOGUE}, key=str.lower)


def select(attacks: Iterable[str] | None = None, families_: Iterable[str] | None = None
           ) -> list[Attack]:
    """Catalogue entries by id prefix and/or family (case-insensitive); all by default.

    A family or prefix that names nothing is an InputError, not an empty run: a typo must
    not pass for a battery in which every cell held."""
    chosen = list(CATALOGUE)
    if families_:
        known = {f.lower(): f for f in families()}
        unknown = [f for f in families_ if f.lower() not in known]
        if unknown:
            raise InputError(f"no attack family {', '.join(map(repr, unknown))} "
                             f"(families: {', '.join(known.values())})")
        wanted = {f.lower() for f in families_}
        chosen = [a for a in chosen if a.family.lower() in wanted]
    if attacks:
        prefixes = tuple(attacks)
        unmatched = [p for p in prefixes if not any(a.id.startswith(p) for a in chosen)]
        if unmatched:
            groups = sorted({a.id.split(".")[0] + "." for a in chosen})
            raise InputError(f"no attack{' in those families' if families_ else ''} has an id "
                             f"starting with {', '.join(map(repr, unmatched))} (the ids start "
                             f"with {', '.join(groups)}; `agent-auth battery` lists them all)")
        chosen = [a for a in chosen if a.id.startswith(prefixes)]
    return chosen


async def run_attack(arena: Arena, attack: Attack) -> BatteryCell:
    """One cell: fresh world, run, classify (exceptions and HTTP 500 are ERROR)."""
    arena.runner.reset()
    started = time.perf_counter()
    actual: Actual
    try:
        outcome: Outcome = await attack.run(arena)
        status, detail = outcome.status, outcome.detail
        actual = outcome.verdict
        if status is not None and status >= 500 and status != 503:
            actual, detail = "ERROR", f"HTTP {status}: {detail}"
        elif actual == "DENY" and attack.deny_status not in (None, status):
            actual, detail = "ERROR", f"refused with {status}, not {attack.deny_status}: {detail}"
    except Skip as exc:
        actual, status, detail = "SKIP", None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken attack is a result, not a crash
        actual, status, detail = "ERROR", None, f"{type(exc).__name__}: {exc}"[:300]
    finally:
        arena.runner.reset()
    return BatteryCell(attack.id, arena.pattern, attack.expected(arena.pattern), actual,
                       status, detail, time.perf_counter() - started)


async def make_kit() -> Kit:
    from stack.jose import generate_ec_key

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = AttackerServer(rsa_key)
    await server.start()
    return Kit(rsa_key=rsa_key, ec_key=generate_ec_key(), server=server)


async def run_battery(
    settings: Settings | None = None,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
    attacks: Sequence[Attack] | None = None,
    progress: ProgressFn | None = None,
) -> BatteryResult:
    """Every applicable attack under each pattern, on one shared stack (embedded default)."""
    from runtime.runner import PatternRunner
    from runtime.stack_handle import StackHandle

    settings = settings or Settings()
    chosen = list(attacks) if attacks is not None else list(CATALOGUE)
    pattern_ids = [p.lower() for p in patterns]
    result = BatteryResult(pattern_ids, [a for a in chosen
                                         if any(a.applies(p) for p in pattern_ids)],
                           stack=settings.stack)
    started = time.perf_counter()
    stack = StackHandle(settings)
    await stack.start()
    kit = await make_kit()
    try:
        for pattern in pattern_ids:
            async with PatternRunner(pattern, settings=settings, stack=stack) as runner:
                arena = Arena(runner, kit)
                for attack in result.attacks:
                    if attack.applies(pattern):
                        cell = await run_attack(arena, attack)
                        result.cells.append(cell)
                        if progress:
                            progress(cell)
    finally:
        await kit.server.stop()
        await stack.stop()
    result.seconds = time.perf_counter() - started
    return result


# -- the table ------------------------------------------------------------------------------

def _mark(cell: BatteryCell | None) -> str:
    if cell is None:
        return "-"
    if cell.actual == "SKIP":
        return "skip"
    return cell.actual if cell.ok else f"{cell.actual}!"


def render(result: BatteryResult, *, details: bool = False) -> str:
    """The attack x pattern table: ALLOW / DENY per cell, '!' where actual != expected,
    '-' where the attack does not apply."""
    width = max((len(a.id) for a in result.attacks), default=10)
    name_width = 58
    head = f"{'attack':<{width}}  {'what':<{name_width}}" + "".join(
        f"  {p:<6}" for p in result.patterns)
    lines = [head, "-" * len(head)]
    family = None
    for attack in result.attacks:
        if attack.family != family:
            family = attack.family
            lines.append(f"[{family}]")
        name = attack.name if len(attack.name) <= name_width else attack.name[:name_width - 1] + "…"
        row = f"{attack.id:<{width}}  {name:<{name_width}}"
        row += "".join(f"  {_mark(result.cell(attack.id, p)):<6}" for p in result.patterns)
        lines.append(row.rstrip())
        if details:
            for p in result.patterns:
                cell = result.cell(attack.id, p)
                if cell is not None:
                    lines.append(f"    {p}: {cell.status or '-'} {cell.detail}")
    counts = result.counts()
    lines.append("-" * len(head))
    lines.append(f"{counts['cells']} cells: {counts['DENY']} DENY, {counts['ALLOW']} ALLOW, "
                 f"{counts['ERROR']} ERROR, {counts['SKIP']} skipped; "
                 f"{counts['mismatches']} differ from expected; "
                 f"{result.seconds:.1f} s on the {result.stack} stack")
    for cell in result.mismatches:
        lines.append(f"  ! {cell.attack} under {cell.pattern}: expected {cell.expected}, got "
                     f"{cell.actual} (HTTP {cell.status}): {cell.detail}")
    lines.append("ALLOW = the attack got through; DENY = blocked; '!' = differs from what the "
                 "pattern claims; '-' = not applicable")
    return "\n".join(lines)


# -- CLI --------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--patterns", nargs="*",
                        help=f"patterns (default {' '.join(DEFAULT_PATTERNS)})")
    parser.add_argument("--family", nargs="*",
                        help=f"only these families ({', '.join(families())})")
    parser.add_argument("--attack", nargs="*", help="only attacks whose id starts with these")
    parser.add_argument("--details", action="store_true", help="status and reason per cell")
    return parser


def _options(args: Any) -> argparse.Namespace:
    if isinstance(args, argparse.Namespace):
        return args
    parser = add_arguments(argparse.ArgumentParser(
        prog="agent-auth battery", description="attack battery x patterns 05-10"))
    return parser.parse_args(list(args or []))


def cli_main(args: Sequence[str] | argparse.Namespace | None, settings: Settings) -> int:
    """`agent-auth battery [--json] [--patterns ...] [--family ...] [--attack ...]`.

    `args` is either the argv after `battery` or an argparse Namespace built with
    `add_arguments`. Exit 0 when every cell matches its expectation, 1 otherwise."""
    opts = _options(args)
    patterns = tuple(getattr(opts, "patterns", None) or DEFAULT_PATTERNS)
    chosen = select(getattr(opts, "attack", None), getattr(opts, "family", None))
    result = event_loop.run_main(run_battery(settings, patterns=patterns, attacks=chosen))
    if not result.cells:
        raise InputError(f"none of the {len(chosen)} attacks chosen applies to "
                         f"{', '.join(patterns)}: nothing was tried")
    if getattr(opts, "json", False):
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(render(result, details=bool(getattr(opts, "details", False))))
    return 0 if result.ok else 1
