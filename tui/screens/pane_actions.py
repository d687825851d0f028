"""PaneActions: focus, maximize, filter, copy, reveal, export and the screens a key opens."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from textual.actions import SkipAction
from textual.widgets import Input, RichLog, TextArea

from runtime import Hop, claims_diff, is_http
from tui.screens.main_base import MainBase
from tui.widgets.chat_pane import PromptInput
from tui.widgets.hop_detail import HopDetail, subject_and_result
from tui.widgets.user_pane import UserPane
from tui.widgets.wire_view import WireView

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from textual.widget import Widget

    from runtime import Comparison, HttpRequest, ReplayResult


FOCUS_TARGET = {"pattern": "#patterns", "user": "#user-list", "chat": "#chat-input",
                "wire": "#wire-table"}


class PaneActions(MainBase):
    def action_focus_pane(self, name: str) -> None:
        if self.maximized is not None:
            self.minimize()
        self.query_one("#pane-tabs").active = f"tab-{name}"  # type: ignore[attr-defined]
        self.tab = name
        self._apply_layout(self.size.width)
        self._focus_pane_widget(name)

    def _focus_pane_widget(self, name: str) -> None:
        # The chat key always lands in the prompt input: "3" then typing must type.
        pane = self.query_one(f"#pane-{name}")
        if name == "chat" or self.focused is None or pane not in self.focused.ancestors_with_self:
            self.set_focus(self.query_one(FOCUS_TARGET[name]))   # now, not on the next idle

    def _typing(self) -> bool:
        return isinstance(self.focused, Input | TextArea)

    def action_pane_key(self, name: str) -> None:
        """1-4: to a pane, unless they are text typed into an input."""
        if self._typing():
            raise SkipAction()
        self.action_focus_pane(name)

    def action_filter_key(self) -> None:
        """/: the filter box, unless it is text typed into an input."""
        if self._typing():
            raise SkipAction()
        self.action_filter()

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        target: Widget = self.focused or self.query_one(FOCUS_TARGET[self.tab])
        if not self.maximize(target):
            self.maximize(self.query_one(f"#pane-{self.tab}"), container=False)

    def action_leave(self) -> None:
        if isinstance(self.focused, PromptInput):
            self.set_focus(self.query_one("#chat-log", RichLog))
        elif self._typing():
            raise SkipAction()   # the input's own escape (the filter box closes)
        elif self.maximized is not None:
            self.minimize()
        else:
            raise SkipAction()

    def action_filter(self) -> None:
        self.action_focus_pane("wire")
        self.query_one(WireView).open_filter()

    def apply_filter(self, text: str) -> None:
        """Set the wire filter from the command palette (same syntax as `/`)."""
        wire = self.query_one(WireView)
        try:
            wire.apply_filter(text)
        except ValueError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        self.action_focus_pane("wire")

    def on_wire_view_filter_changed(self, event: WireView.FilterChanged) -> None:
        self.query_one("#status").set(filter=event.hop_filter.source)  # type: ignore[attr-defined]

    def action_toggle_reveal(self) -> None:
        self.explorer.reveal = not self.explorer.reveal
        self.query_one("#status").set(  # type: ignore[attr-defined]
            reveal="on" if self.explorer.reveal else "")
        wire = self.query_one(WireView)
        cursor = wire.table.cursor_row
        self.show_current()
        if wire.shown:
            wire.table.move_cursor(row=min(cursor, len(wire.shown) - 1), animate=False)
        self.refresh_user()
        state = "shown" if self.explorer.reveal else "masked"
        self.notify(f"Demo secrets (API keys, passwords) are {state}. Real provider keys are "
                    "never shown.")

    # -- copy and export ----------------------------------------------------------------

    def copy_text(self) -> str:
        """The value the focused pane is about (selected hop tab, user token, last answer)."""
        masker = self.explorer.masker
        if self.tab == "wire" and (hop := self.query_one(WireView).selected) is not None:
            tab = (self.query_one(HopDetail).active or "tab-headers").removeprefix("tab-")
            if tab == "jwt" and hop.tokens:
                return "\n".join(t.raw for t in hop.tokens)
            if tab == "body":
                return masker.text(hop.request_body + "\n\n" + hop.response_body).strip()
            if tab == "opa":
                return masker.text(json.dumps(hop.data, indent=2, default=str))
            if tab == "diff":
                pair = subject_and_result(hop, self.query_one(WireView).trace_of(hop))
                rows = claims_diff(pair[0].claims, pair[1].claims) if pair else []
                return json.dumps(rows, default=str)
            lines = [f"{hop.method} {hop.url}".strip()]
            lines += [f"{k}: {v}" for k, v in hop.request_headers]
            return masker.text("\n".join(lines))
        if self.tab == "user" and (info := self.query_one(UserPane).info) is not None:
            return info.token.raw if info.token else masker.text(info.api_key)
        if self.tab == "pattern" and (pattern := self.explorer.pattern(self.pattern)):
            return str(pattern.folder)
        answers = [e for e in self.explorer.history.get(self.key) if e.kind == "agent"]
        return masker.text(answers[-1].text) if answers else ""

    def action_copy(self) -> None:
        text = self.copy_text()
        if not text:
            self.notify("Nothing to copy here yet.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        masked = "••••" in text and not self.explorer.reveal
        self.notify(f"Copied {len(text)} characters to the clipboard (OSC 52)."
                    + (" Secrets are masked: press r to reveal first." if masked else ""))

    def action_export_session(self) -> None:
        hops = {k: v for k, v in self.explorer.hops.items() if v}
        if not hops:
            self.notify("No hops captured yet: send a prompt first.", severity="warning")
            return
        try:
            har, jsonl = self.explorer.exporter.export_session(hops)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        total = sum(len(v) for v in hops.values())
        exchanges = sum(is_http(h) for v in hops.values() for h in v)
        self.notify(f"{har}\n  {exchanges} HTTP exchanges; its _events hold the other "
                    f"{total - exchanges} hops (prompts, answers, audit records)\n"
                    f"{jsonl}\n  all {total} hops, one per line\n"
                    f"{self.explorer.exporter.fate}".rstrip(),
                    title=f"Session exported to {har.parent}", timeout=12)

    def action_export_curl(self) -> None:
        hop = self.query_one(WireView).selected
        if hop is None:
            self.notify("Select a hop in the Wire pane first (4, then ↑/↓).", severity="warning")
            return
        try:
            command, path = self.explorer.exporter.export_curl(hop)
        except ValueError:
            self.notify(f"Hop {hop.seq} ({hop.kind}) is not an HTTP request.", severity="warning")
            return
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.app.copy_to_clipboard(command)
        self.notify(f"Copied to the clipboard and wrote {path}", title=f"Hop {hop.seq} as curl")

    # -- hands on: replay a hop, call a tool, compare two patterns -----------------------

    def action_replay(self) -> None:
        hop = self.query_one(WireView).selected
        if hop is None or not (hop.method and hop.url):
            self.notify("Select an HTTP hop in the Wire pane first (4, then ↑/↓), then R.",
                        severity="warning")
            return
        self.start_work(self._open_replay, hop, group="replay", exclusive=True)

    async def _open_replay(self, hop: Hop) -> None:
        from runtime import ReplayError
        from tui.screens.replay_screen import ReplayScreen
        from tui.screens.runs import ui_errors

        explorer, pattern = self.explorer, self.pattern
        try:
            kit = await explorer.call(explorer.session.replay_kit(pattern))
        except ui_errors() as exc:
            self.notify(str(exc), title="Replay", severity="error")
            return

        def send(request: HttpRequest, notes: list[str], later: float,
                 oracle: bool) -> Awaitable[ReplayResult]:
            return explorer.call(explorer.session.replay(pattern, request, notes, later,
                                                         oracle))

        def done(seq: int | None) -> None:
            if seq is not None:
                self.action_focus_pane("wire")
                self.call_after_refresh(self.query_one(WireView).select_seq, seq)

        try:
            screen = ReplayScreen(hop, pattern, kit.signer, explorer.masker, explorer.now(),
                                  send, kit.targets)
        except ReplayError as exc:
            self.notify(str(exc), title="Replay", severity="warning")
            return
        self.app.push_screen(screen, done)

    def action_call_tool(self) -> None:
        self.start_work(self._open_call, group="call", exclusive=True)

    async def _open_call(self) -> None:
        from tui.screens.runs import ui_errors
        from tui.screens.tool_call_screen import ToolCallScreen

        explorer, pattern, user = self.explorer, self.pattern, self.user
        try:
            form = await explorer.call(explorer.session.tool_form(pattern, user))
        except ui_errors() as exc:
            self.notify(str(exc), title="Call a tool", severity="error")
            return
        self.app.push_screen(ToolCallScreen(form.schemas, user, pattern, form.api_key,
                                            form.passes_key, self.direct_call,
                                            explorer.masker))

    def action_connect(self) -> None:
        self.start_work(self._open_connect, group="connect", exclusive=True)

    async def _open_connect(self) -> None:
        from tui.screens.connect_screen import ConnectScreen
        from tui.screens.runs import ui_errors

        explorer, pattern, user = self.explorer, self.pattern, self.user

        def fetch(fresh: bool) -> Awaitable[str]:
            return explorer.call(explorer.session.connection(pattern, user, fresh))

        try:
            text = await fetch(False)
        except ui_errors() as exc:
            self.notify(str(exc), title="Connect a client", severity="error")
            return
        self.app.push_screen(ConnectScreen(text, fetch, explorer.masker))

    def action_compare(self) -> None:
        from tui.screens.compare_screen import CompareScreen

        explorer = self.explorer
        ids = [p.id for p in explorer.patterns]
        if len(ids) < 2:
            self.notify("Comparing needs two patterns.", severity="warning")
            return
        index = ids.index(self.pattern) if self.pattern in ids else 0
        left, right = (ids[index], ids[index + 1]) if index + 1 < len(ids) else (
            ids[index - 1], ids[index])
        said = [e.text for e in explorer.history.get(self.key) if e.kind == "user"]
        prompt = said[-1] if said else "What are my expenses?"

        def run(patterns: tuple[str, str], user: str, text: str | None,
                step: str | None) -> Awaitable[Comparison]:
            return explorer.call(explorer.session.compare(patterns, user, text, step))

        self.app.push_screen(CompareScreen(explorer.patterns, left, right, self.user, prompt,
                                           run, explorer.masker))

    def action_challenges(self) -> None:
        from tui.screens.challenges_screen import ChallengesScreen

        explorer = self.explorer
        self.app.push_screen(ChallengesScreen([p.id for p in explorer.patterns],
                                              explorer.progress, self.switch_pattern,
                                              explorer.settings.hand_in))

    # -- other screens ------------------------------------------------------------------

    def action_narrative(self, tab: str = "narrative") -> None:
        from tui.screens.pattern_doc_screen import PatternDocScreen

        info = self.explorer.pattern(self.pattern)
        if info is not None:
            self.app.push_screen(PatternDocScreen(info, self.explorer.previous_pattern(info.id),
                                                  tab))

    def action_token(self) -> None:
        from tui.screens.token_screen import TokenScreen

        info = self.query_one(UserPane).info
        if info is None:
            self.notify("The user's details are still loading.", severity="warning")
            return
        self.app.push_screen(TokenScreen(info, self.explorer.masker, self.explorer.now))

    def action_code(self) -> None:
        self.action_narrative("code")

    def action_scoreboard(self, start: bool = False) -> None:
        from tui.screens.scoreboard_screen import ScoreboardScreen

        app = self.app
        if not app.is_screen_installed("scoreboard"):  # one instance: a run survives leaving
            app.install_screen(ScoreboardScreen(self.explorer), "scoreboard")
        screen = app.get_screen("scoreboard")
        if app.screen is not screen:
            app.push_screen(screen)
        if start:
            screen.request_run()  # type: ignore[attr-defined]

    def action_run_script(self) -> None:
        self.action_scoreboard(start=True)

    def action_pick_step(self) -> None:
        from tui.screens.step_picker import StepPicker

        def chosen(step_id: str | None) -> None:
            if step_id:
                self.run_step(step_id)

        self.app.push_screen(StepPicker(self.pattern), chosen)

