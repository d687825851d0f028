"""The User pane shows the world as it is now, and R puts the world back as it was."""

from __future__ import annotations

import pytest
from tui_helpers import main_screen, send_prompt, settle, shown_row, shown_text, until

from tui.session import UserInfo
from tui.widgets.hop_detail import HopDetail
from tui.widgets.user_pane import UserPane
from tui.widgets.wire_view import WireView


def _info(app) -> UserInfo | None:
    info = main_screen(app).query_one(UserPane).info
    return info if info is not None and info.user == main_screen(app).user else None


def _role(app) -> str:
    info = _info(app)
    return info.person.role if info else ""


def _label(app, user: str) -> str:
    return str(main_screen(app).query_one("#user-list").get_option(user).prompt)


async def test_the_user_pane_follows_a_role_change_and_reset_undoes_it(make_app):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await pilot.press("u", "u")                           # dave, readonly
        await until(pilot, lambda: _role(app) == "readonly", "dave's details")
        await send_prompt(pilot, app, "Make me an admin.")   # p01: nothing stops him
        await until(pilot, lambda: _role(app) == "admin", "dave shown as admin")
        assert _label(app, "dave").startswith("dave  admin")
        await pilot.press("escape", "W")
        await settle(pilot, app)
        await until(pilot, lambda: _role(app) == "readonly", "dave readonly again")
        assert _label(app, "dave") == "dave  readonly"
        chat = main_screen(app).explorer.history.get(main_screen(app).key)
        assert "the world is reset" in chat[-1].text


async def test_k_opens_the_users_token_full_size(make_app):
    app = make_app(patterns=("p05",))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_until_ready()
        await until(pilot, lambda: _info(app) is not None, "alice's details")
        info = _info(app)
        assert info is not None and info.token is not None
        await pilot.press("k")
        await until(pilot, lambda: type(app.screen).__name__ == "TokenScreen", "token screen")
        assert "preferred_username" in shown_text(app, "#token-decoded")
        await pilot.press("y")
        assert app.clipboard == info.token.raw
        await pilot.press("escape")
        assert app.screen is main_screen(app)


@pytest.mark.parametrize("stable", [False, True])
async def test_relative_token_times_count_on_but_stay_fixed_in_snapshots(make_app, stable):
    app = make_app(patterns=("p05",), stable=stable)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await until(pilot, lambda: _info(app) is not None, "alice's details")
        assert "expires in 5m" in shown_text(app, "#user-token")
        wire = main_screen(app).query_one(WireView)
        wire.table.move_cursor(row=await shown_row(pilot, wire, lambda h: bool(h.tokens)))
        main_screen(app).query_one(HopDetail).active = "tab-jwt"
        await until(pilot, lambda: "(in 5m)" in shown_text(app, "#detail-jwt"), "the JWT tab")
        app.explorer.session.clock.advance(200)   # the frozen demo clock, moved on
        if stable:
            main_screen(app).query_one(UserPane)._tick()
            main_screen(app).query_one(HopDetail)._tick()
            assert "expires in 5m" in shown_text(app, "#user-token")
            assert "(in 5m)" in shown_text(app, "#detail-jwt")
        else:
            await until(pilot, lambda: "expires in 100s" in shown_text(app, "#user-token"),
                        "the user pane's countdown")
            await until(pilot, lambda: "(in 100s)" in shown_text(app, "#detail-jwt"),
                        "the JWT tab's countdown")
