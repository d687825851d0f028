"""A hostile token on the wire, shown by the real app: the wire view, every tab of the hop
detail and the User pane render it (claims of the wrong JSON types, NaN and 10**400 times,
Rich markup, terminal escapes) instead of crashing the explorer."""

from __future__ import annotations

import base64
import json
from typing import Any

from tui_helpers import main_screen, settle, shown_row, shown_text, shown_when

from tui.session import Person, UserInfo
from tui.widgets.hop_detail import TABS, HopDetail
from tui.widgets.user_pane import UserPane
from tui.widgets.wire_view import WireView


def jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"act": [value]}
    return value


ALICE = (Person("alice", "admin", "engineering", "bob", (), False),)
HOSTILE = jwt({"alg": "RS256", "typ": ["dpop+jwt"], "kid": "[/]"}, {
    "sub": {"id": "[bold]alice"}, "preferred_username": "\u202eevil", "aud": [1, None, "[/red]"],
    "act": "agent\x1b[2J", "cnf": ["jkt"], "exp": float("nan"), "iat": 10**400,
    "nbf": "tomorrow", "scope": "s" * 5000, "realm_access": nested(100), "typ": {"a": 1},
})
EARLIER = jwt({"alg": "RS256", "typ": "JWT"}, {"sub": "alice", "aud": "mcp-server",
                                                "exp": 1_900_000_000, "typ": "Bearer"})


async def test_a_hostile_token_renders_in_the_wire_view_the_hop_detail_and_the_user_pane(
    make_app,
):
    app = make_app(patterns=("p05",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await settle(pilot, app)
        screen = main_screen(app)
        screen.explorer.session.tap_for("p05").record(
            "attacker", "attacker", "records", "GET /expenses [/bold]\x1b[2J", method="GET",
            url="http://127.0.0.1:1/expenses?[/]", status=401,
            request_headers=(("Authorization", f"Bearer {HOSTILE}"), ("X-[/]", "[b]\x1b]0;t\x07")),
            request_body=f'{{"subject_token": "{EARLIER}", "deep": {"[" * 3000}{"]" * 3000}}}',
            response_body=json.dumps({"access_token": EARLIER}))
        wire = screen.query_one(WireView)
        row = await shown_row(pilot, wire, lambda h: h.kind == "attacker" and h.tokens)
        wire.table.move_cursor(row=row)
        await shown_when(pilot, app, "#detail-headers", "X-[/]")   # every tab drawn at once
        shown: dict[str, str] = {}
        for tab in TABS:
            screen.query_one(HopDetail).active = f"tab-{tab}"
            await pilot.pause(0.1)
            shown[tab] = shown_text(app, f"#detail-{tab}")
        assert "X-[/]" in shown["headers"] and "\\x1b" in shown["headers"]
        assert "NaN (not a NumericDate)" in shown["jwt"] and "10000000" in shown["jwt"]
        assert "[/red]" in shown["jwt"] and "\\u202eevil" in shown["jwt"]
        assert "changed" in shown["diff"] or "added" in shown["diff"]

        token = screen.query_one(HopDetail).hop.tokens[0]  # type: ignore[union-attr]
        pane = screen.query_one(UserPane)
        pane.show_info(UserInfo("alice", "p05", ALICE, "ak_x", "bearer_header", token),
                       screen.explorer.masker, lambda: 0.0)
        await pilot.pause(0.1)
        assert "exp NaN (not a NumericDate)" in shown_text(app, "#user-token")
        await pilot.press("k")       # the token full-size
        await pilot.pause(0.1)
        assert "tomorrow (not a NumericDate)" in shown_text(app, "#token-decoded")
        assert app.is_running  # nothing crashed the app
