"""The Agent Auth Explorer app: CSS, global keys, screens, and `run_app` for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme

from runtime import PatternInfo, Settings, settle_heap
from tui.commands import explorer_commands
from tui.explorer import Explorer
from tui.preferences import Places
from tui.screens.main_screen import MainScreen

STARTUP_GC_PAUSE = 60.0   # seconds at most without garbage collection while starting


class AgentAuthApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Agent Auth Explorer"
    BINDINGS = [
        Binding("question_mark,f1", "toggle_help", "Help", id="app.help"),
        Binding("ctrl+g", "glossary", "Glossary", id="app.glossary",
                tooltip="The terms the narratives use (docs/glossary.md)"),
        Binding("q", "quit", "Quit", show=False, id="app.quit"),
        Binding("t", "change_theme", "Theme", show=False, id="app.theme"),
        Binding("K", "keep_exports", "Keep exports", show=False, id="export.keep",
                tooltip="Lab: copy this session's exports to ~/agent-auth-exports"),
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
        if not gc.isenabled():
            self.run_worker(self._resume_gc(self.main_screen), group="gc", exit_on_error=False)
        if self.explorer.settings.lab and not self.is_headless:
            # A lab session never outlives its terminal: a dropped SSH connection (SIGHUP to
            # the session leader, or a terminal that stops being one, for an explorer started
            # under a wrapper) ends it, its exports removed; the admin's SIGTERM quits it.
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, self._hang_up)
            loop.add_signal_handler(signal.SIGTERM, self._quit)
            self.set_interval(1.0, self._hang_up_if_terminal_is_gone, name="terminal watch")

    def _hang_up_if_terminal_is_gone(self) -> None:
        if not os.isatty(sys.__stdin__.fileno() if sys.__stdin__ else 0):
            self._hang_up()

    def _hang_up(self) -> None:
        """The terminal is gone: there is nothing to restore and nobody to answer, and
        Textual's shutdown can block for ever writing to it (its writer queue fills). So
        remove the exports and leave at once; the runtime's servers are in this process."""
        self.explorer.exporter.close()
        os._exit(128 + signal.SIGHUP)

    @staticmethod
    async def _resume_gc(main: MainScreen) -> None:
        """`agent-auth` starts with the garbage collector paused (runtime.heap): the imports
        and the runtime's start build a large heap that is nearly all kept. Once the runtime
        is up and warmed up (or has given up), that heap is settled: frozen, never scanned
        again, and collection resumes for what comes after."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(main.settled.wait(), STARTUP_GC_PAUSE)
        settle_heap()

    async def action_quit(self) -> None:
        self._quit()

    def _quit(self) -> None:
        # The runtime's servers stop while Textual restores the terminal, not after it.
        self.explorer.begin_close()
        self.exit()

    def _save_theme(self, theme: Theme) -> None:
        self.explorer.preferences.save_theme(theme.name)

    async def on_unmount(self) -> None:
        if self.main_screen is not None:
            self.explorer.save_state(self.main_screen.pattern, self.main_screen.user)
        await self.explorer.close()

    def action_keep_exports(self) -> None:
        exporter = self.explorer.exporter
        if not exporter.temporary:
            self.notify("Outside lab mode, exports already stay where they are written.",
                        title="Exports")
            return
        try:
            kept = exporter.keep()
        except OSError as exc:
            self.notify(f"Could not keep the exports: {exc}", severity="error")
            return
        if not kept:
            self.notify("Nothing exported yet: e exports the session, x a hop as curl.",
                        severity="warning")
            return
        self.notify(f"Copied {len(kept)} files to {kept[0].parent}", title="Exports kept")

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
