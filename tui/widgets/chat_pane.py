"""ChatPane: the conversation with the agent, tool calls inline, the attacker marked."""

from __future__ import annotations

import unicodedata

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RichLog, Static

from runtime import printable
from tui.chat_history import ChatEntry
from tui.masking import Masker
from tui.no_color import shown
from tui.widgets.history_input import HistoryInput
from tui.widgets.tool_result import result_table

TOOL_RESULT_SHOWN = 160  # answers that are not a table: the Wire pane has the whole body
# Longest first; the prompt shows the longest that fits its width.
PLACEHOLDERS = ("Ask the agent as {user}… (Enter sends, Esc leaves the input)",
                "Ask the agent as {user}… (Enter sends, Esc leaves)",
                "Ask the agent as {user}… (Enter sends)",
                "Ask as {user}…")


def placeholder_for(user: str, width: int) -> str:
    """The longest placeholder that fits `width` cells (one is left for the cursor)."""
    texts = [p.format(user=user) for p in PLACEHOLDERS]
    return next((t for t in texts if len(t) < width), texts[-1])


def clean_prompt(text: str) -> str:
    """Drop control and format characters (pasted escape sequences, NULs) but keep the text."""
    return "".join(c for c in text if c in "\t" or unicodedata.category(c)[0] != "C").strip()


def render_entry(entry: ChatEntry, masker: Masker, no_color: bool = False) -> RenderableType:
    """One chat line; a tool's tabular answer (a list of expenses, a user) as a table."""
    if entry.kind == "tool":
        body = masker.text(entry.text)
        mark = ("  ⚙ ", "dim") if entry.ok else ("  ⛔ refused ", "bold red")
        call = Text.assemble(mark, (masker.text(entry.who), "yellow"), " → ")
        table = result_table(body)
        if table is not None:
            return Group(shown(call, no_color), Padding(table, (0, 0, 0, 2)))
        line = " ".join(body.split())  # one line; the Wire pane has the whole body
        if len(line) > TOOL_RESULT_SHOWN:
            line = line[:TOOL_RESULT_SHOWN] + "…"
        return shown(call.append(printable(line), style="dim"), no_color)
    return shown(_render(entry, masker), no_color)


def _render(entry: ChatEntry, masker: Masker) -> Text:
    body = masker.text(entry.text)
    if entry.kind == "user":
        return Text.assemble((f"{entry.who} › ", "bold cyan"), body)
    if entry.kind == "agent":
        return Text.assemble(("agent › ", "bold green"), body)
    if entry.kind == "attacker":
        return Text.assemble(("☠ ATTACKER ", "bold reverse red"), " ", body)
    if entry.kind == "step":
        return Text.assemble(("━━ ", "magenta"), (body, "bold magenta"))
    if entry.kind == "result":
        return Text(body, style="bold green" if entry.ok else "bold red")
    if entry.kind == "error":
        return Text.assemble(("✖ ", "bold red"), (body, "underline red"))
    return Text(body, style="dim italic")


class PromptInput(HistoryInput):
    """The prompt line, with ↑/↓ through earlier prompts."""


class ChatPane(Vertical):
    DEFAULT_CSS = """
    ChatPane { height: 1fr; }
    ChatPane > RichLog { height: 1fr; padding: 0 1; background: $surface; }
    ChatPane > #chat-status { height: 1; padding: 0 1; color: $text-muted; }
    ChatPane > PromptInput { margin: 0; }
    """

    class PromptSubmitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._entries: list[ChatEntry] = []
        self._masker = Masker()
        self._hint = ""
        self._hinted = False
        self._width = 0
        self._user = ""

    def compose(self) -> ComposeResult:
        yield RichLog(wrap=True, markup=False, auto_scroll=True, min_width=10, id="chat-log")
        yield Static("", id="chat-status")
        yield PromptInput(placeholder="Ask the agent…", id="chat-input")

    def load(self, entries: list[ChatEntry], masker: Masker, empty_hint: str = "") -> None:
        """Show `entries` (the history's own list: later appends land in it too)."""
        self._entries, self._masker, self._hint = entries, masker, empty_hint
        self._render_all()

    def _render_all(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        self._width = log.size.width
        self._hinted = not self._entries and bool(self._hint)
        if self._hinted:
            log.write(Text(self._hint, style="dim italic"))
        for entry in self._entries:
            log.write(render_entry(entry, self._masker, self.app.no_color))

    def on_resize(self) -> None:
        # RichLog wraps when a line is written; re-wrap when the width changes (also when a
        # hidden tab becomes visible in the narrow layout).
        if self.query_one(RichLog).size.width != self._width:
            self.call_after_refresh(self._render_all)
        self.call_after_refresh(self._fit_placeholder)

    def append(self, entry: ChatEntry, masker: Masker) -> None:
        """Show one entry already added to the list given to `load`."""
        log = self.query_one(RichLog)
        if not log.size.width:
            return  # hidden: rendered in full when shown
        if self._hinted:  # the "no conversation yet" hint goes once there is one
            log.clear()
            self._hinted = False
        log.write(render_entry(entry, masker, self.app.no_color))

    def set_status(self, text: str) -> None:
        self.query_one("#chat-status", Static).update(text)

    def set_user(self, user: str) -> None:
        self._user = user
        self._fit_placeholder()

    def _fit_placeholder(self) -> None:
        prompt = self.query_one(PromptInput)
        width = prompt.content_region.width or 80
        prompt.placeholder = placeholder_for(self._user, width)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        prompt = self.query_one(PromptInput)
        text = clean_prompt(event.value)
        prompt.remember(text)
        prompt.value = ""
        self.post_message(self.PromptSubmitted(text))
