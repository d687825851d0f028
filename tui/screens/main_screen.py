"""MainScreen: the four panes (Pattern, User, Chat, Wire) and the pattern/user switching.

Wide terminals show all four panes side by side; medium ones put the chat above the wire;
below `NARROW_BELOW` columns the panes collapse into tabs (one pane at a time). Running
prompts and steps lives in `RunsMixin`, the pane and export actions in `PaneActions`; this
module wires them together and keeps the view in sync.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Footer, Tab, Tabs

from runtime import USERS, HopLog
from tui.chat_history import entries_from_hop
from tui.explorer import ChallengeSolved, Explorer, HopInbox
from tui.screens.pane_actions import PaneActions
from tui.screens.runs import RunsMixin
from tui.widgets.chat_pane import ChatPane, PromptInput
from tui.widgets.history_input import HistoryInput
from tui.widgets.pane import Pane
from tui.widgets.pattern_list import PatternList
from tui.widgets.pattern_summary import PatternSummary
from tui.widgets.status_bar import StatusBar
from tui.widgets.user_pane import UserPane
from tui.widgets.wire_view import WireView

NARROW_BELOW = 120  # below: one pane at a time, as tabs
WIDE_FROM = 160     # from here: chat and wire side by side; between: chat above wire
PANES = ("pattern", "user", "chat", "wire")
EMPTY_CHAT = ("No conversation yet for {user} under {pattern}. Type a prompt below "
              "(try \"What are my expenses?\"), or press s to run a script step.")


class MainScreen(RunsMixin, PaneActions):
    # The keys that move the focus are priority bindings: the app runs them as it reads them,
    # so the focus has moved before it routes the next key. Otherwise, when keys arrive in a
    # burst (a busy CPU, fast typing), "3hi" routes h and i to the pane that had the focus.
    BINDINGS = [
        Binding("1", "pane_key('pattern')", "Pattern pane", show=False,
                id="pane.pattern", priority=True),
        Binding("2", "pane_key('user')", "User pane", show=False,
                id="pane.user", priority=True),
        Binding("3", "pane_key('chat')", "Chat pane", show=False,
                id="pane.chat", priority=True),
        Binding("4", "pane_key('wire')", "Wire pane", show=False,
                id="pane.wire", priority=True),
        Binding("n,right_square_bracket", "next_pattern", "Next pattern", id="pattern.next"),
        Binding("p,left_square_bracket", "previous_pattern", "Previous pattern", show=False,
                id="pattern.previous"),
        Binding("u", "next_user", "Switch user", id="user.next"),
        Binding("k", "token", "User's token", show=False,
                tooltip="The user's token, decoded full-size", id="user.token"),
        Binding("s", "pick_step", "Run step", id="script.step"),
        Binding("S", "run_script", "Run whole script", show=False, id="script.all"),
        Binding("W", "reset_world", "Reset the world", show=False,
                tooltip="Reset the world: this pattern's seed data, keys, caches and clock",
                id="world.reset"),
        Binding("b", "scoreboard", "Scoreboard", id="screen.scoreboard"),
        Binding("v", "narrative", "Narrative", show=False, id="screen.narrative"),
        Binding("c", "code", "Code + diff", show=False, id="screen.code"),
        Binding("m", "toggle_maximize", "Maximize/restore", show=False, id="pane.maximize"),
        Binding("slash", "filter_key", "Filter",
                tooltip="Filter the hops (kind:, status:, user:, text; a|b, !term)",
                id="wire.filter", priority=True),
        Binding("y", "copy", "Copy value", show=False, id="copy.value"),
        Binding("r", "toggle_reveal", "Reveal secrets", show=False, id="secrets.reveal"),
        Binding("e", "export_session", "Export HAR+JSONL", show=False, id="export.session"),
        Binding("x", "export_curl", "Hop as curl", show=False, id="export.curl"),
        Binding("R", "replay", "Replay hop",
                tooltip="Edit the selected hop (claims, headers, signature) and send it again",
                id="hop.replay"),
        Binding("T", "call_tool", "Call tool",
                tooltip="Call one of the MCP server's tools yourself, no model",
                id="tool.call"),
        Binding("D", "compare", "Compare",
                tooltip="The same prompt or step under two patterns, hop by hop",
                id="screen.compare"),
        Binding("M", "connect", "Connect a client", show=False,
                tooltip="Point the MCP Inspector, curl or your own MCP client at this "
                        "pattern's MCP server, as the current user",
                id="screen.connect"),
        Binding("C", "challenges", "Challenges",
                tooltip="Attacks to perform by hand, detected from the wire and audit log",
                id="screen.challenges"),
        Binding("escape", "leave", "Leave input / restore", show=False, id="focus.leave",
                priority=True),
    ]

    def __init__(self, explorer: Explorer) -> None:
        super().__init__(explorer)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Tabs(*[Tab(f"{i} {name.title()}", id=f"tab-{name}")
                     for i, name in enumerate(PANES, 1)], active="tab-chat", id="pane-tabs")
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                with Pane("1 Pattern", id="pane-pattern"):
                    yield PatternList(self.explorer.patterns, self.pattern, id="patterns")
                    yield PatternSummary(id="pattern-summary")
                with Pane("2 User", id="pane-user"):
                    yield UserPane(self.user, id="user")
            with Container(id="right"):
                with Pane("3 Chat", id="pane-chat"):
                    yield ChatPane(id="chat")
                with Pane("4 Wire", id="pane-wire"):
                    yield WireView(id="wire")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.explorer.inbox.target = self
        self.query_one(WireView).now = self.explorer.now
        settings = self.explorer.settings
        stack = settings.stack + (" · demo" if settings.demo else "") + (
            " · lab" if settings.lab else "")
        self.query_one(StatusBar).set(stack=stack, state="starting")
        self.query_one(PromptInput).set_history(self.explorer.remembered.prompts)
        self.query_one("#wire-filter", HistoryInput).set_history(self.explorer.remembered.filters)
        self._apply_layout(self.size.width)
        self.show_current()
        self.query_one(PatternList).focus()
        if not self.explorer.patterns:
            self.notify("No patterns found in patterns/.", severity="error")
            return
        # after the first frame is drawn: until then the runtime's imports would compete with it
        self.call_after_refresh(self.start_work, self.boot, group="boot")

    def on_screen_resume(self) -> None:
        patterns = self.query_one(PatternList)
        for pattern_id, mark in self.explorer.marks.items():
            patterns.set_mark(pattern_id, mark)

    # -- layout ---------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width)

    def _apply_layout(self, width: int) -> None:
        narrow = width < NARROW_BELOW
        self.set_class(narrow, "-narrow")
        self.set_class(NARROW_BELOW <= width < WIDE_FROM, "-medium")
        # Display is set directly (not by CSS class) so a pane is focusable at once.
        for name in PANES:
            self.query_one(f"#pane-{name}").display = not narrow or name == self.tab
        self.query_one("#left").display = not narrow or self.tab in ("pattern", "user")
        self.query_one("#right").display = not narrow or self.tab in ("chat", "wire")

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tabs.id != "pane-tabs" or event.tab.id is None:
            return
        event.stop()
        name = event.tab.id.removeprefix("tab-")
        if name != self.tab:
            self.tab = name
            self._apply_layout(self.size.width)
            self._focus_pane_widget(name)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        for name in PANES:
            if self.query_one(f"#pane-{name}") in event.widget.ancestors_with_self:
                if name != self.tab:
                    self.tab = name
                    self.query_one("#pane-tabs", Tabs).active = f"tab-{name}"
                    self._apply_layout(self.size.width)
                return

    # -- showing the current (pattern, user) ------------------------------------------

    def show_current(self) -> None:
        """Show what the UI already holds for the current pattern and user (instant)."""
        explorer, masker = self.explorer, self.explorer.masker
        info = explorer.pattern(self.pattern)
        title = f"{self.pattern} {info.title}" if info else self.pattern
        if info is not None:
            self.query_one(PatternSummary).show(info)
        self.query_one(StatusBar).set(pattern=title, user=self.user)
        self.query_one(PatternList).show(self.pattern)
        self.query_one(UserPane).show(self.user)
        chat = self.query_one(ChatPane)
        chat.set_user(self.user)
        chat.load(explorer.history.get(self.key), masker,
                  EMPTY_CHAT.format(user=self.user, pattern=title))
        self.query_one(WireView).set_hops(explorer.hops.get(self.pattern, HopLog()), masker)
        self.query_one(UserPane).show_message(f"loading {self.user}…")

    def on_pattern_list_pattern_selected(self, event: PatternList.PatternSelected) -> None:
        self.switch_pattern(event.pattern_id)

    def on_user_pane_user_selected(self, event: UserPane.UserSelected) -> None:
        self.switch_user(event.user)

    def switch_pattern(self, pattern_id: str) -> None:
        if pattern_id == self.pattern or self.explorer.pattern(pattern_id) is None:
            return
        self.pattern = pattern_id
        self.show_current()
        self.start_work(self.select_runtime, pattern_id, group="select", exclusive=True)

    def switch_user(self, user: str) -> None:
        if user == self.user or user not in USERS:
            return
        self.user = user
        self.show_current()
        self.refresh_user()

    def action_next_pattern(self, step: int = 1) -> None:
        ids = [p.id for p in self.explorer.patterns]
        if ids:
            index = ids.index(self.pattern) if self.pattern in ids else 0
            self.switch_pattern(ids[(index + step) % len(ids)])

    def action_previous_pattern(self) -> None:
        self.action_next_pattern(-1)

    def action_next_user(self) -> None:
        self.switch_user(USERS[(USERS.index(self.user) + 1) % len(USERS)])

    # -- hops from the runtime ----------------------------------------------------------

    def on_challenge_solved(self, event: ChallengeSolved) -> None:
        from runtime import BY_ID

        challenge = BY_ID.get(event.challenge)
        title = challenge.title if challenge else event.challenge
        problem = self.explorer.progress.problem
        self.notify(f"{title} under {event.pattern}: {event.proof}."
                    + (f"\n(not saved: {problem})" if problem else ""),
                    title="Challenge solved", timeout=10)

    def on_hop_inbox_hops_arrived(self, _message: HopInbox.HopsArrived) -> None:
        self.ingest_hops()

    def ingest_hops(self) -> None:
        """Take every queued hop: store it, show it on the wire, route it to its chat."""
        explorer, masker = self.explorer, self.explorer.masker
        shown = []
        chat = self.query_one(ChatPane)
        for pattern_id, hop in explorer.inbox.drain():
            explorer.hops.setdefault(pattern_id, HopLog()).append(hop)
            if pattern_id == self.pattern:
                shown.append(hop)
            if self._job is not None and self._job[0] == pattern_id:
                for entry in entries_from_hop(hop):
                    explorer.history.add(self._job, entry)
                    if self._job == self.key:
                        chat.append(entry, masker)
        if shown:
            self.query_one(WireView).add_hops(shown)
