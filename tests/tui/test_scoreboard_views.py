"""The scoreboard shows the staircase: cells coloured by what happened, a separate mark
where the run differs from the contract, and views for who decided and whom the audit names."""

from __future__ import annotations

import time
from dataclasses import replace

from rich.style import Style
from textual.widgets.data_table import ColumnKey, RowKey
from tui_helpers import main_screen, until

from runtime import STEP_IDS, short_audit
from tui.widgets.scoreboard_table import ScoreboardTable, cell_text


def _style(text) -> Style:
    return text.style if isinstance(text.style, Style) else Style.parse(text.style)


async def _run_board(pilot, app):
    await app.wait_until_ready()
    main_screen(app).action_run_script()
    board = app.get_screen("scoreboard")
    await until(pilot, lambda: app.explorer.script_run is not None and not board.running
                and board.done == len(board.patterns) * len(STEP_IDS), "the script run",
                timeout=120)
    return board, board.query_one(ScoreboardTable)


async def test_cells_say_what_happened_and_v_cycles_the_views(make_app):
    app = make_app(patterns=("p02", "p03"))
    async with app.run_test(size=(120, 40)) as pilot:
        board, table = await _run_board(pilot, app)
        attack_won, attack_blocked = table.get_cell("A3", "p02"), table.get_cell("A1", "p02")
        work_done, refused = table.get_cell("L1", "p03"), table.get_cell("L3", "p03")
        assert attack_won.plain == "ALLOW ✓" and _style(attack_won).bold
        assert _style(attack_won).color.name == "red"
        assert attack_blocked.plain == "deny ✓" and _style(attack_blocked).color.name == "green"
        assert work_done.plain == "ALLOW ✓" and _style(work_done).color.name == "green"
        assert refused.plain == "deny ✓" and _style(refused).italic
        assert _style(refused).color.name == "yellow"
        assert "view: outcome" in str(board.query_one("#scoreboard-title").content)

        cell = app.explorer.script_run.cells[("A1", "p03")]
        await pilot.press("v")
        assert table.get_cell("A1", "p03").plain == f"{cell.decided_by} ✓"
        assert "view: who decided" in str(board.query_one("#scoreboard-title").content)
        await pilot.press("v")
        assert table.get_cell("A1", "p03").plain == f"{short_audit(cell)} ✓"
        assert "Whom the audit log names" in str(board.query_one("#scoreboard-legend").content)
        await pilot.press("v")
        assert table.get_cell("A1", "p03").plain == "deny ✓"


