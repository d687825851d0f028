"""A hostile token on the wire must not crash what displays it.

Every JWT on the wire is decoded and shown, unverified, so its claims are the sender's
choice: a list where a string belongs, an object where a list belongs, `act` that is not an
object, `exp` as a string, NaN or 10**400, `cnf` as a list, nesting thousands deep, very
long strings, control characters and Rich markup such as "[/bold]". Each family below feeds
such claims to every renderer directly (runtime decoding and labels, the TUI's token, diff,
hop-detail, user-pane and wire-row renderings, the CLI's text and JSON output).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from agent_auth.commands import _print_turn, dump_json
from runtime.agent import TurnResult
from runtime.export import hop_to_dict, to_jsonl
from runtime.tokens import TIME_CLAIMS, DecodedToken, claims_diff, decode_unverified, find_tokens
from runtime.wire import Hop, WireTap
from tui.masking import RANDOM_CLAIMS, Masker
from tui.session import Person, UserInfo
from tui.widgets.hop_detail import HopDetail
from tui.widgets.token_render import KEY_CLAIMS, render_diff, render_token
from tui.widgets.user_pane import UserPane
from tui.widgets.wire_view import hop_row

NOW = 1_800_000_000.0
ALICE = (Person("alice", "admin", "eng", "bob", (), False),)
# the claims and header fields the renderers look at by name
CLAIM_NAMES = sorted({*KEY_CLAIMS, *TIME_CLAIMS, *RANDOM_CLAIMS, "sub", "preferred_username",
                      "typ", "iss", "htm", "htu", "client_id", "department", "role"})
HEADER_NAMES = ["typ", "alg", "kid", "jwk", "jku", "x5u"]
MARKUP = ["[bold]", "[/]", "[/bold]", "[link=https://evil.example]x[/link]", "[red", "]]["]
CONTROL = "\x1b[2J\x1b]0;pwned\x07\r\x08\x00\u202eevil\u2066"
DEEP = 3000
ODD: list[Any] = [
    CONTROL * 3, "".join(MARKUP), 10**400, -(10**400), 2**63, -1e308, float("nan"),
    float("inf"), float("-inf"), [[[[[[[[[[]]]]]]]]]], {"sub": ["a"], "act": {"act": [1]}},
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.text(max_size=30), st.sampled_from([*MARKUP, CONTROL]),
)
json_values = st.one_of(
    st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(MARKUP), kids, max_size=4), max_leaves=12),
    st.sampled_from(ODD),
)
claim_sets = st.dictionaries(st.sampled_from(CLAIM_NAMES) | st.text(max_size=12), json_values,
                             max_size=8)
header_sets = st.dictionaries(st.sampled_from(HEADER_NAMES) | st.sampled_from(MARKUP),
                              json_values, max_size=4)
maskers = st.sampled_from([Masker(), Masker(reveal=True), Masker(stable=True)])
HOSTILE = settings(max_examples=120, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])


def deeply_nested(depth: int = DEEP) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"act": value}
    return value


def segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def jwt_of(header: dict[str, Any], claims: dict[str, Any]) -> str | None:
    """The compact JWS a sender could put on the wire (None if JSON cannot carry it)."""
    try:
        return f"{segment({'alg': 'RS256', **header})}.{segment(claims)}.c2ln"
    except (ValueError, RecursionError):
        return None


def rendered(renderable: Any) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def no_raw_controls(text: str) -> bool:
    return not any(ord(c) < 0x20 and c not in "\n" or c in "\x1b\u202e\u2066" for c in text)


def hop_carrying(token: DecodedToken, other: DecodedToken) -> Hop:
    """A token-exchange-like hop: `token` sent, `other` received (so a diff is shown)."""
    return Hop(seq=1, trace_id="t", kind="idp", source="mcp-server", target="idp",
               summary="token token-exchange " + CONTROL, method="POST",
               url="http://127.0.0.1:1/token?" + MARKUP[2], status=200,
               request_headers=(("Authorization", f"Bearer {token.raw}"), (MARKUP[1], CONTROL)),
               request_body=f"subject_token={token.raw}",
               response_body=json.dumps({"access_token": other.raw}),
               tokens=(token, other), data={"audit": {"claims": token.claims}})


# Values nested thousands deep or 200 kB long are tried in plain tests: hypothesis would
# print them when reporting.
EXTREME_CLAIMS = {"act": deeply_nested(), "exp": deeply_nested(), "cnf": deeply_nested(),
                  "aud": [1, None, {}, deeply_nested()], "sub": "x" * 200_000,
                  "scope": CONTROL * 5_000, "x" * 5_000: "long name"}


@HOSTILE
@given(header=header_sets, claims=claim_sets)
@example(header={"typ": ["dpop+jwt"]}, claims={"act": "agent", "aud": [1, None, {}]})
def test_runtime_decoding_labels_and_diffs_take_any_claims(header, claims):
    check_runtime(header, claims)


def test_runtime_decoding_labels_and_diffs_take_extreme_claims():
    check_runtime({"typ": deeply_nested()}, EXTREME_CLAIMS)


def check_runtime(header: dict[str, Any], claims: dict[str, Any]) -> None:
    token = DecodedToken(raw="eyJ.x.y", header=header, claims=claims)
    for text in (token.kind, token.label):
        assert isinstance(text, str) and no_raw_controls(text) and "\n" not in text
    claims_diff(claims, {"act": deeply_nested(), **{k: [v] for k, v in claims.items()}})
    raw = jwt_of(header, claims)
    if raw is None:
        return
    decoded = decode_unverified(raw)
    assert decoded is not None and decoded.label
    # re-serialised claims are strict JSON: NaN/Infinity/1e999 came back as text
    json.loads(json.dumps(decoded.claims, allow_nan=False))
    assert find_tokens(f"Bearer {raw}") in ((), (decoded,))  # () when too short to spot


def test_a_token_nested_deeper_than_json_can_parse_is_simply_not_decoded():
    body = base64.urlsafe_b64encode(b'{"act":' + b"[" * 5000 + b"]" * 5000 + b"}").decode()
    raw = f"{segment({'alg': 'RS256'})}.{body.rstrip('=')}.c2ln"
    assert len(raw) < 16_384  # short enough to be decoded at all
    assert decode_unverified(raw) is None
    assert find_tokens(f"Bearer {raw}") == ()


@HOSTILE
@given(header=header_sets, claims=claim_sets, before=claim_sets, masker=maskers,
       show_raw=st.booleans())
@example(header={}, claims={"exp": "soon", "act": "agent", "cnf": [1]},
         before={"exp": float("nan"), "iat": 10**400, "nbf": -1e308}, masker=Masker(),
         show_raw=True)
def test_tui_renderers_take_any_claims(header, claims, before, masker, show_raw):
    check_tui(header, claims, before, masker, show_raw)


def test_tui_renderers_take_extreme_claims():
    for masker in (Masker(), Masker(stable=True)):
        check_tui({"jwk": deeply_nested()}, EXTREME_CLAIMS, {"act": deeply_nested()}, masker,
                  True)


def check_tui(header: dict[str, Any], claims: dict[str, Any], before: dict[str, Any],
              masker: Masker, show_raw: bool) -> None:
    token = DecodedToken(raw="eyJ" + CONTROL, header=header, claims=claims)
    earlier = DecodedToken(raw="eyJ.before", header={}, claims=before)
    hop = hop_carrying(earlier, token)
    views = [render_token(token, masker, NOW, show_raw=show_raw),
             render_diff(claims_diff(before, claims), earlier, token, masker, NOW),
             *HopDetail.render_views(hop, [hop], masker, NOW).values(),
             UserPane.render_info(UserInfo("alice", "p05", ALICE, "ak_x", "bearer_header",
                                           token), masker, NOW)]
    for view in views:
        assert no_raw_controls(rendered(view))
    for cell in hop_row(hop, masker, what_width=40):
        assert no_raw_controls(cell.plain)


@HOSTILE
@given(header=header_sets, claims=claim_sets)
def test_cli_text_and_json_take_any_claims(header, claims, capsys):
    raw = jwt_of(header, claims)
    if raw is None:
        return
    tap = WireTap()
    hop = tap.record("service", "agent", "records", "GET /expenses",
                     request_headers=(("Authorization", f"Bearer {raw}"),), status=200)
    turn = TurnResult("alice", "hi", "answer", "t", "scripted")
    _print_turn(turn, [hop])  # capsys swallows the output; only raising would fail
    strict = {"parse_constant": lambda name: (_ for _ in ()).throw(ValueError(name))}
    json.loads(dump_json(hop_to_dict(hop)), **strict)  # type: ignore[arg-type]
    for line in to_jsonl([hop]).splitlines():
        json.loads(line, **strict)  # type: ignore[arg-type]
    capsys.readouterr()
