"""ScoreboardTable: steps × patterns, expected until measured, then actual with ✓/✗.

Below the steps, the pattern table's five columns as measured from the run. A cell is
drillable: selecting it posts `CellChosen` with the step and pattern.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from runtime.matrix import COLUMN_NAMES, Cell
from runtime.script import STEP_IDS, STEPS, expected

# DESIGN.md section 3: what the five columns should read (compared on the first word).
EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "p01": ("nowhere", "no", "no", "no", "no"),
    "p02": ("service", "no", "no", "no", "partial"),
    "p03": ("service", "yes (string)", "no", "no", "partial"),
    "p04": ("service", "yes (string)", "no", "no", "yes"),
    "p05": ("service", "yes (JWT)", "yes", "no", "yes"),
    "p06": ("OPA", "yes (JWT)", "yes", "yes", "yes"),
    "p07": ("IdP + OPA", "yes (delegated JWT)", "yes", "yes", "yes (user and actor)"),
    "p08": ("IdP + OPA", "yes (bound JWT)", "yes", "yes", "yes"),
}


def cell_text(step: str, pattern: str, cell: Cell | None, error: str = "") -> Text:
    if error:
        return Text("error", style="bold red")
    if cell is None:
        number = int(pattern[1:]) if pattern[1:].isdigit() else None
        want = expected(step, number) or "?"  # type: ignore[arg-type]
        return Text(want if want == "ALLOW" else want.lower(), style="dim")
    word = cell.actual if cell.actual == "ALLOW" else cell.actual.lower()
    return Text(f"{word} {'✓' if cell.ok else '✗'}", style="green" if cell.ok else "bold red")


def column_text(pattern: str, index: int, value: str | None) -> Text:
    if value is None:
        return Text("·", style="dim")
    wanted = EXPECTED_COLUMNS.get(pattern, ("",) * 5)[index]
    same = value.split(" ")[0].lower() == wanted.split(" ")[0].lower() if wanted else True
    return Text(value, style="" if same else "bold red")


class ScoreboardTable(DataTable[Text]):
    class CellChosen(Message):
        def __init__(self, step: str, pattern: str) -> None:
            super().__init__()
            self.step, self.pattern = step, pattern

    def __init__(self, patterns: list[str], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(cursor_type="cell", zebra_stripes=True, id=id)
        self.patterns = patterns

    def on_mount(self) -> None:
        self.add_column("step", key="step")
        for pattern in self.patterns:
            self.add_column(pattern, key=pattern)
        for step in STEP_IDS:
            self.add_row(Text(step, style="bold"), *[cell_text(step, p, None)
                                                      for p in self.patterns], key=step,
                         label=None)
        for index, name in enumerate(COLUMN_NAMES):
            self.add_row(Text(name, style="italic cyan"),
                         *[column_text(p, index, None) for p in self.patterns], key=name)
        self.move_cursor(row=0, column=1)

    def show_cell(self, step: str, pattern: str, cell: Cell | None, error: str = "") -> None:
        self.update_cell(step, pattern, cell_text(step, pattern, cell, error),
                         update_width=True)

    def show_columns(self, pattern: str, columns: dict[str, str]) -> None:
        for index, name in enumerate(COLUMN_NAMES):
            self.update_cell(name, pattern, column_text(pattern, index, columns.get(name)),
                             update_width=True)

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        row, column = event.cell_key.row_key.value, event.cell_key.column_key.value
        if row in STEPS and column in self.patterns:
            self.post_message(self.CellChosen(str(row), str(column)))
