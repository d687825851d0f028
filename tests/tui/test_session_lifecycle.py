"""The runtime behind the explorer: what a switch, a reset or quitting costs and leaves."""

from __future__ import annotations

import gc

from tui_helpers import main_screen, send_prompt


async def test_quitting_during_the_script_run_closes_its_servers(make_app, recwarn):
    app = make_app(patterns=("p01", "p02", "p03"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        main_screen(app).action_run_script()
        board = app.get_screen("scoreboard")
        for _ in range(300):
            if board.done >= 2:  # type: ignore[attr-defined]
                break
            await pilot.pause(0.05)
        assert board.running  # type: ignore[attr-defined]
    gc.collect()
    leaked = [w for w in recwarn if issubclass(w.category, ResourceWarning)]
    assert not leaked, [str(w.message) for w in leaked]


async def test_demo_wire_times_are_the_frozen_clock_of_the_tokens(make_app):
    from runtime.settings import DEMO_EPOCH

    app = make_app(patterns=("p05",))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        hops = app.explorer.hops["p05"]
        assert {h.started_at for h in hops} == {DEMO_EPOCH}
        assert {t.claims["iat"] for h in hops for t in h.tokens if "iat" in t.claims} == {
            int(DEMO_EPOCH)}
