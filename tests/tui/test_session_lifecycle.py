"""The runtime behind the explorer: what a switch, a reset or quitting costs and leaves."""

from __future__ import annotations

import gc

import pytest
from tui_helpers import main_screen, send_prompt, settle


async def test_quitting_during_the_script_run_closes_its_servers(make_app, recwarn):
    # what earlier tests left for the collector would warn during this test's collection
    # below and be blamed on it: collect it first, and count only what this quit leaves
    gc.collect()
    recwarn.clear()
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


async def _hop_counts(pilot, app) -> dict[str, int]:
    await settle(pilot, app)
    await pilot.pause(0.3)   # the user pane's login, if any, runs after the switch settles
    await settle(pilot, app)
    return {p: len(h) for p, h in app.explorer.hops.items()}


async def test_switching_back_and_forth_does_not_log_in_again(make_app):
    app = make_app(patterns=("p01", "p05"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n")            # p05: alice logs in through the MCP flow, once
        first = await _hop_counts(pilot, app)
        assert first["p01"] and first["p05"]
        await pilot.press("p", "n", "p", "n")
        assert await _hop_counts(pilot, app) == first
        await pilot.press("u", "u", "u")  # bob and dave log in once under p05 ...
        all_in = await _hop_counts(pilot, app)
        assert all_in["p05"] > first["p05"] and all_in["p01"] == first["p01"]
        await pilot.press("p", "u", "u", "u", "n", "u", "u", "u", "p")   # ... and not again
        assert (await _hop_counts(pilot, app))["p05"] == all_in["p05"]
        logins = [h for hops in app.explorer.hops.values() for h in hops if h.target == "idp"]
        for hop in logins:  # the user's browser and the chat client log in, not the MCP server
            if "/openid-connect/auth" in hop.url or "/login-actions/" in hop.url:
                assert hop.source == "browser"
            if hop.summary == "token authorization_code":
                assert hop.source == "agent"
        assert sum(h.source == "browser" for h in logins) == 2 * 6   # 3 users, 2 patterns


async def test_closing_while_a_pattern_starts_stops_what_it_started(demo_settings):
    """Quitting as a pattern comes up (the explorer's first seconds, or a switch): the
    runner being started is cancelled and stops its servers; none is left serving, which
    on uvloop also kept the runtime loop from closing."""
    import asyncio

    from stack.asgi_server import _PromptServer
    from tui.session import ExplorerSession

    def serving() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if not t.done()
                and getattr(t.get_coro(), "__qualname__", "") == _PromptServer.serve.__qualname__]

    session = ExplorerSession(demo_settings, on_hop=lambda hop: None)
    switching = asyncio.create_task(session.select("p04"))
    for _ in range(5000):               # until the runner's own servers are coming up
        runner_started = len(serving()) > 2      # past the IdP and OPA
        if runner_started:
            break
        await asyncio.sleep(0.001)
    assert runner_started, "the pattern never started"
    await session.close()
    results = await asyncio.gather(switching, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert session.runner is None and not serving()


@pytest.mark.parametrize("after", [0.0, 0.1, 0.3])
async def test_quitting_at_any_moment_of_the_start_leaves_nothing_open(make_app, after,
                                                                        recwarn):
    """The user quits while the runtime comes up. Leaving a server or connection open made
    uvloop refuse to close the runtime's loop (EBUSY, seen under a busy CPU)."""
    gc.collect()                        # earlier tests' garbage is not this quit's
    recwarn.clear()
    app = make_app(patterns=("p03", "p04"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(after)
    gc.collect()                        # an unclosed transport warns as it is collected
    leaked = [w for w in recwarn if issubclass(w.category, ResourceWarning)]
    assert not leaked, [str(w.message) for w in leaked]
    assert not app.explorer.bridge._thread.is_alive()
