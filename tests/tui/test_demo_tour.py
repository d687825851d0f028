"""`agent-auth --demo`: the tour plays through the app's own actions and hands over cleanly."""

from __future__ import annotations

from tui_helpers import main_screen

from tui.demo import DemoTour


async def test_after_the_tour_keys_act_on_the_wire_not_the_prompt(make_app):
    app = make_app(patterns=("p01", "p05", "p06", "p07", "p08"))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        screen = main_screen(app)
        await DemoTour(screen, speed=0.0).play()
        board = app.get_screen("scoreboard")
        for _ in range(600):  # the tour ends as the script starts: wait for it to finish
            if app.explorer.script_run is not None and not board.running:  # type: ignore[attr-defined]
                break
            await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is screen
        assert screen.focused is not None and screen.focused.id == "wire-table"
        assert screen.query_one("#chat-input").value == ""
        assert screen.explorer.hops["p08"]  # the tour really ran
