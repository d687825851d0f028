"""Telling the student which challenges an action on the command line solved."""
from __future__ import annotations

from typing import Any

from runtime import Judged, PatternRunner, Progress, judge, progress_path


async def judged(runner: PatternRunner, trace_id: str) -> list[Judged]:
    """Judge one of the student's actions; progress errors are said, never fatal."""
    return await judge(runner, trace_id, Progress(progress_path()))


def say_judged(found: list[Judged]) -> None:
    for item in found:
        state = "solved" if item.new else "solved again"
        kept = "" if item.saved else " (progress not saved)"
        print(f"challenge {state}: {item.challenge.title} ({item.challenge.id}) under "
              f"{item.pattern}: {item.proof}{kept}")


def judged_json(found: list[Judged]) -> list[dict[str, Any]]:
    return [{"challenge": j.challenge.id, "pattern": j.pattern, "proof": j.proof,
             "new": j.new, "saved": j.saved} for j in found]
