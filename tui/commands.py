"""Command palette entries (ctrl+p): every binding of the current screen, plus one command
per pattern, user, script step and common wire filter, so nothing needs remembering."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from runtime import USERS

if TYPE_CHECKING:
    from tui.app import AgentAuthApp
    from tui.screens.main_screen import MainScreen

FILTERS = {
    "kind:idp|opa": "only the IdP and OPA hops",
    "!kind:llm|mcp|prompt|answer": "hide the model and the MCP hops: the auth traffic",
    "kind:attacker": "only what the scripted attacker did",
    "status:err": "only failed hops (status 400 and up)",
    "kind:service": "only the tool services",
    "": "clear the filter",
}


def _key_label(binding: Binding) -> str:
    return binding.key_display or binding.key.split(",")[0]


def binding_commands(screen: Screen) -> Iterable[SystemCommand]:
    for binding in getattr(screen, "BINDINGS", []):
        if isinstance(binding, Binding) and binding.description:
            yield SystemCommand(binding.tooltip or binding.description,
                                f"key: {_key_label(binding)}",
                                partial(screen.run_action, binding.action))


def wire_commands(main: MainScreen) -> Iterable[SystemCommand]:
    """The Wire pane's own keys (first/last hop, a call's OPA decision and audit record)."""
    from tui.widgets.wire_view import WireView

    wire = main.query_one(WireView)

    async def run(widget: Widget, action: str) -> None:
        main.action_focus_pane("wire")
        await widget.run_action(action)

    for widget in (wire.table, wire):
        for binding in widget.BINDINGS:
            if isinstance(binding, Binding) and binding.id != "wire.close_filter":
                yield SystemCommand(f"Wire: {binding.tooltip or binding.description}",
                                    f"key: {_key_label(binding)} in the Wire pane",
                                    partial(run, widget, binding.action))


def main_commands(main: MainScreen) -> Iterable[SystemCommand]:
    from runtime import STEP_IDS, STEPS

    for info in main.explorer.patterns:
        yield SystemCommand(f"Pattern {info.id}: {info.title}", "switch to this pattern",
                            partial(main.switch_pattern, info.id))
    for user in USERS:
        yield SystemCommand(f"User: {user}", "act as this user",
                            partial(main.switch_user, user))
    for step_id in STEP_IDS:
        step = STEPS[step_id]
        yield SystemCommand(f"Run step {step_id}: {step.what}",
                            f"{step.who}; {step.goal}", partial(main.run_step, step_id))
    for text, help_text in FILTERS.items():
        title = f"Filter hops: {text}" if text else "Filter hops: clear"
        yield SystemCommand(title, help_text, partial(main.apply_filter, text))
    yield from wire_commands(main)


def explorer_commands(app: AgentAuthApp, screen: Screen) -> Iterable[SystemCommand]:
    yield from binding_commands(screen)
    main = app.main_screen
    if main is not None and screen is main:
        yield from main_commands(main)
    yield SystemCommand("Keep exports", "lab: copy this session's exports to "
                        "~/agent-auth-exports (they are deleted at quit otherwise)",
                        app.action_keep_exports)
    yield SystemCommand("Screenshot", "save an SVG of the screen to the export directory",
                        app.save_screenshot_to_exports)
    yield SystemCommand("Keys and help", "show the keys for what has focus (? or F1)",
                        app.action_toggle_help)
