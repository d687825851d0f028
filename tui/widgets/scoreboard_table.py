"""ScoreboardTable: steps × patterns, expected until measured, then actual with ✓/✗.

Below the steps, the pattern table's five columns as measured from the run. A cell is
drillable: selecting it posts `CellChosen` with the step and pattern.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from runtime import COLUMN_NAMES, STEP_IDS, STEPS, Cell, expected, expected_columns


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
    """A measured column, marked (✗, bold) when it is not what the teaching contract says."""
    if value is None:
        return Text("·", style="dim")
    wanted = (expected_columns(pattern) or {}).get(COLUMN_NAMES[index])
    if wanted is None or value == wanted:
        return Text(value)
    return Text(f"{value} ✗ (expected {wanted})", style="bold red")


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