async def test_a_cell_that_differs_is_marked_apart_from_its_colour(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(patterns=("p02",))
    async with app.run_test(size=(80, 24)) as pilot:
        board, table = await _run_board(pilot, app)
        run = app.explorer.script_run
        wrong = replace(run.cells[("A1", "p02")], expected="ALLOW")   # pretend: expected ALLOW
        table.show_cell("A1", "p02", wrong)
        marked = table.get_cell("A1", "p02")
        assert marked.plain == "deny ✗"
        assert _style(marked).reverse and _style(marked).bold and _style(marked).color is None
        attack_won = table.get_cell("A3", "p02")           # no colour, still bold: it won
        assert _style(attack_won).bold and _style(attack_won).color is None
        assert _style(table.get_cell("L1", "p02")).bold is not True


def test_unmeasured_cells_show_the_expectation_only_in_the_outcome_view():
    assert cell_text("A7", "p08", None).plain == "deny"
    assert cell_text("A7", "p07", None).plain == "ALLOW"
    assert cell_text("A7", "p08", None, view="audit").plain == "·"


async def test_all_ten_patterns_fit_side_by_side_at_160_columns(make_app):
    """The measured columns wrap (their longest value is 30 characters), so the whole
    staircase reads without scrolling sideways at 160 columns, and each wrapped cell still
    says exactly what was measured."""
    from runtime import COLUMN_NAMES, expected_columns

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        board, table = await _run_board(pilot, app)
        assert len(board.patterns) == 10
        await pilot.pause(0.1)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        for pattern in board.patterns:
            contract = expected_columns(pattern, "embedded") or {}
            for name in COLUMN_NAMES:
                shown = table.get_cell(name, pattern).plain
                assert shown.replace("\n", " ") == contract[name], (pattern, name, shown)
                assert max(len(line) for line in shown.splitlines()) <= 11
        for view in ("who decided", "whom the audit"):
            await pilot.press("v")
            await pilot.pause(0.1)
            assert view in str(board.query_one("#scoreboard-title").content)
            assert table.virtual_size.width <= table.scrollable_content_region.width, view


async def test_a_delegation_chain_stacks_one_party_per_line_in_the_audit_view(make_app):
    """Under p09 the audit names three parties for A8; the row grows to show them all (the
    cell is not cut to the row's one line) and the column stays as narrow as the others."""
    app = make_app(patterns=("p08", "p09"))
    async with app.run_test(size=(120, 48)) as pilot:
        board, table = await _run_board(pilot, app)
        cell = app.explorer.script_run.cells[("A8", "p09")]
        assert short_audit(cell) == "alice+summarizer+agent"
        assert table.rows[RowKey("A8")].height == 1
        await pilot.press("v", "v")
        assert table.get_cell("A8", "p09").plain == "alice\n+summarizer\n+agent ✓"
        assert table.get_cell("A8", "p08").plain == "alice+agent ✓"
        assert table.rows[RowKey("A8")].height == 3
        assert table.rows[RowKey("A7")].height == 1
        await pilot.pause(0.1)
        assert table.columns[ColumnKey("p09")].get_render_width(table) <= 15
        table.move_cursor(row=table.get_row_index("A8"), column=2)
        await pilot.press("v")                 # back to the outcome view: one line again
        assert table.rows[RowKey("A8")].height == 1
        assert table.cursor_coordinate.row == table.get_row_index("A8")
        assert table.get_cell("A8", "p09").plain == "deny ✓"


async def test_on_a_narrow_terminal_the_step_names_stay_while_the_patterns_scroll(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await pilot.press("escape", "b")
        await until(pilot, lambda: app.screen.id == "scoreboard"
                    and bool(app.screen.query(ScoreboardTable)), "the scoreboard")
        table = app.screen.query_one(ScoreboardTable)
        table.focus()
        await pilot.press("end")                  # the last pattern's column
        await until(pilot, lambda: table.scroll_x > 0, "the board scrolled sideways")
        lines = [table.render_line(y).text for y in range(table.size.height)]
        assert "p10" in lines[0] and "p01" not in lines[0]
        assert lines[0].lstrip().startswith("step")
        assert any(line.lstrip().startswith("L1") for line in lines)


async def test_cells_measured_one_by_one_are_drawn_in_batches(make_app):
    """Every change re-renders the whole table (~40 ms of the UI thread at 160 columns, which
    the runtime's thread waits for under the GIL): drawn once per cell, the script took twice
    as long in the explorer as its CPU needs. Cells arriving ~50 ms apart (as they do) are
    drawn a few at a time; each still shows, and the progress counts it."""
    from runtime import Cell, expected
    from tui.screens.scoreboard_screen import FLUSH_EVERY, ScoreboardScreen

    app = make_app(patterns=("p02", "p03"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("escape", "b")
        await until(pilot, lambda: app.screen.id == "scoreboard"
                    and bool(app.screen.query(ScoreboardTable)), "the scoreboard")
        board, table = app.screen, app.screen.query_one(ScoreboardTable)
        drawn: set[tuple[str, ...]] = set()      # each distinct state of p02's column drawn
        render_lines = table.render_lines

        def spy(crop):
            drawn.add(tuple(table.get_cell(step, "p02").plain for step in STEP_IDS))
            return render_lines(crop)

        table.render_lines = spy  # type: ignore[method-assign]
        posted, started = 0, time.perf_counter()
        for step in STEP_IDS:
            want = expected(step, 2)
            board.post_message(ScoreboardScreen.CellMeasured(
                Cell(step, "p02", want, want, "service", "alice", "", None)))  # type: ignore[arg-type]
            posted += 1
            await pilot.pause(0.05)
        await until(pilot, lambda: board.done == posted, "every cell shown",
                    timeout=5 + 2 * FLUSH_EVERY)
        took = time.perf_counter() - started
        await pilot.pause(0.1)
        assert all(table.get_cell(step, "p02").plain.endswith(" ✓") for step in STEP_IDS)
        # at most one new drawing per FLUSH_EVERY (a busy machine only stretches `took`)
        assert 1 < len(drawn) <= took / FLUSH_EVERY + 2, (len(drawn), took)
