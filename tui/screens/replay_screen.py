"""ReplayScreen: edit one HTTP hop (request line, headers, body, each JWT's header and claims)
and send it again; the answer arrives as a new hop on the wire, linked to the original.

The quick edits are one key each, from the token list (where the screen opens): x makes the
token expired, a points it at another audience, d drops `act`, o makes the DPoP proof stale.
Each applies the edit, picks the oracle key when there is one (so the check under test is
the only one that can fail) and sends; the editor keeps the edit to change and resend
(ctrl+s). Secrets the explorer masks stay masked here and are sent as captured unless edited.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from runtime import (
    AUDIENCES,
    ORACLE_SIGNS,
    SIGN_CHOICES,
    DecodedToken,
    Hop,
    HttpRequest,
    ReplayError,
    ReplayResult,
    Signer,
    SignWith,
    edit_from_json,
    edit_token,
    headers_text,
    parse_headers,
    parse_value,
    printable,
)
from tui.masking import Masker

ONE_HOUR = 3600.0
QUICK = ("expire", "audience", "drop_act", "stale_proof")


@dataclass
class TokenDraft:
    """One JWT of the request as the editor holds it."""

    where: str
    token: DecodedToken
    header: str
    claims: str
    sign: SignWith = "keep"

    @classmethod
    def of(cls, where: str, token: DecodedToken) -> TokenDraft:
        return cls(where, token, json.dumps(token.header, indent=1),
                   json.dumps(token.claims, indent=1))

    @property
    def proof(self) -> bool:
        return self.token.kind == "DPoP proof"


def describe_result(result: ReplayResult) -> Text:
    verdict = "ALLOWED" if result.allowed else "REFUSED"
    line = Text.assemble((f"→ {result.status} {verdict}", "bold reverse" if not result.allowed
                          else "bold"), "  decided by ", (result.decided_by, "bold"), ": ",
                         printable(result.reason))
    for note in result.notes:
        line.append("\n  · " + printable(note), style="dim")
    return line


class ReplayScreen(Screen[int | None]):
    """Returns the number of the last replay hop sent (or None)."""

    DEFAULT_CSS = """
    ReplayScreen { layout: vertical; }
    ReplayScreen #replay-title { height: 1; padding: 0 1; background: $panel; }
    ReplayScreen #replay-panes { height: 1fr; }
    ReplayScreen #replay-request, ReplayScreen #replay-token { width: 1fr; padding: 0 1; }
    ReplayScreen Label { margin: 1 0 0 0; color: $text-muted; }
    ReplayScreen #replay-headers { height: 2fr; }
    ReplayScreen #replay-body { height: 1fr; }
    ReplayScreen #replay-tokens { height: auto; max-height: 5; }
    ReplayScreen #replay-jwt-header { height: 1fr; }
    ReplayScreen #replay-claims { height: 2fr; }
    ReplayScreen #replay-result { height: auto; max-height: 8; padding: 0 1;
                                  border-top: solid $accent; }
    /* small terminals: one column that scrolls, the token first */
    ReplayScreen.-narrow #replay-panes { layout: vertical; overflow-y: auto; }
    ReplayScreen.-narrow #replay-request, ReplayScreen.-narrow #replay-token {
        height: auto; }
    ReplayScreen.-narrow Label { margin: 0; }
    ReplayScreen.-narrow #replay-headers { height: 8; }
    ReplayScreen.-narrow #replay-body { height: 4; }
    ReplayScreen.-narrow #replay-jwt-header { height: 6; }
    ReplayScreen.-narrow #replay-claims { height: 14; }
    """
    NARROW_BELOW = 110

    BINDINGS = [
        Binding("escape", "back", "Back", id="replay.back"),
        Binding("ctrl+s", "send", "Send", id="replay.send"),
        Binding("x", "quick('expire')", "Expired token", id="replay.expire"),
        Binding("a", "quick('audience')", "Other audience", id="replay.audience"),
        Binding("d", "quick('drop_act')", "Drop act", id="replay.drop_act"),
        Binding("o", "quick('stale_proof')", "Stale DPoP proof", id="replay.stale"),
        Binding("l", "later", "One hour later", id="replay.later"),
        Binding("z", "undo", "Undo edits", id="replay.undo"),
    ]

    def __init__(self, hop: Hop, pattern: str, signer: Signer, masker: Masker, now: float,
                 send: Callable[[HttpRequest, list[str], float, bool],
                                Awaitable[ReplayResult]],
                 targets: dict[str, str] | None = None) -> None:
        super().__init__()
        self.targets = targets or {}
        self.hop, self.pattern, self.signer, self.masker, self.now = (
            hop, pattern, signer, masker, now)
        self._deliver = send
        self.original = HttpRequest.from_hop(hop)
        self.drafts = self._drafts()
        self.current = 0
        self.sent: int | None = None
        self.later = 0.0
        self.results: list[ReplayResult] = []

    def _drafts(self) -> list[TokenDraft]:
        return [TokenDraft.of(slot.where, slot.token) for slot in self.original.tokens()]

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        hop = self.hop
        yield Static(Text.assemble(("Replay ", "bold"), f"hop #{hop.seq} · {hop.kind} ",
                                   f"{hop.source} → {hop.target} · under {self.pattern}",
                                   ("   x expire · a audience · d drop act · o stale proof · "
                                    "l an hour later · ctrl+s send", "dim")),
                     id="replay-title")
        with Horizontal(id="replay-panes"):
            yield from self._token_column()
            with Vertical(id="replay-request"):
                yield Label("send to (a party of this run), then the method and URL")
                targets = sorted({*self.targets, self.original.target} - {""})
                yield Select([(t, t) for t in targets], value=self.original.target or
                             Select.NULL, id="replay-target", allow_blank=False)
                yield Input(f"{self.original.method} {self.original.url}", id="replay-line")
                yield Label("headers (Name: value, one per line; ⟨token N⟩ is edited on "
                            "the right)")
                yield TextArea(self._shown(headers_text(self.original.headers)),
                               id="replay-headers", soft_wrap=True)
                yield Label("body")
                yield TextArea(self._shown(self.original.body), id="replay-body",
                               soft_wrap=True)
        yield Static(Text("Edit, then ctrl+s sends. Or one key: x, a, d, o.", style="dim"),
                     id="replay-result")
        yield Footer()

    def _token_column(self) -> ComposeResult:
        with Vertical(id="replay-token"):
            yield Label("tokens in this request (↑/↓ picks one to edit)")
            yield OptionList(*self._token_options(), id="replay-tokens")
            yield Label("JWT header (JSON)")
            yield TextArea("", id="replay-jwt-header", soft_wrap=True)
            yield Label("claims (JSON)")
            yield TextArea("", id="replay-claims", soft_wrap=True)
            yield Label("sign the edited token with")
            yield Select([], id="replay-sign", allow_blank=True, prompt="(no token)")

    def _shown(self, text: str) -> str:
        """Text as the editor shows it: each JWT as its placeholder (edited on the right),
        secrets masked unless revealed."""
        for index, draft in enumerate(self.drafts):
            text = text.replace(draft.token.raw, placeholder(index))
        return self.masker.text(text)

    def _sent(self, shown: str, original: str | None, raws: list[str]) -> str:
        """What to send for text as the editor shows it: text unchanged from `original` is
        sent as captured (masked secrets included); placeholders become the tokens as
        edited."""
        if original is not None and shown == self._shown(original):
            shown = original
            for draft, raw in zip(self.drafts, raws, strict=True):
                shown = shown.replace(draft.token.raw, raw)
            return shown
        for index, raw in enumerate(raws):
            shown = shown.replace(placeholder(index), raw)
        return shown

    def _token_options(self) -> list[Option]:
        if not self.drafts:
            return [Option(Text("no JWT in this request", style="dim"), disabled=True)]
        return [Option(Text(printable(f"{i}: {d.token.label} (in {d.where})")), id=str(i))
                for i, d in enumerate(self.drafts)]

    def on_resize(self) -> None:
        self.set_class(self.size.width < self.NARROW_BELOW, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.size.width < self.NARROW_BELOW, "-narrow")
        tokens = self.query_one("#replay-tokens", OptionList)
        tokens.focus()
        if self.drafts:
            tokens.highlighted = 0
            self._load(0)

    def _load(self, index: int) -> None:
        draft = self.drafts[index]
        self.current = index
        self.query_one("#replay-jwt-header", TextArea).text = draft.header
        self.query_one("#replay-claims", TextArea).text = draft.claims
        select = self.query_one("#replay-sign", Select)
        select.set_options([(SIGN_CHOICES[c], c) for c in self.signer.choices(draft.token)])
        select.value = draft.sign

    def _store(self) -> None:
        if not self.drafts:
            return
        draft = self.drafts[self.current]
        draft.header = self.query_one("#replay-jwt-header", TextArea).text
        draft.claims = self.query_one("#replay-claims", TextArea).text
        value = self.query_one("#replay-sign", Select).value
        if isinstance(value, str) and value in SIGN_CHOICES:
            draft.sign = value  # type: ignore[assignment]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id is not None and int(event.option.id) != self.current:
            self._store()
            self._load(int(event.option.id))

    def on_select_changed(self, event: Select.Changed) -> None:
        """Another party: the request line's origin follows (the path stays to edit)."""
        if event.select.id != "replay-target" or not isinstance(event.value, str):
            return
        event.stop()
        base = self.targets.get(event.value)
        line = self.query_one("#replay-line", Input)
        method, _, url = line.value.strip().partition(" ")
        if base and url:
            parts, new = urlsplit(url), urlsplit(base)
            line.value = f"{method} " + urlunsplit((new.scheme, new.netloc, parts.path,
                                                     parts.query, ""))

    # -- keys -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The one-key edits do not fire while typing in an editor (the letters type)."""
        if action in ("quick", "undo", "later") and isinstance(self.focused, TextArea | Input):
            return False
        return True

    def action_later(self) -> None:
        """Toggle sending one hour later (the runtime's clock moves for that request)."""
        self.later = 0.0 if self.later else ONE_HOUR
        self._say(Text("The next send goes one hour later: the clock moves forward for it."
                       if self.later else "The next send goes now.", style="bold"))

    def action_back(self) -> None:
        self.dismiss(self.sent)

    def action_undo(self) -> None:
        self.drafts = self._drafts()
        if self.original.target:
            self.query_one("#replay-target", Select).value = self.original.target
        self.query_one("#replay-line", Input).value = (
            f"{self.original.method} {self.original.url}")
        self.query_one("#replay-headers", TextArea).text = self._shown(
            headers_text(self.original.headers))
        self.query_one("#replay-body", TextArea).text = self._shown(self.original.body)
        if self.drafts:
            self._load(self.current if self.current < len(self.drafts) else 0)
        self._say(Text("Edits undone: the request is as captured.", style="dim"))

    def action_quick(self, what: str) -> None:
        self._store()
        try:
            index = self._quick_edit(what)
        except ReplayError as exc:
            self.notify(str(exc), title="Replay", severity="warning")
            return
        self.query_one("#replay-tokens", OptionList).highlighted = index
        self._load(index)
        self.action_send()

    def _quick_edit(self, what: str) -> int:
        """Apply a one-key edit to the draft it concerns; the draft's index."""
        proof = what == "stale_proof"
        index = self._pick(proof)
        draft = self.drafts[index]
        claims = _object(draft.claims)
        if what == "expire":
            claims["exp"] = parse_value("@now-1h", self.now)
        elif what == "audience":
            claims["aud"] = self._other_audience()
        elif what == "drop_act":
            if "act" not in claims:
                raise ReplayError("this token has no `act` claim to drop (patterns 07 and "
                                  "08 delegate)")
            del claims["act"]
        else:
            claims["iat"] = parse_value("@now-10m", self.now)
            claims["jti"] = str(uuid.uuid4())
        draft.claims = json.dumps(claims, indent=1)
        oracle = self.signer.choices(draft.token)[-1]
        if draft.sign == "keep" and oracle in ("idp", "holder"):
            draft.sign = oracle
        return index

    def _other_audience(self) -> str:
        """An audience the request's destination is not: the directory's for a request to
        the records service, the records service's for anything else."""
        target = self.query_one("#replay-target", Select).value
        ours = AUDIENCES.get(target) if isinstance(target, str) else None  # type: ignore[call-overload]
        return next(a for a in AUDIENCES.values() if a != ours)

    def _pick(self, proof: bool) -> int:
        """The draft a quick edit applies to: the one shown when it is of the right kind,
        else the first that is."""
        if not self.drafts:
            raise ReplayError("this request carries no JWT to edit")
        if self.drafts[self.current].proof == proof:
            return self.current
        for index, draft in enumerate(self.drafts):
            if draft.proof == proof:
                return index
        kind = "DPoP proof (pattern 08 sends one)" if proof else "token other than a proof"
        raise ReplayError(f"this request carries no {kind}")

    # -- sending --------------------------------------------------------------------------

    def build(self) -> tuple[HttpRequest, list[str]]:
        """The request as edited, and what changed (ReplayError says what is wrong)."""
        self._store()
        raws: list[str] = []
        notes: list[str] = []
        self.oracle = False
        for index, draft in enumerate(self.drafts):
            edit = edit_from_json(draft.token, draft.header, draft.claims, draft.sign, index)
            raw, changes = edit_token(draft.token, edit, self.signer)
            raws.append(raw)
            self.oracle |= raw != draft.token.raw and draft.sign in ORACLE_SIGNS
            notes += [f"token {index} ({draft.where}) {c}" for c in changes]
        method, _, url = self.query_one("#replay-line", Input).value.strip().partition(" ")
        originals = {(k.lower(), self._shown(v)): v for k, v in self.original.headers}
        headers = tuple(
            (k, self._sent(v, originals.get((k.lower(), v)), raws))
            for k, v in parse_headers(self.query_one("#replay-headers", TextArea).text))
        body = self._sent(self.query_one("#replay-body", TextArea).text, self.original.body,
                          raws)
        target = self.query_one("#replay-target", Select).value
        request = replace(self.original, method=method.upper(), url=url.strip(),
                          headers=headers, body=body,
                          target=target if isinstance(target, str) else self.original.target
                          ).checked()
        sent = " ".join(v for _, v in request.headers) + request.body
        for index, raw in enumerate(raws):
            if raw != self.drafts[index].token.raw and raw not in sent:
                raise ReplayError(f"token {index} is edited but no longer in the request: "
                                  f"put {placeholder(index)} back, or undo (z)")
        if (request.method, request.url) != (self.original.method, self.original.url):
            notes.insert(0, f"request line: {request.method} {request.url}")
        if request.target != self.original.target:
            notes.insert(0, f"sent to {request.target} instead of {self.original.target}")
        if [k for k, _ in request.headers] != [k for k, _ in self.original.headers]:
            notes.insert(0, "headers added or removed")
        return request, notes

    def action_send(self) -> None:
        try:
            request, notes = self.build()
        except ReplayError as exc:
            self.notify(str(exc), title="Not sent", severity="error")
            return
        self._say(Text("sending…", style="dim"))
        self.run_worker(self._send(request, notes), group="replay", exclusive=True,
                        exit_on_error=False)

    async def _send(self, request: HttpRequest, notes: list[str]) -> None:
        from tui.screens.runs import ui_errors

        try:
            result = await self._deliver(request, notes, self.later, self.oracle)
        except ui_errors() as exc:
            self._say(Text(f"not sent: {exc}", style="bold"))
            self.notify(str(exc), title="Replay", severity="error")
            return
        self.results.append(result)
        replayed = [h for h in result.hops if h.source == "replay"]
        if replayed:
            self.sent = replayed[-1].seq
        self._say(describe_result(result))

    def _say(self, text: Text) -> None:
        self.query_one("#replay-result", Static).update(text)


def placeholder(index: int) -> str:
    return f"⟨token {index}⟩"


def _object(text: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ReplayError("the claims are not valid JSON; fix them or undo (z)") from None
    if not isinstance(value, dict):
        raise ReplayError("the claims must be a JSON object")
    return value
