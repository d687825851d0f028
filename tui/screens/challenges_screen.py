"""ChallengesScreen: the attacks to perform by hand, by pattern, solved or not.

✓ marks a challenge solved under that pattern, · one still to solve there; a blank cell is
a pattern where it cannot be solved (that is the lesson: the pattern stops it). h reveals
the next hint; Enter on a pattern's cell switches the explorer to that pattern to try it.
Solving is detected by the explorer from the wire and the audit log, never self-reported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from runtime import CHALLENGES, Challenge, Progress

KIND_TEXT = {"break in": "break in: make the attack succeed",
             "probe": "probe: find the check that stops it"}


def cell(challenge: Challenge, pattern: str, progress: Progress) -> Text:
    if progress.is_solved(challenge.id, pattern):
        return Text("✓", style="bold reverse")
    return Text("·" if pattern in challenge.solvable else "", style="dim")


class ChallengesScreen(Screen[None]):
    DEFAULT_CSS = """
    ChallengesScreen { layout: vertical; }
    ChallengesScreen #challenges-title { height: 1; padding: 0 1; background: $panel; }
    ChallengesScreen #challenges-table { height: 1fr; }
    ChallengesScreen #challenges-detail { height: auto; max-height: 14; padding: 0 1;
                                          border-top: solid $accent; }
    """

    BINDINGS = [
        Binding("escape,C", "app.pop_screen", "Back", id="challenges.back"),
        Binding("h", "hint", "Next hint", id="challenges.hint"),
        Binding("enter", "try_it", "Try under this pattern", id="challenges.try"),
        Binding("H", "hand_in", "Hand in", id="challenges.hand_in",
                tooltip="Copy your progress to your instructor's hand-in folder"),
    ]

    def __init__(self, patterns: list[str], progress: Progress,
                 switch: Callable[[str], None], hand_in: str | None = None) -> None:
        super().__init__()
        self.patterns, self.progress, self._switch = patterns, progress, switch
        self.hand_in_folder = hand_in
        self.hints_shown: dict[str, int] = {}
        self.lead: tuple[str, ...] = ()   # the columns before the patterns' own

    def compose(self) -> ComposeResult:
        yield Static("", id="challenges-title")
        yield DataTable(cursor_type="cell", zebra_stripes=True, id="challenges-table")
        yield Static("", id="challenges-detail")
        yield Footer()

    def on_mount(self) -> None:
        self._build(self.size.width)
        self.query_one(DataTable).focus()
        self.refresh_marks()

    def on_resize(self) -> None:
        if self._lead_for(self.size.width) != self.lead:
            self._build(self.size.width)

    def _lead_for(self, width: int) -> tuple[str, ...]:
        """The kind column only where every pattern's column still fits beside it (the
        detail below names the kind anyway): at 80 columns, all ten patterns show."""
        title = max(len(c.title) for c in CHALLENGES) + 2
        patterns = len(self.patterns) * (3 + 2)
        return ("title", "kind") if title + 10 + patterns + 2 <= width else ("title",)

    def _build(self, width: int) -> None:
        table = self.query_one(DataTable)
        row, column = table.cursor_coordinate
        at = column - len(self.lead) if self.lead else 0
        self.lead = self._lead_for(width)
        table.clear(columns=True)
        table.add_column("challenge", key="title")
        if "kind" in self.lead:
            table.add_column("kind", key="kind")
        for pattern in self.patterns:
            table.add_column(pattern, key=pattern, width=3)
        for challenge in CHALLENGES:
            kind = (Text(challenge.kind),) if "kind" in self.lead else ()
            table.add_row(Text(challenge.title, style="bold"), *kind,
                          *[cell(challenge, p, self.progress) for p in self.patterns],
                          key=challenge.id)
        first = len(self.lead) if self.patterns else 0
        table.move_cursor(row=row, column=first + max(at, 0), animate=False)

    def on_screen_resume(self) -> None:
        self.refresh_marks()

    def refresh_marks(self) -> None:
        """Redraw the ✓ marks (a challenge may have been solved since)."""
        table = self.query_one(DataTable)
        for challenge in CHALLENGES:
            for pattern in self.patterns:
                table.update_cell(challenge.id, pattern, cell(challenge, pattern,
                                                              self.progress))
        solved = len(self.progress.solved)
        possible = sum(len(c.solvable & set(self.patterns)) for c in CHALLENGES)
        title = Text.assemble(("Challenges ", "bold"),
                              f"{solved} of {possible} solved, as {self.progress.user}   ",
                              ("✓ solved  · to solve  blank: stopped here", "dim"))
        if self.progress.problem:
            title.append(f"   ({self.progress.problem})", style="bold")
        self.query_one("#challenges-title", Static).update(title)
        self._show_detail()

    def _current(self) -> tuple[Challenge, str | None]:
        table = self.query_one(DataTable)
        row, column = table.cursor_coordinate
        challenge = CHALLENGES[min(row, len(CHALLENGES) - 1)]
        index = column - len(self.lead)
        return challenge, self.patterns[index] if 0 <= index < len(self.patterns) else None

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        self._show_detail()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.action_try_it()

    def _show_detail(self) -> None:
        challenge, pattern = self._current()
        where = ", ".join(p for p in self.patterns if p in challenge.solvable)
        lines = [Text.assemble((challenge.title, "bold"), "  ", challenge.goal),
                 Text.assemble(("kind ", "dim"), KIND_TEXT[challenge.kind],
                               ("   solvable under ", "dim"), where or "(none loaded)",
                               (f"   (script step {challenge.step})" if challenge.step
                                else "", "dim"))]
        if pattern is not None:
            solved = self.progress.solved.get((challenge.id, pattern))
            if solved is not None:
                lines.append(Text(f"solved under {pattern} at {solved.at}: {solved.proof}",
                                  style="bold"))
            elif pattern not in challenge.solvable:
                lines.append(Text(f"{pattern} stops this attack: try it anyway to see which "
                                  "check does.", style="dim"))
        shown = self.hints_shown.get(challenge.id, 0)
        for number, hint in enumerate(challenge.hints[:shown], 1):
            lines.append(Text(f"hint {number}: {hint}"))
        if shown < len(challenge.hints):
            lines.append(Text(f"h shows hint {shown + 1} of {len(challenge.hints)}",
                              style="dim"))
        self.query_one("#challenges-detail", Static).update(Group(*lines))

    def action_hint(self) -> None:
        challenge, _ = self._current()
        shown = self.hints_shown.get(challenge.id, 0)
        if shown >= len(challenge.hints):
            self.notify("No more hints for this one.", severity="warning")
            return
        self.hints_shown[challenge.id] = shown + 1
        self._show_detail()

    def action_try_it(self) -> None:
        challenge, pattern = self._current()
        if pattern is None:
            pattern = next((p for p in self.patterns if p in challenge.solvable
                            and not self.progress.is_solved(challenge.id, p)), None)
        if pattern is None:
            self.notify("Pick a pattern's column first.", severity="warning")
            return
        self._switch(pattern)
        self.app.pop_screen()
        self.notify(f"{challenge.title}: {challenge.goal}", title=f"Now under {pattern}",
                    timeout=8)

    def action_hand_in(self) -> None:
        if not self.hand_in_folder:
            self.notify("No hand-in folder is set up (your instructor sets "
                        "AGENT_AUTH_HAND_IN).", severity="warning")
            return
        self.run_worker(self._hand_in, thread=True, group="hand-in", exit_on_error=False)

    def _hand_in(self) -> None:   # a file write: off the UI's event loop
        from runtime import ProgressError

        try:
            path = self.progress.hand_in(Path(str(self.hand_in_folder)))
        except ProgressError as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Not handed in",
                                      severity="error")
            return
        self.app.call_from_thread(self.notify, f"{len(self.progress.solved)} solved, as "
                                  f"{path}", title="Handed in")
