"""Display helpers for notebooks and the REPL: a run shown as HTML and as plain text.

    runner.show(await runner.run_step("L1"))   # answers, what the service saw, hops, tokens
    runner.show_identity()                     # what the services saw for the last prompt
    runner.show_auth_code()                    # the two files; runner.show_diff(): vs the last

Every view has `_repr_html_` (Jupyter, VS Code, a code host's notebook preview) and a plain
text `repr` (the REPL, `print`). Nothing here imports Textual or Rich; code is highlighted
with Pygments when it is there (it comes with Rich), else shown plain.

Everything shown came off the wire, and a token may be an attacker's: every value is made
printable (`runtime.tokens.printable`) and HTML-escaped. What differs between two runs of the
same script (ports, key ids and thumbprints, token ids, proof hashes, signatures) is shown as
a placeholder that says what it is, so a notebook's committed outputs change only when the
lesson does; the raw values stay on `runner.tap.hops`.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runtime.contract import expected
from runtime.identity import Identity
from runtime.pattern_api import AUDIENCES
from runtime.pattern_loader import PatternInfo, discover
from runtime.pattern_source import CODE_FILES, unified_diff
from runtime.script import STEPS, StepResult
from runtime.tokens import TIME_CLAIMS, DecodedToken, brief, printable
from runtime.wire import Hop

if TYPE_CHECKING:
    from runtime.agent import TurnResult
    from runtime.settings import Settings

_PORT = re.compile(r"\b(127\.0\.0\.1|localhost|\[::1\]):\d+")
#: Claims and header fields that are random per token or per start of the IdP.
PLACEHOLDERS = {
    "jti": "<unique id>",
    "sid": "<session id>",
    "session_state": "<session id>",
    "nonce": "<nonce>",
    "at_hash": "<hash of the access token>",
    "ath": "<hash of the access token>",
    "jkt": "<thumbprint of the DPoP key>",
    "kid": "<key id>",
    "jwk": "<public key>",
    "x5t#S256": "<certificate thumbprint>",
}
_MAX_DEPTH = 64
_SERVICES = tuple(AUDIENCES)   # every tool service
_IDENTITY_FIELDS = ("method", "user_id", "actor", "verified", "detail")
# Jupyter right-aligns table cells; a notebook opened untrusted keeps inline styles only.
_CELL = ' style="text-align:left;vertical-align:top"'


def stable_text(text: str) -> str:
    """`text` with loopback ports as `<port>` (every run gets new ephemeral ports)."""
    return _PORT.sub(lambda m: f"{m.group(1)}:<port>", text)


def stable(value: Any, depth: int = 0) -> Any:
    """Decoded JSON with what churns between runs replaced by a placeholder. Below a
    hostile depth the value is left as it is (`brief` says it is nested too deeply)."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {str(k): PLACEHOLDERS[k] if k in PLACEHOLDERS and v not in (None, "")
                else stable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stable(v, depth + 1) for v in value]
    if isinstance(value, str):
        return stable_text(value)
    return value


def _escape(value: object) -> str:
    return html.escape(printable(str(value), lines=True), quote=True)


def _short(value: object, limit: int = 200) -> str:
    """One printable line of a (stabilised) value."""
    return brief(stable(value), limit)


def _claim_value(key: str, value: Any) -> str:
    if key in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value) and 0 < value < 1e11:
        when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{value} ({when})"
    return _short(value)


def claims_lines(claims: Mapping[str, Any]) -> str:
    """One `name: value` line per claim, placeholders for what churns."""
    return "\n".join(f"{k}: {_claim_value(k, v)}" for k, v in stable(claims).items())


