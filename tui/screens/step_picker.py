"""StepPicker: choose one script step (L1..A9) to run under the current pattern."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from runtime import STEP_IDS, STEPS, expected


class StepPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    StepPicker { align: center middle; }
    StepPicker > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    StepPicker OptionList { height: auto; max-height: 20; border: none; }
    """

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="step.cancel")]

    def __init__(self, pattern_id: str) -> None:
        super().__init__()
        self.pattern_id = pattern_id

    def compose(self) -> ComposeResult:
        number = int(self.pattern_id[1:]) if self.pattern_id[1:].isdigit() else None
        options = []
        for step_id in STEP_IDS:
            step = STEPS[step_id]
            want = expected(step_id, number) or "?"
            options.append(Option(Text.assemble(
                (f"{step_id} ", "bold"), (f"{step.who}: ", "cyan"), step.what,
                (f"  expect {want}", "dim")), id=step_id))
        with Vertical():
            yield Label(f"Run a script step under {self.pattern_id} (Enter runs, Esc cancels)")
            yield OptionList(*options, id="steps")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
