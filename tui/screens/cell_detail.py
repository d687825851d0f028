"""CellDetail: one scoreboard cell drilled down: who decided, the parts, and the hops."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from runtime import STEPS, Cell, Hop, effect
from tui.explorer import Explorer
from tui.widgets.wire_view import WireView


def describe_cell(cell: Cell) -> Group:
    step = STEPS[cell.step]
    mark = "✓ as expected" if cell.ok else f"✗ expected {cell.expected}"
    lines = [
        Text.assemble((f"{cell.pattern} {cell.step}", "bold"), f"  {step.who}: {step.what}",
                      (f"  ({step.goal})", "dim")),
        Text.assemble(("actual ", "dim"), (cell.actual, "bold"),
                      f" ({effect(cell.step, cell.actual)})  {mark}",
                      ("  decided by ", "dim"), cell.decided_by, ("  audit names ", "dim"),
                      cell.audit, style="green" if cell.ok else "red"),
    ]
    for part in cell.result.parts:
        state = "went through" if part.succeeded else "stopped"
        lines.append(Text(f"  • {part.label}: {state} ({part.decided_by}) {part.reason}"))
    if cell.detail:
        lines.append(Text(f"  {cell.detail}", style="dim"))
    return Group(*lines)


class CellDetail(ModalScreen[None]):
    DEFAULT_CSS = """
    CellDetail { align: center middle; }
    CellDetail > Vertical {
        width: 96%; height: 94%; border: round $accent; background: $surface;
    }
    CellDetail #cell-summary { height: auto; max-height: 10; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="cell.back"),
        Binding("slash", "filter", "Filter hops", id="cell.filter"),
    ]

    def __init__(self, cell: Cell, hops: list[Hop], explorer: Explorer) -> None:
        super().__init__()
        self.cell, self.hops, self.explorer = cell, hops, explorer

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(describe_cell(self.cell), id="cell-summary")
            yield WireView(id="cell-wire")

    def on_mount(self) -> None:
        wire = self.query_one(WireView)
        wire.now = self.explorer.now
        wire.set_hops(self.hops, self.explorer.masker)
        if wire.shown:
            wire.table.move_cursor(row=0, animate=False)
        wire.table.focus()

    def action_filter(self) -> None:
        self.query_one(WireView).open_filter()
