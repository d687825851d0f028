"""ScoreboardScreen: run the whole script over every pattern, watch the matrix fill in.

The run keeps going if you leave this screen (it is installed once and reused). Each
measured cell opens the hops that decided it (Enter). `v` cycles what the cells say: the
outcome, who decided it, whom the audit log names (the tables `agent-auth matrix` prints).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, ProgressBar, Static

from runtime import MATRIX_VIEWS, STEP_IDS, VIEW_TITLES, Cell, MatrixView
from tui.explorer import Explorer
from tui.screens.runs import ui_errors
from tui.session import ScriptRun
from tui.widgets.scoreboard_table import ScoreboardTable

COLOURS = ("A rows: ALLOW = the attack succeeded (red, bold), deny = blocked (green). "
           "L rows: ALLOW = the work was done (green), deny = refused (yellow, italic). ")
MARKS = ("✓ as the teaching contract expects, ✗ (reversed) differs. "
         "v: next view · Enter: the hops that decided a cell.")
LEGEND: dict[MatrixView, str] = {
    "outcome": COLOURS + MARKS,
    "decided by": "Who decided: nobody, the service, the IdP, OPA or the runtime (the agent "
                  "or the MCP gate). Colours and marks as in the outcome view. " + MARKS,
    "audit": "Whom the audit log names: user+actor (+ the actor that delegated to it); "
             "rejected = the credential was refused; "
             "- = never reached a service. Colours and marks as in the outcome view. " + MARKS,
}


#: Seconds between two renders of the table while the script runs.
FLUSH_EVERY = 0.25


class ScoreboardScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,b", "app.pop_screen", "Back", id="scoreboard.back"),
        Binding("r,S", "start_run", "Run whole script", id="scoreboard.run"),
        Binding("v", "next_view", "Next view",
                tooltip="Scoreboard view: outcome → who decided → whom the audit names",
                id="scoreboard.view"),
        Binding("enter", "drill", "Hops of cell", show=False, id="scoreboard.drill"),
    ]

    class CellMeasured(Message):
        def __init__(self, cell: Cell) -> None:
            super().__init__()
            self.cell = cell

    class PatternDone(Message):
        def __init__(self, pattern_id: str, columns: dict[str, str], error: str) -> None:
            super().__init__()
            self.pattern_id, self.columns, self.error = pattern_id, columns, error

    def __init__(self, explorer: Explorer) -> None:
        super().__init__(id="scoreboard")
        self.explorer = explorer
        self.patterns = [p.id for p in explorer.patterns]
        self.running = False
        self._run_on_mount = False
        self._shown: set[tuple[str, str]] = set()
        self._pending: dict[tuple[str, str], Cell] = {}
        self._flush_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="scoreboard-title")
        yield ScoreboardTable(self.patterns, id="scoreboard-table")
        yield ProgressBar(total=len(self.patterns) * len(STEP_IDS), show_eta=False,
                          id="scoreboard-progress")
        yield Static("Press r to run the whole script.", id="scoreboard-status")
        yield Static(id="scoreboard-legend")
        yield Footer()

    @property
    def done(self) -> int:
        """Cells on screen, the failed patterns' steps included."""
        return len(self._shown)

    @property
    def view(self) -> MatrixView:
        return self.query_one(ScoreboardTable).view

    def _show_view(self, view: MatrixView) -> None:
        self.query_one(ScoreboardTable).show_view(view)
        self.query_one("#scoreboard-title", Static).update(Text.assemble(
            ("Scoreboard", "bold"), "  the script under every pattern · view: ",
            (VIEW_TITLES[view].split(" (")[0], "bold"), ("  (v: next view)", "dim")))
        self.query_one("#scoreboard-legend", Static).update(Text(LEGEND[view], style="dim"))

    def action_next_view(self) -> None:
        self._show_view(MATRIX_VIEWS[(MATRIX_VIEWS.index(self.view) + 1) % len(MATRIX_VIEWS)])

    def on_mount(self) -> None:
        self._show_view("outcome")
        self.query_one(ScoreboardTable).focus()
        if self._run_on_mount:
            self.action_start_run()

    def request_run(self) -> None:
        """Start the whole script now, or as soon as this screen is mounted."""
        if self.is_mounted:
            self.action_start_run()
        else:
            self._run_on_mount = True

    def action_start_run(self) -> None:
        if self.running:
            self.notify("The script is already running.", severity="warning")
            return
        self.running = True
        self._shown.clear()
        self._pending.clear()
        self.query_one(ScoreboardTable).clear_cells()
        self.query_one(ProgressBar).update(progress=0)
        self._status(f"running the script over {len(self.patterns)} patterns…")
        self.run_worker(self._run(), group="script", exclusive=True, exit_on_error=False)

    def _status(self, text: str) -> None:
        self.query_one("#scoreboard-status", Static).update(text)

    async def _run(self) -> None:
        def progress(_pattern: str, _step: str, cell: Cell) -> None:  # runtime thread
            self.post_message(self.CellMeasured(cell))

        def pattern_done(pattern_id: str, run: ScriptRun) -> None:  # runtime thread
            self.post_message(self.PatternDone(pattern_id, dict(run.columns.get(pattern_id, {})),
                                               run.errors.get(pattern_id, "")))

        run = ScriptRun(list(self.patterns))
        self.explorer.script_run = run
        session = self.explorer.session
        try:
            await self.explorer.call(session.run_script(run, progress, pattern_done))
        except ui_errors() as exc:
            self._status(f"the script stopped: {exc}")
            self.notify(str(exc), title="Script run", severity="error")
            return
        finally:
            # the last cells' messages may still be queued: show every measured cell now
            self._pending.update({key: cell for key, cell in run.cells.items()
                                  if key not in self._shown})
            self._flush()
            self.running = False
        wrong = sum(not c.ok for c in run.cells.values())
        self._status(f"done: {len(run.cells)} cells, {wrong} differ from the expected table"
                     + (f"; {len(run.errors)} patterns failed" if run.errors else ""))

    def on_scoreboard_screen_cell_measured(self, event: CellMeasured) -> None:
        cell = event.cell
        if self.explorer.script_run is not None:
            self.explorer.script_run.cells[(cell.step, cell.pattern)] = cell
        # Shown in batches: every change re-renders the whole table (~40 ms of the UI's
        # time, which the runtime's thread then waits for under the GIL), so one render per
        # cell doubled the time the script took.
        self._pending[(cell.step, cell.pattern)] = cell
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_EVERY, self._flush)

    def _flush(self) -> None:
        """Show the cells measured since the last flush, and the progress."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if not self._pending or not self.is_mounted or self.app._closing:
            return
        table = self.query_one(ScoreboardTable)
        for (step, pattern), cell in self._pending.items():
            table.show_cell(step, pattern, cell)
        last = list(self._pending.values())[-1]
        self._shown.update(self._pending)
        self._pending.clear()
        self.query_one(ProgressBar).update(progress=self.done)
        if self.running:
            self._status(f"running… {last.pattern} {last.step}: {last.actual}")

    def on_scoreboard_screen_pattern_done(self, event: PatternDone) -> None:
        self._flush()
        table = self.query_one(ScoreboardTable)
        if event.error:
            for step in STEP_IDS:
                table.show_cell(step, event.pattern_id, None, event.error)
            self._shown.update((step, event.pattern_id) for step in STEP_IDS)
            self.query_one(ProgressBar).update(progress=self.done)
            self.notify(event.error, title=f"{event.pattern_id} failed", severity="error")
            self.explorer.marks[event.pattern_id] = "!"
            return
        table.show_columns(event.pattern_id, event.columns)
        run = self.explorer.script_run
        cells = [c for c in run.cells.values() if c.pattern == event.pattern_id] if run else []
        wrong = sum(not c.ok for c in cells)
        self.explorer.marks[event.pattern_id] = "ok" if not wrong else str(wrong)

    def action_drill(self) -> None:
        table = self.query_one(ScoreboardTable)
        key = table.coordinate_to_cell_key(table.cursor_coordinate)
        self.on_scoreboard_table_cell_chosen(
            ScoreboardTable.CellChosen(str(key.row_key.value), str(key.column_key.value)))

    def on_scoreboard_table_cell_chosen(self, event: ScoreboardTable.CellChosen) -> None:
        run = self.explorer.script_run
        cell = run.cells.get((event.step, event.pattern)) if run else None
        if run is None or cell is None:
            self.notify("Not measured yet: press r to run the script.", severity="warning")
            return
        from tui.screens.cell_detail import CellDetail

        self.app.push_screen(CellDetail(cell, run.hops_for(cell), self.explorer))