# -- views -------------------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """HTML for notebooks, plain text for the REPL."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __add__(self, other: View) -> View:
        return View(self.html + other.html, f"{self.text}\n\n{other.text}".strip("\n"))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> View:
    """An HTML table (a row a line, so a committed notebook's diff shows which row changed)
    and the same as a padded pipe table. Cells are escaped here."""
    head = "".join(f"<th{_CELL}>{_escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td{_CELL}>{_cell_html(c)}</td>" for c in row)
                     + "</tr>" for row in rows)
    cap = f"<p><b>{_escape(caption)}</b></p>\n" if caption else ""
    markup = f"{cap}<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>\n"
    # a cell of several lines takes several text lines; the first holds the row's other cells
    split = [[printable(c, lines=True).expandtabs(2).split("\n") for c in row] for row in rows]
    widths = [max([len(h), *(len(line) for r in split for line in r[i])])
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    text = [caption] if caption else []
    text += [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in split:
        text += [line([c[i] if i < len(c) else "" for c in row])
                 for i in range(max(len(c) for c in row))]
    return View(markup, "\n".join(text))


def _cell_html(cell: str) -> str:
    return _escape(cell).replace("\n", "<br>")


def _heading(text: str, level: int = 4) -> View:
    return View(f"<h{level}>{_escape(text)}</h{level}>\n", text)


def _paragraph(text: str, bold: str = "") -> View:
    lead = f"<b>{_escape(bold)}</b> " if bold else ""
    return View(f"<p>{lead}{_escape(text)}</p>\n", f"{bold} {text}".strip())


def _preformatted(text: str, title: str = "") -> View:
    head = f"<p><b>{_escape(title)}</b></p>\n" if title else ""
    indented = "\n".join(f"  {line}" for line in text.splitlines())
    return View(f'{head}<pre style="font-family:monospace">{_escape(text)}</pre>\n',
                f"{title}\n{indented}" if title else indented)


def _folded(summary: str, inner: View) -> View:
    """Collapsed in a notebook (hops and tokens are long), always shown in text."""
    return View(f"<details><summary>{_escape(summary)}</summary>\n{inner.html}</details>\n",
                f"{summary}\n{inner.text}")


# -- tokens and identities -----------------------------------------------------------------

def token_view(token: DecodedToken, seen_on: str = "") -> View:
    """A decoded token (never verified here): its header and claims."""
    header = ", ".join(f"{k}: {_short(v, 60)}" for k, v in stable(token.header).items())
    title = printable(stable_text(token.label)) + (f", first seen on {seen_on}" if seen_on
                                                   else "")
    return _preformatted(f"header: {header}\n{claims_lines(token.claims)}", title)


def identity_view(identity: Identity | Mapping[str, Any], title: str = "Identity") -> View:
    """What a service extracted from a request (an `Identity`, or the view an audit hop holds)."""
    if isinstance(identity, Identity):
        identity = {"method": identity.method, "user_id": identity.user_id,
                    "actor": identity.actor, "verified": identity.verified,
                    "detail": identity.detail, "claims": identity.claims}
    view = _table(_IDENTITY_FIELDS, [[_short(identity.get(f)) for f in _IDENTITY_FIELDS]],
                  title)
    claims = identity.get("claims")
    if isinstance(claims, Mapping) and claims:
        return view + _preformatted(claims_lines(claims), "claims")
    return view + _paragraph("(none)", "claims:")


def _audit_hops(hops: Iterable[Hop]) -> list[Hop]:
    return [h for h in hops if h.kind == "audit" and h.source in _SERVICES and "audit" in h.data]


def _answered(later: Sequence[Hop]) -> bool:
    """A client that was challenged (401, no token) came back with one and got through."""
    return any(h.kind == "mcp" and h.status == 200 for h in later)


def service_saw(hops: Sequence[Hop]) -> View:
    """Every request a tool service audited in `hops`: the Identity it extracted, what it
    decided and who decided; or why nothing reached a service."""
    view = _heading("What the service saw")
    audits = _audit_hops(hops)
    if not audits:
        gates = [h for n, h in enumerate(hops) if "gate" in h.data
                 and not (h.data["gate"].get("challenge") and _answered(hops[n + 1:]))]
        why = (f" The last refusal: {_short(gates[-1].data['gate'].get('reason', ''))}"
               if gates else "")
        return view + _paragraph(f"No request reached a tool service.{why}")
    for hop in audits:
        record = hop.data["audit"]
        verdict = "ALLOW" if record.get("allowed") else "DENY"
        title = (f"{hop.source}, {record.get('action')}: {record.get('status')} {verdict}, "
                 f"decided by {record.get('decided_by')}: {_short(record.get('reason', ''))}")
        identity = hop.data.get("identity")
        view += (identity_view(identity, title) if isinstance(identity, Mapping)
                 else _paragraph("(no identity extracted)", title))
    return view


# -- hops, prompts and steps ----------------------------------------------------------------

def _what(hop: Hop) -> str:
    what = hop.summary.splitlines()[0] if hop.summary else ""
    result = hop.data.get("opa_result")
    if isinstance(result, Mapping):
        what += f" -> allow={result.get('allow')}: {result.get('reason', '')}"
    return _short(what, 110)


def hops_view(hops: Sequence[Hop]) -> View:
    """One line a hop: kind, from -> to, what, status (no timings: they churn)."""
    rows = [[str(n), hop.kind, f"{hop.source} -> {hop.target}", _what(hop),
             "" if hop.status is None else str(hop.status)]
            for n, hop in enumerate(hops, 1)]
    table = _table(("#", "kind", "from -> to", "what", "status"), rows)
    return View(_preformatted(table.text).html, table.text)   # aligned, and a third the size


def tokens_on(hops: Sequence[Hop]) -> list[tuple[DecodedToken, str]]:
    """Each distinct token in `hops`, with the hop it was first seen on."""
    seen: dict[str, tuple[DecodedToken, str]] = {}
    for hop in hops:
        for token in hop.tokens:
            seen.setdefault(token.raw, (token, f"{hop.source} -> {hop.target}"))
    return list(seen.values())


def tokens_view(hops: Sequence[Hop]) -> View:
    found = tokens_on(hops)
    view = _paragraph("Decoded, not verified: what anyone who sees the token can read.")
    for token, seen_on in found:
        view += token_view(token, seen_on)
    return view if found else _paragraph("No token on the wire.")


def _trace_hops(hops: Sequence[Hop], trace_ids: Iterable[str]) -> list[Hop]:
    wanted = set(trace_ids)
    return [h for h in hops if h.trace_id in wanted]


def result_hops(hops: Sequence[Hop], result: StepResult | TurnResult | None) -> list[Hop]:
    """The hops of a step or a prompt; with no result, of the last prompt or attack."""
    if isinstance(result, StepResult):
        return _trace_hops(hops, result.trace_ids)
    if result is not None:
        return _trace_hops(hops, [result.trace_id])
    last = next((h.trace_id for h in reversed(hops) if h.kind in ("prompt", "attacker")), None)
    return _trace_hops(hops, [last]) if last else []


def _parsed(text: str) -> Any:
    """A tool result as JSON when it is JSON (printed on one line), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _answer(turn: TurnResult) -> View:
    view = _preformatted(stable_text(turn.answer), f"{turn.user}: {turn.prompt}")
    if turn.tool_calls:
        rows = [[call.name, _short(call.arguments, 100), _short(_parsed(call.result), 100)]
                for call in turn.tool_calls]
        view += _table(("tool call", "arguments", "result"), rows)
    return view


def _wire(hops: Sequence[Hop]) -> View:
    return (_folded(f"The wire: {len(hops)} hops", hops_view(hops))
            + _folded(f"Tokens on the wire: {len(tokens_on(hops))}", tokens_view(hops)))


def turn_view(turn: TurnResult, hops: Sequence[Hop] = ()) -> View:
    """One prompt: the agent's answer, its tool calls, what the service saw, the wire."""
    view = _answer(turn)
    if turn.error:
        view += _paragraph(stable_text(turn.error), "The turn failed:")
    mine = _trace_hops(hops, [turn.trace_id])
    return view + service_saw(mine) + _wire(mine) if mine else view


def step_view(result: StepResult, hops: Sequence[Hop] = (), number: int | None = None) -> View:
    """A script step: its outcome against the contract, its parts, each prompt's answer,
    what the service saw, the hops and the tokens."""
    step = STEPS[result.step]
    wanted = expected(result.step, number)
    verdict = "" if wanted is None else (
        " (as the contract expects)" if wanted == result.outcome
        else f" (the contract expects {wanted})")
    kind = "an attack: ALLOW means it succeeded" if result.step.startswith("A") else "legitimate"
    view = _heading(f"{result.step} under {result.pattern}: {result.outcome}{verdict}", 3)
    view += _paragraph(f"{step.who}: {step.what} ({step.goal}; {kind}). Decided by "
                       f"{result.decided_by}; the audit log names {result.deciding_part.audit}."
                       + (f" Measured: {result.detail}." if result.detail else ""))
    rows = [[p.label, "went through" if p.succeeded else "stopped", p.decided_by, p.audit,
             _short(p.reason, 160)] for p in result.parts]
    view += _table(("part", "result", "decided by", "audit names", "reason"), rows)
    for turn in result.turns:
        view += _answer(turn)
    mine = _trace_hops(hops, result.trace_ids)
    return view + service_saw(mine) + _wire(mine)


def _identities(result: StepResult) -> str:
    """The identities the services' audit records hold for this step."""
    seen: dict[str, None] = {}
    for record in result.audit:
        who = record.user or "(no user)"
        actor = f", actor {record.actor}" if record.actor else ""
        seen[f"{record.method}: {who}{actor}"] = None
    return "\n".join(seen) or "(no request reached a service)"


#: The closing table's columns (tests read its text form).
SUMMARY_COLUMNS = ("step", "who", "expected", "actual", "ok", "decided by", "audit names",
                   "identities the services extracted")


def summary_view(results: Iterable[StepResult], number: int | None = None) -> View:
    """The closing table, computed as the matrix computes its cells: outcome against the
    contract, who decided, whom the audit names; and the identities the services saw."""
    rows = []
    for result in results:
        wanted = expected(result.step, number)
        ok = "" if wanted is None else ("yes" if wanted == result.outcome else "NO")
        part = result.deciding_part
        rows.append([result.step, STEPS[result.step].who, wanted or "-", result.outcome, ok,
                     part.decided_by, part.audit, _identities(result)])
    return _table(SUMMARY_COLUMNS, rows, "What the service saw, step by step")


# -- code ----------------------------------------------------------------------------------

def _code_html(code: str, language: str) -> str:
    code = printable(code, lines=True)
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
    except ImportError:  # Pygments comes with Rich; without it, plain
        return f"<pre>{html.escape(code)}</pre>\n"
    return highlight(code, get_lexer_by_name(language), HtmlFormatter(noclasses=True))


def _code(title: str, code: str, language: str) -> View:
    return View(f"<p><b>{_escape(title)}</b></p>\n{_code_html(code, language)}",
                f"# {title}\n{printable(code, lines=True)}")


def code_view(info: PatternInfo) -> View:
    """The pattern's two files, highlighted."""
    first, second = (_code(f"{info.folder.name}/{name}", info.code(name), "python")
                     for name in CODE_FILES)
    return first + second


def previous(info: PatternInfo) -> PatternInfo | None:
    """The built-in pattern before this one on the staircase (None for p01 and your own)."""
    if info.number is None:
        return None
    return next((p for p in discover() if p.number == info.number - 1), None)


def diff_view(before: PatternInfo | None, after: PatternInfo) -> View:
    """Both files against the previous pattern's: where the auth boundary moved."""
    if before is None:
        return _paragraph(f"{after.id} is the first pattern: nothing to compare it with.")
    return _code(f"{before.folder.name} -> {after.folder.name}", unified_diff(before, after),
                 "diff")


# -- setup ---------------------------------------------------------------------------------

def setup_view(pattern: PatternInfo, settings: Settings, frozen_at: float | None,
               fixed_keys: bool) -> View:
    """Which pattern, stack and model a runner uses (no URL with a port: they churn)."""
    if settings.stack == "embedded":
        stack = "embedded IdP (Keycloak-compatible) and OPA (regopy), in this process"
    else:
        stack = f"external: Keycloak at {settings.keycloak_url}, OPA at {settings.opa_url}"
    if settings.scripted:
        model = "scripted (deterministic, no key, no network)"
    else:
        model = f"{settings.model} at {settings.openai_base_url or 'the OpenAI API'}"
    clock = "real time" if frozen_at is None else "frozen at " + datetime.fromtimestamp(
        frozen_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    keys = "fixed demo keys" if fixed_keys else "new random keys each run"
    rows = [["pattern", f"{pattern.id} {pattern.title}"], ["stack", stack], ["model", model],
            ["clock", clock], ["API keys", keys]]
    return _table(("", "in use"), rows)
