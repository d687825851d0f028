"""The Agent Auth Explorer app: CSS, global keys, screens, and `run_app` for the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme

from runtime import PatternInfo, Settings
from tui.commands import explorer_commands
from tui.explorer import Explorer
from tui.preferences import Places
from tui.screens.main_screen import MainScreen


class AgentAuthApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Agent Auth Explorer"
    BINDINGS = [
        Binding("question_mark,f1", "toggle_help", "Help", id="app.help"),
        Binding("ctrl+g", "glossary", "Glossary", id="app.glossary",
                tooltip="The terms the narratives use (docs/glossary.md)"),
        Binding("q", "quit", "Quit", show=False, id="app.quit"),
        Binding("t", "change_theme", "Theme", show=False, id="app.theme"),
    ]

    def __init__(self, settings: Settings, *, stable: bool = False,
                 export_dir: Path | None = None, places: Places | None = None,
                 patterns: list[PatternInfo] | None = None, tour: bool | None = None,
                 inline_runtime: bool = False) -> None:
        """`places`: where preferences and exports live (default: the platform's, moved by
        AGENT_AUTH_CONFIG_DIR, AGENT_AUTH_STATE_DIR and AGENT_AUTH_EXPORT_DIR)."""
        super().__init__()
        places = places or Places.from_env(os.environ, lab=settings.lab, demo=settings.demo)
        self.explorer = Explorer(settings, places, stable=stable, export_dir=export_dir,
                                 patterns=patterns, inline_runtime=inline_runtime)
        self.tour = settings.demo if tour is None else tour
        if stable:  # snapshots: no tab-underline or scroll animations caught mid-way
            self.animation_level = "none"
        self.main_screen: MainScreen | None = None

    def on_mount(self) -> None:
        saved = self.explorer.preferences.theme()
        if saved in self.available_themes:
            self.theme = saved
        self.theme_changed_signal.subscribe(self, self._save_theme)
        self.explorer.start()
        self.main_screen = MainScreen(self.explorer)
        self.push_screen(self.main_screen)

    def _save_theme(self, theme: Theme) -> None:
        self.explorer.preferences.save_theme(theme.name)

    async def on_unmount(self) -> None:
        if self.main_screen is not None:
            self.explorer.save_state(self.main_screen.pattern, self.main_screen.user)
        await self.explorer.close()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in ("Keys", "Screenshot"):
                yield command
        yield from explorer_commands(self, screen)

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_glossary(self) -> None:
        from tui.screens.glossary_screen import GlossaryScreen

        if not isinstance(self.screen, GlossaryScreen):
            self.push_screen(GlossaryScreen())

    def save_screenshot_to_exports(self) -> None:
        path = self.save_screenshot(path=str(self.explorer.exporter.directory))
        self.notify(f"Saved {path}", title="Screenshot")

    async def wait_until_ready(self, timeout: float = 30.0) -> None:
        """For tests and benchmarks: the runtime is up and the first pattern selected."""
        while self.main_screen is None:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(self.main_screen.ready.wait(), timeout)


def run_app(settings: Settings) -> int:
    """Run the explorer; startup problems are printed in one line, never as a traceback."""
    try:
        app = AgentAuthApp(settings)
        result = app.run()
    except Exception as exc:  # noqa: BLE001 - report anything that stops startup, cleanly
        print(f"agent-auth: cannot start the explorer: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    return result if isinstance(result, int) else (app.return_code or 0)
