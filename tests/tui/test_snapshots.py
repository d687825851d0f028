"""Snapshots at 80×24 and 160×48 with the demo settings (frozen clock, fixed keys) and the
stable display (ports, times, durations and random token ids masked).

Update after an intended change: `uv run pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from tui_helpers import SNAPSHOT_SIZES, settle, until


async def _ready(pilot: Pilot) -> None:
    await pilot.app.wait_until_ready()  # type: ignore[attr-defined]
    await settle(pilot, pilot.app)  # type: ignore[arg-type]
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", ["small", "large"])
def test_main_screen_at_start(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=SNAPSHOT_SIZES[size], run_before=_ready)


@pytest.mark.parametrize("size", ["small", "large"])
def test_main_screen_after_a_prompt_under_p05(snap_compare, make_app, size):
    async def run_before(pilot: Pilot) -> None:
        await _ready(pilot)
        await pilot.press("4")  # focus first: a focus change repaints the table header late
        await pilot.pause(0.2)
        pilot.app.main_screen.send_prompt("What are my expenses?")  # type: ignore[attr-defined]
        await settle(pilot, pilot.app)  # type: ignore[arg-type]
        await pilot.pause(0.3)

    assert snap_compare(make_app(patterns=("p05",)), terminal_size=SNAPSHOT_SIZES[size],
                        run_before=run_before)


@pytest.mark.parametrize("size", ["small", "large"])
def test_scoreboard_before_a_run(snap_compare, make_app, size):
    async def run_before(pilot: Pilot) -> None:
        await _ready(pilot)
        await pilot.press("b")
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=SNAPSHOT_SIZES[size], run_before=run_before)


def test_help_lists_the_keys_in_context(snap_compare, make_app):
    async def run_before(pilot: Pilot) -> None:
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=SNAPSHOT_SIZES["large"], run_before=run_before)


def test_scoreboard_after_a_run_shows_the_staircase(snap_compare, make_app):
    async def run_before(pilot: Pilot) -> None:
        await _ready(pilot)
        await pilot.press("S")
        board = pilot.app.get_screen("scoreboard")
        await until(pilot, lambda: pilot.app.explorer.script_run is not None  # type: ignore[attr-defined]
                    and not board.running, "the script run", timeout=120)  # type: ignore[attr-defined]
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=SNAPSHOT_SIZES["large"], run_before=run_before)


def test_the_users_token_full_size(snap_compare, make_app):
    async def run_before(pilot: Pilot) -> None:
        await _ready(pilot)
        screen = pilot.app.main_screen  # type: ignore[attr-defined]
        await until(pilot, lambda: screen.query_one("#user").info is not None, "the user")
        await pilot.press("k")
        await pilot.pause(0.3)

    assert snap_compare(make_app(patterns=("p05",)), terminal_size=SNAPSHOT_SIZES["small"],
                        run_before=run_before)
