"""HopDetail: one hop in tabs: headers, body, decoded JWTs, OPA input/decision, claims diff."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from runtime import DecodedToken, Hop, brief, claims_diff, find_tokens, printable
from tui.masking import Masker
from tui.widgets.token_render import render_diff, render_token

TABS = ("headers", "body", "jwt", "opa", "diff")
MAX_BODY = 20_000


def _pretty(body: str, masker: Masker) -> RenderableType:
    text = masker.text(body[:MAX_BODY])
    try:
        return Syntax(json.dumps(json.loads(text), indent=2), "json", word_wrap=True,
                      background_color="default")
    except (ValueError, RecursionError):  # not JSON, or nested too deep to indent
        return Text(printable(text, lines=True))


def _headers_table(title: str, pairs: tuple[tuple[str, str], ...], masker: Masker) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True,
                  title_style="bold")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold", ratio=1)
    for key, value in pairs:  # Text: a header is data, never Rich markup
        table.add_row(Text(printable(key)), Text(printable(masker.text(value))))
    return table


def _access_tokens(text: str) -> list[DecodedToken]:
    """Access tokens in `text` (not ID or refresh tokens, not DPoP proofs)."""
    return [t for t in find_tokens(text)
            if t.kind != "DPoP proof" and t.claims.get("typ") not in ("ID", "Refresh")]


def _sent(hop: Hop) -> list[DecodedToken]:
    return _access_tokens(" ".join(v for _, v in hop.request_headers) + " " + hop.request_body)


def subject_and_result(hop: Hop, trace: list[Hop]) -> tuple[DecodedToken, DecodedToken] | None:
    """The token before and after an exchange or delegation, for the claims diff.

    A hop that sends one access token and gets another back (RFC 8693 at the IdP) diffs
    those two. A hop that only sends a token diffs it against the first different access
    token sent earlier in the same trace (the user's own token, as the agent sent it).
    """
    sent, received = _sent(hop), _access_tokens(hop.response_body)
    if sent and received and sent[0].raw != received[0].raw:
        return sent[0], received[0]
    if not sent:
        return None
    for earlier in trace:
        for token in _sent(earlier):
            if token.raw != sent[0].raw:
                return token, sent[0]
    return None


class HopDetail(Vertical):
    DEFAULT_CSS = """
    HopDetail { height: 1fr; }
    HopDetail > TabbedContent { height: 1fr; }
    HopDetail TabPane { padding: 0; }
    HopDetail VerticalScroll { padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.hop: Hop | None = None
        self._trace: list[Hop] = []
        self._masker = Masker()
        self._now: Callable[[], float] = lambda: 0.0

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)  # the tokens' "in 4m" / "3m ago" keep counting

    def compose(self) -> ComposeResult:
        with TabbedContent(id="hop-tabs"):
            for name, label in zip(TABS, ("Headers", "Body", "JWT", "OPA", "Diff"), strict=True):
                with TabPane(label, id=f"tab-{name}"), VerticalScroll():
                    yield Static(Text("select a hop", style="dim"), id=f"detail-{name}")

    @property
    def active(self) -> str:
        """The id of the tab shown ("tab-headers", "tab-jwt", ...)."""
        return self.query_one(TabbedContent).active

    @active.setter
    def active(self, tab_id: str) -> None:
        self.query_one(TabbedContent).active = tab_id

    def show(self, hop: Hop | None, trace: list[Hop], masker: Masker,
             now: Callable[[], float]) -> None:
        self.hop, self._trace, self._masker, self._now = hop, trace, masker, now
        views = self.render_views(hop, trace, masker, now()) if hop else {
            name: Text("select a hop", style="dim") for name in TABS}
        for name, view in views.items():
            self.query_one(f"#detail-{name}", Static).update(view)

    def _tick(self) -> None:
        """Redraw the tab with relative times, if it is the one in view (cheap otherwise)."""
        hop, tab = self.hop, self.active.removeprefix("tab-")
        if hop is None or not hop.tokens or self._masker.stable or tab not in ("jwt", "diff"):
            return
        if self.is_on_screen:
            now = self._now()
            view = self._tokens_view(hop, self._masker, now) if tab == "jwt" else (
                self._diff_view(hop, self._trace, self._masker, now))
            self.query_one(f"#detail-{tab}", Static).update(view)

    @staticmethod
    def render_views(hop: Hop, trace: list[Hop], masker: Masker,
                     now: float) -> dict[str, RenderableType]:
        line = Text.assemble((f"{hop.kind} ", "bold"), f"{hop.source} → {hop.target}  ",
                             printable(masker.text(hop.summary), lines=True))
        request = Text.assemble((hop.method + " ", "bold"), printable(masker.text(hop.url))) \
            if hop.method else Text("(not an HTTP hop)", style="dim")
        status = Text(f"status {hop.status}" if hop.status is not None else "", style="bold")
        headers = Group(line, request, _headers_table("request headers", hop.request_headers,
                                                      masker),
                        status, _headers_table("response headers", hop.response_headers,
                                               masker))
        body = Group(Text("request body", style="bold"), _pretty(hop.request_body, masker),
                     Text("response body", style="bold"), _pretty(hop.response_body, masker))
        return {"headers": headers, "body": body, "jwt": HopDetail._tokens_view(hop, masker, now),
                "opa": HopDetail._data_view(hop, masker),
                "diff": HopDetail._diff_view(hop, trace, masker, now)}

    @staticmethod
    def _tokens_view(hop: Hop, masker: Masker, now: float) -> RenderableType:
        if not hop.tokens:
            return Text("no JWT on this hop", style="dim")
        return Group(*[render_token(t, masker, now) for t in hop.tokens])

    @staticmethod
    def _data_view(hop: Hop, masker: Masker) -> RenderableType:
        if not hop.data:
            return Text("no policy input, decision or audit record on this hop", style="dim")
        parts: list[RenderableType] = []
        titles = {"opa_input": "OPA input", "opa_result": "OPA decision", "audit": "audit record",
                  "gate": "MCP gate"}
        for key, value in hop.data.items():
            if is_dataclass(value) and not isinstance(value, type):
                value = asdict(value)
            parts.append(Text(titles.get(key, key), style="bold"))
            try:
                parts.append(_pretty(json.dumps(value, default=str), masker))
            except (ValueError, RecursionError):
                parts.append(Text(brief(value, MAX_BODY)))
        return Group(*parts)

    @staticmethod
    def _diff_view(hop: Hop, trace: list[Hop], masker: Masker, now: float) -> RenderableType:
        pair = subject_and_result(hop, trace)
        if pair is None:
            return Text("no token exchange or delegation to compare on this hop", style="dim")
        before, after = pair
        return render_diff(claims_diff(before.claims, after.claims), before, after, masker, now)
